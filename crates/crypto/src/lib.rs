//! Chorus cryptography: secp256k1 account keys (Ethereum-compatible addresses, EIP-191 and
//! EIP-712-digest signing, address recovery that accepts low-s signatures only), ed25519 consensus
//! keys, and Ethereum keystore v3 files.
//!
//! This crate wraps the chosen libraries behind small types; it is pure (L0): no I/O, no clocks and
//! no entropy — anything random (keystore salt and IV) comes in as a caller-supplied seed.
#![forbid(unsafe_code)]

mod account;
mod consensus;
mod keystore;
mod tx;

pub use account::{
    AccountKey, SIGNATURE_LEN, eip191_hash, keccak256, recover_eip191, recover_prehash,
};
pub use consensus::{ConsensusKey, ConsensusPublicKey, is_valid_consensus_key, verify_consensus};
pub use keystore::{KeystoreKdf, decrypt_keystore, encrypt_keystore, encrypt_keystore_with};
pub use tx::{recover_tx_sender, sign_tx};

/// Errors from key parsing, signature checks and keystore decryption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The secret key bytes are zero or not below the curve order.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// The public key bytes are not a valid curve point.
    #[error("invalid public key")]
    InvalidPublicKey,
    /// The recovery byte `v` is not 27 or 28.
    #[error("invalid recovery id v = {0} (expected 27 or 28)")]
    BadRecoveryId(u8),
    /// `s` is in the upper half of the curve order (malleable signature).
    #[error("signature s value is not in the lower half of the curve order")]
    HighS,
    /// The signature is malformed or does not verify / recover.
    #[error("invalid signature")]
    InvalidSignature,
    /// A keystore file is malformed or has unsupported or excessive parameters.
    #[error("keystore: {0}")]
    KeystoreFormat(String),
    /// A keystore uses a KDF (or PRF) this crate does not implement.
    #[error("keystore: unsupported kdf {0}")]
    UnsupportedKdf(String),
    /// The keystore MAC does not match: wrong password or corrupted file.
    #[error("keystore: wrong password or corrupted file (MAC mismatch)")]
    KeystoreMac,
}
