//! Attacks on block validity and the mempool (security review C2, M1, M5, M6, M7), run against
//! real node services (API server, database, ledger) with blocks driven through the ledger host,
//! and mempool gossip between two nodes (issue "safe among strangers").

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_node::config::NodeConfig;
use chorus_node::ledger::{LedgerError, MAX_VALUE_BYTES, StoredCertificate, genesis_hash};
use chorus_node::service::{NodeServices, start_services};
use chorus_types::staking::{Vote, VoteType};
use chorus_types::{
    Address, BankMsg, Block, BlockHeader, CommitInfo, Genesis, GenesisValidator, Hash, Msg, Params,
    SignedTx, Tx,
};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

const CHAIN: u64 = 77;

fn validator() -> ConsensusKey {
    ConsensusKey::from_seed(b"attack-validator")
}

fn account(name: &str) -> AccountKey {
    AccountKey::from_seed(name.as_bytes())
}

fn genesis() -> Genesis {
    let mut params = Params::default();
    params.bank.min_fee = 10;
    params.staking.min_self_delegation = 1; // a 1 000 stake
    Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 0,
        accounts: vec![
            (account("mallory").address(), 1_000_000),
            (account("bob").address(), 1_000_000),
            (account("operator").address(), 1_000),
        ],
        validators: vec![GenesisValidator {
            operator: account("operator").address(),
            consensus_key: validator().public_key(),
            stake: 1_000,
        }],
        params,
    }
}

/// One node's services (no consensus engine: blocks are driven through the ledger).
struct Node {
    svc: NodeServices,
    _dir: tempfile::TempDir,
}

async fn node(mut config: NodeConfig) -> Node {
    let dir = tempfile::tempdir().unwrap();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    let (svc, _tasks) =
        start_services(&config, &genesis(), dir.path(), validator().public_key()).await.unwrap();
    Node { svc, _dir: dir }
}

/// The certificate consensus would produce for `block` with the single validator.
fn certificate(height: u64, hash: Hash) -> StoredCertificate {
    let key = validator();
    let vote = Vote {
        height,
        round: 0,
        vote_type: VoteType::Precommit,
        value_id: Some(hash),
        validator: key.public_key(),
    };
    StoredCertificate {
        info: CommitInfo {
            height,
            round: 0,
            signers: vec![key.public_key()],
            signatures: vec![key.sign(&vote.sign_bytes(CHAIN))],
        },
        raw: Vec::new(),
    }
}

impl Node {
    /// Proposes, then commits, one block; returns its bytes.
    fn block(&self) -> Vec<u8> {
        let ledger = &self.svc.ledger;
        let h = ledger.next_height().unwrap();
        let (bytes, hash) = ledger.propose(h, 0, validator().public_key()).unwrap();
        ledger.commit(&bytes, certificate(h, hash)).unwrap();
        bytes
    }

    /// Validates then commits a block another node proposed.
    fn follow(&self, bytes: &[u8]) {
        let ledger = &self.svc.ledger;
        let h = ledger.next_height().unwrap();
        let hash = ledger.validate(h, validator().public_key(), bytes).unwrap();
        ledger.commit(bytes, certificate(h, hash)).unwrap();
    }

    async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.svc.api_url()))
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn submit(&self, tx: &SignedTx) -> (u16, Value) {
        self.request("POST", "/v1/txs", tx.encode()).await
    }

    async fn tx_status(&self, tx: &SignedTx) -> String {
        let hash = Hash::keccak(&tx.encode());
        let (_, v) = self.request("GET", &format!("/v1/txs/{hash}"), Vec::new()).await;
        v["status"].as_str().unwrap_or("unknown").to_string()
    }

    fn pool_len(&self) -> usize {
        self.svc.api.mempool.lock().unwrap().len()
    }
}

fn transfer(from: &str, nonce: u64, to: Address, amount: u128, fee: u128) -> SignedTx {
    let msgs = vec![Msg::Bank(BankMsg::Transfer { to, amount })];
    sign_tx(&account(from), Tx { chain_id: CHAIN, nonce, fee, msgs })
}

/// A block at `height` on top of genesis (or `prev`), with `txs` and `last_commit`, whose
/// roots are left zero (validation refuses it for its contents before it gets to the roots).
fn raw_block(
    height: u64,
    prev_hash: Hash,
    txs: Vec<SignedTx>,
    last_commit: Option<CommitInfo>,
) -> Vec<u8> {
    let mut block = Block {
        header: BlockHeader {
            chain_id: CHAIN,
            height,
            // 50 ms ahead (within the allowed drift): the parent, produced by the node a moment
            // ago, may carry this very millisecond, and times must strictly increase.
            time_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
                + 50,
            prev_hash,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            proposer: validator().public_key(),
            last_commit_hash: Hash::ZERO,
        },
        txs,
        last_commit,
    };
    block.header.tx_root = block.compute_tx_root();
    block.header.last_commit_hash = block.compute_last_commit_hash();
    borsh::to_vec(&block).unwrap()
}

fn invalid_reason(r: Result<Hash, LedgerError>) -> String {
    match r {
        Err(LedgerError::InvalidBlock(m)) => m,
        Err(LedgerError::Header(e)) => e.to_string(),
        other => panic!("expected an invalid block, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_transactions_that_cannot_all_pay_is_refused_at_admission() {
    let n = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    // Nonce 0 moves almost everything away; nonce 1 offers a fee only the old balance covered.
    assert_eq!(n.submit(&transfer("mallory", 0, bob, 990_000, 10)).await.0, 200);
    let (status, body) = n.submit(&transfer("mallory", 1, bob, 1, 50_000)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("insufficient"), "{body}");
    // What still fits behind it is accepted.
    assert_eq!(n.submit(&transfer("mallory", 1, bob, 1, 10)).await.0, 200);
    assert_eq!(n.pool_len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_that_spends_more_evicts_the_successors_it_no_longer_leaves_room_for() {
    let n = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    for nonce in 0..5 {
        assert_eq!(n.submit(&transfer("mallory", nonce, bob, 1, 10_000)).await.0, 200);
    }
    // Replace nonce 0 with a transfer of almost everything (and a higher fee).
    let (status, body) = n.submit(&transfer("mallory", 0, bob, 980_000, 11_000)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "replaced");
    assert_eq!(n.pool_len(), 1, "successors that cannot pay are evicted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpayable_pending_transactions_are_evicted_after_the_commit_that_made_them_so() {
    // Mallory spends everything through node A while node B holds a queue of expensive
    // transactions that only the old balance could pay (C2). After B commits A's block they are
    // gone, and an honest transfer sent to B is committed in B's next block.
    let a = node(NodeConfig::default()).await;
    let b = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    let carol = account("carol").address();
    assert_eq!(a.submit(&transfer("mallory", 0, bob, 999_900, 10)).await.0, 200);
    assert_eq!(b.submit(&transfer("mallory", 0, bob, 1, 10)).await.0, 200);
    for nonce in 1..20 {
        let (status, body) = b.submit(&transfer("mallory", nonce, bob, 1, 40_000)).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(b.pool_len(), 20);
    let block = a.block();
    b.follow(&block);
    assert_eq!(b.pool_len(), 0, "the stale nonce is pruned and the unpayable run evicted");

    let honest = transfer("bob", 0, carol, 5, 10);
    assert_eq!(b.submit(&honest).await.0, 200);
    b.block();
    assert_eq!(b.tx_status(&honest).await, "committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposer_leaves_out_and_evicts_a_pending_transaction_that_cannot_pay() {
    // However a transaction that cannot pay got into a pool (here: put there directly, as a
    // governance raise of the minimum fee would leave one), the proposer leaves it out of its
    // block instead of carrying it for free, and evicts it.
    let n = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    let broke = transfer("carol", 0, bob, 1, 10);
    let vtx = chorus_chain::check_stateless(&broke.encode(), CHAIN).unwrap();
    let entry = chorus_node::mempool::PoolTx {
        hash: vtx.hash(),
        sender: vtx.sender(),
        nonce: 0,
        fee: 10,
        size: vtx.size(),
        payload: vtx,
    };
    n.svc.api.mempool.lock().unwrap().insert(entry, 0).unwrap();
    let honest = transfer("bob", 0, account("dave").address(), 2, 10);
    assert_eq!(n.submit(&honest).await.0, 200);
    let block: Block = borsh::from_slice(&n.block()).unwrap();
    assert_eq!(block.txs, vec![honest.clone()]);
    assert_eq!(n.tx_status(&honest).await, "committed");
    assert_eq!(n.pool_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_carrying_a_transaction_that_cannot_pay_is_invalid() {
    let n = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    let g = genesis_hash(&genesis());
    // A nonce gap, a fee below the minimum, a fee beyond the balance, another chain.
    let junk = [
        transfer("mallory", 5, bob, 1, 10),
        transfer("mallory", 0, bob, 1, 1),
        transfer("carol", 0, bob, 1, 10),
    ];
    for tx in junk {
        let why = invalid_reason(n.svc.ledger.validate(
            1,
            validator().public_key(),
            &raw_block(1, g, vec![tx], None),
        ));
        assert!(why.contains("cannot pay"), "{why}");
    }
    assert_eq!(n.svc.ledger.next_height().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_committed_transaction_makes_a_later_block_invalid_and_keeps_its_receipt() {
    let n = node(NodeConfig::default()).await;
    let bob = account("bob").address();
    let tx = transfer("mallory", 0, bob, 7, 10);
    assert_eq!(n.submit(&tx).await.0, 200);
    let first = n.block();
    let first: Block = borsh::from_slice(&first).unwrap();
    let cert = certificate(1, first.hash());
    let replay = raw_block(2, first.hash(), vec![tx.clone()], Some(cert.info));
    let why = invalid_reason(n.svc.ledger.validate(2, validator().public_key(), &replay));
    assert!(why.contains("cannot pay"), "{why}");
    assert_eq!(n.tx_status(&tx).await, "committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_blocks_and_blocks_over_the_transaction_limit_are_invalid() {
    let mut config = NodeConfig::default();
    config.consensus.max_block_txs = 2;
    let n = node(config).await;
    let bob = account("bob").address();
    let g = genesis_hash(&genesis());
    let huge = vec![0u8; MAX_VALUE_BYTES + 1];
    let why = invalid_reason(n.svc.ledger.validate(1, validator().public_key(), &huge));
    assert!(why.contains("exceeds"), "{why}");
    let three = (0..3).map(|i| transfer("mallory", i, bob, 1, 10)).collect();
    let why = invalid_reason(n.svc.ledger.validate(
        1,
        validator().public_key(),
        &raw_block(1, g, three, None),
    ));
    assert!(why.contains("exceed the limit"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_commit_naming_height_u64_max_is_refused_without_panicking() {
    let n = node(NodeConfig::default()).await;
    let first: Block = borsh::from_slice(&n.block()).unwrap();
    let mut info = certificate(1, first.hash()).info;
    info.height = u64::MAX;
    let block = raw_block(2, first.hash(), vec![], Some(info));
    let why = invalid_reason(n.svc.ledger.validate(2, validator().public_key(), &block));
    assert!(why.contains("last_commit names height"), "{why}");
    // The node still produces blocks.
    n.block();
    assert_eq!(n.svc.ledger.next_height().unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_commit_without_the_signers_precommit_signatures_is_invalid() {
    let n = node(NodeConfig::default()).await;
    let first: Block = borsh::from_slice(&n.block()).unwrap();
    let mut info = certificate(1, first.hash()).info;
    info.signatures = vec![[7; 64]];
    let why = invalid_reason(n.svc.ledger.validate(
        2,
        validator().public_key(),
        &raw_block(2, first.hash(), vec![], Some(info)),
    ));
    assert!(why.contains("does not verify"), "{why}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn wait_until(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Submits `tx` to `a` and waits until `b` holds it. Gossipsub needs its mesh to form first:
/// publishing the same bytes again is idempotent, so it republishes until `b` has it.
async fn submit_until_gossiped(a: &Node, b: &Node, tx: &SignedTx) {
    assert_eq!(a.submit(tx).await.0, 200);
    wait_until("the transaction to reach B", async || {
        if b.tx_status(tx).await == "pending" {
            return true;
        }
        a.svc.api.gossip.as_ref().unwrap().publish(tx.encode());
        false
    })
    .await;
}

async fn gossiping_pair() -> (Node, Node) {
    let (pa, pb) = (free_port(), free_port());
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let mut ca = NodeConfig::default();
    ca.gossip.listen = Some(addr(pa));
    ca.gossip.peers = vec![addr(pb)];
    let mut cb = NodeConfig::default();
    cb.gossip.listen = Some(addr(pb));
    cb.gossip.peers = vec![addr(pa)];
    (node(ca).await, node(cb).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_submitted_to_one_validator_reaches_the_others_mempool_by_gossip() {
    let (a, b) = gossiping_pair().await;
    let bob = account("bob").address();
    submit_until_gossiped(&a, &b, &transfer("mallory", 0, bob, 3, 10)).await;
    // A queued follow-up goes the same way, and B can include both in a block.
    let next = transfer("mallory", 1, bob, 4, 10);
    assert_eq!(a.submit(&next).await.0, 200);
    wait_until("the follow-up to reach B", async || b.tx_status(&next).await == "pending").await;
    b.block();
    assert_eq!(b.tx_status(&next).await, "committed");
    let received = b.svc.api.metrics.render();
    assert!(received.contains("gossip_txs_received_total{result=\"accepted\"}"), "{received}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_gossiping_garbage_is_rejected_then_ignored_and_nothing_of_it_enters_the_mempool() {
    let (a, b) = gossiping_pair().await;
    let bob = account("bob").address();
    submit_until_gossiped(&a, &b, &transfer("mallory", 0, bob, 3, 10)).await;
    // A (playing a faulty peer) publishes bytes that fail the stateless checks.
    a.svc.api.gossip.as_ref().unwrap().publish(vec![0xff; 100]);
    wait_until("B to reject the garbage", async || {
        b.svc.api.metrics.render().contains("gossip_txs_received_total{result=\"rejected\"} 1")
    })
    .await;
    // One invalid message puts A below B's graylist threshold (peer scoring): B now drops what
    // A sends, even a valid transaction, and nothing of A's reaches B's mempool.
    let later = transfer("mallory", 1, bob, 4, 10);
    assert_eq!(a.submit(&later).await.0, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(b.tx_status(&later).await, "unknown");
    assert_eq!(b.pool_len(), 1);
}
