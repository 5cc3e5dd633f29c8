//! `chorus query proof` and `chorus audit --rpc` verify headers from the genesis against the
//! commit certificates of a real four-validator Malachite network.

use std::process::{Command, Output};
use std::time::Duration;

use chorus_crypto::AccountKey;

use crate::cluster::{BIN, Cluster, json_of_success};

fn chorus(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn query_proof_and_audit_trust_only_the_genesis_of_a_four_validator_chain() {
    let mut c = Cluster::init(4, 100);
    c.start_all();
    c.wait_height(0, 5, Duration::from_secs(120));
    let url = c.url(0);
    let genesis = c.home(0).join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    // `chorus init --seed it` derives the faucet key from the seed.
    let faucet =
        AccountKey::from_bytes(&chorus_types::keccak256(b"chorus-init/it/faucet")).unwrap();
    let faucet = faucet.address().to_string();

    let args = ["query", "--node", &url, "proof", "--genesis", genesis, "--balance-of", &faucet];
    let v = json_of_success(&args, &chorus(&args));
    assert_eq!(v["verified"], true, "{v}");
    let h = v["height"].as_u64().unwrap();
    assert!(h >= 5, "{v}");
    assert_eq!(v["verified_headers"], h, "every header from 1 is verified: {v}");
    assert!(v["balance"].as_str().unwrap().parse::<u128>().unwrap() > 0, "{v}");

    // The audit refuses to talk to a node without a genesis to check it against, and verifies
    // the headers before it finds there is nothing to audit.
    let o = chorus(&["audit", "--rpc", &url]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--rpc needs --genesis"), "{}", stderr(&o));
    let o = chorus(&["audit", "--rpc", &url, "--genesis", genesis]);
    assert!(!o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("verified "), "{out}");
    assert!(stderr(&o).contains("no tasks"), "{}", stderr(&o));

    // Another genesis (same validators, another time): the node's block 1 does not descend from
    // it, and the proof is refused naming that header.
    let mut other: serde_json::Value =
        serde_json::from_slice(&std::fs::read(genesis).unwrap()).unwrap();
    other["genesis_time_ms"] = serde_json::json!(other["genesis_time_ms"].as_u64().unwrap() + 1);
    let other_path = c.dir.path().join("other-genesis.json");
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    let o = chorus(&[
        "query",
        "--node",
        &url,
        "proof",
        "--genesis",
        other_path.to_str().unwrap(),
        "--balance-of",
        &faucet,
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("forged by the node: header at height 1"), "{}", stderr(&o));
}
