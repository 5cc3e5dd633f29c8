//! Scoring a round: the stake-weighted median of the validators' score vectors (the consensus
//! score of every update), Yuma-style clipping of scores above consensus into reward weights, each
//! validator's agreement with consensus, and the accepted set with its hash (threshold; copies
//! earn nothing). Pure and integer-only, shared by the chain, the validator worker and
//! the auditor (`docs/learning.md`).

use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Hash, keccak256};

use super::fixed::mul_div;

/// Agreement and similar ratios are in parts per million.
pub const PPM: u64 = 1_000_000;

/// Stake-weighted lower median: sorts `(score, power)` by score and returns the smallest score at
/// which the cumulative power reaches half of the total (`2 · cum ≥ total`). `None` if the total
/// power is zero.
pub fn weighted_median(pairs: &mut [(i64, u64)]) -> Option<i64> {
    let total: u128 = pairs.iter().map(|p| u128::from(p.1)).sum();
    if total == 0 {
        return None;
    }
    pairs.sort_unstable();
    let mut cum: u128 = 0;
    for (s, p) in pairs.iter() {
        cum += u128::from(*p);
        if 2 * cum >= total {
            return Some(*s);
        }
    }
    pairs.last().map(|p| p.0)
}

/// One revealed update as the scoring functions see it (canonical order: by participant address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevealedUpdate {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Position of its commit in tx order within the round (informative only: duplicates are
    /// not resolved by commit order, see [`accepted_set`]).
    pub commit_seq: u32,
    /// Training examples.
    pub num_examples: u64,
}

/// Consensus over a round's score vectors.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Consensus {
    /// Per update (canonical order): stake-weighted median score.
    pub consensus: Vec<i64>,
    /// Per update: Yuma-clipped weight `Σ_v power_v · max(0, min(score_vj, consensus_j))`.
    pub weight: Vec<u128>,
    /// Per validator (input order): agreement with consensus in ppm,
    /// `Σ_j min(s⁺, c⁺) / Σ_j max(s⁺, c⁺)` (1 000 000 when both are empty).
    pub agreement_ppm: Vec<u64>,
}

/// Computes the consensus score of every update from the validators' score vectors
/// (`(power, scores)`, every vector of length `n`), the Yuma-clipped weights and each validator's
/// agreement. Validators whose vector has the wrong length are ignored (agreement 0).
pub fn consensus(n: usize, votes: &[(u64, &[i64])]) -> Consensus {
    let valid: Vec<bool> = votes.iter().map(|(p, s)| s.len() == n && *p > 0).collect();
    let mut out = Consensus {
        consensus: Vec::with_capacity(n),
        weight: Vec::with_capacity(n),
        agreement_ppm: vec![0; votes.len()],
    };
    let mut num = vec![0u128; votes.len()];
    let mut den = vec![0u128; votes.len()];
    let mut pairs = Vec::with_capacity(votes.len());
    for j in 0..n {
        pairs.clear();
        for (i, (p, s)) in votes.iter().enumerate() {
            if valid[i] {
                pairs.push((s[j], *p));
            }
        }
        let c = weighted_median(&mut pairs).unwrap_or(0);
        let cp = u128::from(c.max(0).unsigned_abs());
        let mut w: u128 = 0;
        for (i, (p, s)) in votes.iter().enumerate() {
            if !valid[i] {
                continue;
            }
            let sp = u128::from(s[j].max(0).unsigned_abs());
            // Yuma clipping: a score above consensus counts only up to consensus.
            let clipped = sp.min(cp);
            w = w.saturating_add(u128::from(*p).saturating_mul(clipped));
            num[i] = num[i].saturating_add(clipped);
            den[i] = den[i].saturating_add(sp.max(cp));
        }
        out.consensus.push(c);
        out.weight.push(w);
    }
    for i in 0..votes.len() {
        if valid[i] {
            out.agreement_ppm[i] = if den[i] == 0 {
                PPM
            } else {
                mul_div(num[i], u128::from(PPM), den[i]).unwrap_or(0) as u64
            };
        }
    }
    out
}

/// An update in the accepted set.
#[derive(Clone, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct AcceptedUpdate {
    /// Participant.
    pub participant: Address,
    /// Update blob id.
    pub update_id: Hash,
    /// Training examples (the aggregation weight of FedAvg-style rules).
    pub num_examples: u64,
    /// Consensus score.
    pub consensus: i64,
    /// Yuma-clipped reward weight.
    pub weight: u128,
}

/// The accepted set: revealed updates (canonical order) whose consensus score is
/// `≥ threshold` (the chain requires `threshold ≥ 1`), minus copies — an `update_id` revealed by
/// more than one participant is accepted for **none** of them (security review H5).
///
/// Why neither copy: participants commit to the content hash of an update they upload only
/// after the commit window has closed, so no honest participant can see another's update before
/// committing, and two commitments to the same blob mean collusion or a leak through a side
/// channel. The chain cannot tell who produced the blob (the store's upload signatures and
/// times are not consensus data, and commit order is the proposer's to choose), so it pays
/// neither: a copier never gains, and a leaking pair gains nothing.
pub fn accepted_set(
    updates: &[RevealedUpdate],
    consensus: &Consensus,
    threshold: i64,
) -> Vec<AcceptedUpdate> {
    let mut count: std::collections::BTreeMap<Hash, u32> = std::collections::BTreeMap::new();
    for u in updates {
        *count.entry(u.update_id).or_insert(0) += 1;
    }
    updates
        .iter()
        .enumerate()
        .filter(|(j, u)| {
            let c = consensus.consensus.get(*j).copied().unwrap_or(i64::MIN);
            c >= threshold && count.get(&u.update_id) == Some(&1)
        })
        .map(|(j, u)| AcceptedUpdate {
            participant: u.participant,
            update_id: u.update_id,
            num_examples: u.num_examples,
            consensus: consensus.consensus[j],
            weight: consensus.weight[j],
        })
        .collect()
}

/// `keccak256("chorus/accepted" ‖ task(u64 BE) ‖ round(u32 BE) ‖ n(u32 BE) ‖ for each accepted
/// update in order: participant(20) ‖ update_id(32) ‖ num_examples(u64 BE) ‖ consensus(i64 BE))`.
pub fn accepted_set_hash(task: TaskId, round: RoundNo, accepted: &[AcceptedUpdate]) -> Hash {
    let mut b = Vec::with_capacity(15 + 16 + accepted.len() * 68);
    b.extend_from_slice(b"chorus/accepted");
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    b.extend_from_slice(&(accepted.len() as u32).to_be_bytes());
    for a in accepted {
        b.extend_from_slice(&a.participant.0);
        b.extend_from_slice(&a.update_id.0);
        b.extend_from_slice(&a.num_examples.to_be_bytes());
        b.extend_from_slice(&a.consensus.to_be_bytes());
    }
    Hash(keccak256(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_median_follows_power() {
        let mut v = vec![(10, 1), (20, 1), (30, 5)];
        assert_eq!(weighted_median(&mut v), Some(30));
        let mut v = vec![(10, 3), (20, 1), (30, 2)];
        assert_eq!(weighted_median(&mut v), Some(10));
        let mut v = vec![(5, 1), (7, 1)];
        assert_eq!(weighted_median(&mut v), Some(5));
        assert_eq!(weighted_median(&mut []), None);
    }

    #[test]
    fn outlier_validator_is_clipped_and_agrees_less() {
        let honest = [100i64, 50, 0];
        let outlier = [1000i64, 1000, 1000];
        let votes: Vec<(u64, &[i64])> =
            vec![(1, &honest), (1, &honest), (1, &honest), (1, &outlier)];
        let c = consensus(3, &votes);
        assert_eq!(c.consensus, vec![100, 50, 0]);
        // Outlier's excess is clipped: weight = 4 · min(s, c).
        assert_eq!(c.weight, vec![400, 200, 0]);
        assert_eq!(c.agreement_ppm[0], PPM);
        assert_eq!(c.agreement_ppm[3], 150 * PPM / 3000);
    }
}
