//! The ledger host: builds, validates and commits blocks by running the pure state machine
//! (`chorus-chain`) over the authenticated store (`chorus-db`). Consensus-agnostic: the
//! Malachite adapter calls [`Ledger::propose`], [`Ledger::validate`] and [`Ledger::commit`].
//!
//! A block's header carries the state root *after* its own transactions, so the proposer and
//! every validator execute the block on a scratch copy (`Db::prepare`) before voting; the
//! prepared result is cached by block hash and reused when the block is decided.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_chain::{BlockContext, BlockOutcome, VerifiedTx, check_stateless, execute_block};
use chorus_db::{BlockRecord, Db, Prepared, TxRecord};
use chorus_types::{
    Block, BlockHeader, CommitInfo, Genesis, Hash, Height, Receipt, ValidatorInfo, merkle_root,
};
use tokio::sync::broadcast;

use crate::events::NodeEvent;
use crate::lock;
use crate::mempool::Mempool;
use crate::metrics::Metrics;

/// Largest total size of a block's transactions; a proposer builds within it and a block
/// beyond it is invalid.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;

/// Largest encoded block (transactions plus header and `last_commit`): a block beyond it is
/// invalid, and consensus drops proposal streams beyond it while they arrive.
pub const MAX_VALUE_BYTES: usize = MAX_BLOCK_BYTES + 1024 * 1024;

/// How far a proposer's clock may run ahead of ours before we refuse its block.
pub const MAX_FUTURE_DRIFT_MS: u64 = 10_000;

/// Why the ledger could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error("database: {0}")]
    Db(#[from] chorus_db::Error),
    /// The genesis file is invalid.
    #[error("genesis: {0}")]
    Genesis(#[from] chorus_chain::GenesisError),
    /// Block execution failed as a whole.
    #[error("block execution: {0}")]
    Execution(#[from] chorus_chain::BlockError),
    /// The state machine rejected a read.
    #[error("state: {0}")]
    State(#[from] chorus_chain::TxError),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A proposed block is invalid.
    #[error("invalid block: {0}")]
    InvalidBlock(String),
    /// A proposed block's header breaks a chain rule.
    #[error("invalid block: {0}")]
    Header(#[from] chorus_chain::HeaderError),
}

impl LedgerError {
    /// Whether this node failed (its storage, a record it wrote), as opposed to the input being
    /// bad. Consensus stops on a local failure instead of calling a block invalid.
    pub fn is_local_failure(&self) -> bool {
        use chorus_chain::{BlockError, TxError};
        match self {
            LedgerError::Db(_) | LedgerError::Corrupt(_) => true,
            LedgerError::Execution(BlockError::Storage(_))
            | LedgerError::State(TxError::Storage(_) | TxError::CorruptState { .. }) => true,
            LedgerError::Execution(BlockError::Hook(e)) => {
                matches!(e, TxError::Storage(_) | TxError::CorruptState { .. })
            }
            LedgerError::Genesis(_)
            | LedgerError::State(_)
            | LedgerError::InvalidBlock(_)
            | LedgerError::Header(_) => false,
        }
    }
}

/// What the node stores as a block's certificate: the commit info the chain sees (signers) and
/// the consensus engine's own certificate bytes (served to peers catching up).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredCertificate {
    /// Height, round and signers, as carried by the next block's `last_commit`.
    pub info: CommitInfo,
    /// The consensus adapter's encoding of the full certificate.
    pub raw: Vec<u8>,
}

struct Executed {
    prepared: Prepared,
    senders: Vec<chorus_types::Address>,
    outcome: BlockOutcome,
    block: Block,
    bytes: Vec<u8>,
}

/// A block we proposed: its bytes and hash.
type Proposal = (Vec<u8>, Hash);

/// Block production and validation over the chain's state.
pub struct Ledger {
    chain_id: u64,
    genesis_hash: Hash,
    db: Arc<Db>,
    mempool: Arc<Mutex<Mempool<VerifiedTx>>>,
    events: broadcast::Sender<NodeEvent>,
    metrics: Arc<Metrics>,
    max_block_txs: usize,
    /// Executed but undecided blocks, by hash; dropped once their height is committed.
    executed: Mutex<BTreeMap<Hash, Executed>>,
    /// Our proposals by (height, round): the engine may ask twice and must get the same value.
    proposals: Mutex<BTreeMap<(Height, u32), Proposal>>,
    /// Double votes consensus observed, not yet acted on by the chain (in memory, capped).
    evidence: Mutex<Vec<chorus_types::staking::DoubleSignEvidence>>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The hash that block 1 names as its parent: keccak of the canonical genesis encoding.
pub fn genesis_hash(genesis: &Genesis) -> Hash {
    Hash::keccak(&borsh::to_vec(genesis).unwrap_or_default())
}

impl Ledger {
    /// Opens the ledger on `db`, writing the genesis state if the database is fresh.
    pub fn open(
        genesis: &Genesis,
        db: Arc<Db>,
        mempool: Arc<Mutex<Mempool<VerifiedTx>>>,
        events: broadcast::Sender<NodeEvent>,
        metrics: Arc<Metrics>,
        max_block_txs: usize,
    ) -> Result<Ledger, LedgerError> {
        if db.latest()?.is_none() {
            let changes = chorus_chain::init_genesis(genesis)?;
            let root = db.commit_genesis(&changes)?;
            tracing::info!(target: "node::ledger", root = %hex::encode(root), "genesis written");
        }
        let ledger = Ledger {
            chain_id: genesis.chain_id,
            genesis_hash: genesis_hash(genesis),
            db,
            mempool,
            events,
            metrics,
            max_block_txs,
            executed: Mutex::new(BTreeMap::new()),
            proposals: Mutex::new(BTreeMap::new()),
            evidence: Mutex::new(Vec::new()),
        };
        if let Some(h) = ledger.last_height()? {
            ledger.metrics.height.set(h as i64);
        }
        Ok(ledger)
    }

    /// Records equivocation evidence reported by consensus (duplicates ignored, at most 256 kept).
    pub fn record_evidence(&self, found: Vec<chorus_types::staking::DoubleSignEvidence>) {
        let mut pool = lock(&self.evidence);
        for ev in found {
            if pool.len() < 256 && !pool.contains(&ev) {
                pool.push(ev);
            }
        }
    }

    /// Evidence from consensus the chain has not acted on yet: the offender is still a known,
    /// non-tombstoned validator. Anyone can submit it as `StakingMsg::SubmitEvidence`
    /// (`GET /v1/evidence`; `chorus node --worker` does so with its operator key).
    pub fn pending_evidence(
        &self,
    ) -> Result<Vec<chorus_types::staking::DoubleSignEvidence>, LedgerError> {
        use chorus_chain::components::staking;
        let snap = self.db.snapshot()?;
        let mut pool = lock(&self.evidence);
        let mut keep = Vec::new();
        for ev in pool.drain(..) {
            let live = match staking::validator_by_consensus_key(&snap, &ev.a.vote.validator)? {
                Some(op) => !staking::signing_info(&snap, &op)?.is_some_and(|si| si.tombstoned),
                None => false,
            };
            if live {
                keep.push(ev);
            }
        }
        *pool = keep.clone();
        Ok(keep)
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The store.
    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// The latest committed block height (0 = only genesis).
    pub fn last_height(&self) -> Result<Option<Height>, LedgerError> {
        Ok(self.db.latest_height()?)
    }

    /// The next height to decide.
    pub fn next_height(&self) -> Result<Height, LedgerError> {
        Ok(self.db.latest_height()?.map_or(1, |h| h + 1).max(1))
    }

    /// The validator set the chain says is active now.
    pub fn validator_set(&self) -> Result<Vec<ValidatorInfo>, LedgerError> {
        let snap = self.db.snapshot()?;
        Ok(chorus_chain::validator_set(&snap)?)
    }

    /// A committed block with its certificate.
    pub fn block(&self, height: Height) -> Result<Option<(Block, StoredCertificate)>, LedgerError> {
        let Some(stored) = self.db.block_by_height(height)? else { return Ok(None) };
        let block = Block::try_from_slice(&stored.block_bytes)
            .map_err(|e| LedgerError::Corrupt(format!("block {height}: {e}")))?;
        let cert = StoredCertificate::try_from_slice(&stored.certificate_bytes)
            .map_err(|e| LedgerError::Corrupt(format!("certificate {height}: {e}")))?;
        Ok(Some((block, cert)))
    }

    /// Header facts of the parent of `height`: (hash, time, certificate info).
    fn parent(&self, height: Height) -> Result<(Hash, u64, Option<CommitInfo>), LedgerError> {
        if height <= 1 {
            return Ok((self.genesis_hash, 0, None));
        }
        match self.block(height - 1)? {
            Some((b, cert)) => Ok((b.hash(), b.header.time_ms, Some(cert.info))),
            None => Err(LedgerError::InvalidBlock(format!("parent of height {height} unknown"))),
        }
    }

    fn execute(&self, block: Block) -> Result<Executed, LedgerError> {
        let started = std::time::Instant::now();
        let h = block.header.height;
        let ctx = BlockContext {
            chain_id: self.chain_id,
            height: h,
            time_ms: block.header.time_ms,
            proposer: block.header.proposer,
            randomness: block.header.prev_hash,
            last_commit: block.last_commit.clone(),
        };
        let mut txs = Vec::with_capacity(block.txs.len());
        for (i, stx) in block.txs.iter().enumerate() {
            let v = check_stateless(&stx.encode(), self.chain_id)
                .map_err(|e| LedgerError::InvalidBlock(format!("tx {i}: {e}")))?;
            txs.push(v);
        }
        let senders = txs.iter().map(VerifiedTx::sender).collect();
        let snap = self.db.snapshot()?;
        let outcome = execute_block(&snap, &ctx, &txs)?;
        let prepared = self.db.prepare(h, &outcome.changes)?;
        let bytes = borsh::to_vec(&block).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        self.metrics.block_execution_seconds.observe(started.elapsed().as_secs_f64());
        Ok(Executed { prepared, senders, outcome, block, bytes })
    }

    fn receipts_root(receipts: &[Receipt]) -> Hash {
        merkle_root(&receipts.iter().map(Receipt::hash).collect::<Vec<_>>())
    }

    /// Builds (or returns the already built) block for `(height, round)` with `proposer` as
    /// the consensus key. Returns the block bytes and its hash.
    pub fn propose(
        &self,
        height: Height,
        round: u32,
        proposer: [u8; 32],
    ) -> Result<(Vec<u8>, Hash), LedgerError> {
        if let Some(p) = lock(&self.proposals).get(&(height, round)) {
            return Ok(p.clone());
        }
        let (prev_hash, prev_time, last_commit) = self.parent(height)?;
        let time_ms = now_ms().max(prev_time + 1);
        let reaped: Vec<VerifiedTx> = {
            let pool = lock(&self.mempool);
            pool.reap(self.max_block_txs, MAX_BLOCK_BYTES).into_iter().map(|p| p.payload).collect()
        };
        let started = std::time::Instant::now();
        let (txs, outcome) =
            self.payable_only(height, time_ms, proposer, prev_hash, &last_commit, reaped)?;
        let mut block = Block {
            header: BlockHeader {
                chain_id: self.chain_id,
                height,
                time_ms,
                prev_hash,
                tx_root: Hash::ZERO,
                state_root: Hash::ZERO,
                receipts_root: Hash::ZERO,
                proposer,
                last_commit_hash: Hash::ZERO,
            },
            txs: txs.iter().map(|t| t.signed().clone()).collect(),
            last_commit,
        };
        block.header.tx_root = block.compute_tx_root();
        block.header.last_commit_hash = block.compute_last_commit_hash();
        // The header is not an input of execution, so the dry run's outcome is this block's:
        // its roots fill the header.
        let prepared = self.db.prepare(height, &outcome.changes)?;
        self.metrics.block_execution_seconds.observe(started.elapsed().as_secs_f64());
        block.header.state_root = Hash(prepared.state_root);
        block.header.receipts_root = Self::receipts_root(&outcome.receipts);
        let bytes = borsh::to_vec(&block).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let hash = block.hash();
        let senders = txs.iter().map(VerifiedTx::sender).collect();
        let executed = Executed { prepared, senders, outcome, block, bytes: bytes.clone() };
        lock(&self.executed).insert(hash, executed);
        lock(&self.proposals).insert((height, round), (bytes.clone(), hash));
        Ok((bytes, hash))
    }

    /// Leaves out of a block being built every transaction that could not pay (a block carrying
    /// one is invalid, see [`chorus_chain::BlockOutcome::unpayable`]) and evicts it, with the
    /// same sender's later transactions, from the mempool. A dry run finds them; a second pass
    /// catches the rare transaction that only became unpayable because another was left out;
    /// after that the prefix before the first unpayable one is kept, which is always valid
    /// (execution is sequential).
    fn payable_only(
        &self,
        height: Height,
        time_ms: u64,
        proposer: [u8; 32],
        randomness: Hash,
        last_commit: &Option<CommitInfo>,
        mut txs: Vec<VerifiedTx>,
    ) -> Result<(Vec<VerifiedTx>, BlockOutcome), LedgerError> {
        let ctx = BlockContext {
            chain_id: self.chain_id,
            height,
            time_ms,
            proposer,
            randomness,
            last_commit: last_commit.clone(),
        };
        let snap = self.db.snapshot()?;
        let mut pass = 0;
        loop {
            let outcome = execute_block(&snap, &ctx, &txs)?;
            let Some(&first) = outcome.unpayable.first() else { return Ok((txs, outcome)) };
            if pass == 2 {
                txs.truncate(first as usize);
                let outcome = execute_block(&snap, &ctx, &txs)?;
                return Ok((txs, outcome));
            }
            let mut pool = lock(&self.mempool);
            let mut cut: BTreeMap<chorus_types::Address, u64> = BTreeMap::new();
            for &i in &outcome.unpayable {
                let Some(tx) = txs.get(i as usize) else { continue };
                let evicted = pool.remove_with_successors(&tx.hash());
                tracing::debug!(target: "node::ledger", tx = %tx.hash(), evicted, "evicting a transaction that cannot pay");
                let n = cut.entry(tx.sender()).or_insert(u64::MAX);
                *n = (*n).min(tx.tx().nonce);
            }
            self.metrics.mempool_size.set(pool.len() as i64);
            txs.retain(|t| cut.get(&t.sender()).is_none_or(|&n| t.tx().nonce < n));
            pass += 1;
        }
    }

    /// Checks a block proposed by someone else by executing it on a scratch copy of state.
    /// Returns its hash when valid.
    pub fn validate(
        &self,
        height: Height,
        proposer: [u8; 32],
        bytes: &[u8],
    ) -> Result<Hash, LedgerError> {
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(LedgerError::InvalidBlock(format!(
                "block of {} bytes exceeds {MAX_VALUE_BYTES}",
                bytes.len()
            )));
        }
        let block = Block::try_from_slice(bytes)
            .map_err(|e| LedgerError::InvalidBlock(format!("undecodable block: {e}")))?;
        let hash = block.hash();
        if lock(&self.executed).contains_key(&hash) {
            return Ok(hash);
        }
        let h = block.header.clone();
        let bad = |m: String| Err(LedgerError::InvalidBlock(m));
        let (prev_hash, prev_time, _) = self.parent(height)?;
        let expect = chorus_chain::HeaderExpectations {
            chain_id: self.chain_id,
            height,
            proposer,
            parent_hash: prev_hash,
            parent_time_ms: prev_time,
            now_ms: now_ms(),
            max_future_drift_ms: MAX_FUTURE_DRIFT_MS,
            max_txs: self.max_block_txs,
            max_tx_bytes: MAX_BLOCK_BYTES,
        };
        chorus_chain::check_header(&block, &expect)?;
        {
            // Who signed the parent, proven by their precommit signatures (M1): liveness
            // accounting trusts this list.
            let snap = self.db.snapshot()?;
            chorus_chain::verify_last_commit(
                &snap,
                self.chain_id,
                height,
                &prev_hash,
                block.last_commit.as_ref(),
            )
            .map_err(|e| match e {
                chorus_chain::CommitError::State(e) => LedgerError::State(e),
                e => LedgerError::InvalidBlock(e.to_string()),
            })?;
        }
        let executed = self.execute(block)?;
        if let Some(i) = executed.outcome.unpayable.first() {
            return bad(format!(
                "tx {i} cannot pay (a block may carry only transactions that pay)"
            ));
        }
        if executed.prepared.state_root != h.state_root.0 {
            return bad("state_root mismatch".into());
        }
        if Self::receipts_root(&executed.outcome.receipts) != h.receipts_root {
            return bad("receipts_root mismatch".into());
        }
        lock(&self.executed).insert(hash, executed);
        Ok(hash)
    }

    /// Commits a decided block with its certificate; returns the validator set for the next
    /// height. Blocks arriving by sync that were never validated here are executed now.
    pub fn commit(
        &self,
        bytes: &[u8],
        certificate: StoredCertificate,
    ) -> Result<Vec<ValidatorInfo>, LedgerError> {
        let block = Block::try_from_slice(bytes)
            .map_err(|e| LedgerError::InvalidBlock(format!("undecodable block: {e}")))?;
        let hash = block.hash();
        let height = block.header.height;
        if self.db.latest_height()?.is_some_and(|h| h >= height) {
            // Already committed (e.g. replayed after a restart): idempotent.
            tracing::debug!(target: "node::ledger", height, "block already committed");
            return self.validator_set();
        }
        let cached = lock(&self.executed).remove(&hash);
        let executed = match cached {
            Some(e) => e,
            None => {
                // Synced block: validate fully before trusting it.
                self.validate(height, block.header.proposer, bytes)?;
                lock(&self.executed).remove(&hash).ok_or_else(|| {
                    LedgerError::InvalidBlock("validated block vanished from cache".into())
                })?
            }
        };
        let Executed { prepared, senders, outcome, block, bytes } = executed;
        let txs: Vec<TxRecord> = outcome
            .receipts
            .iter()
            .map(|r| TxRecord {
                hash: r.tx_hash.0,
                index: r.index,
                receipt_bytes: borsh::to_vec(r).unwrap_or_default(),
            })
            .collect();
        let record = BlockRecord {
            height,
            hash: hash.0,
            block_bytes: bytes,
            certificate_bytes: borsh::to_vec(&certificate).unwrap_or_default(),
            txs,
        };
        let write_started = std::time::Instant::now();
        self.db.commit(prepared, record)?;
        self.metrics.block_commit_seconds.observe(write_started.elapsed().as_secs_f64());

        // Forget undecided work for this height and below.
        lock(&self.executed).retain(|_, e| e.block.header.height > height);
        lock(&self.proposals).retain(|(h, _), _| *h > height);

        // Drop what the block included (or made stale) from the mempool.
        let snap = self.db.snapshot()?;
        {
            let mut pool = lock(&self.mempool);
            let touched: std::collections::BTreeSet<_> = senders.iter().copied().collect();
            for sender in touched {
                let nonce = chorus_chain::account_nonce(&snap, &sender)?;
                pool.prune_account(&sender, nonce);
                crate::mempool::evict_unpayable(&mut pool, &snap, &sender)?;
            }
            self.metrics.mempool_size.set(pool.len() as i64);
        }

        self.metrics.height.set(height as i64);
        self.metrics.blocks_committed.inc();
        self.metrics.txs_committed.inc_by(outcome.receipts.len() as u64);
        let _ = self.events.send(NodeEvent::NewBlock {
            height,
            hash,
            time_ms: block.header.time_ms,
            num_txs: block.txs.len(),
            events: outcome.events.clone(),
        });
        for r in outcome.receipts {
            let _ = self.events.send(NodeEvent::TxResult(Box::new(r)));
        }
        tracing::debug!(target: "node::ledger", height, hash = %hash, txs = block.txs.len(), "block committed");
        Ok(outcome.validator_set)
    }
}
