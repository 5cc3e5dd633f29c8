//! The mempool: transactions accepted by this node and not yet committed.
//!
//! Rules (DESIGN §2):
//! - per account, transactions form a contiguous run of nonces starting at the account's
//!   committed nonce; a nonce below it is a replay, a nonce beyond the run is a gap — both refused;
//! - the same nonce may be replaced only by a transaction paying a strictly higher fee
//!   (at least [`REPLACE_FEE_BUMP_PERCENT`] more);
//! - a transaction already in the pool (same hash) is a duplicate and refused;
//! - caps per account and in total; when the pool is full, the lowest-fee *tail* transaction
//!   (highest nonce of its account, so no gap is created) is evicted if the newcomer pays more;
//! - reaping for a block takes, among each account's next transaction, the highest fee first
//!   (ties: earliest arrival), so nonce order is always respected.
//!
//! The pool is generic over the payload so it can be tested without signatures.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chorus_chain::state::StateRead;
use chorus_chain::{TxError, VerifiedTx};
use chorus_types::{Address, Amount, Hash};

/// A replacement must pay at least this many percent more fee than the transaction it replaces.
pub const REPLACE_FEE_BUMP_PERCENT: u128 = 10;

/// Limits of the pool.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MempoolConfig {
    /// Most transactions held in total.
    pub max_txs: usize,
    /// Most transactions held per sending account.
    pub max_per_account: usize,
    /// Most bytes held in total.
    pub max_bytes: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { max_txs: 50_000, max_per_account: 1_024, max_bytes: 256 * 1024 * 1024 }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The same transaction is already pending.
    #[error("transaction {0} is already in the mempool")]
    Duplicate(Hash),
    /// The nonce was already used by a committed transaction.
    #[error("nonce {got} already used (next expected {expected})")]
    NonceTooLow {
        /// Next nonce the account may use.
        expected: u64,
        /// Nonce of the refused transaction.
        got: u64,
    },
    /// The nonce leaves a gap after the pending ones.
    #[error("nonce gap: expected at most {expected}, got {got}")]
    NonceGap {
        /// Highest nonce acceptable now.
        expected: u64,
        /// Nonce of the refused transaction.
        got: u64,
    },
    /// A transaction with this nonce is pending and the new one does not pay enough more.
    #[error("replacement for nonce {nonce} must pay at least {min_fee}")]
    ReplacementUnderpriced {
        /// The contested nonce.
        nonce: u64,
        /// Smallest fee that would replace it.
        min_fee: Amount,
    },
    /// The account already has the maximum number of pending transactions.
    #[error("account {0} has too many pending transactions")]
    AccountFull(Address),
    /// The pool is full and the newcomer does not outbid anything evictable.
    #[error("mempool is full")]
    PoolFull,
}

/// A transaction as the pool sees it.
#[derive(Clone, Debug)]
pub struct PoolTx<T> {
    /// Transaction hash.
    pub hash: Hash,
    /// Recovered sender.
    pub sender: Address,
    /// Sender nonce.
    pub nonce: u64,
    /// Fee offered.
    pub fee: Amount,
    /// Encoded size in bytes.
    pub size: usize,
    /// The verified transaction itself.
    pub payload: T,
}

#[derive(Clone, Debug)]
struct Entry<T> {
    tx: PoolTx<T>,
    seq: u64,
}

/// Pending transactions, indexed by account and nonce.
#[derive(Debug)]
pub struct Mempool<T> {
    config: MempoolConfig,
    accounts: BTreeMap<Address, BTreeMap<u64, Entry<T>>>,
    by_hash: HashMap<Hash, (Address, u64)>,
    bytes: usize,
    next_seq: u64,
}

/// What an insertion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Added as a new pending transaction.
    New,
    /// Replaced a pending transaction with the same nonce (its hash is given).
    Replaced(Hash),
}

impl<T: Clone> Mempool<T> {
    /// An empty pool with the given limits.
    pub fn new(config: MempoolConfig) -> Self {
        Mempool {
            config,
            accounts: BTreeMap::new(),
            by_hash: HashMap::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Total encoded bytes pending.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if a transaction with this hash is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The next nonce `sender` should use, counting pending transactions on top of the
    /// committed nonce.
    pub fn pending_nonce(&self, sender: &Address, committed_nonce: u64) -> u64 {
        match self.accounts.get(sender).and_then(|m| m.keys().next_back()) {
            Some(&last) if last >= committed_nonce => last + 1,
            _ => committed_nonce,
        }
    }

    /// Offers a transaction; `committed_nonce` is the sender's nonce in the latest committed
    /// state. Stateful checks (signature, balance, fee) are the caller's job.
    pub fn insert(
        &mut self,
        tx: PoolTx<T>,
        committed_nonce: u64,
    ) -> Result<Inserted, MempoolError> {
        if self.by_hash.contains_key(&tx.hash) {
            return Err(MempoolError::Duplicate(tx.hash));
        }
        if tx.nonce < committed_nonce {
            return Err(MempoolError::NonceTooLow { expected: committed_nonce, got: tx.nonce });
        }
        let next = self.pending_nonce(&tx.sender, committed_nonce);
        if tx.nonce > next {
            return Err(MempoolError::NonceGap { expected: next, got: tx.nonce });
        }
        // Replacement of a pending nonce.
        if tx.nonce < next {
            let existing = self
                .accounts
                .get(&tx.sender)
                .and_then(|m| m.get(&tx.nonce))
                .map(|e| (e.tx.hash, e.tx.fee));
            if let Some((old_hash, old_fee)) = existing {
                let min_fee =
                    old_fee.saturating_add(old_fee.saturating_mul(REPLACE_FEE_BUMP_PERCENT) / 100);
                if tx.fee < min_fee.max(old_fee.saturating_add(1)) {
                    return Err(MempoolError::ReplacementUnderpriced {
                        nonce: tx.nonce,
                        min_fee: min_fee.max(old_fee.saturating_add(1)),
                    });
                }
                self.remove_entry(&tx.sender, tx.nonce);
                self.put(tx);
                return Ok(Inserted::Replaced(old_hash));
            }
        }
        let account_len = self.accounts.get(&tx.sender).map_or(0, BTreeMap::len);
        if account_len >= self.config.max_per_account {
            return Err(MempoolError::AccountFull(tx.sender));
        }
        while self.by_hash.len() + 1 > self.config.max_txs
            || self.bytes + tx.size > self.config.max_bytes
        {
            match self.cheapest_tail(&tx.sender) {
                Some((addr, nonce, fee)) if fee < tx.fee => {
                    self.remove_entry(&addr, nonce);
                }
                _ => return Err(MempoolError::PoolFull),
            }
        }
        self.put(tx);
        Ok(Inserted::New)
    }

    fn put(&mut self, tx: PoolTx<T>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += tx.size;
        self.by_hash.insert(tx.hash, (tx.sender, tx.nonce));
        self.accounts.entry(tx.sender).or_default().insert(tx.nonce, Entry { tx, seq });
    }

    fn remove_entry(&mut self, sender: &Address, nonce: u64) -> Option<PoolTx<T>> {
        let map = self.accounts.get_mut(sender)?;
        let entry = map.remove(&nonce)?;
        if map.is_empty() {
            self.accounts.remove(sender);
        }
        self.bytes -= entry.tx.size;
        self.by_hash.remove(&entry.tx.hash);
        Some(entry.tx)
    }

    /// The lowest-fee tail transaction of any account other than `except`.
    fn cheapest_tail(&self, except: &Address) -> Option<(Address, u64, Amount)> {
        self.accounts
            .iter()
            .filter(|(a, _)| *a != except)
            .filter_map(|(a, m)| m.iter().next_back().map(|(n, e)| (*a, *n, e.tx.fee, e.seq)))
            // Lowest fee first; among equal fees the newest goes first.
            .min_by(|x, y| x.2.cmp(&y.2).then(y.3.cmp(&x.3)))
            .map(|(a, n, f, _)| (a, n, f))
    }

    /// Picks transactions for a block: at most `max_txs` and `max_bytes`, highest fee first
    /// among each account's next transaction. Nothing is removed; commit does that.
    pub fn reap(&self, max_txs: usize, max_bytes: usize) -> Vec<PoolTx<T>> {
        // Heap keyed by (fee desc, seq asc) over each account's current head.
        let mut heads: BTreeSet<(std::cmp::Reverse<Amount>, u64, Address, u64)> = BTreeSet::new();
        for (addr, map) in &self.accounts {
            if let Some((n, e)) = map.iter().next() {
                heads.insert((std::cmp::Reverse(e.tx.fee), e.seq, *addr, *n));
            }
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_txs {
            let Some(head) = heads.pop_first() else { break };
            let (_, _, addr, nonce) = head;
            let Some(map) = self.accounts.get(&addr) else { continue };
            let Some(entry) = map.get(&nonce) else { continue };
            if bytes + entry.tx.size > max_bytes {
                // This account's chain stops here; others may still fit.
                continue;
            }
            bytes += entry.tx.size;
            out.push(entry.tx.clone());
            if let Some((n, e)) = map.range(nonce + 1..).next()
                && *n == nonce + 1
            {
                heads.insert((std::cmp::Reverse(e.tx.fee), e.seq, addr, *n));
            }
        }
        out
    }

    /// After a block commits: drops every pending transaction of `sender` whose nonce is below
    /// its new committed nonce (included, replaced or made stale by the block).
    pub fn prune_account(&mut self, sender: &Address, committed_nonce: u64) -> usize {
        let stale: Vec<u64> = match self.accounts.get(sender) {
            Some(m) => m.range(..committed_nonce).map(|(n, _)| *n).collect(),
            None => return 0,
        };
        for n in &stale {
            self.remove_entry(sender, *n);
        }
        stale.len()
    }

    /// Removes one transaction by hash (e.g. it became invalid); later nonces of the same
    /// account are removed too, since they could no longer be included.
    pub fn remove_with_successors(&mut self, hash: &Hash) -> usize {
        let Some((sender, nonce)) = self.by_hash.get(hash).copied() else { return 0 };
        let doomed: Vec<u64> = match self.accounts.get(&sender) {
            Some(m) => m.range(nonce..).map(|(n, _)| *n).collect(),
            None => return 0,
        };
        for n in &doomed {
            self.remove_entry(&sender, *n);
        }
        doomed.len()
    }

    /// Accounts with pending transactions.
    pub fn senders(&self) -> Vec<Address> {
        self.accounts.keys().copied().collect()
    }

    /// `sender`'s pending transactions in nonce order.
    pub fn pending_of(&self, sender: &Address) -> Vec<&PoolTx<T>> {
        self.accounts.get(sender).map(|m| m.values().map(|e| &e.tx).collect()).unwrap_or_default()
    }
}

/// What `sender`'s pending transactions with a nonce below `nonce` may spend in total
/// ([`chorus_chain::max_spend`] each): a transaction queued behind them must leave that much
/// in the balance.
pub fn queued_spend(
    pool: &Mempool<VerifiedTx>,
    sender: &Address,
    nonce: u64,
) -> Result<Amount, TxError> {
    pool.pending_of(sender).into_iter().take_while(|p| p.nonce < nonce).try_fold(0u128, |sum, p| {
        sum.checked_add(chorus_chain::max_spend(&p.payload)?).ok_or(TxError::Overflow)
    })
}

/// Walks `sender`'s pending run in nonce order against `state` (the latest committed state) and
/// evicts the first transaction that can no longer pay behind its predecessors
/// ([`chorus_chain::check_payable_queued`]), with everything after it. Returns how many were
/// evicted. Run after every commit for the senders the block touched, and after a replacement,
/// so a run that cannot pay never lingers in the pool (and in every block) for free.
pub fn evict_unpayable(
    pool: &mut Mempool<VerifiedTx>,
    state: &dyn StateRead,
    sender: &Address,
) -> Result<usize, TxError> {
    let mut queued: Amount = 0;
    let mut doomed = None;
    for p in pool.pending_of(sender) {
        if let Err(e) = chorus_chain::check_payable_queued(state, &p.payload, queued) {
            tracing::debug!(target: "node::mempool", tx = %p.hash, %e, "evicting a pending transaction that cannot pay");
            doomed = Some(p.hash);
            break;
        }
        queued =
            queued.checked_add(chorus_chain::max_spend(&p.payload)?).ok_or(TxError::Overflow)?;
    }
    Ok(doomed.map_or(0, |h| pool.remove_with_successors(&h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> Address {
        Address([i; 20])
    }

    fn tx(sender: u8, nonce: u64, fee: Amount) -> PoolTx<()> {
        let mut h = [0u8; 32];
        h[0] = sender;
        h[1..9].copy_from_slice(&nonce.to_be_bytes());
        h[9..25].copy_from_slice(&fee.to_be_bytes());
        PoolTx { hash: Hash(h), sender: addr(sender), nonce, fee, size: 100, payload: () }
    }

    fn pool() -> Mempool<()> {
        Mempool::new(MempoolConfig::default())
    }

    #[test]
    fn mempool_accepts_contiguous_nonces_and_rejects_gaps_and_replays() {
        let mut p = pool();
        assert_eq!(p.insert(tx(1, 5, 10), 5), Ok(Inserted::New));
        assert_eq!(p.insert(tx(1, 6, 10), 5), Ok(Inserted::New));
        assert_eq!(p.insert(tx(1, 8, 10), 5), Err(MempoolError::NonceGap { expected: 7, got: 8 }));
        assert_eq!(
            p.insert(tx(1, 4, 10), 5),
            Err(MempoolError::NonceTooLow { expected: 5, got: 4 })
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p.pending_nonce(&addr(1), 5), 7);
    }

    #[test]
    fn mempool_rejects_duplicates() {
        let mut p = pool();
        let t = tx(1, 0, 10);
        p.insert(t.clone(), 0).unwrap();
        assert_eq!(p.insert(t.clone(), 0), Err(MempoolError::Duplicate(t.hash)));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn mempool_replacement_needs_a_fee_bump() {
        let mut p = pool();
        p.insert(tx(1, 0, 100), 0).unwrap();
        assert!(matches!(
            p.insert(tx(1, 0, 105), 0),
            Err(MempoolError::ReplacementUnderpriced { min_fee: 110, .. })
        ));
        let old = tx(1, 0, 100).hash;
        assert_eq!(p.insert(tx(1, 0, 110), 0), Ok(Inserted::Replaced(old)));
        assert_eq!(p.len(), 1);
        assert_eq!(p.reap(10, usize::MAX)[0].fee, 110);
    }

    #[test]
    fn mempool_reaps_by_fee_but_keeps_nonce_order() {
        let mut p = pool();
        p.insert(tx(1, 0, 1), 0).unwrap();
        p.insert(tx(1, 1, 100), 0).unwrap();
        p.insert(tx(2, 0, 50), 0).unwrap();
        let order: Vec<(u8, u64)> =
            p.reap(10, usize::MAX).iter().map(|t| (t.sender.0[0], t.nonce)).collect();
        // Account 2 pays more for its head; account 1's nonce 1 can only follow nonce 0.
        assert_eq!(order, vec![(2, 0), (1, 0), (1, 1)]);
        assert_eq!(p.reap(2, usize::MAX).len(), 2);
        assert_eq!(p.reap(10, 150).len(), 1);
    }

    #[test]
    fn mempool_enforces_caps_and_evicts_the_cheapest_tail() {
        let mut p: Mempool<()> =
            Mempool::new(MempoolConfig { max_txs: 3, max_per_account: 2, max_bytes: usize::MAX });
        p.insert(tx(1, 0, 10), 0).unwrap();
        p.insert(tx(1, 1, 5), 0).unwrap();
        assert_eq!(p.insert(tx(1, 2, 50), 0), Err(MempoolError::AccountFull(addr(1))));
        p.insert(tx(2, 0, 20), 0).unwrap();
        // Full: a cheaper newcomer is refused, a richer one evicts account 1's tail (fee 5).
        assert_eq!(p.insert(tx(3, 0, 1), 0), Err(MempoolError::PoolFull));
        p.insert(tx(3, 0, 30), 0).unwrap();
        assert_eq!(p.len(), 3);
        assert!(!p.contains(&tx(1, 1, 5).hash));
        assert_eq!(p.pending_nonce(&addr(1), 0), 1);
    }

    #[test]
    fn mempool_prunes_committed_nonces() {
        let mut p = pool();
        for n in 0..4 {
            p.insert(tx(1, n, 10), 0).unwrap();
        }
        assert_eq!(p.prune_account(&addr(1), 3), 3);
        assert_eq!(p.len(), 1);
        assert_eq!(p.pending_nonce(&addr(1), 3), 4);
        assert_eq!(p.remove_with_successors(&tx(1, 3, 10).hash), 1);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }
}
