//! The crate's error type.

/// Errors of the SDK.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Transport failure talking to a node (connection, timeout, malformed reply).
    #[error("node transport: {0}")]
    Transport(String),
    /// The node answered with an error status.
    #[error("node returned {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error message from the node.
        message: String,
    },
    /// A transaction was executed but failed.
    #[error("transaction {hash} failed: code {code}: {message}")]
    TxFailed {
        /// Transaction hash.
        hash: chorus_types::Hash,
        /// Failure code.
        code: u32,
        /// Failure message.
        message: String,
    },
    /// Waiting for a receipt timed out.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// Blob store failure.
    #[error("store: {0}")]
    Store(#[from] chorus_store::Error),
    /// Numeric core failure (aggregation, validation).
    #[error("fl: {0}")]
    Fl(#[from] chorus_fl::Error),
    /// Update validation failure.
    #[error("validation: {0}")]
    Validation(#[from] chorus_fl::ValidationError),
    /// Training failure.
    #[error("trainer: {0}")]
    Trainer(#[from] chorus_trainer::Error),
    /// State read failure (in-memory ledger).
    #[error("chain: {0}")]
    Chain(#[from] chorus_chain::TxError),
    /// The task cannot be run by this SDK (unknown model, unsupported rule, …).
    #[error("unsupported task: {0}")]
    Unsupported(String),
    /// Something on the ledger or in the store is not what the protocol requires.
    #[error("inconsistent: {0}")]
    Inconsistent(String),
    /// Progress file I/O.
    #[error("progress file {path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A node served something the chain's certificates or state roots do not prove: a header
    /// (`what` names the height), a record (`what` names it and its state key) or receipts.
    #[error("forged by the node: {what}: {detail}")]
    Forged {
        /// The header, record or receipts concerned.
        what: String,
        /// What did not verify.
        detail: String,
    },
    /// The ledger serves another chain than the one the signer is pinned to; nothing was signed.
    #[error("the ledger serves chain {reported}, but this signer is pinned to chain {pinned}")]
    WrongChain {
        /// The chain id the signer was configured with.
        pinned: u64,
        /// The chain id the ledger reported.
        reported: u64,
    },
    /// Progress file or reply decoding.
    #[error("decode: {0}")]
    Decode(String),
}
