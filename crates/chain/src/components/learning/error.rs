//! Why a learning message was refused. Codes are stable (300–399) and never reused.

use chorus_types::Hash;
use chorus_types::learning::{RoundNo, TaskId};

/// A refused learning message. [`LearningError::code`] is the receipt's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LearningError {
    /// The task spec breaks a rule (code 300).
    #[error("invalid task spec: {0}")]
    InvalidSpec(&'static str),
    /// No task with this id (code 301).
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// Only the task owner may do this (code 302).
    #[error("only the task owner may do this")]
    NotOwner,
    /// The task's status does not allow this (code 303).
    #[error("task is {status}")]
    WrongTaskStatus {
        /// Current status.
        status: &'static str,
    },
    /// The message names a round that is not the task's open round (early, late or unknown)
    /// (code 304).
    #[error("round {got} is not open (open round: {open:?})")]
    WrongRound {
        /// The open round, if any.
        open: Option<RoundNo>,
        /// The message's round.
        got: RoundNo,
    },
    /// The round is in another phase (code 305).
    #[error("out of phase: {expected} messages are not accepted during {current}")]
    OutOfPhase {
        /// Phase the message belongs to.
        expected: &'static str,
        /// The round's current phase.
        current: &'static str,
    },
    /// The sender is not selected for this round (code 306).
    #[error("sender is not selected for this round")]
    NotSelected,
    /// The sender is not in the round's validator set (code 307).
    #[error("sender is not a validator of this round")]
    NotValidator,
    /// The sender already committed something else (code 308).
    #[error("sender already committed in this round")]
    AlreadyCommitted,
    /// An exact resubmission: nothing changes twice (code 309).
    #[error("duplicate submission")]
    Duplicate,
    /// Reveal without a commit (code 310).
    #[error("no commitment to reveal")]
    NoCommit,
    /// Already revealed (code 311).
    #[error("already revealed")]
    AlreadyRevealed,
    /// The score vector does not have one entry per revealed update (code 312).
    #[error("expected {expected} scores, got {got}")]
    WrongScoreCount {
        /// Revealed updates in the round.
        expected: u32,
        /// Scores sent.
        got: u32,
    },
    /// The accepted-set hash is not the one the chain computed (code 313).
    #[error("accepted set hash {got} does not match {expected}")]
    WrongAcceptedSet {
        /// The chain's.
        expected: Hash,
        /// The message's.
        got: Hash,
    },
    /// Attesting a model nobody proposed (code 314).
    #[error("no proposal for model {0}")]
    UnknownProposal(Hash),
    /// No such model version (code 315).
    #[error("unknown model version {0}")]
    UnknownVersion(u32),
    /// A reveal with zero training examples (code 316).
    #[error("num_examples must be at least 1")]
    ZeroExamples,
    /// A field is larger than allowed (code 317).
    #[error("{what} has {len} entries or bytes, at most {max} allowed")]
    Oversized {
        /// Which field.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sender's submission in this round was already judged a fault (code 318).
    #[error("submission already judged a fault in this round")]
    Faulted,
    /// A reveal claims more training examples than its cap (the task's `max_examples`, times the
    /// assigned shards in shard mode; never above 2^20) (code 319, security review H4).
    #[error("num_examples {got} exceeds the cap {max}")]
    TooManyExamples {
        /// Claimed.
        got: u64,
        /// The cap.
        max: u64,
    },
    /// `MAX_ACTIVE_TASKS` tasks are already live (code 320, security review H3).
    #[error("too many active tasks (at most {max})")]
    TooManyActiveTasks {
        /// The cap.
        max: u64,
    },
}

impl LearningError {
    /// The stable numeric code.
    pub fn code(&self) -> u32 {
        match self {
            LearningError::InvalidSpec(_) => 300,
            LearningError::UnknownTask(_) => 301,
            LearningError::NotOwner => 302,
            LearningError::WrongTaskStatus { .. } => 303,
            LearningError::WrongRound { .. } => 304,
            LearningError::OutOfPhase { .. } => 305,
            LearningError::NotSelected => 306,
            LearningError::NotValidator => 307,
            LearningError::AlreadyCommitted => 308,
            LearningError::Duplicate => 309,
            LearningError::NoCommit => 310,
            LearningError::AlreadyRevealed => 311,
            LearningError::WrongScoreCount { .. } => 312,
            LearningError::WrongAcceptedSet { .. } => 313,
            LearningError::UnknownProposal(_) => 314,
            LearningError::UnknownVersion(_) => 315,
            LearningError::ZeroExamples => 316,
            LearningError::Oversized { .. } => 317,
            LearningError::Faulted => 318,
            LearningError::TooManyExamples { .. } => 319,
            LearningError::TooManyActiveTasks { .. } => 320,
        }
    }
}
