//! `chorus task create|cancel` and `chorus query task|model` against a real node.

use std::process::Command;
use std::time::Duration;

use chorus_types::Hash;
use chorus_types::learning::{DataMode, Encryption, ModelSpec, PhaseLengths, RuleSpec, TaskSpec};
use serde_json::Value;

use crate::cluster::{BIN, Cluster, json_of_success};

fn chorus(args: &[&str]) -> Value {
    json_of_success(args, &Command::new(BIN).args(args).output().unwrap())
}

#[test]
fn task_commands_create_query_and_cancel_a_task_with_the_escrow_refunded() {
    let mut c = Cluster::init(1, 100);
    c.start(0);
    c.wait_height(0, 2, Duration::from_secs(90));
    let spec = TaskSpec {
        model: ModelSpec {
            spec_id: "mlp".into(),
            description: "cli test".into(),
            initial_model: Hash([3; 32]),
        },
        data: DataMode::Private,
        rounds: 4,
        participants_per_round: 2,
        phases: PhaseLengths {
            commit: 5,
            reveal: 5,
            score_commit: 5,
            score_reveal: 5,
            aggregate: 5,
        },
        aggregation: RuleSpec { id: "fedavg".into(), params: vec![] },
        score_rule: RuleSpec { id: "loo".into(), params: vec![] },
        min_quorum: 1,
        reward_per_round: 250,
        min_participant_stake: 1_000,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
        max_examples: 60_000,
    };
    let path = c.dir.path().join("spec.json");
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let home = c.home(0);
    let (home, url) = (home.to_str().unwrap(), c.url(0));
    let created = chorus(&[
        "task",
        "--home",
        home,
        "--node",
        &url,
        "create",
        "--spec",
        path.to_str().unwrap(),
    ]);
    assert!(created["receipt"]["result"].get("Ok").is_some(), "{created}");

    let t = chorus(&["query", "--node", &url, "task", "1"]);
    assert_eq!(t["status"], "active");
    assert_eq!(t["budget"], "1000");
    assert_eq!(t["escrow"], "1000");
    assert_eq!(t["spec"]["model"]["description"], "cli test");
    let all = chorus(&["query", "--node", &url, "task"]);
    assert_eq!(all.as_array().unwrap().len(), 1);
    let versions = chorus(&["query", "--node", &url, "model", "1"]);
    assert_eq!(versions[0]["version"], 0);
    assert_eq!(versions[0]["model_id"], format!("{}", Hash([3; 32])));

    chorus(&["task", "--home", home, "--node", &url, "cancel", "1"]);
    let t = chorus(&["query", "--node", &url, "task", "1"]);
    assert_eq!(t["status"], "cancelled");
    assert_eq!(t["refunded"], "1000");
    assert_eq!(t["escrow"], "0");

    // An unknown task is a clear error, not an empty answer.
    let out = Command::new(BIN).args(["query", "--node", &url, "task", "9"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no task 9"));
}
