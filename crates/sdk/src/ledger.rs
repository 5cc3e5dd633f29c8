//! [`LedgerSource`]: what the runtimes and the audit need from a chain — learning/registry
//! queries, blocks, nonces and transaction submission. [`crate::NodeClient`] implements it over
//! HTTP; [`MemLedger`] runs `chorus_chain::execute_block` over a `MemState` in process (tests,
//! simulations), so the same runtime code is exercised without a node.

use std::future::Future;
use std::sync::Mutex;

use chorus_chain::state::{MemState, StateRead};
use chorus_chain::{BlockContext, VerifiedTx, check_stateful, check_stateless, execute_block};
use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Amount, Block, Genesis, Hash, Receipt, SignedTx};

use crate::views::{self, RegistrationView, RoundView, TaskView, VersionView};
use crate::{Error, Result};

/// Read and submit access to a chain.
pub trait LedgerSource: Send + Sync {
    /// Chain id.
    fn chain_id(&self) -> impl Future<Output = Result<u64>> + Send;
    /// Latest committed height.
    fn height(&self) -> impl Future<Output = Result<u64>> + Send;
    /// The smallest fee a transaction may offer now (`bank.min_fee`). The default (0) is for
    /// sources that cannot tell; [`crate::TxSender`] pays at least this.
    fn min_fee(&self) -> impl Future<Output = Result<Amount>> + Send {
        async { Ok(0) }
    }
    /// The next nonce to sign with for `addr` (committed nonce advanced past pending txs).
    fn pending_nonce(&self, addr: &Address) -> impl Future<Output = Result<u64>> + Send;
    /// Submits a signed transaction; resubmitting the same bytes must be harmless.
    fn submit(&self, stx: &SignedTx) -> impl Future<Output = Result<Hash>> + Send;
    /// The receipt of a committed transaction (`None` while pending / unknown).
    fn receipt(&self, hash: &Hash) -> impl Future<Output = Result<Option<Receipt>>> + Send;
    /// Every task.
    fn tasks(&self) -> impl Future<Output = Result<Vec<TaskView>>> + Send;
    /// One task.
    fn task(&self, id: TaskId) -> impl Future<Output = Result<Option<TaskView>>> + Send;
    /// One round.
    fn round(
        &self,
        id: TaskId,
        r: RoundNo,
    ) -> impl Future<Output = Result<Option<RoundView>>> + Send;
    /// A task's model versions.
    fn versions(&self, id: TaskId) -> impl Future<Output = Result<Vec<VersionView>>> + Send;
    /// Every registration.
    fn registrations(&self) -> impl Future<Output = Result<Vec<RegistrationView>>> + Send;
    /// A committed block.
    fn block(&self, height: u64) -> impl Future<Output = Result<Option<Block>>> + Send;
}

struct MemInner {
    chain_id: u64,
    state: MemState,
    pool: Vec<VerifiedTx>,
    blocks: Vec<Block>,
    receipts: Vec<Receipt>,
    time_ms: u64,
}

/// An in-process chain: submitted txs wait in a pool until [`MemLedger::produce_block`]
/// executes them with `chorus_chain::execute_block` (randomness = previous block hash).
pub struct MemLedger {
    inner: Mutex<MemInner>,
}

impl std::fmt::Debug for MemLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemLedger")
    }
}

impl MemLedger {
    /// A chain at height 0 from `genesis`.
    pub fn new(genesis: &Genesis) -> Result<MemLedger> {
        let changes = chorus_chain::init_genesis(genesis)
            .map_err(|e| Error::Inconsistent(format!("genesis: {e}")))?;
        let mut state = MemState::new();
        state.apply(&changes);
        Ok(MemLedger {
            inner: Mutex::new(MemInner {
                chain_id: genesis.chain_id,
                state,
                pool: Vec::new(),
                blocks: Vec::new(),
                receipts: Vec::new(),
                time_ms: genesis.genesis_time_ms,
            }),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemInner>> {
        self.inner.lock().map_err(|_| Error::Inconsistent("ledger poisoned".into()))
    }

    /// Executes one block with the pooled txs; returns its height.
    pub fn produce_block(&self) -> Result<u64> {
        let mut g = self.lock()?;
        let height = g.blocks.len() as u64 + 1;
        g.time_ms += 1_000;
        let randomness = g.blocks.last().map(Block::hash).unwrap_or(Hash([7; 32]));
        let ctx = BlockContext {
            chain_id: g.chain_id,
            height,
            time_ms: g.time_ms,
            proposer: [0; 32],
            randomness,
            last_commit: None,
        };
        let txs = std::mem::take(&mut g.pool);
        let out = execute_block(&g.state, &ctx, &txs)
            .map_err(|e| Error::Inconsistent(format!("block {height}: {e}")))?;
        g.state.apply(&out.changes);
        let header = chorus_types::BlockHeader {
            chain_id: g.chain_id,
            height,
            time_ms: g.time_ms,
            prev_hash: g.blocks.last().map(Block::hash).unwrap_or(Hash::ZERO),
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            proposer: Default::default(),
            last_commit_hash: Hash::ZERO,
        };
        let block = Block {
            header,
            txs: txs.iter().map(|t| t.signed().clone()).collect(),
            last_commit: None,
        };
        g.blocks.push(block);
        g.receipts.extend(out.receipts);
        Ok(height)
    }

    /// Runs `f` on the current state (tests).
    pub fn with_state<T>(&self, f: impl FnOnce(&MemState) -> T) -> Result<T> {
        Ok(f(&self.lock()?.state))
    }

    /// Every receipt so far.
    pub fn receipts(&self) -> Result<Vec<Receipt>> {
        Ok(self.lock()?.receipts.clone())
    }
}

impl LedgerSource for MemLedger {
    async fn chain_id(&self) -> Result<u64> {
        Ok(self.lock()?.chain_id)
    }
    async fn height(&self) -> Result<u64> {
        Ok(self.lock()?.blocks.len() as u64)
    }
    async fn min_fee(&self) -> Result<Amount> {
        Ok(chorus_chain::components::bank::params(&self.lock()?.state)?.min_fee)
    }
    async fn pending_nonce(&self, addr: &Address) -> Result<u64> {
        let g = self.lock()?;
        let committed = chorus_chain::account_nonce(&g.state, addr)?;
        let pending = g.pool.iter().filter(|t| t.sender() == *addr).count() as u64;
        Ok(committed + pending)
    }
    async fn submit(&self, stx: &SignedTx) -> Result<Hash> {
        let mut g = self.lock()?;
        let hash = stx.hash();
        if g.pool.iter().any(|t| t.hash() == hash) || g.receipts.iter().any(|r| r.tx_hash == hash) {
            return Ok(hash);
        }
        let raw = borsh::to_vec(stx).map_err(|e| Error::Decode(e.to_string()))?;
        let vtx = check_stateless(&raw, g.chain_id)?;
        // Stateful checks only for the first pending tx of a sender (later ones depend on it).
        if !g.pool.iter().any(|t| t.sender() == vtx.sender()) {
            check_stateful(&g.state as &dyn StateRead, &vtx)?;
        }
        g.pool.push(vtx);
        Ok(hash)
    }
    async fn receipt(&self, hash: &Hash) -> Result<Option<Receipt>> {
        Ok(self.lock()?.receipts.iter().find(|r| r.tx_hash == *hash).cloned())
    }
    async fn tasks(&self) -> Result<Vec<TaskView>> {
        Ok(views::task_views(&self.lock()?.state)?)
    }
    async fn task(&self, id: TaskId) -> Result<Option<TaskView>> {
        Ok(views::task_view(&self.lock()?.state, id)?)
    }
    async fn round(&self, id: TaskId, r: RoundNo) -> Result<Option<RoundView>> {
        Ok(views::round_view(&self.lock()?.state, id, r)?)
    }
    async fn versions(&self, id: TaskId) -> Result<Vec<VersionView>> {
        Ok(views::version_views(&self.lock()?.state, id)?)
    }
    async fn registrations(&self) -> Result<Vec<RegistrationView>> {
        Ok(views::registration_views(&self.lock()?.state)?)
    }
    async fn block(&self, height: u64) -> Result<Option<Block>> {
        let g = self.lock()?;
        Ok(height.checked_sub(1).and_then(|i| g.blocks.get(i as usize)).cloned())
    }
}
