//! A task whose updates are sealed to the validator committee: participants seal, the validator
//! worker opens, scores and aggregates, and the round finalizes; the blobs in the store are
//! ciphertext that no outsider can read.

use std::sync::Arc;
use std::time::Duration;

use chorus_crypto::{AccountKey, ConsensusKey};
use chorus_sdk::ledger::MemLedger;
use chorus_sdk::participant::derive_seal_secret;
use chorus_sdk::{
    BlobStore, LedgerSource, MODELS_NAMESPACE, MemBlobs, Participant, ParticipantConfig, TaskModel,
    TxSender, UPDATES_NAMESPACE, ValidatorConfig, ValidatorWorker,
};
use chorus_trainer::{Arch, TrainConfig};
use chorus_types::learning::{
    DataMode, Encryption, LearningMsg, ModelSpec, PhaseLengths, RuleSpec, TaskSpec,
};
use chorus_types::{Genesis, GenesisValidator, Msg, Params};

fn key(label: &str) -> AccountKey {
    AccountKey::from_seed(label.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_updates_are_opened_by_the_committee_and_the_round_finalizes() {
    let owner = key("owner");
    let operator = key("operator");
    let parts: Vec<AccountKey> = (0..2).map(|i| key(&format!("p{i}"))).collect();
    let mut accounts =
        vec![(owner.address(), 10u128.pow(15)), (operator.address(), 10u128.pow(15))];
    accounts.extend(parts.iter().map(|p| (p.address(), 10u128.pow(12))));
    let genesis = Genesis {
        chain_id: 9,
        genesis_time_ms: 0,
        accounts,
        validators: vec![GenesisValidator {
            operator: operator.address(),
            consensus_key: ConsensusKey::from_seed(b"v").public_key(),
            stake: 10u128.pow(12),
        }],
        params: Params::default(),
    };
    let ledger = Arc::new(MemLedger::new(&genesis).unwrap());
    let blobs = Arc::new(MemBlobs::new());

    let splits = chorus_trainer::load_dataset("mnist", None).unwrap();
    let idx = |a: u32, b: u32| (a..b).collect::<Vec<u32>>();
    let data: Vec<_> = (0..2)
        .map(|i| Arc::new(splits.train.subset(&idx(i * 2_000, (i + 1) * 2_000)).unwrap()))
        .collect();
    let score = Arc::new(splits.train.subset(&idx(50_000, 51_000)).unwrap());
    let eval = Arc::new(splits.test.subset(&idx(0, 1_000)).unwrap());

    let seal = derive_seal_secret(&operator);
    let mut worker = ValidatorWorker::new(
        ledger.clone(),
        blobs.clone(),
        operator.clone(),
        ValidatorConfig {
            score_data: score,
            eval_data: eval,
            max_update_norm: None,
            seal_secret: Some(seal.clone()),
            fee: 0,
            chain_id: None,
            state_path: None,
            poll: Duration::from_millis(10),
        },
    )
    .unwrap();
    let mut participants: Vec<_> = parts
        .iter()
        .zip(&data)
        .map(|(k, d)| {
            let cfg = ParticipantConfig {
                train: TrainConfig { epochs: 1, ..TrainConfig::default() },
                ..ParticipantConfig::default()
            };
            Participant::new(ledger.clone(), blobs.clone(), k.clone(), d.clone(), cfg).unwrap()
        })
        .collect();
    // Register, then open the task.
    for p in &mut participants {
        p.step().await.unwrap();
    }
    ledger.produce_block().unwrap();

    let (bytes, initial) = TaskModel::initial_model_blob(Arch::LogReg, 1).unwrap();
    blobs.put(MODELS_NAMESPACE, bytes).await.unwrap();
    let spec = TaskSpec {
        model: ModelSpec {
            spec_id: "logreg".into(),
            description: "sealed".into(),
            initial_model: initial,
        },
        data: DataMode::Private,
        rounds: 1,
        participants_per_round: 2,
        phases: PhaseLengths {
            commit: 3,
            reveal: 3,
            score_commit: 3,
            score_reveal: 3,
            aggregate: 3,
        },
        aggregation: RuleSpec { id: "fedavg".into(), params: vec![] },
        score_rule: RuleSpec { id: "validity".into(), params: vec![] },
        min_quorum: 2,
        reward_per_round: 1_000,
        min_participant_stake: 1_000,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::Committee { keys: vec![seal.public().0] },
        max_examples: 60_000,
    };
    TxSender::new(ledger.clone(), owner, 0)
        .send(vec![Msg::Learning(LearningMsg::CreateTask { spec: Box::new(spec) })])
        .await
        .unwrap();

    for _ in 0..40 {
        ledger.produce_block().unwrap();
        for p in &mut participants {
            p.step().await.unwrap();
        }
        worker.step().await.unwrap();
        if ledger.task(1).await.unwrap().is_some_and(|t| t.status == "completed") {
            break;
        }
    }
    let task = ledger.task(1).await.unwrap().unwrap();
    assert_eq!(task.status, "completed");
    let rd = ledger.round(1, 0).await.unwrap().unwrap();
    assert_eq!(rd.phase, "finalized");
    assert_eq!(rd.outcome.as_ref().unwrap().accepted.len(), 2);
    assert_eq!(worker.progress(1, 0).model_id, rd.model_id);

    // The audit needs a committee key to recompute the aggregate; with it everything checks.
    let blind = chorus_sdk::audit::run(ledger.as_ref(), blobs.as_ref(), 1).await.unwrap();
    let d = blind.discrepancy.expect("a sealed task cannot be recomputed without a key");
    assert_eq!((d.round, d.check.as_str()), (0, "aggregate"));
    let keyed = chorus_sdk::audit::run_with_key(ledger.as_ref(), blobs.as_ref(), 1, Some(&seal))
        .await
        .unwrap();
    assert!(keyed.discrepancy.is_none(), "{keyed}");
    assert_eq!(keyed.aggregates, 1);

    // What the store holds is ciphertext: it does not decode as an update, the committee key
    // opens it, and a stranger's key does not.
    let tm = TaskModel::from_spec(&task.spec).unwrap();
    for u in &rd.revealed {
        let stored = blobs.get(UPDATES_NAMESPACE, &u.update_id).await.unwrap();
        assert!(tm.decode(&stored).is_err(), "update stored in the clear");
        let opened = chorus_store::open(&stored, &seal).unwrap();
        assert!(tm.decode(&opened).is_ok());
        assert!(chorus_store::open(&stored, &derive_seal_secret(&key("stranger"))).is_err());
    }
}
