//! The header rules a block must meet before it is executed: it belongs to this chain and
//! height, was built by the round's proposer on our parent, moves time forward (and not too far
//! ahead of the validating node's clock), stays within the block limits, and its `tx_root` and
//! `last_commit_hash` commit to its body.
//!
//! Pure: the host passes in what it knows (the parent, its own clock reading, the limits); the
//! `last_commit` signatures are [`crate::verify_last_commit`]'s, and the roots that need execution
//! (`state_root`, `receipts_root`) are compared by the host after [`crate::execute_block`].

use chorus_types::{Block, ConsensusKeyBytes, Hash, Height};

/// What a block is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderExpectations {
    /// This chain's id.
    pub chain_id: u64,
    /// The height being decided.
    pub height: Height,
    /// The consensus key of the round's proposer.
    pub proposer: ConsensusKeyBytes,
    /// Hash of the parent block (the genesis hash at height 1).
    pub parent_hash: Hash,
    /// The parent's time (0 at height 1): a block's time must be later.
    pub parent_time_ms: u64,
    /// The validating node's clock, read by the host.
    pub now_ms: u64,
    /// How far a block's time may be ahead of `now_ms`.
    pub max_future_drift_ms: u64,
    /// Most transactions in a block.
    pub max_txs: usize,
    /// Most bytes of encoded transactions in a block.
    pub max_tx_bytes: usize,
}

/// Why a block's header or shape is unacceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// More transactions than a block may carry.
    #[error("{count} txs exceed the limit of {max}")]
    TooManyTxs {
        /// Transactions carried.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More transaction bytes than a block may carry.
    #[error("{bytes} bytes of txs exceed {max}")]
    TooManyTxBytes {
        /// Encoded transaction bytes carried.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Built for another chain.
    #[error("chain id {got} != {expected}")]
    WrongChain {
        /// This chain's id.
        expected: u64,
        /// The header's.
        got: u64,
    },
    /// Built for another height.
    #[error("height {got} != {expected}")]
    WrongHeight {
        /// The height being decided.
        expected: Height,
        /// The header's.
        got: Height,
    },
    /// The header names someone other than the round's proposer.
    #[error("header proposer is not the round's proposer")]
    WrongProposer,
    /// Not built on our parent.
    #[error("prev_hash does not match our chain")]
    WrongParent,
    /// Time does not move forward.
    #[error("time {time_ms} not after parent time {parent_time_ms}")]
    TimeNotAfterParent {
        /// The header's time.
        time_ms: u64,
        /// The parent's.
        parent_time_ms: u64,
    },
    /// Time too far ahead of the validating node's clock.
    #[error("time {time_ms} too far in the future")]
    TimeInFuture {
        /// The header's time.
        time_ms: u64,
    },
    /// `tx_root` does not commit to the transactions.
    #[error("tx_root mismatch")]
    TxRoot,
    /// `last_commit_hash` does not commit to `last_commit`.
    #[error("last_commit_hash mismatch")]
    LastCommitHash,
}

/// Checks `block` against `expect` (every rule in the module docs that needs no state).
pub fn check_header(block: &Block, expect: &HeaderExpectations) -> Result<(), HeaderError> {
    if block.txs.len() > expect.max_txs {
        return Err(HeaderError::TooManyTxs { count: block.txs.len(), max: expect.max_txs });
    }
    let bytes: usize = block.txs.iter().map(|t| t.encode().len()).sum();
    if bytes > expect.max_tx_bytes {
        return Err(HeaderError::TooManyTxBytes { bytes, max: expect.max_tx_bytes });
    }
    let h = &block.header;
    if h.chain_id != expect.chain_id {
        return Err(HeaderError::WrongChain { expected: expect.chain_id, got: h.chain_id });
    }
    if h.height != expect.height {
        return Err(HeaderError::WrongHeight { expected: expect.height, got: h.height });
    }
    if h.proposer != expect.proposer {
        return Err(HeaderError::WrongProposer);
    }
    if h.prev_hash != expect.parent_hash {
        return Err(HeaderError::WrongParent);
    }
    if h.time_ms <= expect.parent_time_ms {
        return Err(HeaderError::TimeNotAfterParent {
            time_ms: h.time_ms,
            parent_time_ms: expect.parent_time_ms,
        });
    }
    if h.time_ms > expect.now_ms.saturating_add(expect.max_future_drift_ms) {
        return Err(HeaderError::TimeInFuture { time_ms: h.time_ms });
    }
    if h.tx_root != block.compute_tx_root() {
        return Err(HeaderError::TxRoot);
    }
    if h.last_commit_hash != block.compute_last_commit_hash() {
        return Err(HeaderError::LastCommitHash);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chorus_types::{BlockHeader, CommitInfo};

    use super::*;

    fn expectations() -> HeaderExpectations {
        HeaderExpectations {
            chain_id: 7,
            height: 5,
            proposer: [1; 32],
            parent_hash: Hash([9; 32]),
            parent_time_ms: 1_000,
            now_ms: 2_000,
            max_future_drift_ms: 10_000,
            max_txs: 10,
            max_tx_bytes: 1 << 20,
        }
    }

    fn good_block() -> Block {
        let mut b = Block {
            header: BlockHeader {
                chain_id: 7,
                height: 5,
                time_ms: 1_500,
                prev_hash: Hash([9; 32]),
                tx_root: Hash::ZERO,
                state_root: Hash::ZERO,
                receipts_root: Hash::ZERO,
                proposer: [1; 32],
                last_commit_hash: Hash::ZERO,
            },
            txs: vec![],
            last_commit: Some(CommitInfo {
                height: 4,
                round: 0,
                signers: vec![],
                signatures: vec![],
            }),
        };
        b.header.tx_root = b.compute_tx_root();
        b.header.last_commit_hash = b.compute_last_commit_hash();
        b
    }

    #[test]
    fn a_block_meeting_every_rule_passes() {
        check_header(&good_block(), &expectations()).unwrap();
    }

    #[test]
    fn each_broken_rule_is_named() {
        let e = expectations();
        let broken = |f: &dyn Fn(&mut Block)| {
            let mut b = good_block();
            f(&mut b);
            check_header(&b, &e).unwrap_err()
        };
        assert_eq!(
            broken(&|b| b.header.chain_id = 8),
            HeaderError::WrongChain { expected: 7, got: 8 }
        );
        assert_eq!(
            broken(&|b| b.header.height = 6),
            HeaderError::WrongHeight { expected: 5, got: 6 }
        );
        assert_eq!(broken(&|b| b.header.proposer = [2; 32]), HeaderError::WrongProposer);
        assert_eq!(broken(&|b| b.header.prev_hash = Hash([8; 32])), HeaderError::WrongParent);
        assert_eq!(
            broken(&|b| b.header.time_ms = 1_000),
            HeaderError::TimeNotAfterParent { time_ms: 1_000, parent_time_ms: 1_000 }
        );
        assert_eq!(
            broken(&|b| b.header.time_ms = 12_001),
            HeaderError::TimeInFuture { time_ms: 12_001 }
        );
        assert_eq!(broken(&|b| b.header.tx_root = Hash([1; 32])), HeaderError::TxRoot);
        assert_eq!(broken(&|b| b.last_commit = None), HeaderError::LastCommitHash);
    }

    #[test]
    fn the_time_rule_is_safe_at_the_clock_limit() {
        let mut e = expectations();
        e.now_ms = u64::MAX;
        let mut b = good_block();
        b.header.time_ms = u64::MAX;
        check_header(&b, &e).unwrap();
    }

    #[test]
    fn block_limits_are_checked_before_anything_else() {
        let mut e = expectations();
        e.max_txs = 0;
        e.chain_id = 99;
        let mut b = good_block();
        b.txs.push(chorus_types::SignedTx {
            tx: chorus_types::Tx { chain_id: 7, nonce: 0, fee: 0, msgs: vec![] },
            signature: [0; 65],
        });
        assert_eq!(check_header(&b, &e).unwrap_err(), HeaderError::TooManyTxs { count: 1, max: 0 });
        e.max_txs = 1;
        e.max_tx_bytes = 1;
        assert!(matches!(
            check_header(&b, &e).unwrap_err(),
            HeaderError::TooManyTxBytes { max: 1, .. }
        ));
    }
}
