use bytes::Bytes;
use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_node::config::NodeConfig;
use chorus_node::ledger::StoredCertificate;
use chorus_node::service::{NodeServices, start_services};
use chorus_types::{
    Address, BankMsg, CommitInfo, Genesis, GenesisValidator, Msg, Params, SignedTx, Tx,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub(crate) const CHAIN: u64 = 99;

pub(crate) struct Net {
    pub(crate) svc: NodeServices,
    pub(crate) validator: ConsensusKey,
    pub(crate) alice: AccountKey,
    pub(crate) bob: Address,
    _dir: tempfile::TempDir,
}

async fn start() -> Net {
    start_with(NodeConfig::default()).await
}

pub(crate) async fn start_with(mut config: NodeConfig) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let validator = ConsensusKey::from_seed(b"validator");
    let alice = AccountKey::from_seed(b"alice");
    let bob = AccountKey::from_seed(b"bob").address();
    let operator = AccountKey::from_seed(b"operator").address();
    // Small amounts (a 1 000 stake, fees of 10): the minimums scaled down accordingly.
    let mut params = Params::default();
    params.bank.min_fee = 10;
    params.staking.min_self_delegation = 1;
    let genesis = Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 0,
        accounts: vec![(alice.address(), 1_000_000), (operator, 1_000)],
        validators: vec![GenesisValidator {
            operator,
            consensus_key: validator.public_key(),
            stake: 1_000,
        }],
        params,
    };
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    let (svc, _tasks) =
        start_services(&config, &genesis, dir.path(), validator.public_key()).await.unwrap();
    Net { svc, validator, alice, bob, _dir: dir }
}

impl Net {
    /// Produces and commits one block the way consensus would with a single validator.
    pub(crate) fn block(&self) -> u64 {
        let ledger = &self.svc.ledger;
        let h = ledger.next_height().unwrap();
        let (bytes, _hash) = ledger.propose(h, 0, self.validator.public_key()).unwrap();
        let cert = StoredCertificate {
            info: CommitInfo {
                height: h,
                round: 0,
                signers: vec![self.validator.public_key()],
                signatures: vec![[0; 64]],
            },
            raw: Vec::new(),
        };
        ledger.commit(&bytes, cert).unwrap();
        h
    }

    /// Signs `msgs` from Alice, submits them, commits a block and returns the receipt view.
    pub(crate) async fn send_and_commit(&self, nonce: u64, msgs: Vec<Msg>) -> Value {
        let tx = sign_tx(&self.alice, Tx { chain_id: CHAIN, nonce, fee: 10, msgs });
        let (status, body) = self.submit(&tx).await;
        assert_eq!(status, 200, "{body}");
        self.block();
        self.get(&format!("/v1/txs/{}", body["hash"].as_str().unwrap())).await.1
    }

    pub(crate) fn transfer(&self, nonce: u64, amount: u128, fee: u128) -> SignedTx {
        let tx = Tx {
            chain_id: CHAIN,
            nonce,
            fee,
            msgs: vec![Msg::Bank(BankMsg::Transfer { to: self.bob, amount })],
        };
        sign_tx(&self.alice, tx)
    }

    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        ct: &str,
    ) -> (u16, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.svc.api_url()))
            .header("content-type", ct)
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, Vec::new(), "application/json").await
    }

    pub(crate) async fn submit(&self, tx: &SignedTx) -> (u16, Value) {
        self.request("POST", "/v1/txs", tx.encode(), "application/octet-stream").await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_transfer_is_committed_and_provable() {
    let net = start().await;
    let tx = net.transfer(0, 250, 10);
    let (status, body) = net.submit(&tx).await;
    assert_eq!(status, 200, "{body}");
    let hash = body["hash"].as_str().unwrap().to_string();
    assert_eq!(net.get(&format!("/v1/txs/{hash}")).await.1["status"], "pending");

    let height = net.block();
    let (status, body) = net.get(&format!("/v1/txs/{hash}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "committed");
    assert_eq!(body["height"], height);
    assert!(body["receipt"]["result"]["Ok"].is_null(), "{body}");

    let (_, acct) = net.get(&format!("/v1/accounts/{}", net.bob)).await;
    assert_eq!(acct["balance"], "250");
    let (_, acct) = net.get(&format!("/v1/accounts/{}", net.alice.address())).await;
    assert_eq!(acct["balance"], (1_000_000 - 250 - 10).to_string());
    assert_eq!(acct["nonce"], 1);

    // A proof of Bob's balance verifies against the block header's state root.
    let key = chorus_chain::state_key::balance(&net.bob);
    let (status, proof) =
        net.get(&format!("/v1/state/proof?key=0x{}&height={height}", hex::encode(&key))).await;
    assert_eq!(status, 200, "{proof}");
    let proof: chorus_db::StateProof = serde_json::from_value(proof).unwrap();
    let (_, block) = net.get(&format!("/v1/blocks/{height}")).await;
    let root: chorus_types::Hash =
        serde_json::from_value(block["header"]["state_root"].clone()).unwrap();
    chorus_db::verify_proof(&proof, &root.0).unwrap();
    assert!(proof.value.is_some());
    // And an absent key gets an exclusion proof.
    let missing = chorus_chain::state_key::balance(&Address([7; 20]));
    let (_, proof) = net.get(&format!("/v1/state/proof?key=0x{}", hex::encode(&missing))).await;
    let proof: chorus_db::StateProof = serde_json::from_value(proof).unwrap();
    assert!(proof.value.is_none());
    chorus_db::verify_proof(&proof, &root.0).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_transactions_from_one_account_commit_in_nonce_order() {
    let net = start().await;
    for n in 0..5 {
        let (status, body) = net.submit(&net.transfer(n, 1, 10)).await;
        assert_eq!(status, 200, "nonce {n}: {body}");
    }
    let (_, acct) = net.get(&format!("/v1/accounts/{}", net.alice.address())).await;
    assert_eq!(acct["pending_nonce"], 5);
    net.block();
    let (_, acct) = net.get(&format!("/v1/accounts/{}", net.alice.address())).await;
    assert_eq!(acct["nonce"], 5);
    assert_eq!(acct["pending_nonce"], 5);
    let (_, bob) = net.get(&format!("/v1/accounts/{}", net.bob)).await;
    assert_eq!(bob["balance"], "5");
    let (_, status) = net.get("/v1/status").await;
    assert_eq!(status["mempool_size"], 0);
    // Clients find the fee to pay and the chain to sign for here.
    assert_eq!(status["min_fee"], "10");
    assert_eq!(status["chain_id"], CHAIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason_and_changes_nothing() {
    let net = start().await;
    let good = net.transfer(0, 5, 10);
    let mut high_s = good.clone();
    // Flip s to n - s: a valid signature in the malleable form.
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let mut s = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(good.signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        s[i] = d.rem_euclid(256) as u8;
    }
    high_s.signature[32..64].copy_from_slice(&s);
    high_s.signature[64] ^= 1;
    let mut bad_sig = good.clone();
    bad_sig.signature[10] ^= 0xff;
    let wrong_chain = sign_tx(&net.alice, Tx { chain_id: CHAIN + 1, ..good.tx.clone() });
    let broke = sign_tx(&AccountKey::from_seed(b"nobody"), good.tx.clone());
    let too_much = net.transfer(0, 10_000_000, 10);
    let gap = net.transfer(3, 5, 10);

    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        ("malformed bytes", vec![1, 2, 3], "application/octet-stream", 400),
        ("malformed json", b"{\"tx\": ".to_vec(), "application/json", 400),
        ("bad hex", b"{\"tx\": \"0xzz\"}".to_vec(), "application/json", 400),
        ("oversized", vec![0u8; 70 * 1024], "application/octet-stream", 413),
        ("wrong chain id", wrong_chain.encode(), "application/octet-stream", 400),
        ("bad signature", bad_sig.encode(), "application/octet-stream", 400),
        ("high-s signature", high_s.encode(), "application/octet-stream", 400),
        ("insufficient fee balance", broke.encode(), "application/octet-stream", 400),
        ("insufficient balance", too_much.encode(), "application/octet-stream", 400),
        ("gapped nonce", gap.encode(), "application/octet-stream", 400),
    ];
    for (name, body, ct, want) in cases {
        let (status, json) = net.request("POST", "/v1/txs", body, ct).await;
        assert_eq!(status, want, "{name}: {json}");
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{name}: {json}");
        assert!(json["code"].as_u64().is_some(), "{name}: {json}");
    }
    // Unknown message type: a valid envelope whose message variant does not exist.
    let mut unknown = good.encode();
    let msgs_at = 8 + 8 + 16 + 4; // chain_id, nonce, fee, vec length
    unknown[msgs_at] = 200;
    let (status, json) = net.submit_raw(unknown).await;
    assert_eq!(status, 400, "{json}");

    // Nothing reached the pool, and the node still serves and accepts a good transaction.
    let (_, st) = net.get("/v1/status").await;
    assert_eq!(st["mempool_size"], 0);
    assert_eq!(net.submit(&good).await.0, 200);
    // Submitting it again is a duplicate; after commit it is a replay.
    assert_eq!(net.submit(&good).await.0, 409);
    net.block();
    let (status, json) = net.submit(&good).await;
    assert_eq!(status, 400, "{json}");
    assert!(json["error"].as_str().unwrap().contains("nonce"), "{json}");
    let (_, acct) = net.get(&format!("/v1/accounts/{}", net.alice.address())).await;
    assert_eq!(acct["balance"], (1_000_000 - 5 - 10).to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_openapi_and_unknown_routes_answer() {
    let net = start().await;
    net.block();
    let (status, body) = net.get("/health").await;
    assert_eq!((status, body["height"].as_u64()), (200, Some(1)));
    let (status, body) = net.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body["paths"]["/v1/txs"]["post"].is_object());
    let (status, body) = net.get("/v1/nope").await;
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    let (status, _) = net.get("/v1/blocks/999").await;
    assert_eq!(status, 404);
    let (status, _) = net.get("/v1/accounts/0x1234").await;
    assert_eq!(status, 400);
    let (status, body) = net.get("/v1/validators").await;
    assert_eq!(status, 200);
    assert_eq!(body["validators"].as_array().unwrap().len(), 1);
    // Metrics are text, not JSON.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client.get(format!("{}/metrics", net.svc.api_url()).parse().unwrap()).await.unwrap();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.contains("chorus_chain_height 1"), "{text}");
    // The blob store is mounted under /store.
    let (status, _) = net.get("/store/health").await;
    assert_eq!(status, 200);
}

impl Net {
    async fn submit_raw(&self, raw: Vec<u8>) -> (u16, Value) {
        self.request("POST", "/v1/txs", raw, "application/octet-stream").await
    }
}

fn one_round_task(initial_model: chorus_types::Hash) -> chorus_types::learning::TaskSpec {
    use chorus_types::learning::*;
    TaskSpec {
        model: ModelSpec {
            spec_id: "logreg-784-10".into(),
            description: "gc test".into(),
            initial_model,
        },
        data: DataMode::Private,
        rounds: 1,
        participants_per_round: 1,
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
        reward_per_round: 1_000,
        min_participant_stake: 0,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
        max_examples: 60_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_gc_keeps_what_the_ledger_refers_to_and_removes_expired_strays() {
    let mut config = NodeConfig::default();
    config.store.blob_ttl_secs = Some(0);
    config.store.gc_interval_secs = 1;
    let net = start_with(config).await;
    let model = Bytes::from_static(b"initial model bytes");
    let stray = Bytes::from_static(b"an update nobody revealed");
    let model_id = chorus_store::BlobId::of(&model);
    // The task (referring to the model) is committed before either blob exists, so no GC pass can
    // see the model unreferenced.
    let create = Msg::Learning(chorus_types::learning::LearningMsg::CreateTask {
        spec: Box::new(one_round_task(chorus_types::Hash(*model_id.as_bytes()))),
    });
    let receipt = net.send_and_commit(0, vec![create]).await;
    assert!(receipt["receipt"]["result"].get("Ok").is_some(), "{receipt}");

    let store = &net.svc.store;
    assert_eq!(store.put_bytes("models", model.clone(), None).await.unwrap().id, model_id);
    let stray_id = store.put_bytes("updates", stray, None).await.unwrap().id;
    // The periodic pass (every second, TTL 0) removes the stray and keeps the pinned model.
    let mut gone = false;
    for _ in 0..50 {
        if store.backend().stat("updates", &stray_id).unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the unreferenced blob was not collected");
    assert!(store.backend().stat("models", &model_id).unwrap().is_some());
    // A direct pass reports the pin.
    let r = chorus_node::service::collect_blob_garbage(&net.svc.ledger, store).unwrap();
    assert_eq!((r.scanned, r.kept_pinned, r.removed_metas.len()), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_from_consensus_is_served_until_the_chain_tombstones_the_offender() {
    use chorus_types::staking::{DoubleSignEvidence, SignedVote, StakingMsg, Vote, VoteType};
    let net = start().await;
    net.block();
    net.block();
    let vote = |id: u8| {
        let vote = Vote {
            height: 1,
            round: 0,
            vote_type: VoteType::Precommit,
            value_id: Some(chorus_types::Hash([id; 32])),
            validator: net.validator.public_key(),
        };
        let signature = net.validator.sign(&vote.sign_bytes(CHAIN));
        SignedVote { vote, signature }
    };
    let ev = DoubleSignEvidence { a: vote(1), b: vote(2) };
    // What the consensus adapter hands the node (`Application::misbehavior`), twice: kept once.
    net.svc.ledger.record_evidence(vec![ev.clone(), ev.clone()]);
    let (status, body) = net.get("/v1/evidence").await;
    assert_eq!(status, 200);
    let pending: Vec<DoubleSignEvidence> =
        serde_json::from_value(body["evidence"].clone()).unwrap();
    assert_eq!(pending, vec![ev.clone()]);
    // Submitted (as `chorus node --worker` does), verified and acted on: no longer pending.
    let receipt = net
        .send_and_commit(0, vec![Msg::Staking(StakingMsg::SubmitEvidence { evidence: ev })])
        .await;
    assert!(receipt["receipt"]["result"].get("Ok").is_some(), "{receipt}");
    let (_, body) = net.get("/v1/evidence").await;
    assert_eq!(body["evidence"].as_array().unwrap().len(), 0, "{body}");
}
