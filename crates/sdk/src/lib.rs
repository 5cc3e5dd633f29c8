//! chorus-sdk: the off-chain half of Chorus — an HTTP/WebSocket client for a node
//! ([`NodeClient`], [`TxSender`]), the participant runtime ([`Participant`]: register, train,
//! commit, reveal), the validator worker ([`ValidatorWorker`]: score, commit-reveal scores,
//! aggregate in fixed point, propose/attest, evaluate) and the task audit ([`audit::run`]: replay
//! a task from the ledger and the blob store and report the first discrepancy).
//!
//! This crate wires existing pieces together and must not contain protocol rules: commitments,
//! consensus scores, accepted sets, reward splits and selection come from `chorus-types` /
//! `chorus-chain`'s pure functions, numerics from `chorus-fl`, training from `chorus-trainer`.
//! Everything the runtimes send is persisted first (see `docs/sdk.md`), so a restart never
//! double-submits or loses a reveal.

pub mod audit;
pub mod blobs;
pub mod client;
mod error;
pub mod ledger;
pub mod light;
pub mod participant;
pub mod progress;
pub mod task_model;
pub mod validator;
pub use chorus_chain::views;

pub use blobs::{BlobStore, MODELS_NAMESPACE, MemBlobs, UPDATES_NAMESPACE};
pub use client::{ChainEvent, NodeClient, TxSender};
pub use error::Error;
pub use ledger::LedgerSource;
pub use light::{LightClient, VerifiedLedger};
pub use participant::{Attack, Participant, ParticipantConfig};
pub use task_model::TaskModel;
pub use validator::{RoundEval, ValidatorConfig, ValidatorWorker};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
