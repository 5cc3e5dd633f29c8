//! Proposer selection weighted by voting power.
//!
//! Every node derives the same schedule from the validator set alone, so selection needs no
//! state beyond the set Malachite already agrees on. The schedule is one cycle of *smooth
//! weighted round-robin* (the algorithm behind Tendermint's proposer priority, without the
//! carried state): each step every validator's credit grows by its weight, the one with the most
//! credit proposes (ties: the earlier validator in set order) and pays back the total weight.
//! Over a cycle each validator proposes exactly `weight` times, and its turns are spread evenly
//! rather than bunched. The proposer of `(height, round)` is the schedule's slot
//! `(height + round) mod cycle length`.
//!
//! Weights are the powers divided by their greatest common divisor, so equal powers give plain
//! round-robin in set order (exactly the old `(height + round) mod n`). When the total power
//! exceeds [`MAX_SLOTS`], weights are scaled down to at most [`MAX_SLOTS`] slots, rounding down:
//! a validator with less than `1 / MAX_SLOTS` of the power never proposes, so nobody gets more
//! than its share of turns (and of propose timeouts, if it is offline).
//!
//! Must not: depend on clocks, randomness or anything outside the validator set.

/// Upper bound on the schedule's length (one cycle).
pub(crate) const MAX_SLOTS: u64 = 1 << 14;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Proposing weights for `powers` (in set order): powers reduced to at most [`MAX_SLOTS`] in
/// total, then divided by their greatest common divisor.
pub(crate) fn weights(powers: &[u64]) -> Vec<u64> {
    let total: u128 = powers.iter().map(|&p| u128::from(p)).sum();
    let scaled: Vec<u64> = if total <= u128::from(MAX_SLOTS) {
        powers.to_vec()
    } else {
        powers.iter().map(|&p| (u128::from(p) * u128::from(MAX_SLOTS) / total) as u64).collect()
    };
    let g = scaled.iter().fold(0, |g, &w| gcd(g, w));
    if g == 0 {
        return scaled;
    }
    scaled.into_iter().map(|w| w / g).collect()
}

/// One cycle of smooth weighted round-robin over `powers` (in set order): the index of the
/// proposer of each slot. Empty when no validator has weight.
pub(crate) fn schedule(powers: &[u64]) -> Vec<u32> {
    let weights = weights(powers);
    let total: u64 = weights.iter().sum();
    let mut credit: Vec<i128> = vec![0; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0usize;
        for (i, w) in weights.iter().enumerate() {
            credit[i] += i128::from(*w);
            if credit[i] > credit[best] {
                best = i;
            }
        }
        credit[best] -= i128::from(total);
        out.push(best as u32);
    }
    out
}

/// Index (in set order) of the proposer of `(height, round)` under `schedule`.
pub(crate) fn proposer_at(schedule: &[u32], height: u64, round: u32) -> Option<usize> {
    if schedule.is_empty() {
        return None;
    }
    let slot = (u128::from(height) + u128::from(round)) % schedule.len() as u128;
    Some(schedule[slot as usize] as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(powers: &[u64], heights: u64) -> Vec<u64> {
        let s = schedule(powers);
        let mut c = vec![0; powers.len()];
        for h in 0..heights {
            c[proposer_at(&s, h, 0).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn equal_powers_give_plain_round_robin_in_set_order() {
        let s = schedule(&[7, 7, 7, 7]);
        assert_eq!(s, vec![0, 1, 2, 3]);
        for h in 0..40u64 {
            for r in 0..5u32 {
                assert_eq!(proposer_at(&s, h, r), Some(((h + u64::from(r)) % 4) as usize));
            }
        }
    }

    #[test]
    fn each_validator_proposes_in_proportion_to_its_power_over_many_heights() {
        let powers = [500, 300, 150, 49, 1];
        let heights = 100_000;
        let c = counts(&powers, heights);
        let total: u64 = powers.iter().sum();
        for (p, n) in powers.iter().zip(&c) {
            let expected = heights * p / total;
            assert!(n.abs_diff(expected) <= 1, "power {p}: {n} turns, expected {expected}");
        }
    }

    #[test]
    fn a_power_one_validator_among_large_ones_never_gets_more_than_its_share() {
        // 96 validators of power 1 next to 4 of power 10^9: the small ones hold ~2.4e-8 of the
        // power and get no turn at all (the old round-robin gave them 96 %).
        let mut powers = vec![1_000_000_000; 4];
        powers.extend(std::iter::repeat_n(1, 96));
        let c = counts(&powers, 50_000);
        assert!(c[4..].iter().all(|&n| n == 0), "{c:?}");
        assert!(c[..4].iter().all(|&n| n == 12_500), "{c:?}");
    }

    #[test]
    fn turns_are_spread_evenly_rather_than_bunched() {
        // Weight 1 of 4: exactly one turn in every window of 4 heights.
        let s = schedule(&[3, 1]);
        assert_eq!(s.iter().filter(|&&i| i == 1).count(), 1);
        assert_eq!(s.len(), 4);
        // Two equal heavy validators alternate instead of proposing twice in a row.
        let s = schedule(&[2, 2, 1]);
        assert_eq!(s.len(), 5);
        for w in s.windows(2) {
            assert!(!(w[0] == w[1] && w[0] < 2), "{s:?}");
        }
    }

    #[test]
    fn large_total_power_is_scaled_to_at_most_max_slots() {
        let powers = [u64::MAX / 4, u64::MAX / 4, u64::MAX / 8];
        let s = schedule(&powers);
        assert!(!s.is_empty() && s.len() as u64 <= MAX_SLOTS);
        let c = counts(&powers, s.len() as u64);
        assert_eq!(c[0], c[1]);
        assert!(c[0].abs_diff(2 * c[2]) <= 2, "{c:?}");
    }

    #[test]
    fn the_schedule_is_a_pure_function_of_the_powers() {
        let powers = [13, 8, 5, 3, 2, 1, 1];
        assert_eq!(schedule(&powers), schedule(&powers));
        assert_eq!(proposer_at(&[], 5, 0), None);
        assert!(schedule(&[]).is_empty());
        assert_eq!(proposer_at(&schedule(&[1]), u64::MAX, u32::MAX), Some(0));
    }
}
