//! Why a staking or governance message was refused: [`StakingError`] with its stable numeric
//! codes (400–499; governance uses 450–455), and `staking_err`, which wraps one into a
//! [`TxError`] for the message handlers.

use chorus_types::{Address, Amount, Height};

use crate::TxError;

/// Why a staking or governance message was refused (codes 400–499).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// The sender already operates a validator (400).
    #[error("validator {0} already exists")]
    ValidatorExists(Address),
    /// The consensus key is used (or was tombstoned) (401).
    #[error("consensus key already in use")]
    ConsensusKeyInUse,
    /// Not an ed25519 point (402).
    #[error("invalid consensus key")]
    InvalidConsensusKey,
    /// The proof of possession does not verify (403).
    #[error("proof of possession does not verify")]
    BadProofOfPossession,
    /// Commission rates out of bounds (404).
    #[error("invalid commission: {0}")]
    InvalidCommission(&'static str),
    /// Commission changed less than a period ago (405).
    #[error("commission can change again at {next_ms}")]
    CommissionChangeTooSoon {
        /// Earliest time of the next change.
        next_ms: u64,
    },
    /// No such validator (406).
    #[error("unknown validator {0}")]
    UnknownValidator(Address),
    /// No delegation from the sender to that validator (407).
    #[error("no delegation to {0}")]
    NoDelegation(Address),
    /// Not enough delegated tokens (408).
    #[error("insufficient delegation: asked {asked}, have {have}")]
    InsufficientDelegation {
        /// Tokens asked for.
        asked: Amount,
        /// Tokens the delegation is worth.
        have: Amount,
    },
    /// The validator has shares but no tokens (fully slashed) (409).
    #[error("validator has no tokens left: invalid exchange rate")]
    InvalidExchangeRate,
    /// `max_entries` reached (410).
    #[error("too many unbonding/redelegation entries (max {0})")]
    TooManyEntries(u32),
    /// Redelegating from a validator the stake was redelegated into, before that matured (411).
    #[error("redelegation from {0} refused: an immature redelegation into it exists (no hopping)")]
    TransitiveRedelegation(Address),
    /// Source and destination are the same (412).
    #[error("cannot redelegate to the same validator")]
    SelfRedelegation,
    /// No unbonding entry at that height (413).
    #[error("no unbonding entry created at height {0}")]
    NoUnbondingEntry(Height),
    /// The validator is not jailed (414).
    #[error("validator is not jailed")]
    NotJailed,
    /// Jail time not over (415).
    #[error("validator jailed until {until_ms}")]
    StillJailed {
        /// End of the jail time.
        until_ms: u64,
    },
    /// Tombstoned validators cannot come back (416).
    #[error("validator is tombstoned")]
    Tombstoned,
    /// Self-delegation below the validator's minimum (417).
    #[error("self-delegation {have} below minimum {min}")]
    SelfDelegationTooLow {
        /// Minimum.
        min: Amount,
        /// Current.
        have: Amount,
    },
    /// Evidence does not prove double signing (418).
    #[error("invalid evidence: {0}")]
    InvalidEvidence(&'static str),
    /// Evidence older than `max_evidence_age_blocks` (419).
    #[error("evidence from height {height} is too old")]
    EvidenceTooOld {
        /// Infraction height.
        height: Height,
    },
    /// Description too long (420).
    #[error("description too long")]
    InvalidDescription,
    /// Minimum self-delegation may only grow, up to the current self-delegation (421).
    #[error("invalid min self-delegation: {0}")]
    InvalidMinSelfDelegation(&'static str),
    /// The validator is jailed (422).
    #[error("validator is jailed")]
    ValidatorJailed,
    /// `max_candidates` validators are stored already (423).
    #[error("too many validators (max {0}); raise staking.max_candidates by governance")]
    TooManyValidators(u32),
    /// No such proposal (450).
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    /// A parameter change does not parse or validate (451).
    #[error("invalid parameter change: {0}")]
    InvalidParamChange(String),
    /// The proposal is not open for deposits / votes (452).
    #[error("proposal {0} is not open for this")]
    ProposalClosed(u64),
    /// A proposal needs a title ≤ 140 bytes and 1–16 changes (453).
    #[error("invalid proposal: {0}")]
    InvalidProposal(&'static str),
    /// A deposit below the minimum initial deposit (or what is still missing) (454).
    #[error("deposit {got} below the minimum {min}")]
    DepositTooLow {
        /// Least accepted amount.
        min: Amount,
        /// Offered amount.
        got: Amount,
    },
    /// `max_active_proposals` proposals are in their deposit or voting period (455).
    #[error("too many active proposals (max {0})")]
    TooManyProposals(u32),
}

impl StakingError {
    /// Stable numeric code.
    pub fn code(&self) -> u32 {
        use StakingError::*;
        match self {
            ValidatorExists(_) => 400,
            ConsensusKeyInUse => 401,
            InvalidConsensusKey => 402,
            BadProofOfPossession => 403,
            InvalidCommission(_) => 404,
            CommissionChangeTooSoon { .. } => 405,
            UnknownValidator(_) => 406,
            NoDelegation(_) => 407,
            InsufficientDelegation { .. } => 408,
            InvalidExchangeRate => 409,
            TooManyEntries(_) => 410,
            TransitiveRedelegation(_) => 411,
            SelfRedelegation => 412,
            NoUnbondingEntry(_) => 413,
            NotJailed => 414,
            StillJailed { .. } => 415,
            Tombstoned => 416,
            SelfDelegationTooLow { .. } => 417,
            InvalidEvidence(_) => 418,
            EvidenceTooOld { .. } => 419,
            InvalidDescription => 420,
            InvalidMinSelfDelegation(_) => 421,
            ValidatorJailed => 422,
            TooManyValidators(_) => 423,
            UnknownProposal(_) => 450,
            InvalidParamChange(_) => 451,
            ProposalClosed(_) => 452,
            InvalidProposal(_) => 453,
            DepositTooLow { .. } => 454,
            TooManyProposals(_) => 455,
        }
    }
}

pub(super) fn staking_err(e: StakingError) -> TxError {
    TxError::Staking(e)
}
