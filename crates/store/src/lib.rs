//! `chorus-store`: the content-addressed blob store of Chorus (DESIGN.md §5).
//!
//! A blob is addressed by its BLAKE3 root ([`BlobId`]); a pre-order bao-tree outboard with 16 KiB
//! chunk groups lets any reader verify any byte range against the id while streaming. The crate
//! provides storage backends ([`FsBackend`], [`MemBackend`]) behind [`BlobBackend`], an axum HTTP
//! server ([`router`], [`serve`]) with signed (EIP-191) access to private namespaces, quotas and
//! rate limits, a resilient verifying client ([`StoreClient`]), committee sealing ([`seal`]/[`open`]),
//! retention ([`PinSet`], [`gc`]) and storage challenges ([`challenge`]/[`verify_challenge`]); its
//! benchmark lives in `chorus-bench`.
//!
//! It must not: return unverified bytes from the client, make a half-written upload visible, hold
//! or accept private keys over the wire, or touch ledger state (pins come in through [`PinSet`]).
//! See `docs/store.md` for the wire formats.

mod auth;
mod backend;
mod challenge;
mod client;
mod error;
mod gc;
mod id;
mod limits;
mod policy;
mod seal;
mod server;
mod sig;
mod verify;

pub use auth::{
    AuthError, HDR_ADDRESS, HDR_DIGEST, HDR_NONCE, HDR_SIGNATURE, HDR_TIMESTAMP, NonceCache,
    RequestSigner, SignedHeaders, Verified, canonical_request, sign_request, verify_request,
};
pub use backend::{BlobBackend, BlobData, BlobMeta, BlobWriter, FsBackend, MemBackend};
pub use challenge::{ChallengeProof, challenge, challenge_ranges, verify_challenge};
pub use client::{BreakerState, ClientOptions, StoreClient};
pub use error::Error;
pub use gc::{GcReport, NoPins, PinSet, gc};
pub use id::{BlobId, validate_namespace};
pub use limits::{Quota, RateLimit};
pub use policy::{Listable, WritePolicy};
pub use seal::{SealPublicKey, SealSecretKey, open, seal};
pub use server::{
    DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, NamespaceConfig, PutResponse, StoreConfig, StoreState,
    router, serve, serve_listener,
};
pub use verify::{CHUNK_GROUP_LOG, StreamVerifier, create_outboard, outboard_size, verify_blob};
