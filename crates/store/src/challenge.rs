//! Storage challenges: prove possession of pseudo-random chunk groups of a blob.
//!
//! The verifier picks a 32-byte seed (e.g. block randomness). Chunk groups are drawn from the
//! BLAKE3 XOF of `derive_key("chorus-store challenge v1", seed ‖ id ‖ size)`; the last group is
//! always included so the proof authenticates the blob size. The holder answers with the bao-tree
//! encoding (parent hash pairs + group bytes, pre-order) of those groups; the verifier decodes it
//! against the id alone.

use std::io::Cursor;

use bao_tree::io::sync::{DecodeResponseIter, ReadAt, encode_ranges_validated};
use bao_tree::{ChunkNum, ChunkRanges};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::id::{BlobId, hex_decode, hex_encode};
use crate::verify::{GROUP_BYTES, parse_outboard, tree};

/// A holder's answer to a challenge.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChallengeProof {
    /// The blob size the holder claims (authenticated by the proof's last group).
    pub size: u64,
    /// Hex of the bao-tree encoding of the challenged groups.
    pub encoded: String,
}

/// The chunk groups (as indices) a challenge with `seed` selects for a blob of `size` bytes.
pub fn challenge_ranges(id: &BlobId, size: u64, seed: &[u8; 32], count: u32) -> Vec<u64> {
    let groups = size.div_ceil(GROUP_BYTES).max(1);
    let mut h = blake3::Hasher::new_derive_key("chorus-store challenge v1");
    h.update(seed).update(id.as_bytes()).update(&size.to_le_bytes());
    let mut xof = h.finalize_xof();
    let mut picked = vec![groups - 1];
    for _ in 0..count {
        let mut b = [0u8; 8];
        xof.fill(&mut b);
        picked.push(u64::from_le_bytes(b) % groups);
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

fn to_ranges(groups: &[u64], size: u64) -> ChunkRanges {
    let mut r = ChunkRanges::empty();
    for g in groups {
        let start = g * GROUP_BYTES / 1024;
        let end = ((g + 1) * GROUP_BYTES).min(size).div_ceil(1024).max(start + 1);
        r |= ChunkRanges::from(ChunkNum(start)..ChunkNum(end));
    }
    r
}

/// Answers a challenge from the blob's bytes (`data`, random access) and serialized outboard.
pub fn challenge(
    id: &BlobId,
    data: impl ReadAt,
    outboard: &[u8],
    seed: &[u8; 32],
    count: u32,
) -> Result<ChallengeProof, Error> {
    let ob = parse_outboard(id, outboard)?;
    let size = ob.tree.size();
    let ranges = to_ranges(&challenge_ranges(id, size, seed, count), size);
    let mut out = Vec::new();
    encode_ranges_validated(data, &ob, &ranges, &mut out)
        .map_err(|e| Error::Challenge(format!("cannot answer: {e}")))?;
    Ok(ChallengeProof { size, encoded: hex_encode(&out) })
}

/// Checks a challenge answer against the blob id alone.
pub fn verify_challenge(
    id: &BlobId,
    seed: &[u8; 32],
    count: u32,
    proof: &ChallengeProof,
) -> Result<(), Error> {
    let enc = hex_decode(&proof.encoded, false)
        .ok_or_else(|| Error::Challenge("proof is not hex".into()))?;
    if proof.size == 0 {
        return if *id == BlobId::of(b"") && enc.is_empty() {
            Ok(())
        } else {
            Err(Error::Challenge("empty-blob proof for a non-empty id".into()))
        };
    }
    let ranges = to_ranges(&challenge_ranges(id, proof.size, seed, count), proof.size);
    let mut cursor = Cursor::new(&enc[..]);
    let iter = DecodeResponseIter::new(id.to_hash(), tree(proof.size), &mut cursor, &ranges);
    let mut leaves = 0;
    for item in iter {
        let item = item.map_err(|e| Error::Challenge(e.to_string()))?;
        if let bao_tree::io::BaoContentItem::Leaf(_) = item {
            leaves += 1;
        }
    }
    if leaves == 0 || cursor.position() != enc.len() as u64 {
        return Err(Error::Challenge("proof has missing or trailing bytes".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::create_outboard;

    fn blob() -> Vec<u8> {
        (0..300_000u32).map(|i| (i % 253) as u8).collect()
    }

    #[test]
    fn honest_holder_passes_a_challenge() {
        let d = blob();
        let (id, ob) = create_outboard(&d);
        let seed = [7u8; 32];
        let p = challenge(&id, &d[..], &ob, &seed, 4).unwrap();
        verify_challenge(&id, &seed, 4, &p).unwrap();
        assert!(verify_challenge(&id, &[8u8; 32], 4, &p).is_err(), "other seed, other groups");
    }

    #[test]
    fn holder_with_corrupted_data_fails_a_challenge() {
        let d = blob();
        let (id, ob) = create_outboard(&d);
        let seed = [1u8; 32];
        let groups = challenge_ranges(&id, d.len() as u64, &seed, 3);
        let mut bad = d.clone();
        bad[(groups[0] * GROUP_BYTES) as usize] ^= 1;
        assert!(challenge(&id, &bad[..], &ob, &seed, 3).is_err());
        // a forged proof (flip a byte in an honest one) is rejected by the verifier
        let mut p = challenge(&id, &d[..], &ob, &seed, 3).unwrap();
        let mut enc = hex_decode(&p.encoded, false).unwrap();
        let n = enc.len();
        enc[n - 1] ^= 1;
        p.encoded = hex_encode(&enc);
        assert!(verify_challenge(&id, &seed, 3, &p).is_err());
    }

    #[test]
    fn challenge_always_includes_the_last_group() {
        let id = BlobId::of(b"x");
        let g = challenge_ranges(&id, 10 * GROUP_BYTES + 1, &[0; 32], 2);
        assert_eq!(*g.last().unwrap(), 10);
    }
}
