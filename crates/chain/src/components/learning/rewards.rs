//! The reward split of a finalised round: the validators' share (`validator_share_bps`) by
//! `power × agreement`, the rest to the accepted updates by clipped weight, every payout rounded
//! down so the remainder stays in the task's escrow.

use chorus_types::{Address, Amount};

use super::fixed::mul_div;
use super::scoring::AcceptedUpdate;

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

#[cfg(test)]
mod tests {
    use chorus_types::Hash;

    use super::*;
    use crate::components::learning::scoring::PPM;

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
