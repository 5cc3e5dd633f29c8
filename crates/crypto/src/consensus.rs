//! ed25519 consensus keys (the same `ed25519-consensus` crate Malachite's signing scheme uses, so
//! the workspace carries one ed25519 implementation; ZIP-215 verification rules).

use ed25519_consensus::{Signature, SigningKey, VerificationKey};

use crate::Error;

/// A 32-byte ed25519 consensus public key, as it appears in block headers and the validator set.
pub type ConsensusPublicKey = [u8; 32];

/// An ed25519 validator consensus key.
#[derive(Clone)]
pub struct ConsensusKey {
    signing: SigningKey,
}

impl std::fmt::Debug for ConsensusKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsensusKey(0x{})", hex::encode(self.public_key()))
    }
}

impl ConsensusKey {
    /// A key from its 32-byte seed (secret) bytes. Every 32-byte string is a valid ed25519 seed.
    pub fn from_bytes(bytes: &[u8; 32]) -> ConsensusKey {
        ConsensusKey { signing: SigningKey::from(*bytes) }
    }

    /// A deterministic key derived from `seed` by keccak256 (tests and devnets only).
    pub fn from_seed(seed: &[u8]) -> ConsensusKey {
        let mut buf = b"chorus/consensus-key/".to_vec();
        buf.extend_from_slice(seed);
        ConsensusKey::from_bytes(&crate::keccak256(&buf))
    }

    /// The 32 secret seed bytes (handle with care).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> ConsensusPublicKey {
        self.signing.verification_key().to_bytes()
    }

    /// Signs `msg` (deterministic, 64 bytes).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// Verifies a signature by this key's public key.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> Result<(), Error> {
        verify_consensus(&self.public_key(), msg, sig)
    }
}

/// Whether `public_key` is a valid ed25519 point encoding (checked at genesis and registration).
pub fn is_valid_consensus_key(public_key: &ConsensusPublicKey) -> bool {
    VerificationKey::try_from(*public_key).is_ok()
}

/// Verifies an ed25519 signature `sig` over `msg` by `public_key` (ZIP-215 rules).
pub fn verify_consensus(
    public_key: &ConsensusPublicKey,
    msg: &[u8],
    sig: &[u8; 64],
) -> Result<(), Error> {
    let vk = VerificationKey::try_from(*public_key).map_err(|_| Error::InvalidPublicKey)?;
    vk.verify(&Signature::from(*sig), msg).map_err(|_| Error::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consensus_key_signs_and_verifies_and_rejects_tampering() {
        let k = ConsensusKey::from_seed(b"val-0");
        let sig = k.sign(b"block");
        k.verify(b"block", &sig).unwrap();
        assert_eq!(k.verify(b"blocc", &sig), Err(Error::InvalidSignature));
        let other = ConsensusKey::from_seed(b"val-1");
        assert_eq!(
            verify_consensus(&other.public_key(), b"block", &sig),
            Err(Error::InvalidSignature)
        );
        assert_eq!(ConsensusKey::from_bytes(&k.to_bytes()).public_key(), k.public_key());
        assert!(is_valid_consensus_key(&k.public_key()));
        // y = 2 is not on the curve.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert!(!is_valid_consensus_key(&bad));
    }

    #[test]
    fn consensus_key_matches_rfc8032_test_vector_1() {
        let sk: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let k = ConsensusKey::from_bytes(&sk);
        assert_eq!(
            hex::encode(k.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(k.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }
}
