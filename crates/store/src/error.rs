//! The crate error type.

use crate::id::BlobId;

/// Everything that can go wrong in the blob store (server, backends, client, sealing).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error from a backend or the network stack.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A malformed id, namespace, header or request.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The blob (or namespace) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// Data did not match its BLAKE3 id / outboard (corruption on disk or in transit).
    #[error("verification failed for {id}: {reason}")]
    Verification {
        /// The id the data was checked against.
        id: BlobId,
        /// What did not match.
        reason: String,
    },
    /// The declared content digest differs from the hash of the uploaded bytes.
    #[error("digest mismatch: declared {declared}, actual {actual}")]
    DigestMismatch {
        /// The id the client declared.
        declared: BlobId,
        /// The id of the bytes received.
        actual: BlobId,
    },
    /// The blob is larger than allowed.
    #[error("blob too large: limit {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The volume is (nearly) full: storing this would eat into the reserve kept free for the
    /// node's database.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// Sealing or opening failed (not a recipient, bad tag, malformed envelope).
    #[error("seal error: {0}")]
    Seal(String),
    /// The server answered with an error status.
    #[error("http {status}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The `error` field of the JSON body (or the raw body).
        message: String,
    },
    /// A request timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Every endpoint failed or has an open circuit breaker.
    #[error("all endpoints failed; last error: {0}")]
    AllEndpointsFailed(Box<Error>),
    /// A storage-challenge proof did not verify.
    #[error("challenge failed: {0}")]
    Challenge(String),
    /// Anything else from the HTTP layer.
    #[error("transport error: {0}")]
    Transport(String),
}
