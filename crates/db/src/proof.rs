//! State proofs: what [`crate::Db::prove`] returns and how a client checks it.

use jmt::proof::SparseMerkleProof;
use jmt::{KeyHash, RootHash};
use sha2::Sha256;

use crate::error::{Error, hex32};

/// A key's value (or its absence) at a height, with a jmt sparse Merkle proof.
///
/// Self-contained and serializable (serde and borsh) so an API can ship it to a client that
/// checks it with [`verify_proof`] against a root it trusts (e.g. from a verified block header).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    borsh::BorshSerialize,
    borsh::BorshDeserialize,
)]
pub struct StateProof {
    /// The state key (unhashed).
    pub key: Vec<u8>,
    /// The value at `height`, `None` if the key is absent (exclusion proof).
    pub value: Option<Vec<u8>>,
    /// The state root at `height` the proof leads to.
    pub root: [u8; 32],
    /// The height (JMT version) the proof is for.
    pub height: u64,
    /// borsh encoding of jmt 0.12's `SparseMerkleProof<Sha256>`: `Option<leaf>` (leaf =
    /// key_hash 32 ‖ value_hash 32) then the siblings bottom-up as a borsh `Vec` of node enums.
    pub proof_bytes: Vec<u8>,
}

/// Checks that `proof` shows `proof.key ↦ proof.value` (or, for `value: None`, that the key is
/// absent) in the state whose root is `expected_root`.
///
/// The key is hashed with SHA-256 (jmt `KeyHash`), the value with SHA-256 (`ValueHash`); the
/// proof's siblings must fold to `expected_root`. `proof.root` must equal `expected_root`; it is
/// informational and never trusted on its own.
pub fn verify_proof(proof: &StateProof, expected_root: &[u8; 32]) -> Result<(), Error> {
    if proof.root != *expected_root {
        return Err(Error::RootMismatch {
            expected_root: hex32(expected_root),
            proof_root: hex32(&proof.root),
        });
    }
    let smp: SparseMerkleProof<Sha256> =
        borsh::from_slice(&proof.proof_bytes).map_err(|e| Error::ProofDecode(e.to_string()))?;
    smp.verify(RootHash(*expected_root), KeyHash::with::<Sha256>(&proof.key), proof.value.as_ref())
        .map_err(|e| Error::ProofInvalid(format!("{e:#}")))
}
