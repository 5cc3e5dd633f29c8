//! Who takes part in a round: the round seed derived from the opening block's randomness, the
//! per-address selection tickets, stake-weighted sampling without replacement
//! (Efraimidis–Spirakis, compared exactly in 256 bits) and the seeded, non-overlapping shard
//! assignment of `ShardPool` tasks. Pure functions of the seed and the candidates, so anyone can
//! recompute a round's selection (`docs/learning.md`).

use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Amount, Hash, keccak256};

use super::fixed::{LN2_Q64, log2_q64, mul_q64, wide_mul};

/// The seed of a round:
/// `keccak256("chorus/round-seed" ‖ randomness ‖ task(u64 BE) ‖ round(u32 BE))`
/// where `randomness` is the `BlockContext::randomness` of the block that opened the round.
pub fn round_seed(randomness: &Hash, task: TaskId, round: RoundNo) -> Hash {
    let mut b = Vec::with_capacity(17 + 32 + 12);
    b.extend_from_slice(b"chorus/round-seed");
    b.extend_from_slice(&randomness.0);
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    Hash(keccak256(&b))
}

/// The selection ticket of `addr`: the first 16 bytes (big-endian) of
/// `keccak256("chorus/select" ‖ seed ‖ address)`.
pub fn ticket(seed: &Hash, addr: &Address) -> u128 {
    let mut b = Vec::with_capacity(13 + 32 + 20);
    b.extend_from_slice(b"chorus/select");
    b.extend_from_slice(&seed.0);
    b.extend_from_slice(&addr.0);
    let h = keccak256(&b);
    let mut x = [0u8; 16];
    x.copy_from_slice(&h[..16]);
    u128::from_be_bytes(x)
}

/// The exponential variate `E = −ln(U)` of a ticket, in Q64, with `U = (ticket/2 + 1) / 2^127`
/// ∈ (0, 1]. Efraimidis–Spirakis: ranking by `E / stake` ascending is weighted sampling without
/// replacement with probabilities proportional to stake.
pub fn exp_variate_q64(ticket: u128) -> u128 {
    let u = (ticket >> 1) + 1;
    let l = (127u128 << 64).saturating_sub(log2_q64(u));
    mul_q64(l, LN2_Q64)
}

/// Deterministic stake-weighted selection: ranks `candidates` (address, stake > 0) by
/// `exp_variate(ticket(seed, address)) / stake` ascending (compared exactly by cross
/// multiplication in 256 bits; ties by address) and returns the first `k` addresses in rank order.
/// Candidates with zero stake are never selected.
pub fn select(seed: &Hash, candidates: &[(Address, Amount)], k: usize) -> Vec<Address> {
    let mut keyed: Vec<(u128, Amount, Address)> = candidates
        .iter()
        .filter(|(_, s)| *s > 0)
        .map(|(a, s)| (exp_variate_q64(ticket(seed, a)), *s, *a))
        .collect();
    keyed.sort_by(|x, y| {
        // x.e / x.s < y.e / y.s  ⇔  x.e · y.s < y.e · x.s
        wide_mul(x.0, y.1).cmp(&wide_mul(y.0, x.1)).then(x.2.cmp(&y.2))
    });
    keyed.into_iter().take(k).map(|(_, _, a)| a).collect()
}

fn shard_draw(seed: &Hash, t: u64) -> u128 {
    let mut b = Vec::with_capacity(13 + 32 + 8);
    b.extend_from_slice(b"chorus/shards");
    b.extend_from_slice(&seed.0);
    b.extend_from_slice(&t.to_be_bytes());
    let h = keccak256(&b);
    let mut x = [0u8; 16];
    x.copy_from_slice(&h[..16]);
    u128::from_be_bytes(x)
}

/// Shard assignment: a seeded partial Fisher–Yates shuffle of `0..shard_count`; the selected
/// participant at rank `i` gets positions `i·per .. (i+1)·per` of the shuffle, sorted ascending.
/// Draw `t` picks
/// `j = t + (u128(keccak256("chorus/shards" ‖ seed ‖ t(u64 BE))[..16]) mod (S − t))`.
/// Returns an empty assignment for everyone if `n · per > shard_count` (the chain validates that
/// this never happens). Assignments never overlap.
pub fn shard_assignment(seed: &Hash, n: usize, shard_count: u32, per: u32) -> Vec<Vec<u32>> {
    let s = u64::from(shard_count);
    let need = (n as u64).saturating_mul(u64::from(per));
    if need > s {
        return vec![Vec::new(); n];
    }
    // Sparse permutation: only displaced positions are stored.
    let mut moved: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    let mut out = Vec::with_capacity(n);
    let mut cur = Vec::with_capacity(per as usize);
    for t in 0..need {
        let j = t + (shard_draw(seed, t) % u128::from(s - t)) as u64;
        let vt = moved.get(&t).copied().unwrap_or(t);
        let vj = moved.get(&j).copied().unwrap_or(j);
        moved.insert(j, vt);
        moved.insert(t, vj);
        cur.push(vj as u32);
        if cur.len() == per as usize {
            cur.sort_unstable();
            out.push(std::mem::take(&mut cur));
        }
    }
    while out.len() < n {
        out.push(Vec::new());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_frequency_is_proportional_to_stake() {
        // Two candidates with stake 3:1, one seat, 4000 seeds: expect ~75 % for the heavy one.
        let cands = [(Address([1; 20]), 3u128), (Address([2; 20]), 1u128)];
        let mut heavy = 0;
        for i in 0..4000u32 {
            let seed = Hash(keccak256(&i.to_be_bytes()));
            if select(&seed, &cands, 1)[0] == Address([1; 20]) {
                heavy += 1;
            }
        }
        assert!((2850..=3150).contains(&heavy), "heavy selected {heavy} / 4000");
    }

    #[test]
    fn shards_never_overlap_and_stay_in_range() {
        let a = shard_assignment(&Hash([3; 32]), 10, 50, 5);
        let mut all: Vec<u32> = a.iter().flatten().copied().collect();
        assert_eq!(all.len(), 50);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(shard_assignment(&Hash([3; 32]), 11, 50, 5).iter().all(Vec::is_empty));
    }
}
