//! The light client and the verified audit against a real node (`chorus_node::service`, blocks
//! driven through its ledger host with real precommit signatures, no consensus engine) behind a
//! lying proxy: an HTTP server that forwards every request to the node and alters one kind of
//! answer. Whatever it forges — a learning record, a record's absence, a header, a receipt, the
//! validator set's power — the audit fails naming it; what it says in the JSON views it no longer
//! reads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_chain::components::learning::CommitRecord;
use chorus_chain::state_key;
use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_node::config::NodeConfig;
use chorus_node::ledger::StoredCertificate;
use chorus_node::service::{NodeServices, start_services};
use chorus_sdk::{
    BlobStore, Error, LedgerSource, LightClient, MODELS_NAMESPACE, MemBlobs, NodeClient,
    Participant, ParticipantConfig, TaskModel, TxSender, ValidatorConfig, ValidatorWorker,
    VerifiedLedger,
};
use chorus_trainer::{Arch, TrainConfig};
use chorus_types::learning::{
    DataMode, Encryption, LearningMsg, ModelSpec, PhaseLengths, RuleSpec, TaskSpec,
};
use chorus_types::staking::{CommissionRates, Description, StakingMsg, Vote, VoteType, pop_bytes};
use chorus_types::{
    Block, CommitInfo, Genesis, GenesisValidator, Hash, Msg, Params, Tx, ValidatorInfo,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

const CHAIN: u64 = 4242;
const STAKE: u128 = 1_000_000_000_000;

fn key(label: &str) -> AccountKey {
    AccountKey::from_seed(label.as_bytes())
}

fn cons(label: &str) -> ConsensusKey {
    ConsensusKey::from_seed(label.as_bytes())
}

fn genesis(extra_accounts: &[&AccountKey]) -> Genesis {
    let mut accounts =
        vec![(key("owner").address(), 10u128.pow(15)), (key("operator").address(), STAKE)];
    accounts.extend(extra_accounts.iter().map(|k| (k.address(), 10u128.pow(15))));
    Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 0,
        accounts,
        validators: vec![GenesisValidator {
            operator: key("operator").address(),
            consensus_key: cons("validator").public_key(),
            stake: STAKE,
        }],
        params: Params::default(),
    }
}

/// A node's services with the consensus keys this test signs blocks with.
struct Node {
    svc: NodeServices,
    keys: Vec<ConsensusKey>,
    _dir: tempfile::TempDir,
}

impl Node {
    async fn start(genesis: &Genesis, keys: Vec<ConsensusKey>) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::default();
        config.api.listen = "127.0.0.1:0".parse().unwrap();
        let (svc, _tasks) =
            start_services(&config, genesis, dir.path(), keys[0].public_key()).await.unwrap();
        Node { svc, keys, _dir: dir }
    }

    fn url(&self) -> String {
        self.svc.api_url()
    }

    /// Commits one block whose certificate is signed by every key of the set that signs it that
    /// this test holds, or only by `only` when given.
    fn block_signed_by(&self, only: Option<&ConsensusKey>) -> u64 {
        let ledger = &self.svc.ledger;
        let set: Vec<ValidatorInfo> = ledger.validator_set().unwrap();
        let h = ledger.next_height().unwrap();
        let (bytes, hash) = ledger.propose(h, 0, self.keys[0].public_key()).unwrap();
        let mut signers: Vec<&ConsensusKey> = match only {
            Some(k) => vec![k],
            None => self
                .keys
                .iter()
                .filter(|k| set.iter().any(|v| v.consensus_key == k.public_key()))
                .collect(),
        };
        signers.sort_by_key(|k| k.public_key());
        let sign = |k: &ConsensusKey| {
            let vote = Vote {
                height: h,
                round: 0,
                vote_type: VoteType::Precommit,
                value_id: Some(hash),
                validator: k.public_key(),
            };
            k.sign(&vote.sign_bytes(CHAIN))
        };
        let info = CommitInfo {
            height: h,
            round: 0,
            signers: signers.iter().map(|k| k.public_key()).collect(),
            signatures: signers.iter().map(|&k| sign(k)).collect(),
        };
        ledger.commit(&bytes, StoredCertificate { info, raw: Vec::new() }).unwrap();
        h
    }

    fn block(&self) -> u64 {
        self.block_signed_by(None)
    }
}

type Tamper = Arc<dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync>;

/// A server that forwards every request to `upstream` and passes each answer's body through
/// `tamper(path_and_query, body)`: a node patched to lie.
async fn lying_proxy(upstream: String, tamper: Tamper) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (client, upstream, tamper) = (client.clone(), upstream.clone(), tamper.clone());
        async move {
            let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
            let method = req.method().clone();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let up = hyper::Request::builder()
                .method(method)
                .uri(format!("{upstream}{pq}"))
                .header("content-type", "application/octet-stream")
                .body(Full::new(body))
                .unwrap();
            let resp = client.request(up).await.unwrap();
            let status = resp.status();
            let ct = resp.headers().get("content-type").cloned();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
            let mut r = axum::response::Response::new(axum::body::Body::from(tamper(&pq, bytes)));
            *r.status_mut() = status;
            if let Some(ct) = ct {
                r.headers_mut().insert("content-type", ct);
            }
            r
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn honest() -> Tamper {
    Arc::new(|_, b| b)
}

/// Tampers with the state proof of `key`: `f` rewrites the proof.
fn on_proof(
    key: Vec<u8>,
    f: impl Fn(&mut chorus_db::StateProof) + Send + Sync + 'static,
) -> Tamper {
    let needle = format!("/v1/state/proof?key=0x{}&", hex::encode(&key));
    Arc::new(move |pq, body| {
        if !pq.starts_with(&needle) {
            return body;
        }
        let mut p: chorus_db::StateProof = serde_json::from_slice(&body).unwrap();
        f(&mut p);
        serde_json::to_vec(&p).unwrap()
    })
}

/// Tampers with the block at `height`: `f` rewrites the decoded block, served re-encoded.
fn on_block(height: u64, f: impl Fn(&mut Block) + Send + Sync + 'static) -> Tamper {
    let path = format!("/v1/blocks/{height}");
    Arc::new(move |pq, body| {
        if pq != path {
            return body;
        }
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        let raw = hex::decode(v["raw"].as_str().unwrap().trim_start_matches("0x")).unwrap();
        let mut b: Block = borsh::from_slice(&raw).unwrap();
        f(&mut b);
        v["raw"] = Value::String(format!("0x{}", hex::encode(borsh::to_vec(&b).unwrap())));
        v["hash"] = serde_json::to_value(b.hash()).unwrap();
        v["header"] = serde_json::to_value(&b.header).unwrap();
        serde_json::to_vec(&v).unwrap()
    })
}

async fn verified(url: &str, genesis: &Genesis) -> Result<VerifiedLedger, Error> {
    VerifiedLedger::open(LightClient::new(NodeClient::new(url), genesis)?, None).await
}

fn forged(r: Result<impl std::fmt::Debug, Error>) -> (String, String) {
    match r {
        Err(Error::Forged { what, detail }) => (what, detail),
        other => panic!("expected a forgery to be detected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_light_client_follows_a_validator_set_change_and_rejects_a_block_the_new_set_did_not_sign()
 {
    let newcomer = key("newcomer");
    let genesis = genesis(&[&newcomer]);
    let node = Node::start(&genesis, vec![cons("validator"), cons("newcomer")]).await;
    node.block();
    // A second validator with three times the stake: from the block after the one that bonds
    // it, the genesis validator alone holds a quarter of the power.
    let create = StakingMsg::CreateValidator {
        consensus_key: cons("newcomer").public_key(),
        pop: cons("newcomer").sign(&pop_bytes(&newcomer.address(), CHAIN)),
        self_delegation: 3 * STAKE,
        min_self_delegation: 1,
        commission: CommissionRates {
            rate: "0.1".parse().unwrap(),
            max_rate: "0.2".parse().unwrap(),
            max_change_rate: "0.01".parse().unwrap(),
        },
        description: Description { name: "newcomer".into(), ..Default::default() },
    };
    let tx = sign_tx(
        &newcomer,
        Tx {
            chain_id: CHAIN,
            nonce: 0,
            fee: chorus_types::DEFAULT_MIN_FEE,
            msgs: vec![Msg::Staking(create)],
        },
    );
    NodeClient::new(node.url()).submit(&tx).await.unwrap();
    let bonded_at = node.block();
    assert_eq!(node.svc.ledger.validator_set().unwrap().len(), 2, "the set did not change");
    for _ in 0..3 {
        node.block();
    }

    let mut light = LightClient::new(NodeClient::new(node.url()), &genesis).unwrap();
    let h = light.sync_latest().await.unwrap();
    assert_eq!(h, bonded_at + 3);
    let stats = light.stats();
    assert_eq!(stats.set_changes, vec![bonded_at + 1], "{stats:?}");
    assert_eq!(stats.proofs, h - 1, "one validator-set proof per block after the first");

    // The genesis validator alone (a quarter of the new set's power) certifies the next block:
    // a node serving it is caught at that height.
    let lone = node.block_signed_by(Some(&cons("validator")));
    let (what, detail) = forged(light.sync_latest().await);
    assert_eq!(what, format!("header at height {lone}"));
    assert!(detail.contains("power"), "{detail}");

    // A certificate signed by a key outside the set names the stranger.
    let stranger = ConsensusKey::from_seed(b"stranger");
    let url = lying_proxy(
        node.url(),
        Arc::new(move |pq: &str, body: Vec<u8>| {
            if pq != "/v1/blocks/2" {
                return body;
            }
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let hash: Hash = serde_json::from_value(v["hash"].clone()).unwrap();
            let vote = Vote {
                height: 2,
                round: 0,
                vote_type: VoteType::Precommit,
                value_id: Some(hash),
                validator: stranger.public_key(),
            };
            let info = CommitInfo {
                height: 2,
                round: 0,
                signers: vec![stranger.public_key()],
                signatures: vec![stranger.sign(&vote.sign_bytes(CHAIN))],
            };
            v["commit"] = serde_json::to_value(info).unwrap();
            serde_json::to_vec(&v).unwrap()
        }),
    )
    .await;
    let mut light = LightClient::new(NodeClient::new(url), &genesis).unwrap();
    let (what, detail) = forged(light.sync_to(3).await);
    assert_eq!(what, "header at height 2");
    assert!(detail.contains("not a validator"), "{detail}");
}

/// Runs a one-round task with two participants and the genesis validator's worker on `node`.
async fn train_one_round(node: &Node, owner: &AccountKey, parts: &[AccountKey]) -> Arc<MemBlobs> {
    let ledger = Arc::new(NodeClient::new(node.url()));
    let blobs = Arc::new(MemBlobs::new());
    let splits = chorus_trainer::load_dataset("mnist", None).unwrap();
    let idx = |a: u32, b: u32| (a..b).collect::<Vec<u32>>();
    let score = Arc::new(splits.train.subset(&idx(50_000, 51_000)).unwrap());
    let eval = Arc::new(splits.test.subset(&idx(0, 1_000)).unwrap());
    let mut worker = ValidatorWorker::new(
        ledger.clone(),
        blobs.clone(),
        key("operator"),
        ValidatorConfig {
            score_data: score,
            eval_data: eval,
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
        .enumerate()
        .map(|(i, k)| {
            let i = i as u32;
            let data = Arc::new(splits.train.subset(&idx(i * 2_000, (i + 1) * 2_000)).unwrap());
            let cfg = ParticipantConfig {
                train: TrainConfig { epochs: 1, ..TrainConfig::default() },
                ..ParticipantConfig::default()
            };
            Participant::new(ledger.clone(), blobs.clone(), k.clone(), data, cfg).unwrap()
        })
        .collect();
    for p in &mut participants {
        p.step().await.unwrap();
    }
    node.block();
    let (bytes, initial) = TaskModel::initial_model_blob(Arch::LogReg, 1).unwrap();
    blobs.put(MODELS_NAMESPACE, bytes).await.unwrap();
    let spec = TaskSpec {
        model: ModelSpec {
            spec_id: "logreg".into(),
            description: "light".into(),
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
        encryption: Encryption::None,
        max_examples: chorus_types::learning::MAX_EXAMPLES_PER_UPDATE,
    };
    TxSender::new(ledger.clone(), owner.clone(), 0)
        .send(vec![Msg::Learning(LearningMsg::CreateTask { spec: Box::new(spec) })])
        .await
        .unwrap();
    for _ in 0..40 {
        node.block();
        for p in &mut participants {
            p.step().await.unwrap();
        }
        worker.step().await.unwrap();
        if ledger.task(1).await.unwrap().is_some_and(|t| t.status == "completed") {
            break;
        }
    }
    // Blocks after the round: the audit pins a height past it.
    node.block();
    blobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_through_a_lying_node_fails_naming_the_forged_record_or_header() {
    let owner = key("owner");
    let parts: Vec<AccountKey> = (0..2).map(|i| key(&format!("p{i}"))).collect();
    let genesis = genesis(&parts.iter().collect::<Vec<_>>());
    let node = Node::start(&genesis, vec![cons("validator")]).await;
    let blobs = train_one_round(&node, &owner, &parts).await;
    let direct = NodeClient::new(node.url());
    let rd = direct.round(1, 0).await.unwrap().unwrap();
    assert_eq!(rd.phase, "finalized", "{rd:?}");
    let audit = |url: String| {
        let (genesis, blobs) = (genesis.clone(), blobs.clone());
        async move {
            let ledger = verified(&url, &genesis).await?;
            chorus_sdk::audit::run(&ledger, blobs.as_ref(), 1).await
        }
    };

    // Through an honest proxy everything verifies.
    let ok = audit(lying_proxy(node.url(), honest()).await).await.unwrap();
    assert!(ok.ok(), "{ok}");
    assert_eq!((ok.rounds, ok.commitments, ok.aggregates, ok.rewards), (1, 2, 1, 1), "{ok}");

    // A lie in the JSON views frames an honest participant for the audit that trusts the node,
    // and changes nothing for the verified audit, which never reads them.
    let framed = parts[0].address();
    let view_lie: Tamper = Arc::new(move |pq: &str, body: Vec<u8>| {
        if !pq.starts_with("/v1/learning/tasks/1/rounds/0") {
            return body;
        }
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        for c in v["commit_records"].as_array_mut().unwrap() {
            if c["participant"] == serde_json::to_value(framed).unwrap() {
                c["commitment"] = serde_json::to_value(Hash([9; 32])).unwrap();
            }
        }
        serde_json::to_vec(&v).unwrap()
    });
    let url = lying_proxy(node.url(), view_lie).await;
    let trusting =
        chorus_sdk::audit::run(&NodeClient::new(url.clone()), blobs.as_ref(), 1).await.unwrap();
    let d = trusting.discrepancy.expect("the trusting audit believes the view");
    assert_eq!((d.check.as_str(), d.who), ("commitment", Some(framed)));
    let rep = audit(url).await.unwrap();
    assert!(rep.ok(), "{rep}");

    // A wrong commitment record in a state proof: named, with its key.
    let commit_key = state_key::learning_addr("commit", 1, 0, &framed);
    let url = lying_proxy(
        node.url(),
        on_proof(commit_key.clone(), |p| {
            let mut c: CommitRecord = borsh::from_slice(p.value.as_ref().unwrap()).unwrap();
            c.commitment = Hash([9; 32]);
            p.value = Some(borsh::to_vec(&c).unwrap());
        }),
    )
    .await;
    let (what, detail) = forged(audit(url).await);
    assert!(
        what.contains(&format!("participant {framed} in task 1 round 0"))
            && what.contains(&format!("key 0x{}", hex::encode(&commit_key))),
        "{what}"
    );
    assert!(detail.contains("state proof does not verify"), "{detail}");

    // The round's outcome claimed absent (an exclusion proof where the record exists).
    let outcome_key = state_key::learning("outcome", 1, Some(0));
    let url = lying_proxy(node.url(), on_proof(outcome_key.clone(), |p| p.value = None)).await;
    let (what, _) = forged(audit(url).await);
    assert!(
        what.starts_with("outcome (accepted set, aggregate tallies) of task 1 round 0"),
        "{what}"
    );

    // The task record, proof and all, from another height: the root does not match.
    let url = lying_proxy(node.url(), on_proof(state_key::task(1), |p| p.height -= 1)).await;
    let (what, detail) = forged(audit(url).await);
    assert!(what.starts_with("task 1 "), "{what}");
    assert!(detail.contains("proof for height"), "{detail}");

    // A reward paid to someone else in a receipt: the block's receipts_root catches it.
    let url = lying_proxy(
        node.url(),
        Arc::new(|pq: &str, body: Vec<u8>| {
            if !pq.starts_with("/v1/txs/") {
                return body;
            }
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let Some(events) = v["receipt"]["events"].as_array_mut() else { return body };
            for e in events.iter_mut().filter(|e| e["kind"] == "learning.reward") {
                for a in e["attributes"].as_array_mut().unwrap() {
                    if a[0] == "amount" {
                        a[1] = Value::String("999999".into());
                    }
                }
            }
            serde_json::to_vec(&v).unwrap()
        }),
    )
    .await;
    let (what, detail) = forged(audit(url).await);
    assert!(what.starts_with("receipts of block "), "{what}");
    assert!(detail.contains("receipts_root"), "{detail}");

    // A header with another state root: its certificate no longer certifies it.
    let url = lying_proxy(node.url(), on_block(3, |b| b.header.state_root = Hash([1; 32]))).await;
    let (what, detail) = forged(audit(url).await);
    assert_eq!(what, "header at height 3");
    assert!(detail.contains("commit certificate"), "{detail}");

    // The latest header forged: caught by its own certificate, with no block above to link to.
    let tip = direct.height().await.unwrap();
    let url = lying_proxy(node.url(), on_block(tip, |b| b.header.state_root = Hash([2; 32]))).await;
    let (what, _) = forged(audit(url).await);
    assert_eq!(what, format!("header at height {tip}"));

    // A chain from another genesis is refused at block 1.
    let mut other = genesis.clone();
    other.genesis_time_ms = 1;
    let (what, detail) = forged(verified(&node.url(), &other).await);
    assert_eq!(what, "header at height 1");
    assert!(detail.contains("trusted genesis"), "{detail}");
}
