//! `chorus tx stake|gov` and `chorus query validators|validator|delegations|rewards|proposals`
//! against a real one-validator node: delegate, undelegate, withdraw rewards, a parameter change
//! voted through by the validator operator, a validator created from a second home's consensus
//! key and slashed for double signing with it, and bad commands failing with a clear message.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chorus_crypto::ConsensusKey;
use chorus_types::Hash;
use chorus_types::staking::{DoubleSignEvidence, SignedVote, Vote, VoteType};
use serde_json::Value;

use crate::cluster::{BIN, Cluster, get, json_of_success, tail};

/// The `chorus` binary pointed at one node, signing with keys of one home.
struct Cli {
    home: String,
    url: String,
}

impl Cli {
    fn run(&self, home: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        let (first, rest) = args.split_first().unwrap();
        cmd.arg(first);
        if *first == "tx" {
            cmd.args(["--home", home]);
        }
        cmd.args(["--node", &self.url])
            .args(rest)
            .env_remove("CHORUS_PASSWORD")
            .env_remove("CHORUS_PASSWORD_FILE")
            .env_remove("CHORUS_CHAIN_ID");
        cmd.output().unwrap()
    }

    /// Runs a command that must succeed and print JSON.
    fn ok(&self, args: &[&str]) -> Value {
        self.ok_in(&self.home, args)
    }

    fn ok_in(&self, home: &str, args: &[&str]) -> Value {
        json_of_success(args, &self.run(home, args))
    }

    /// Runs a command that must fail; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(&self.home, args);
        assert!(!out.status.success(), "chorus {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn balance(&self, addr: &str) -> u128 {
        let a = get(&format!("{}/v1/accounts/{addr}", self.url)).unwrap();
        a["balance"].as_str().unwrap().parse().unwrap()
    }

    /// Polls `chorus query …` until `done` holds (panics after 60 s).
    fn wait_for(&self, args: &[&str], what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let v = self.ok(args);
            if done(&v) {
                return v;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "waited 60 s for {what}: {v}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Sum of the `amount` attributes of the receipt's events of `kind`.
fn event_amount(out: &Value, kind: &str) -> u128 {
    out["receipt"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .flat_map(|e| e["attributes"].as_array().unwrap())
        .filter(|kv| kv[0] == "amount")
        .map(|kv| kv[1].as_str().unwrap().parse::<u128>().unwrap())
        .sum()
}

fn hex_to(s: &str, out: &mut [u8]) {
    assert_eq!(s.len(), 2 * out.len(), "{s}");
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
}

fn committed_ok(out: &Value) -> bool {
    out["status"] == "committed" && out["receipt"]["result"].get("Ok").is_some()
}

#[test]
fn staking_and_governance_commands_delegate_unbond_pay_rewards_and_pass_a_proposal() {
    let mut c = Cluster::init(1, 100);
    // A short voting period so the proposal is decided within the test (long enough for the few
    // CLI calls between the deposit and the vote on a loaded CI machine), and a minimum deposit
    // of 1000 (the default is 10^9) so the deposits below stay small: the only changes from the
    // genesis `chorus init` wrote.
    let gpath = c.home(0).join("genesis.json");
    let mut genesis: Value = serde_json::from_slice(&std::fs::read(&gpath).unwrap()).unwrap();
    genesis["params"]["gov"]["voting_period_ms"] = 30_000.into();
    genesis["params"]["gov"]["min_deposit"] = "1000".into();
    std::fs::write(&gpath, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    c.start(0);
    c.wait_height(0, 2, Duration::from_secs(90));
    let cli = Cli { home: c.home(0).to_str().unwrap().to_string(), url: c.url(0) };
    let faucet = genesis["accounts"][0][0].as_str().unwrap().to_string();
    let op = genesis["validators"][0]["operator"].as_str().unwrap().to_string();
    let stake: u128 = genesis["validators"][0]["stake"].as_str().unwrap().parse().unwrap();

    // Delegate: the tokens leave the faucet and show up as a delegation and validator tokens.
    let before = cli.balance(&faucet);
    let out = cli.ok(&["tx", "stake", "delegate", "--validator", &op, "--amount", "500000000000"]);
    assert!(committed_ok(&out), "{out}");
    let fee = event_amount(&out, "bank.fee");
    assert_eq!(fee, 1_000);
    assert_eq!(cli.balance(&faucet), before - 500_000_000_000 - fee);
    let d = cli.ok(&["query", "delegations", &faucet]);
    assert_eq!(d["delegations"].as_array().unwrap().len(), 1, "{d}");
    assert_eq!(d["delegations"][0]["validator"], op.as_str());
    assert_eq!(d["delegations"][0]["tokens"], "500000000000");
    let vals = cli.ok(&["query", "validators"]);
    assert_eq!(vals["validators"][0]["operator"], op.as_str());
    assert_eq!(vals["validators"][0]["status"], "bonded");
    assert_eq!(vals["validators"][0]["tokens"], (stake + 500_000_000_000).to_string());
    let active = cli.ok(&["query", "validators", "--active"]);
    assert_eq!(active["validators"][0]["operator"], op.as_str());
    // No block reward at genesis: only transaction fees (1000 a transaction, shared with the
    // operator's self-delegation) can accrue to the delegation.
    let total = |r: &Value| -> u128 { r["total"].as_str().unwrap().parse().unwrap() };
    assert!(total(&cli.ok(&["query", "rewards", &faucet])) < 1_000);

    // Governance: turn block rewards on. The first deposit is below min_deposit (1000), the
    // second completes it and starts the vote; the operator's yes carries its delegators' stake.
    let before = cli.balance(&faucet);
    let p = cli.ok(&[
        "tx",
        "gov",
        "propose",
        "--title",
        "turn on block rewards",
        "--change",
        "distribution.block_reward=1000000",
        "--deposit",
        "400",
    ]);
    let fees = event_amount(&p, "bank.fee");
    let prop = cli.ok(&["query", "proposals", "1"]);
    assert_eq!(prop["status"], "deposit_period", "{prop}");
    assert_eq!(prop["proposer"], faucet.as_str());
    assert_eq!(prop["title"], "turn on block rewards");
    assert_eq!(prop["changes"][0]["key"], "distribution.block_reward");
    assert_eq!(prop["total_deposit"], "400");
    let dep = cli.ok(&["tx", "gov", "deposit", "--proposal", "1", "--amount", "600"]);
    let fees = fees + event_amount(&dep, "bank.fee");
    assert_eq!(cli.balance(&faucet), before - 1_000 - fees);
    let prop = cli.ok(&["query", "proposals", "1"]);
    assert_eq!(prop["status"], "voting_period", "{prop}");
    assert_eq!(prop["total_deposit"], "1000");
    // Until the vote passes, only the fees of this test's few transactions accrue.
    let before_reward = total(&cli.ok(&["query", "rewards", &faucet]));
    assert!(before_reward < 10_000, "{before_reward}");
    let vote =
        cli.ok(&["tx", "--from", "operator", "gov", "vote", "--proposal", "1", "--option", "yes"]);
    assert!(committed_ok(&vote), "{vote}");
    let bonded = (stake + 500_000_000_000).to_string();
    let prop = cli.wait_for(&["query", "proposals", "1"], "the proposal to pass", |p| {
        p["status"] != "voting_period"
    });
    assert_eq!(prop["status"], "passed", "{prop}");
    assert_eq!(prop["tally"]["yes"], bonded.as_str());
    assert_eq!(prop["tally"]["no"], "0");
    // Passed: the deposit came back.
    assert_eq!(cli.balance(&faucet), before - fees);
    let all = cli.ok(&["query", "proposals"]);
    assert_eq!(all["proposals"].as_array().unwrap().len(), 1);

    // The change is in force: a million a block is minted, far more than the few fees of this
    // test could ever pay the delegation.
    cli.wait_for(&["query", "rewards", &faucet], "block rewards to accrue", |r| {
        total(r) > before_reward + 1_000_000
    });

    // Undelegate part: the delegation shrinks, an unbonding entry holds the tokens until the
    // unbonding time (21 days), and the pending rewards are paid on the way.
    let before = cli.balance(&faucet);
    let out =
        cli.ok(&["tx", "stake", "undelegate", "--validator", &op, "--amount", "100000000000"]);
    let paid = event_amount(&out, "distribution.withdraw_rewards");
    assert!(paid > 0, "{out}");
    assert_eq!(cli.balance(&faucet), before - event_amount(&out, "bank.fee") + paid);
    let d = cli.ok(&["query", "delegations", &faucet]);
    assert_eq!(d["delegations"][0]["tokens"], "400000000000", "{d}");
    let ubd = &d["unbonding"][0];
    assert_eq!(ubd["validator"], op.as_str(), "{d}");
    assert_eq!(ubd["balance"], "100000000000");
    assert_eq!(ubd["initial_balance"], "100000000000");
    assert_eq!(ubd["creation_height"], out["height"]);
    let block = get(&format!("{}/v1/blocks/{}", cli.url, out["height"])).unwrap();
    let block_time = block["header"]["time_ms"].as_u64().unwrap();
    assert_eq!(ubd["completion_time_ms"].as_u64().unwrap(), block_time + 21 * 86_400_000);

    // Withdraw rewards: what accrued since the undelegation is paid out.
    cli.wait_for(&["query", "rewards", &faucet], "more rewards", |r| total(r) > 0);
    let before = cli.balance(&faucet);
    let out = cli.ok(&["tx", "stake", "withdraw-rewards", "--validator", &op]);
    assert!(committed_ok(&out), "{out}");
    let paid = event_amount(&out, "distribution.withdraw_rewards");
    assert!(paid > 0, "{out}");
    assert_eq!(cli.balance(&faucet), before - event_amount(&out, "bank.fee") + paid);

    // Bad commands fail with a clear message and change nothing.
    let unknown = "0x00000000000000000000000000000000000000aa";
    let err = cli.fails(&[
        "tx",
        "stake",
        "redelegate",
        "--from-validator",
        &op,
        "--to-validator",
        unknown,
        "--amount",
        "1000",
    ]);
    assert!(err.contains(&format!("unknown validator {unknown}")), "{err}");
    let d = cli.ok(&["query", "delegations", &faucet]);
    assert_eq!(d["redelegations"], Value::Array(vec![]));
    assert_eq!(d["delegations"][0]["tokens"], "400000000000");
    let err = cli.fails(&["tx", "gov", "vote", "--proposal", "1", "--option", "maybe"]);
    assert!(err.contains("invalid value 'maybe'"), "{err}");
    assert!(err.contains("possible values: yes, no, abstain, veto"), "{err}");
    let err = cli.fails(&["tx", "gov", "propose", "--change", "gov.quorum", "--deposit", "1"]);
    assert!(err.contains("expected KEY=VALUE"), "{err}");
    let err = cli.fails(&["tx", "gov", "propose", "--change", "gov.colour=blue", "--deposit", "1"]);
    assert!(err.contains("unknown or immutable parameter \"gov.colour\""), "{err}");
    assert_eq!(cli.ok(&["query", "proposals"])["proposals"].as_array().unwrap().len(), 1);
    let err = cli.fails(&["query", "proposals", "7"]);
    assert!(err.contains("no proposal 7"), "{err}");

    // A second node's home joins as a validator: its operator is funded, then signs
    // create-validator with that home's consensus key (proof of possession included). Its own
    // `chorus init` gave it another chain id: signing for this network needs --chain-id.
    let home2 = c.dir.path().join("joiner");
    let out = Command::new(BIN)
        .args(["init", "--seed", "it-joiner", "--insecure-empty-password", "--api-port"])
        .arg((c.base + 20).to_string())
        .arg("--home")
        .arg(&home2)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let home2 = home2.to_str().unwrap().to_string();
    let show =
        Command::new(BIN).args(["keys", "show", "operator", "--home", &home2]).output().unwrap();
    let op2 = String::from_utf8(show.stdout).unwrap().trim().to_string();
    cli.ok(&["tx", "transfer", "--to", &op2, "--amount", "10000000000"]);
    let chain: Value =
        serde_json::from_slice(&std::fs::read(c.home(0).join("genesis.json")).unwrap()).unwrap();
    let chain = chain["chain_id"].to_string();
    let out =
        cli.run(&home2, &["tx", "--from", "operator", "transfer", "--to", &op2, "--amount", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("refusing to sign"), "{err}");
    let out = cli.ok_in(
        &home2,
        &[
            "tx",
            "--chain-id",
            &chain,
            "--from",
            "operator",
            "stake",
            "create-validator",
            "--self-delegation",
            "5000000000",
            "--commission-rate",
            "0.05",
            "--moniker",
            "joiner",
            "--website",
            "https://joiner.example",
        ],
    );
    assert!(committed_ok(&out), "{out}");
    let key_file: Value =
        serde_json::from_slice(&std::fs::read(format!("{home2}/keys/consensus.json")).unwrap())
            .unwrap();
    let v = cli.ok(&["query", "validator", &op2]);
    assert_eq!(v["consensus_key"], key_file["public_key"], "{v}");
    assert_eq!(v["description"]["name"], "joiner");
    assert_eq!(v["description"]["website"], "https://joiner.example");
    assert_eq!(v["commission"]["rate"], "0.05");
    assert_eq!(v["commission"]["max_rate"], "0.2");
    assert_eq!(v["tokens"], "5000000000");
    assert_eq!(v["min_self_delegation"], "1");
    assert_eq!(cli.balance(&op2), 10_000_000_000 - 5_000_000_000 - event_amount(&out, "bank.fee"));
    let vals = cli.ok(&["query", "validators"]);
    assert_eq!(vals["validators"].as_array().unwrap().len(), 2, "{vals}");
    // The same key cannot make a second validator.
    let out = cli.run(
        &home2,
        &[
            "tx",
            "--chain-id",
            &chain,
            "--from",
            "operator",
            "stake",
            "create-validator",
            "--self-delegation",
            "1000",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("validator {op2} already exists")), "{err}");

    // Double signing by the new validator's consensus key: a malformed file is refused before
    // signing; real evidence slashes 5 %, jails and tombstones it, so it cannot unjail.
    let bad_file = c.dir.path().join("not-evidence.json");
    std::fs::write(&bad_file, b"{\"a\": 1}").unwrap();
    let err = cli.fails(&["tx", "stake", "submit-evidence", "--file", bad_file.to_str().unwrap()]);
    assert!(err.contains("is not double-sign evidence"), "{err}");
    let mut secret = [0u8; 32];
    let sk = key_file["secret_key"].as_str().unwrap().trim_start_matches("0x");
    hex_to(sk, &mut secret);
    let ck = ConsensusKey::from_bytes(&secret);
    let chain_id = genesis["chain_id"].as_u64().unwrap();
    let height = c.height(0).unwrap() - 1;
    let signed = |value: u8| {
        let vote = Vote {
            height,
            round: 0,
            vote_type: VoteType::Precommit,
            value_id: Some(Hash([value; 32])),
            validator: ck.public_key(),
        };
        let signature = ck.sign(&vote.sign_bytes(chain_id));
        SignedVote { vote, signature }
    };
    let evidence = DoubleSignEvidence { a: signed(1), b: signed(2) };
    let ev_file = c.dir.path().join("evidence.json");
    std::fs::write(&ev_file, serde_json::to_vec(&evidence).unwrap()).unwrap();
    let out = cli.ok(&["tx", "stake", "submit-evidence", "--file", ev_file.to_str().unwrap()]);
    assert!(committed_ok(&out), "{out}");
    // The joiner runs no node, so on a slow machine the liveness window may already have
    // jailed it and slashed its downtime fraction (1 %) before the evidence lands: the double
    // sign takes 5 % of whatever it holds then.
    let before: u128 = out["receipt"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "staking.slash")
        .flat_map(|e| e["attributes"].as_array().unwrap())
        .find(|kv| kv[0] == "tokens_before")
        .map(|kv| kv[1].as_str().unwrap().parse().unwrap())
        .expect("the slash event names the tokens before it");
    assert!(before == 5_000_000_000 || before == 4_950_000_000, "tokens before: {before}");
    assert_eq!(event_amount(&out, "staking.slash"), before / 20, "{out}");
    let v = cli.ok(&["query", "validator", &op2]);
    assert_eq!(v["tokens"], (before - before / 20).to_string(), "{v}");
    assert_eq!(v["jailed"], true);
    assert_eq!(v["signing_info"]["tombstoned"], true);
    let out =
        cli.run(&home2, &["tx", "--chain-id", &chain, "--from", "operator", "stake", "unjail"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("validator is tombstoned"), "{err}");
    assert!(c.height(0).is_some(), "node died; log:\n{}", tail(&c.log(0)));
}
