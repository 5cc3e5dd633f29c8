//! Pure, integer-only protocol math shared by the chain, the off-chain validator worker and the
//! auditor: round seeds, stake-weighted selection, shard assignment, weighted medians, Yuma-style
//! clipping, accepted sets, reward splits and DP accounting. No state, no floats
//! (`docs/learning.md` specifies every function).

use chorus_types::learning::{DpSettings, MICRO, RoundNo, TaskId};
use chorus_types::{Address, Amount, Hash, keccak256};

/// `ln 2` in Q64 fixed point (rounded down).
const LN2_Q64: u128 = 0xB172_17F7_D1CF_79AB;
/// Largest DP order α tried by the accountant (orders `2..=MAX_ORDER`).
pub const MAX_ORDER: u64 = 256;
/// Agreement and similar ratios are in parts per million.
pub const PPM: u64 = 1_000_000;

/// `(a · b) >> 64` for `a < 2^127`, `b < 2^64` without overflow.
fn mul_q64(a: u128, b: u128) -> u128 {
    let (ah, al) = (a >> 64, a & u128::from(u64::MAX));
    ah * b + ((al * b) >> 64)
}

/// `log2(x)` in Q64 fixed point for `x ≥ 1` (rounded down; error < 2^-56).
pub fn log2_q64(x: u128) -> u128 {
    if x == 0 {
        return 0;
    }
    let n = 127 - u128::from(x.leading_zeros());
    // Normalise to y ∈ [2^63, 2^64): y / 2^63 is the mantissa in [1, 2).
    let mut y = if n >= 63 { x >> (n - 63) } else { x << (63 - n) };
    let mut frac: u128 = 0;
    for i in 1..=64u32 {
        y = (y * y) >> 63;
        if y >= 1 << 64 {
            y >>= 1;
            frac |= 1u128 << (64 - i);
        }
    }
    (n << 64) | frac
}

/// `ln(x)` in Q64 fixed point for `x ≥ 1` (rounded down).
pub fn ln_q64(x: u128) -> u128 {
    mul_q64(log2_q64(x), LN2_Q64)
}

/// Full 256-bit product `a · b` as `(high, low)`.
pub fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    let m = u128::from(u64::MAX);
    let (a1, a0) = (a >> 64, a & m);
    let (b1, b0) = (b >> 64, b & m);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & m) + (p10 & m);
    let lo = (p00 & m) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `floor(a · b / d)` exactly (256-bit intermediate); `None` if `d == 0` or the result does not
/// fit in `u128`. One implementation for the whole chain: [`chorus_types::staking::mul_div`].
pub fn mul_div(a: u128, b: u128, d: u128) -> Option<u128> {
    chorus_types::staking::mul_div(a, b, d)
}

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
    /// Position of its commit in tx order within the round (first committer wins duplicates).
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
/// `≥ threshold` (the chain requires `threshold ≥ 1`), minus copies — when several reveals carry
/// the same `update_id`, only the one with the smallest `commit_seq` can be accepted.
pub fn accepted_set(
    updates: &[RevealedUpdate],
    consensus: &Consensus,
    threshold: i64,
) -> Vec<AcceptedUpdate> {
    let mut first: std::collections::BTreeMap<Hash, u32> = std::collections::BTreeMap::new();
    for u in updates {
        let e = first.entry(u.update_id).or_insert(u.commit_seq);
        *e = (*e).min(u.commit_seq);
    }
    updates
        .iter()
        .enumerate()
        .filter(|(j, u)| {
            let c = consensus.consensus.get(*j).copied().unwrap_or(i64::MIN);
            c >= threshold && first.get(&u.update_id) == Some(&u.commit_seq)
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

/// How one round's reward is paid.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RewardSplit {
    /// Participant payouts (accepted-set order; zero payouts omitted).
    pub participants: Vec<(Address, Amount)>,
    /// Validator payouts (input order; zero payouts omitted).
    pub validators: Vec<(Address, Amount)>,
    /// Not paid (integer-division remainders, empty weights): stays in escrow.
    pub returned: Amount,
}

/// Splits `reward`: `V = ⌊reward · share_bps / 10 000⌋` to validators by `power · agreement`,
/// `P = reward − V` to accepted updates by clipped weight; every payout is
/// `⌊pool · w / Σw⌋`, so `Σ payouts ≤ reward` and the remainder is `returned`.
pub fn split_rewards(
    reward: Amount,
    validator_share_bps: u16,
    accepted: &[AcceptedUpdate],
    validators: &[(Address, u64, u64)],
) -> RewardSplit {
    let v_pool = mul_div(reward, u128::from(validator_share_bps.min(10_000)), 10_000).unwrap_or(0);
    let p_pool = reward - v_pool;
    let mut out = RewardSplit::default();
    let mut paid: Amount = 0;
    let total_w: u128 = accepted.iter().fold(0u128, |a, u| a.saturating_add(u.weight));
    if total_w > 0 {
        for u in accepted {
            let amt = mul_div(p_pool, u.weight, total_w).unwrap_or(0);
            if amt > 0 {
                paid += amt;
                out.participants.push((u.participant, amt));
            }
        }
    }
    let vw: Vec<u128> =
        validators.iter().map(|(_, p, a)| u128::from(*p) * u128::from(*a)).collect();
    let total_vw: u128 = vw.iter().fold(0u128, |a, w| a.saturating_add(*w));
    if total_vw > 0 {
        for ((addr, _, _), w) in validators.iter().zip(&vw) {
            let amt = mul_div(v_pool, *w, total_vw).unwrap_or(0);
            if amt > 0 {
                paid += amt;
                out.validators.push((*addr, amt));
            }
        }
    }
    out.returned = reward - paid;
    out
}

/// `ln(1/δ)` in micro-units, rounded up, for `δ = delta_atto / 10^18`.
pub fn ln_inv_delta_micro(delta_atto: u64) -> u64 {
    let l2 = log2_q64(u128::from(chorus_types::learning::ATTO))
        .saturating_sub(log2_q64(u128::from(delta_atto.max(1))));
    let ln = mul_q64(l2, LN2_Q64);
    // +1 covers the truncation of the fixed-point logarithms.
    (((ln * u128::from(MICRO)) >> 64) + 1) as u64
}

/// ε (micro-units, rounded up) spent after `rounds` releases of the subsampled Gaussian
/// mechanism, by the RDP accountant over integer orders `α ∈ 2..=256`:
/// `ε = min_α ( rounds · ρ(α) + ln(1/δ) / (α − 1) )`, with
/// `ρ(α) = α · min(1/2, 2q²) / σ²` (the plain Gaussian bound `α/(2σ²)`, or the small-q
/// subsampling bound `2q²α/σ²` when smaller). Zero rounds cost zero.
pub fn dp_epsilon_micro(dp: &DpSettings, rounds: u64) -> u64 {
    if rounds == 0 {
        return 0;
    }
    let sigma = u128::from(dp.noise_multiplier_micro.max(1));
    let q = u128::from(dp.sample_rate_micro.min(MICRO));
    let m = (2 * q * q).min(500_000_000_000); // min(2q², 1/2) in units of 1e-12
    let ln_inv = u128::from(ln_inv_delta_micro(dp.delta_atto));
    let mut best = u128::MAX;
    for alpha in 2..=u128::from(MAX_ORDER) {
        // rounds · α · m · 1e-12 / (σ_u² · 1e-12) in micro-units.
        let num = u128::from(rounds)
            .saturating_mul(alpha)
            .saturating_mul(m)
            .saturating_mul(u128::from(MICRO));
        let rdp = num.div_ceil(sigma * sigma);
        let conv = ln_inv.div_ceil(alpha - 1);
        best = best.min(rdp.saturating_add(conv));
    }
    u64::try_from(best).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_and_ln_are_accurate() {
        assert_eq!(log2_q64(1), 0);
        assert_eq!(log2_q64(1 << 40), 40u128 << 64);
        // ln(10^18) = 41.446531673892822...
        let ln = ln_q64(1_000_000_000_000_000_000);
        let micro = (ln * 1_000_000) >> 64;
        assert_eq!(micro, 41_446_531);
        // ln(3) = 1.0986122886681098
        assert_eq!((ln_q64(3) * 1_000_000_000) >> 64, 1_098_612_288);
    }

    #[test]
    fn mul_div_matches_small_cases_and_handles_wide_products() {
        assert_eq!(mul_div(10, 3, 4), Some(7));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 4), Some(u128::MAX / 2));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        assert_eq!(mul_div(1, 1, 0), None);
    }

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

    #[test]
    fn dp_epsilon_grows_with_rounds_and_matches_closed_form() {
        let dp = DpSettings {
            epsilon_budget_micro: 10 * MICRO,
            delta_atto: 10_000_000_000_000, // 1e-5
            noise_multiplier_micro: MICRO,  // σ = 1
            sample_rate_micro: MICRO,       // q = 1 → ρ(α) = α/2
        };
        // Gaussian, T = 1: min_α α/2 + ln(1e5)/(α−1); ln(1e5) = 11.5129 → α = 6: 3 + 2.3026.
        let e1 = dp_epsilon_micro(&dp, 1);
        assert!((5_302_000..5_303_000).contains(&e1), "{e1}");
        assert!(dp_epsilon_micro(&dp, 2) > e1);
        assert_eq!(dp_epsilon_micro(&dp, 0), 0);
    }

    #[test]
    fn reward_split_conserves_the_reward() {
        let acc = vec![
            AcceptedUpdate {
                participant: Address([1; 20]),
                update_id: Hash([1; 32]),
                num_examples: 1,
                consensus: 3,
                weight: 3,
            },
            AcceptedUpdate {
                participant: Address([2; 20]),
                update_id: Hash([2; 32]),
                num_examples: 1,
                consensus: 1,
                weight: 1,
            },
        ];
        let vals = [(Address([9; 20]), 1, PPM), (Address([8; 20]), 1, PPM / 2)];
        let s = split_rewards(1001, 1000, &acc, &vals);
        // V = 100 (2:1 → 66, 33), P = 901 (3:1 → 675, 225), returned = 1001 − 999 = 2.
        assert_eq!(s.participants, vec![(Address([1; 20]), 675), (Address([2; 20]), 225)]);
        assert_eq!(s.validators, vec![(Address([9; 20]), 66), (Address([8; 20]), 33)]);
        assert_eq!(s.returned, 2);
    }
}
