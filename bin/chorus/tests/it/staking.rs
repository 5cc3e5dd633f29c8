//! Staking on a real network of four `chorus node` processes: downtime jails a validator and
//! takes it out of the Malachite set until it unjails; forged double-sign evidence slashes,
//! tombstones and removes a validator, and its delegators feel the slash.

use std::time::{Duration, Instant};

use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_types::staking::{DoubleSignEvidence, SignedVote, StakingMsg, Vote, VoteType};
use chorus_types::{Address, Hash, Msg, Tx};
use serde_json::Value;

use crate::cluster::{Cluster, get, http};

const CHAIN: u64 = 7777;
const LONG: Duration = Duration::from_secs(120);

/// `chorus init --seed it` derives every key from the seed.
fn secret(label: &str) -> [u8; 32] {
    chorus_types::keccak256(format!("chorus-init/it/{label}").as_bytes())
}

fn faucet() -> AccountKey {
    AccountKey::from_bytes(&secret("faucet")).unwrap()
}

fn operator(i: usize) -> AccountKey {
    AccountKey::from_bytes(&secret(&format!("operator/{i}"))).unwrap()
}

fn consensus(i: usize) -> ConsensusKey {
    ConsensusKey::from_bytes(&secret(&format!("consensus/{i}")))
}

/// Signs `msgs` from `key`, submits to node `i` and waits for the receipt; returns it.
fn send(c: &Cluster, i: usize, key: &AccountKey, msgs: Vec<Msg>) -> Value {
    let url = &c.url(i);
    let acct = get(&format!("{url}/v1/accounts/{}", key.address())).unwrap();
    let nonce = acct["pending_nonce"].as_u64().unwrap();
    let tx = sign_tx(key, Tx { chain_id: CHAIN, nonce, fee: 1_000, msgs: msgs.clone() });
    let (code, body) = http("POST", &format!("{url}/v1/txs"), Some(&tx.encode())).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code, 200, "{body}");
    let hash = body["hash"].as_str().unwrap().to_string();
    let start = Instant::now();
    loop {
        if let Some(r) = get(&format!("{url}/v1/txs/{hash}")).filter(|r| r["status"] == "committed")
        {
            return r;
        }
        if start.elapsed() > LONG {
            let logs: Vec<String> = (0..c.n)
                .map(|j| format!("node {j}:\n{}", crate::cluster::tail(&c.log(j))))
                .collect();
            panic!("transaction {hash} ({msgs:?}) not committed\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn staking_validator(url: &str, op: &Address) -> Value {
    get(&format!("{url}/v1/staking/validators/{op}")).unwrap()
}

/// Consensus keys of the set handed to Malachite for the next height.
fn consensus_set(url: &str) -> Vec<String> {
    let v = get(&format!("{url}/v1/validators")).unwrap();
    v["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["consensus_key"].as_str().unwrap().to_string())
        .collect()
}

fn key_hex(i: usize) -> String {
    format!("0x{}", hex_of(&consensus(i).public_key()))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Rewrites `path` in every node's genesis (all nodes must agree).
fn edit_genesis(c: &Cluster, edit: impl Fn(&mut Value)) {
    for i in 0..c.n {
        let p = c.home(i).join("genesis.json");
        let mut g: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        edit(&mut g);
        std::fs::write(&p, serde_json::to_vec_pretty(&g).unwrap()).unwrap();
    }
}

#[test]
fn a_validator_that_stops_signing_is_jailed_leaves_the_set_and_returns_after_unjail() {
    let mut c = Cluster::init(4, 100);
    // A short liveness window and jail so the test takes seconds, not hours.
    edit_genesis(&c, |g| {
        g["params"]["slashing"]["signed_blocks_window"] = 20.into();
        g["params"]["slashing"]["downtime_jail_duration_ms"] = 3_000.into();
    });
    c.start_all();
    for i in 0..4 {
        c.wait_height(i, 3, LONG);
    }
    let url = c.url(0);
    let op3 = operator(3).address();
    assert_eq!(consensus_set(&url).len(), 4);

    c.kill(3);
    let jailed = wait_for("validator 3 to be jailed", LONG, || {
        let v = staking_validator(&url, &op3);
        (v["jailed"] == true).then_some(v)
    });
    let set = consensus_set(&url);
    assert_eq!(set.len(), 3, "{set:?}");
    assert!(!set.contains(&key_hex(3)));
    // Downtime slashed 1 % of its stake.
    let tokens: u128 = jailed["tokens"].as_str().unwrap().parse().unwrap();
    assert!(tokens < 1_000_000_000_000, "{jailed}");
    // The other three keep deciding blocks without it.
    let h = c.height(0).unwrap();
    c.wait_height(0, h + 5, LONG);

    // It comes back, catches up, waits out the jail and unjails itself.
    c.start(3);
    let tip = c.height(0).unwrap();
    c.wait_height(3, tip, LONG);
    std::thread::sleep(Duration::from_millis(3_200));
    let r = send(&c, 0, &operator(3), vec![Msg::Staking(StakingMsg::Unjail)]);
    assert!(r["receipt"]["result"].get("Ok").is_some(), "{r}");
    wait_for("validator 3 back in the set", LONG, || {
        consensus_set(&url).contains(&key_hex(3)).then_some(())
    });
    assert_eq!(staking_validator(&url, &op3)["jailed"], false);
    // And every node hands Malachite the same four-validator set again.
    for i in 0..4 {
        wait_for("every node to see four validators", LONG, || {
            (consensus_set(&c.url(i)).len() == 4).then_some(())
        });
    }
    let h = c.height(3).unwrap();
    c.wait_height(3, h + 3, LONG);
}

fn forged_vote(key: &ConsensusKey, height: u64, value: u8) -> SignedVote {
    let vote = Vote {
        height,
        round: 0,
        vote_type: VoteType::Precommit,
        value_id: Some(Hash([value; 32])),
        validator: key.public_key(),
    };
    let signature = key.sign(&vote.sign_bytes(CHAIN));
    SignedVote { vote, signature }
}

fn delegated_tokens(url: &str, del: &Address, val: &Address) -> u128 {
    let d = get(&format!("{url}/v1/delegator/{del}/delegations")).unwrap();
    d["delegations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["validator"].as_str() == Some(&val.to_string()))
        .map_or(0, |x| x["tokens"].as_str().unwrap().parse().unwrap())
}

#[test]
fn a_double_signing_validator_is_slashed_tombstoned_and_removed_and_its_delegators_lose_stake() {
    let mut c = Cluster::init(4, 100);
    c.start_all();
    for i in 0..4 {
        c.wait_height(i, 3, LONG);
    }
    let url = c.url(0);
    let op2 = operator(2).address();
    let delegator = faucet();
    let r = send(
        &c,
        0,
        &delegator,
        vec![Msg::Staking(StakingMsg::Delegate { validator: op2, amount: 1_000_000_000 })],
    );
    assert!(r["receipt"]["result"].get("Ok").is_some(), "{r}");
    let before = delegated_tokens(&url, &delegator.address(), &op2);
    assert_eq!(before, 1_000_000_000);
    let tokens_before: u128 =
        staking_validator(&url, &op2)["tokens"].as_str().unwrap().parse().unwrap();

    // Validator 2's key signs two different precommits for the same height and round.
    let key = consensus(2);
    let evidence =
        DoubleSignEvidence { a: forged_vote(&key, 2, 0xA1), b: forged_vote(&key, 2, 0xB2) };
    // Anyone may submit it (here an account that is not a validator).
    let reporter = AccountKey::from_bytes(&secret("operator/0")).unwrap();
    let r = send(
        &c,
        0,
        &reporter,
        vec![Msg::Staking(StakingMsg::SubmitEvidence { evidence: evidence.clone() })],
    );
    assert!(r["receipt"]["result"].get("Ok").is_some(), "{r}");

    let v = staking_validator(&url, &op2);
    assert_eq!(v["jailed"], true, "{v}");
    assert_eq!(v["signing_info"]["tombstoned"], true, "{v}");
    let tokens_after: u128 = v["tokens"].as_str().unwrap().parse().unwrap();
    // slash_fraction_double_sign = 5 %.
    assert_eq!(tokens_after, tokens_before - tokens_before / 20, "{v}");
    // The delegator's stake is worth 5 % less (shares unchanged, rounded down).
    let after = delegated_tokens(&url, &delegator.address(), &op2);
    assert!((before - before / 20 - 1..=before - before / 20).contains(&after), "{after}");
    wait_for("validator 2 out of the set", LONG, || {
        (!consensus_set(&url).contains(&key_hex(2))).then_some(())
    });
    // The same evidence again is refused (already tombstoned), and unjail is refused forever.
    let again = send(&c, 0, &reporter, vec![Msg::Staking(StakingMsg::SubmitEvidence { evidence })]);
    assert!(again["receipt"]["result"].get("Err").is_some(), "{again}");
    let unjail = send(&c, 0, &operator(2), vec![Msg::Staking(StakingMsg::Unjail)]);
    assert!(unjail["receipt"]["result"].get("Err").is_some(), "{unjail}");
    // The three others go on deciding blocks.
    let h = c.height(0).unwrap();
    c.wait_height(0, h + 5, LONG);
    assert_eq!(consensus_set(&c.url(1)).len(), 3);
}

/// Mean interval between the header times of blocks `from..to` as node 0 serves them, in ms.
fn mean_block_ms(c: &Cluster, from: u64, to: u64) -> f64 {
    let time = |h: u64| {
        let b = get(&format!("{}/v1/blocks/{h}", c.url(0))).unwrap();
        b["header"]["time_ms"].as_u64().unwrap()
    };
    (time(to) - time(from)) as f64 / (to - from) as f64
}

#[test]
fn low_power_validators_without_a_running_node_cost_at_most_their_share_of_block_time() {
    // Security review C1: with round-robin proposers, validators that never run a node took
    // a propose timeout on every one of their turns. Turns are now weighted by power, so four
    // small validators (2 % of the power each) that are offline barely slow the chain.
    let mut c = Cluster::init(4, 100);
    c.start_all();
    for i in 0..4 {
        c.wait_height(i, 3, LONG);
    }
    let start = c.height(0).unwrap();
    c.wait_height(0, start + 40, LONG);
    let normal = mean_block_ms(&c, start, start + 40);

    let stake: u128 = 20_000_000_000; // 2 % of a genesis validator's 10^12
    for k in 0..4 {
        let op = AccountKey::from_bytes(&secret(&format!("offline-operator/{k}"))).unwrap();
        let fund =
            Msg::Bank(chorus_types::BankMsg::Transfer { to: op.address(), amount: 2 * stake });
        assert!(send(&c, 0, &faucet(), vec![fund])["receipt"]["result"].get("Ok").is_some());
        let ck = ConsensusKey::from_bytes(&secret(&format!("offline-consensus/{k}")));
        let create = StakingMsg::CreateValidator {
            consensus_key: ck.public_key(),
            pop: ck.sign(&chorus_types::staking::pop_bytes(&op.address(), CHAIN)),
            self_delegation: stake,
            min_self_delegation: 1,
            commission: chorus_types::staking::CommissionRates {
                rate: "0.1".parse().unwrap(),
                max_rate: "0.2".parse().unwrap(),
                max_change_rate: "0.01".parse().unwrap(),
            },
            description: chorus_types::staking::Description {
                name: format!("offline-{k}"),
                ..Default::default()
            },
        };
        let r = send(&c, 0, &op, vec![Msg::Staking(create)]);
        assert!(r["receipt"]["result"].get("Ok").is_some(), "{r}");
    }
    wait_for("the offline validators to enter the set", LONG, || {
        (consensus_set(&c.url(0)).len() == 8).then_some(())
    });
    let joined = c.height(0).unwrap() + 1;
    c.wait_height(0, joined + 60, LONG);
    let with_offline = mean_block_ms(&c, joined, joined + 60);
    println!("mean block interval: {normal:.0} ms before, {with_offline:.0} ms with 4 offline");
    assert!(
        with_offline <= 2.0 * normal,
        "offline low-power validators slowed blocks from {normal:.0} to {with_offline:.0} ms"
    );
}
