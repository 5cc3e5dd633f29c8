//! chorus-consensus: Tendermint BFT (Malachite, `arc-malachitebft-*` =0.8.2) behind a small,
//! Malachite-free interface. The node implements [`Application`] (propose / validate / commit /
//! serve decided blocks) and calls [`run`]; this crate owns the Malachite `Context`, signing,
//! codecs, proposal streaming, catch-up (value sync), the WAL and block-time pacing.
//!
//! It must not know what a block contains (blocks are opaque bytes with a 32-byte id chosen by the
//! application) and must not expose any Malachite type, so a Malachite upgrade stays inside this
//! crate. See `docs/consensus.md`.

mod api;
mod codec;
mod context;
mod host;
mod node;
mod signing;
mod store;
mod streaming;

pub use api::{
    consensus_address, Application, CertificateError, CommitCertificate,
    ConsensusConfig, DoubleSign, DoubleSignKind, Error, SignedMessageRef, Timeouts, ValidatorInfo,
};
pub use host::Stats;
pub use node::{run, ConsensusHandle};

/// Ed25519 public key of a 32-byte consensus secret key.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    *malachitebft_signing_ed25519::PrivateKey::from(*secret).public_key().as_bytes()
}

/// Sign `msg` with a consensus secret key (ed25519). For tests and tooling; consensus signs its own
/// messages.
pub fn sign(secret: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    malachitebft_signing_ed25519::PrivateKey::from(*secret).sign(msg).to_bytes()
}
