//! Authenticated state and block storage for a Chorus node, over one redb file.
//!
//! State lives twice: a flat `key → value` table for fast reads and prefix scans, and a Jellyfish
//! Merkle Tree (jmt, SHA-256) with one version per block height for the state root and proofs.
//! A block is stored in two steps: [`Db::prepare`] computes the new root without writing (the
//! proposer and validators use it for the header), [`Db::commit`] writes block, certificate,
//! state, tree nodes and indices in one redb write transaction, so a crash leaves either the
//! whole block or none of it. [`verify_proof`] lets clients check [`StateProof`]s.
//!
//! This crate stores and proves; it must not interpret state, blocks or transactions (those are
//! opaque bytes computed by `chorus-chain` / `chorus-types`), and it holds no business rules.
//! See `docs/db.md` for tables, key layout and the atomicity argument.
#![forbid(unsafe_code)]

mod db;
mod error;
mod proof;
mod snapshot;
mod tables;
mod tree;

pub use db::{BlockRecord, Db, DbOptions, EMPTY_ROOT, Prepared, StoredBlock, StoredTx, TxRecord};
pub use error::Error;
pub use proof::{StateProof, verify_proof};
pub use snapshot::{KeyValues, Snapshot};
