//! The crate's error type.

/// Everything that can go wrong in `chorus-db`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine (redb) failed: I/O, corruption, a lock held by another process, ...
    #[error("storage: {0}")]
    Storage(Box<redb::Error>),
    /// The authenticated tree (jmt) failed, typically because a node it needs is missing.
    #[error("state tree: {0}")]
    Tree(String),
    /// A stored record could not be decoded (the file is corrupt or from another schema).
    #[error("corrupt record in table {table}: {reason}")]
    Corrupt {
        /// The table the record was read from.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The file was written by an incompatible schema version of this crate.
    #[error("schema version {found} is not supported (expected {expected})")]
    Schema {
        /// The version this build writes and reads.
        expected: u32,
        /// The version found in the file.
        found: u32,
    },
    /// `prepare`/`commit` for a height that is not the next one (latest committed + 1; 0 on a
    /// fresh database).
    #[error("height {got} is not the next height {expected}")]
    WrongHeight {
        /// The only height that may be prepared or committed now.
        expected: u64,
        /// The height that was asked for.
        got: u64,
    },
    /// The block record's height differs from the height the [`crate::Prepared`] was computed for.
    #[error("block record is for height {block} but the prepared state is for height {prepared}")]
    BlockHeightMismatch {
        /// Height of the prepared state changes.
        prepared: u64,
        /// Height in the block record.
        block: u64,
    },
    /// The [`crate::Prepared`] was computed on a base that is no longer the latest committed state
    /// (another block was committed since).
    #[error("prepared on a stale base (prepared on {prepared_on:?}, latest is {latest:?})")]
    StaleBase {
        /// Latest committed height when the prepare ran (`None`: empty database).
        prepared_on: Option<u64>,
        /// Latest committed height now.
        latest: Option<u64>,
    },
    /// A height above the latest committed one.
    #[error("height {height} is not committed (latest is {latest:?})")]
    NotCommitted {
        /// The height asked for.
        height: u64,
        /// The latest committed height (`None`: empty database).
        latest: Option<u64>,
    },
    /// The tree nodes needed for this height were pruned.
    #[error("state at height {height} was pruned (history starts at {min})")]
    Pruned {
        /// The height asked for.
        height: u64,
        /// The oldest height whose state can still be proven.
        min: u64,
    },
    /// A proof was checked against a root it was not made for.
    #[error("proof is for root {proof_root} but {expected_root} was expected")]
    RootMismatch {
        /// Hex of the root the caller trusts.
        expected_root: String,
        /// Hex of the root carried in the proof.
        proof_root: String,
    },
    /// A proof's bytes do not decode as a jmt sparse Merkle proof.
    #[error("proof bytes do not decode: {0}")]
    ProofDecode(String),
    /// A proof does not authenticate the claimed value (or absence) under the root.
    #[error("proof does not verify: {0}")]
    ProofInvalid(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::Storage(Box::new(e.into()))
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Converts a jmt (anyhow) error, keeping its context chain.
pub(crate) fn tree_err(e: impl std::fmt::Display) -> Error {
    Error::Tree(format!("{e:#}"))
}

/// Lowercase hex of a 32-byte hash, for messages.
pub(crate) fn hex32(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
