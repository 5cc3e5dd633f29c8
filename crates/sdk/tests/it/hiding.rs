//! Security review H5 and H4 at the runtime level: participants commit to the content hash of
//! their update and upload it only in the reveal phase, so a reader of the store during the
//! commit window finds nothing to copy; the example count they claim is bound in the commitment
//! and capped by the task.

use std::sync::Arc;
use std::time::Duration;

use chorus_crypto::{AccountKey, ConsensusKey};
use chorus_sdk::ledger::MemLedger;
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
async fn updates_are_unreadable_until_the_commit_window_closes_and_claims_are_capped() {
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
    let mut worker = ValidatorWorker::new(
        ledger.clone(),
        blobs.clone(),
        operator.clone(),
        ValidatorConfig {
            score_data: Arc::new(splits.train.subset(&idx(50_000, 51_000)).unwrap()),
            eval_data: Arc::new(splits.test.subset(&idx(0, 1_000)).unwrap()),
            max_update_norm: None,
            seal_secret: None,
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
    for p in &mut participants {
        p.step().await.unwrap();
    }
    ledger.produce_block().unwrap();
    let (bytes, initial) = TaskModel::initial_model_blob(Arch::LogReg, 1).unwrap();
    blobs.put(MODELS_NAMESPACE, bytes).await.unwrap();
    let spec = TaskSpec {
        model: ModelSpec {
            spec_id: "logreg".into(),
            description: "h5".into(),
            initial_model: initial,
        },
        data: DataMode::Private,
        rounds: 1,
        participants_per_round: 2,
        phases: PhaseLengths {
            commit: 4,
            reveal: 4,
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
        encryption: Encryption::None,
        // Each participant holds 2000 examples; the task counts at most 500 per participant.
        max_examples: 500,
    };
    TxSender::new(ledger.clone(), owner, 0)
        .send(vec![Msg::Learning(LearningMsg::CreateTask { spec: Box::new(spec) })])
        .await
        .unwrap();

    let mut seen_commit_window_with_commits = false;
    for _ in 0..40 {
        ledger.produce_block().unwrap();
        if let Some(rd) = ledger.round(1, 0).await.unwrap()
            && rd.phase == "commit"
            && rd.commits > 0
        {
            // A free-rider polling the store during the commit window: nothing to copy.
            seen_commit_window_with_commits = true;
            assert!(
                blobs.ids(UPDATES_NAMESPACE).is_empty(),
                "an update is readable before the commit window closed"
            );
        }
        for p in &mut participants {
            p.step().await.unwrap();
        }
        if let Some(rd) = ledger.round(1, 0).await.unwrap()
            && rd.phase == "commit"
        {
            assert!(blobs.ids(UPDATES_NAMESPACE).is_empty(), "uploaded in the commit phase");
        }
        worker.step().await.unwrap();
        if ledger.task(1).await.unwrap().is_some_and(|t| t.status == "completed") {
            break;
        }
    }
    assert!(seen_commit_window_with_commits);
    let rd = ledger.round(1, 0).await.unwrap().unwrap();
    assert_eq!(rd.phase, "finalized");
    assert_eq!(rd.outcome.as_ref().unwrap().accepted.len(), 2);
    // Uploaded once the window closed, under the committed ids; claims capped at 500.
    let stored = blobs.ids(UPDATES_NAMESPACE);
    assert_eq!(stored.len(), 2);
    for u in &rd.revealed {
        assert!(stored.contains(&u.update_id));
        assert_eq!(u.num_examples, 500);
    }
}
