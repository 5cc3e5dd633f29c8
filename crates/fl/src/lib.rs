//! chorus-fl: the federated-learning numeric core of Chorus — the fixed-point update format,
//! validation, streaming Byzantine-robust aggregation, server optimisers, differential privacy
//! (clipping, seeded Gaussian noise, RDP accounting), attack generators and contribution scores.
//!
//! This crate is pure (L1): no I/O, no clocks, no entropy — randomness comes in as a seed, and every
//! aggregate is computed in integers so it is bit-identical on any machine and thread count. Its
//! benchmark lives in `chorus-bench`.

pub mod agg;
pub mod attack;
pub mod contrib;
pub mod dp;
pub mod fixed;
pub mod update;
pub mod validate;

pub use agg::{
    AggregateOptions, AggregateOutcome, AggregationRule, Aggregator, InputReport, ServerAggregator,
    ServerState, WeightedInput,
};
pub use update::{FixedScale, ModelSpec, SliceReader, TensorSpec, Update, UpdateReader};
pub use validate::{ValidationError, ValidationLimits};

/// Errors of the numeric core.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// An input failed validation.
    #[error("validation failed: {0}")]
    Validation(#[from] ValidationError),
    /// A reader could not supply a chunk.
    #[error("read failed at offset {offset}: {reason}")]
    Read {
        /// Flat parameter offset of the failed read.
        offset: usize,
        /// Reader-supplied reason.
        reason: String,
    },
    /// Encoding to an external format failed.
    #[error("encoding failed: {0}")]
    Encoding(String),
    /// A rule was given invalid parameters.
    #[error("invalid parameters for {rule}: {reason}")]
    InvalidParams {
        /// Rule name.
        rule: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Too few inputs for the rule's robustness guarantee.
    #[error("{rule} needs at least {need} inputs, got {got}")]
    NotEnoughInputs {
        /// Rule name.
        rule: &'static str,
        /// Minimum number of inputs.
        need: usize,
        /// Inputs supplied.
        got: usize,
    },
    /// Inputs disagree in length with the model spec.
    #[error("input {index} has {got} parameters, expected {expected}")]
    LengthMismatch {
        /// Input position.
        index: usize,
        /// Expected parameter count.
        expected: usize,
        /// Actual parameter count.
        got: usize,
    },
    /// Sum of weights exceeds the exactness limit of the i64 accumulators.
    #[error("total weight {total} exceeds limit {limit}")]
    WeightTooLarge {
        /// Sum of the weights.
        total: u128,
        /// Maximum allowed.
        limit: u64,
    },
    /// Server-optimiser state does not match the model.
    #[error("server state mismatch: {0}")]
    StateMismatch(String),
    /// A privacy release was refused.
    #[error(
        "privacy budget exceeded: spending would reach {would_be_micro_eps} µε, budget {budget_micro_eps} µε"
    )]
    BudgetExceeded {
        /// ε (in millionths) after the refused release.
        would_be_micro_eps: u64,
        /// Budget ε in millionths.
        budget_micro_eps: u64,
    },
}
