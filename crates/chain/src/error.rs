//! Transaction and genesis errors.

use chorus_types::{Address, Amount, TxFailure};

/// Why a transaction was rejected or failed. Every variant has a stable numeric [`TxError::code`]
/// that receipts, the API and clients rely on: codes are never reused or renumbered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Bytes are not a canonical transaction encoding (code 1).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// Encoded transaction larger than the limit (code 2).
    #[error("transaction of {size} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Encoded size.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// Signed for another chain (code 3).
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// Signature does not parse or recover, or `v` is not 27/28 (code 4).
    #[error("bad signature")]
    BadSignature,
    /// Signature `s` in the upper half of the order (malleable) (code 5).
    #[error("signature has high s")]
    HighS,
    /// The transaction carries no messages (code 6).
    #[error("transaction has no messages")]
    NoMessages,
    /// A message type this chain does not know (code 7).
    #[error("unknown message type {variant} at position {position}")]
    UnknownMessage {
        /// Position in `msgs`.
        position: u32,
        /// Unknown top-level variant index.
        variant: u8,
    },
    /// A transfer or move of zero tokens (code 8).
    #[error("amount must be non-zero")]
    ZeroAmount,
    /// Nonce already used (code 10).
    #[error("nonce too low: expected {expected}, got {got}")]
    NonceTooLow {
        /// Next expected nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// Nonce ahead of the expected one (code 11).
    #[error("nonce gap: expected {expected}, got {got}")]
    NonceGap {
        /// Next expected nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// Fee below the chain's minimum (code 12).
    #[error("fee {got} below minimum {min}")]
    InsufficientFee {
        /// Minimum fee.
        min: Amount,
        /// Offered fee.
        got: Amount,
    },
    /// Balance too low for the fee and/or the amounts moved (code 13).
    #[error("insufficient balance: need {need}, have {have}")]
    InsufficientBalance {
        /// Needed.
        need: Amount,
        /// Available.
        have: Amount,
    },
    /// An amount computation overflowed `u128` (code 14).
    #[error("amount overflow")]
    Overflow,
    /// A module pool holds less than the amount to move out of it (code 15).
    #[error("module pool {module} has {have}, needs {need}")]
    InsufficientModuleBalance {
        /// Module name.
        module: String,
        /// Needed.
        need: Amount,
        /// Available.
        have: Amount,
    },
    /// A module pool name outside `[a-z0-9_]{1,32}` (code 16).
    #[error("invalid module name {0:?}")]
    InvalidModuleName(String),
    /// A registry message was refused (codes 200–299, see `RegistryError::code`).
    #[error(transparent)]
    Registry(#[from] crate::components::registry::RegistryError),
    /// A learning message was refused (codes 300–399, see `LearningError::code`).
    #[error(transparent)]
    Learning(#[from] crate::components::learning::LearningError),
    /// A staking or governance message was refused (codes 400–499, see `StakingError::code`).
    #[error(transparent)]
    Staking(#[from] crate::components::staking::StakingError),
    /// A stored value does not decode: a bug or corrupted storage, never the sender's fault
    /// (code 100).
    #[error("corrupt state at key {key}")]
    CorruptState {
        /// Hex of the key.
        key: String,
    },
    /// The storage under the state failed while this transaction was checked or executed: the
    /// node's fault, never the sender's (code 101). Block execution turns it into
    /// [`crate::BlockError::Storage`] instead of a receipt, so no node commits a result that
    /// depends on its own disk.
    #[error(transparent)]
    Storage(#[from] crate::state::StorageError),
}

impl TxError {
    /// The stable numeric code.
    pub fn code(&self) -> u32 {
        match self {
            TxError::Malformed(_) => 1,
            TxError::Oversized { .. } => 2,
            TxError::WrongChainId { .. } => 3,
            TxError::BadSignature => 4,
            TxError::HighS => 5,
            TxError::NoMessages => 6,
            TxError::UnknownMessage { .. } => 7,
            TxError::ZeroAmount => 8,
            TxError::NonceTooLow { .. } => 10,
            TxError::NonceGap { .. } => 11,
            TxError::InsufficientFee { .. } => 12,
            TxError::InsufficientBalance { .. } => 13,
            TxError::Overflow => 14,
            TxError::InsufficientModuleBalance { .. } => 15,
            TxError::InvalidModuleName(_) => 16,
            TxError::Registry(e) => e.code(),
            TxError::Learning(e) => e.code(),
            TxError::Staking(e) => e.code(),
            TxError::CorruptState { .. } => 100,
            TxError::Storage(_) => 101,
        }
    }

    /// The receipt form: code and message.
    pub fn to_failure(&self) -> TxFailure {
        TxFailure { code: self.code(), message: self.to_string() }
    }

    pub(crate) fn corrupt(key: &[u8]) -> TxError {
        TxError::CorruptState { key: hex::encode(key) }
    }
}

/// Why a genesis document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// Chain id 0 is reserved.
    #[error("chain id must be non-zero")]
    ZeroChainId,
    /// An account is listed twice.
    #[error("duplicate account {0}")]
    DuplicateAccount(Address),
    /// A validator operator is listed twice.
    #[error("duplicate validator operator {0}")]
    DuplicateValidator(Address),
    /// Two validators share a consensus key.
    #[error("duplicate consensus key for validator {0}")]
    DuplicateConsensusKey(Address),
    /// A consensus key is not a valid ed25519 point.
    #[error("invalid consensus key for validator {0}")]
    InvalidConsensusKey(Address),
    /// A validator's stake gives zero voting power.
    #[error("validator {0} has zero voting power")]
    ZeroPower(Address),
    /// A validator's stake is below `staking.min_self_delegation` (it could never be in the set).
    #[error("validator {0} has a stake below staking.min_self_delegation")]
    StakeBelowMinimum(Address),
    /// More validators than `staking.max_candidates`.
    #[error("more genesis validators than staking.max_candidates")]
    TooManyValidators,
    /// There must be at least one validator.
    #[error("genesis has no validators")]
    NoValidators,
    /// Total supply or total power overflows.
    #[error("total {0} overflows")]
    Overflow(&'static str),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParams(&'static str),
    /// A component refused the genesis state.
    #[error(transparent)]
    Tx(#[from] TxError),
}
