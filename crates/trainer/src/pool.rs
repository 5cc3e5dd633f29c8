//! Shard pool: a training set cut into content-addressed shards, a Merkle root over the shard hashes
//! (the task's "dataset-pool root", DESIGN §3) with inclusion proofs, and the seeded, non-overlapping
//! assignment of shards to participants.
//!
//! # Hashes (all BLAKE3, 32 bytes)
//! - shard hash = `BLAKE3("chorus.shard.v1" ‖ n u32le ‖ rows u32le ‖ cols u32le ‖ (label u8 ‖ pixels)×n)`
//! - leaf = `BLAKE3(0x00 ‖ shard hash)`, node = `BLAKE3(0x01 ‖ left ‖ right)`; a level with an odd number
//!   of nodes carries its last node up unchanged (no duplication, so no second-preimage ambiguity).
//!
//! # Assignment (integer-only, reproducible on every machine)
//! Participants are sorted by address (duplicates rejected). A ChaCha20 stream keyed by the 32-byte seed
//! drives a Fisher–Yates shuffle of `0..num_shards`, drawing each index by rejection sampling on `u32`
//! words (`x < 2^32 - 2^32 mod m`, then `x mod m`). Participant `j` (in sorted order) gets positions
//! `j·k .. (j+1)·k` of the shuffled list, returned sorted.

use std::collections::BTreeMap;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// A 32-byte BLAKE3 digest.
pub type Hash32 = [u8; 32];
/// A participant's 20-byte (Ethereum) address.
pub type Address = [u8; 20];

/// Content hash of a set of samples (see the module docs for the exact byte layout).
pub fn shard_hash(data: &Dataset) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(b"chorus.shard.v1");
    h.update(&(data.len() as u32).to_le_bytes());
    h.update(&(data.rows as u32).to_le_bytes());
    h.update(&(data.cols as u32).to_le_bytes());
    for (label, img) in data.labels.iter().zip(data.images.chunks_exact(data.pixels().max(1))) {
        h.update(&[*label]);
        h.update(img);
    }
    *h.finalize().as_bytes()
}

fn leaf(h: &Hash32) -> Hash32 {
    let mut x = blake3::Hasher::new();
    x.update(&[0x00]);
    x.update(h);
    *x.finalize().as_bytes()
}

fn node(l: &Hash32, r: &Hash32) -> Hash32 {
    let mut x = blake3::Hasher::new();
    x.update(&[0x01]);
    x.update(l);
    x.update(r);
    *x.finalize().as_bytes()
}

/// The training set cut into `num_shards` contiguous, (almost) equal shards, with their hashes and the
/// Merkle tree over them.
#[derive(Clone, Debug)]
pub struct ShardPool {
    /// `ranges[i] = (start, end)`: sample indices `start..end` of the source set form shard `i`.
    ranges: Vec<(u32, u32)>,
    /// Shard hashes.
    hashes: Vec<Hash32>,
    /// Merkle levels, leaves first; the last level holds the root.
    levels: Vec<Vec<Hash32>>,
}

/// An inclusion proof of one shard hash under a pool root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardProof {
    /// Shard index.
    pub index: u32,
    /// Number of shards in the pool.
    pub num_shards: u32,
    /// The shard's content hash.
    pub shard_hash: Hash32,
    /// Sibling hashes from the leaf level upwards (levels where the node is carried up have none).
    pub siblings: Vec<Hash32>,
}

impl ShardPool {
    /// Cuts `data` into `num_shards` contiguous shards (sizes differ by at most one) and hashes them.
    /// Shuffle or partition the data set first if the shards should not follow file order.
    pub fn new(data: &Dataset, num_shards: u32) -> Result<Self> {
        let n = data.len();
        if num_shards == 0 || num_shards as usize > n {
            return Err(Error::InvalidArgument(format!("{num_shards} shards for {n} samples")));
        }
        let k = num_shards as usize;
        let (q, r) = (n / k, n % k);
        let mut ranges = Vec::with_capacity(k);
        let mut at = 0usize;
        for i in 0..k {
            let len = q + usize::from(i < r);
            ranges.push((at as u32, (at + len) as u32));
            at += len;
        }
        let hashes: Vec<Hash32> = ranges
            .iter()
            .map(|&(s, e)| {
                let idx: Vec<u32> = (s..e).collect();
                data.subset(&idx).map(|d| shard_hash(&d))
            })
            .collect::<Result<_>>()?;
        let mut levels = vec![hashes.iter().map(leaf).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let prev = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next: Vec<Hash32> = prev
                .chunks(2)
                .map(|c| if c.len() == 2 { node(&c[0], &c[1]) } else { c[0] })
                .collect();
            levels.push(next);
        }
        Ok(Self { ranges, hashes, levels })
    }

    /// Number of shards.
    pub fn num_shards(&self) -> u32 {
        self.ranges.len() as u32
    }
    /// The Merkle root over the shard hashes.
    pub fn pool_root(&self) -> Hash32 {
        self.levels.last().and_then(|l| l.first()).copied().unwrap_or_default()
    }
    /// Shard `i`'s content hash.
    pub fn shard_hash(&self, i: u32) -> Option<Hash32> {
        self.hashes.get(i as usize).copied()
    }
    /// The sample indices (into the source data set) of shard `i`.
    pub fn shard_indices(&self, i: u32) -> Option<Vec<u32>> {
        self.ranges.get(i as usize).map(|&(s, e)| (s..e).collect())
    }
    /// A copy of shard `i`'s samples.
    pub fn shard_data(&self, data: &Dataset, i: u32) -> Result<Dataset> {
        let idx =
            self.shard_indices(i).ok_or_else(|| Error::InvalidArgument(format!("no shard {i}")))?;
        data.subset(&idx)
    }
    /// The samples of several shards, concatenated in the given order.
    pub fn shards_data(&self, data: &Dataset, shards: &[u32]) -> Result<Dataset> {
        let mut idx = Vec::new();
        for &i in shards {
            idx.extend(
                self.shard_indices(i)
                    .ok_or_else(|| Error::InvalidArgument(format!("no shard {i}")))?,
            );
        }
        data.subset(&idx)
    }
    /// The inclusion proof of shard `i`.
    pub fn shard_proof(&self, i: u32) -> Result<ShardProof> {
        let shard_hash =
            self.shard_hash(i).ok_or_else(|| Error::InvalidArgument(format!("no shard {i}")))?;
        let mut siblings = Vec::new();
        let mut idx = i as usize;
        for level in &self.levels[..self.levels.len() - 1] {
            let sib = idx ^ 1;
            if sib < level.len() {
                siblings.push(level[sib]);
            }
            idx /= 2;
        }
        Ok(ShardProof { index: i, num_shards: self.num_shards(), shard_hash, siblings })
    }
    /// Assigns shards of this pool to participants (see [`assign_shards`]).
    pub fn assign_shards(
        &self,
        seed: [u8; 32],
        participants: &[Address],
        shards_per_participant: u32,
    ) -> Result<BTreeMap<Address, Vec<u32>>> {
        assign_shards(self.num_shards(), seed, participants, shards_per_participant)
    }
}

/// Checks a shard proof against a pool root.
pub fn verify_shard_proof(root: &Hash32, proof: &ShardProof) -> bool {
    if proof.index >= proof.num_shards {
        return false;
    }
    let mut h = leaf(&proof.shard_hash);
    let (mut idx, mut width) = (proof.index as usize, proof.num_shards as usize);
    let mut sibs = proof.siblings.iter();
    while width > 1 {
        let sib = idx ^ 1;
        if sib < width {
            let Some(s) = sibs.next() else { return false };
            h = if idx % 2 == 0 { node(&h, s) } else { node(s, &h) };
        }
        idx /= 2;
        width = width.div_ceil(2);
    }
    sibs.next().is_none() && &h == root
}

/// Checks that `data` is shard `proof.index` of the pool with root `root`: its content hash must equal
/// the proven hash and the proof must verify.
pub fn verify_shard_data(root: &Hash32, data: &Dataset, proof: &ShardProof) -> bool {
    shard_hash(data) == proof.shard_hash && verify_shard_proof(root, proof)
}

/// Deterministic, non-overlapping assignment of `shards_per_participant` shards (out of `num_shards`)
/// to each participant; see the module docs for the algorithm. Errors on duplicate participants or
/// when there are not enough shards.
pub fn assign_shards(
    num_shards: u32,
    seed: [u8; 32],
    participants: &[Address],
    shards_per_participant: u32,
) -> Result<BTreeMap<Address, Vec<u32>>> {
    let mut sorted = participants.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::InvalidArgument("duplicate participant address".into()));
    }
    let need = (sorted.len() as u64) * shards_per_participant as u64;
    if need > num_shards as u64 {
        return Err(Error::InvalidArgument(format!(
            "{} participants x {shards_per_participant} shards > {num_shards} shards",
            sorted.len()
        )));
    }
    let mut rng = ChaCha20Rng::from_seed(seed);
    let mut perm: Vec<u32> = (0..num_shards).collect();
    // Fisher–Yates from the top, with a portable rejection-sampled index.
    for i in (1..perm.len()).rev() {
        let j = uniform_below(&mut rng, i as u32 + 1) as usize;
        perm.swap(i, j);
    }
    let k = shards_per_participant as usize;
    Ok(sorted
        .into_iter()
        .enumerate()
        .map(|(j, a)| {
            let mut s = perm[j * k..(j + 1) * k].to_vec();
            s.sort_unstable();
            (a, s)
        })
        .collect())
}

/// Uniform integer in `0..m` (`m > 0`) by rejection sampling on 32-bit words.
fn uniform_below(rng: &mut ChaCha20Rng, m: u32) -> u32 {
    let m64 = m as u64;
    let zone = (1u64 << 32) - ((1u64 << 32) % m64);
    loop {
        let x = rng.next_u32() as u64;
        if x < zone {
            return (x % m64) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize) -> Dataset {
        let images = (0..n * 4).map(|i| (i * 31 % 251) as u8).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        Dataset::new("toy", 2, 2, 10, images, labels).unwrap()
    }

    fn addr(i: u8) -> Address {
        [i; 20]
    }

    #[test]
    fn every_shard_proof_verifies_for_many_pool_sizes() {
        let d = toy(200);
        for s in [1u32, 2, 3, 5, 7, 8, 13, 64, 100] {
            let pool = ShardPool::new(&d, s).unwrap();
            let root = pool.pool_root();
            for i in 0..s {
                let proof = pool.shard_proof(i).unwrap();
                assert!(verify_shard_proof(&root, &proof), "s={s} i={i}");
                assert!(verify_shard_data(&root, &pool.shard_data(&d, i).unwrap(), &proof));
            }
        }
    }

    #[test]
    fn tampered_shard_or_proof_fails_verification() {
        let d = toy(100);
        let pool = ShardPool::new(&d, 10).unwrap();
        let root = pool.pool_root();
        let proof = pool.shard_proof(3).unwrap();
        let mut shard = pool.shard_data(&d, 3).unwrap();
        shard.images[5] ^= 1;
        assert!(!verify_shard_data(&root, &shard, &proof));
        let mut relabelled = pool.shard_data(&d, 3).unwrap();
        relabelled.labels[0] = (relabelled.labels[0] + 1) % 10;
        assert!(!verify_shard_data(&root, &relabelled, &proof));
        let mut wrong_index = proof.clone();
        wrong_index.index = 4;
        assert!(!verify_shard_proof(&root, &wrong_index));
        let mut bad_sib = proof.clone();
        bad_sib.siblings[0][0] ^= 1;
        assert!(!verify_shard_proof(&root, &bad_sib));
        let mut extra = proof;
        extra.siblings.push([0; 32]);
        assert!(!verify_shard_proof(&root, &extra));
    }

    #[test]
    fn pool_root_depends_on_content() {
        let d = toy(100);
        let mut e = d.clone();
        e.images[0] ^= 0x80;
        assert_ne!(
            ShardPool::new(&d, 10).unwrap().pool_root(),
            ShardPool::new(&e, 10).unwrap().pool_root()
        );
        assert_eq!(
            ShardPool::new(&d, 10).unwrap().pool_root(),
            ShardPool::new(&d, 10).unwrap().pool_root()
        );
    }

    #[test]
    fn shard_assignment_is_reproducible_and_non_overlapping() {
        let participants: Vec<Address> = (0..10).map(addr).collect();
        let a = assign_shards(100, [7; 32], &participants, 9).unwrap();
        let mut reversed = participants.clone();
        reversed.reverse();
        assert_eq!(
            a,
            assign_shards(100, [7; 32], &reversed, 9).unwrap(),
            "order of input must not matter"
        );
        assert_ne!(a, assign_shards(100, [8; 32], &participants, 9).unwrap());
        let mut all: Vec<u32> = a.values().flatten().copied().collect();
        assert_eq!(all.len(), 90);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 90, "overlap");
        assert!(all.iter().all(|&s| s < 100));
        assert!(a.values().all(|v| v.len() == 9 && v.windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn shard_assignment_is_pinned_by_a_golden_vector() {
        // Pins the integer-only algorithm: a change here changes every task's assignment.
        let a = assign_shards(10, [0; 32], &[addr(2), addr(1)], 3).unwrap();
        let golden = a.clone();
        assert_eq!(a.len(), 2);
        assert_eq!(assign_shards(10, [0; 32], &[addr(1), addr(2)], 3).unwrap(), golden);
        let first = &a[&addr(1)];
        assert_eq!(first.len(), 3);
        assert_eq!(format!("{:?}", (first, &a[&addr(2)])), GOLDEN);
    }
    const GOLDEN: &str = "([2, 6, 8], [5, 7, 9])";

    #[test]
    fn assignment_rejects_duplicates_and_oversubscription() {
        assert!(assign_shards(10, [0; 32], &[addr(1), addr(1)], 1).is_err());
        assert!(assign_shards(10, [0; 32], &[addr(1), addr(2)], 6).is_err());
        assert!(ShardPool::new(&toy(5), 6).is_err());
        assert!(ShardPool::new(&toy(5), 0).is_err());
    }
}
