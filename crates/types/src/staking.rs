//! Staking, slashing, distribution and governance types: messages, parameters, fixed-point
//! decimals and the canonical consensus-vote sign bytes used by double-sign evidence
//! (`docs/staking.md`).
//!
//! Everything here is hashed or signed (messages) or stored (params): borsh, integers only.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Address, Amount, ConsensusKeyBytes, Hash, Height};

/// A non-negative fixed-point decimal with 18 fractional digits (`Dec(10^18)` = 1.0).
///
/// JSON form: a decimal string (`"0.05"`); on input at most 18 fractional digits.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Dec(pub u128);

impl Dec {
    /// 10^18: the raw value of 1.0.
    pub const SCALE: u128 = 1_000_000_000_000_000_000;
    /// 0.
    pub const ZERO: Dec = Dec(0);
    /// 1.0.
    pub const ONE: Dec = Dec(Dec::SCALE);

    /// `n / d` as a decimal, rounded down (`None` if `d == 0` or it overflows).
    pub fn ratio(n: u128, d: u128) -> Option<Dec> {
        mul_div(n, Dec::SCALE, d).map(Dec)
    }

    /// `units / 10^4` (basis points).
    pub const fn from_bps(bps: u64) -> Dec {
        Dec(bps as u128 * (Dec::SCALE / 10_000))
    }

    /// `amount × self`, rounded down (`None` on overflow).
    pub fn mul_floor(self, amount: u128) -> Option<u128> {
        mul_div(amount, self.0, Dec::SCALE)
    }

    /// `amount × self`, rounded up (`None` on overflow).
    pub fn mul_ceil(self, amount: u128) -> Option<u128> {
        mul_div_ceil(amount, self.0, Dec::SCALE)
    }

    /// `1 − self`, saturating at 0.
    pub fn one_minus(self) -> Dec {
        Dec(Dec::SCALE.saturating_sub(self.0))
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let int = self.0 / Dec::SCALE;
        let frac = self.0 % Dec::SCALE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let s = format!("{frac:018}");
        write!(f, "{int}.{}", s.trim_end_matches('0'))
    }
}

impl std::str::FromStr for Dec {
    type Err = String;
    fn from_str(s: &str) -> Result<Dec, String> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || (!frac.is_empty() && !digits(frac)) || s.ends_with('.') {
            return Err(format!("invalid decimal {s:?}"));
        }
        if frac.len() > 18 {
            return Err(format!("more than 18 fractional digits in {s:?}"));
        }
        let i: u128 = int.parse().map_err(|_| format!("invalid decimal {s:?}"))?;
        let mut f: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| "bad")? };
        for _ in frac.len()..18 {
            f *= 10;
        }
        i.checked_mul(Dec::SCALE)
            .and_then(|v| v.checked_add(f))
            .map(Dec)
            .ok_or_else(|| format!("decimal {s:?} overflows"))
    }
}

impl Serialize for Dec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dec, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `(a × b) / c` rounded down with a 256-bit intermediate (`None` if `c == 0` or the result
/// overflows `u128`).
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    if c == 0 {
        return None;
    }
    let (hi, lo) = mul_wide(a, b);
    if hi >= c {
        return None;
    }
    // Long division of the 256-bit (hi, lo) by c, bit by bit (hi < c keeps the quotient in u128).
    let mut rem = hi;
    let mut q: u128 = 0;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            q |= 1;
        }
    }
    Some(q)
}

/// `(a × b) / c` rounded up (`None` if `c == 0` or it overflows).
pub fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    let q = mul_div(a, b, c)?;
    let (hi, lo) = mul_wide(a, b);
    let (phi, plo) = mul_wide(q, c);
    if (phi, plo) == (hi, lo) { Some(q) } else { q.checked_add(1) }
}

fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let mask = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & mask);
    let (b1, b0) = (b >> 64, b & mask);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
    let lo = (p00 & mask) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// Validator description (free text, bounded lengths: name ≤ 70, website ≤ 140, details ≤ 280
/// bytes).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(default)]
pub struct Description {
    /// Display name.
    pub name: String,
    /// Website URL.
    pub website: String,
    /// Free-form description.
    pub details: String,
}

impl Description {
    /// Whether every field is within its length bound.
    pub fn is_valid(&self) -> bool {
        self.name.len() <= 70 && self.website.len() <= 140 && self.details.len() <= 280
    }
}

/// Commission rates at creation.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct CommissionRates {
    /// Current rate.
    pub rate: Dec,
    /// Upper bound for `rate`, fixed forever.
    pub max_rate: Dec,
    /// Largest change of `rate` per commission-change period, fixed forever.
    pub max_change_rate: Dec,
}

/// Consensus vote kind.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteType {
    /// Prevote (index 0).
    Prevote,
    /// Precommit (index 1).
    Precommit,
}

/// A consensus vote as signed by a validator's consensus key.
///
/// **Sign bytes** ([`Vote::sign_bytes`]): `b"chorus/vote/v1" ‖ chain_id u64 LE ‖ borsh(Vote)`.
/// This is the canonical format defined by Chorus; the consensus adapter must sign exactly these
/// bytes for evidence from Malachite to be re-verifiable on chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Vote {
    /// Height voted on.
    pub height: Height,
    /// Round.
    pub round: u32,
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// The value (block hash) voted for; `None` is a nil vote.
    pub value_id: Option<Hash>,
    /// The voter's consensus public key.
    #[serde(with = "hex_bytes32")]
    pub validator: ConsensusKeyBytes,
}

/// Domain tag of [`Vote::sign_bytes`].
pub const VOTE_SIGN_DOMAIN: &[u8] = b"chorus/vote/v1";

impl Vote {
    /// The bytes the consensus key signs.
    pub fn sign_bytes(&self, chain_id: u64) -> Vec<u8> {
        let mut b = VOTE_SIGN_DOMAIN.to_vec();
        b.extend_from_slice(&chain_id.to_le_bytes());
        b.extend_from_slice(&borsh::to_vec(self).unwrap_or_default());
        b
    }
}

/// A vote with its ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// ed25519 signature over [`Vote::sign_bytes`].
    #[serde(with = "hex_bytes64")]
    pub signature: [u8; 64],
}

/// Two conflicting votes by one key: same height, round and type, different values.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DoubleSignEvidence {
    /// First vote.
    pub a: SignedVote,
    /// Second vote.
    pub b: SignedVote,
}

/// Messages of the staking component (`Msg::Staking`, index 3). Append only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingMsg {
    /// Create a validator operated by the sender (index 0).
    CreateValidator {
        /// ed25519 consensus public key.
        #[serde(with = "hex_bytes32")]
        consensus_key: ConsensusKeyBytes,
        /// Proof of possession: the consensus key's signature over `operator ‖ chain_id u64 LE`
        /// (see [`pop_bytes`]).
        #[serde(with = "hex_bytes64")]
        pop: [u8; 64],
        /// Initial self-delegation, taken from the sender.
        #[serde(with = "crate::amount_serde")]
        self_delegation: Amount,
        /// Minimum self-delegation (below it the validator is jailed).
        #[serde(with = "crate::amount_serde")]
        min_self_delegation: Amount,
        /// Commission rates.
        commission: CommissionRates,
        /// Description.
        description: Description,
    },
    /// Edit the sender's validator (index 1).
    EditValidator {
        /// New description, if any.
        description: Option<Description>,
        /// New commission rate, if any.
        commission_rate: Option<Dec>,
        /// New (higher) minimum self-delegation, if any.
        #[serde(default, with = "opt_amount")]
        min_self_delegation: Option<Amount>,
    },
    /// Delegate `amount` to `validator` (index 2).
    Delegate {
        /// Validator operator.
        validator: Address,
        /// Tokens.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
    /// Undelegate `amount` tokens' worth of shares from `validator` (index 3).
    Undelegate {
        /// Validator operator.
        validator: Address,
        /// Tokens.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
    /// Cancel (part of) an unbonding entry, delegating it back (index 4).
    CancelUnbonding {
        /// Validator operator.
        validator: Address,
        /// Tokens to put back.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
        /// Creation height of the entry.
        creation_height: Height,
    },
    /// Move `amount` tokens' worth of delegation from `src` to `dst` (index 5).
    Redelegate {
        /// Source validator.
        src: Address,
        /// Destination validator.
        dst: Address,
        /// Tokens.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
    /// Withdraw the sender's delegation rewards from `validator` (index 6).
    WithdrawRewards {
        /// Validator operator.
        validator: Address,
    },
    /// Withdraw the sender's validator commission (index 7).
    WithdrawCommission,
    /// Unjail the sender's validator (index 8).
    Unjail,
    /// Submit double-sign evidence (anyone) (index 9).
    SubmitEvidence {
        /// The conflicting votes.
        evidence: DoubleSignEvidence,
    },
}

/// The bytes a consensus key signs as proof of possession in `CreateValidator`:
/// `b"chorus/pop/v1" ‖ operator (20 bytes) ‖ chain_id u64 LE`.
pub fn pop_bytes(operator: &Address, chain_id: u64) -> Vec<u8> {
    let mut b = b"chorus/pop/v1".to_vec();
    b.extend_from_slice(&operator.0);
    b.extend_from_slice(&chain_id.to_le_bytes());
    b
}

/// Governance vote option.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum VoteOption {
    /// Yes (index 0).
    Yes,
    /// No (index 1).
    No,
    /// Abstain (index 2).
    Abstain,
    /// No with veto (index 3).
    Veto,
}

/// One parameter change: `key` names a field (`"staking.unbonding_time_ms"`), `value` is its
/// decimal string (integers or [`Dec`]s). The list of keys is in `docs/staking.md`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ParamChange {
    /// Parameter key.
    pub key: String,
    /// New value.
    pub value: String,
}

/// Messages of the governance component (`Msg::Gov`, index 4). Append only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovMsg {
    /// Propose parameter changes with an initial deposit (index 0).
    SubmitProposal {
        /// Title.
        title: String,
        /// Changes applied together if the proposal passes.
        changes: Vec<ParamChange>,
        /// Initial deposit.
        #[serde(with = "crate::amount_serde")]
        deposit: Amount,
    },
    /// Add a deposit (index 1).
    Deposit {
        /// Proposal id.
        proposal: u64,
        /// Tokens.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
    /// Vote (index 2); a later vote replaces an earlier one.
    Vote {
        /// Proposal id.
        proposal: u64,
        /// Option.
        option: VoteOption,
    },
}

/// Parameters of the staking component.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StakingParams {
    /// Unbonding period in ms (default 21 days).
    pub unbonding_time_ms: u64,
    /// Size of the active set.
    pub max_validators: u32,
    /// Most unbonding / redelegation entries per pair.
    pub max_entries: u32,
    /// Lowest commission rate.
    pub min_commission_rate: Dec,
    /// The commission "day": least time between commission changes, ms (default 24 h).
    pub commission_change_period_ms: u64,
    /// Least self-delegation (tokens the operator's own delegation is worth) to create a
    /// validator and to be in the active set (default [`DEFAULT_MIN_SELF_DELEGATION`]). A
    /// validator whose operator's stake falls below it (undelegation, slash) leaves the set.
    #[serde(with = "crate::amount_serde")]
    pub min_self_delegation: Amount,
    /// Most validators stored at once, whatever their status (default 1 000 = 10 × the active
    /// set): `CreateValidator` is refused beyond it, which bounds the validator-set update.
    pub max_candidates: u32,
}

/// Default [`StakingParams::min_self_delegation`]: 10^9 base units, 0.1 % of the stake `chorus
/// init` gives each genesis validator (10^12). 100 seats then cost at least 10^11 (C1: a seat
/// used to cost 1 unit).
pub const DEFAULT_MIN_SELF_DELEGATION: Amount = 1_000_000_000;

/// The shortest block interval the protocol enforces: a block's time must be after its
/// parent's, i.e. at least 1 ms later. Parameter cross-checks that turn a number of blocks into
/// time use it (`unbonding_time_ms > max_evidence_age_blocks × MIN_BLOCK_TIME_MS`).
pub const MIN_BLOCK_TIME_MS: u64 = 1;

impl Default for StakingParams {
    fn default() -> Self {
        StakingParams {
            unbonding_time_ms: 21 * 86_400_000,
            max_validators: 100,
            max_entries: 7,
            min_commission_rate: Dec::ZERO,
            commission_change_period_ms: 86_400_000,
            min_self_delegation: DEFAULT_MIN_SELF_DELEGATION,
            max_candidates: 1_000,
        }
    }
}

/// Parameters of liveness and double-sign slashing.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlashingParams {
    /// Blocks in the liveness window.
    pub signed_blocks_window: u64,
    /// Fraction of the window a validator must sign.
    pub min_signed_per_window: Dec,
    /// Jail time after downtime, ms.
    pub downtime_jail_duration_ms: u64,
    /// Slash for double signing.
    pub slash_fraction_double_sign: Dec,
    /// Slash for downtime.
    pub slash_fraction_downtime: Dec,
    /// Slash for an objective protocol fault reported by another component.
    pub slash_fraction_fault: Dec,
    /// Evidence older than this many blocks is refused.
    pub max_evidence_age_blocks: u64,
}

impl Default for SlashingParams {
    fn default() -> Self {
        SlashingParams {
            signed_blocks_window: 100,
            min_signed_per_window: Dec(Dec::SCALE / 2),
            downtime_jail_duration_ms: 600_000,
            slash_fraction_double_sign: Dec(Dec::SCALE / 20),
            slash_fraction_downtime: Dec(Dec::SCALE / 100),
            slash_fraction_fault: Dec(Dec::SCALE / 100),
            max_evidence_age_blocks: 100_000,
        }
    }
}

/// Parameters of reward distribution.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionParams {
    /// Tokens minted per block as staking reward (0 = no inflation).
    #[serde(with = "crate::amount_serde")]
    pub block_reward: Amount,
    /// Share of rewards sent to the community pool.
    pub community_tax: Dec,
}

impl Default for DistributionParams {
    fn default() -> Self {
        DistributionParams { block_reward: 0, community_tax: Dec(Dec::SCALE / 50) }
    }
}

/// Parameters of governance.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovParams {
    /// Deposit needed to enter the voting period.
    #[serde(with = "crate::amount_serde")]
    pub min_deposit: Amount,
    /// Longest deposit period, ms.
    pub max_deposit_period_ms: u64,
    /// Voting period, ms.
    pub voting_period_ms: u64,
    /// Least share of bonded stake that must vote.
    pub quorum: Dec,
    /// Share of non-abstaining votes that must be yes.
    pub threshold: Dec,
    /// Share of veto votes that rejects and burns deposits.
    pub veto_threshold: Dec,
    /// Share of `min_deposit` a `SubmitProposal` must deposit itself; every later `Deposit`
    /// must add at least as much, or what is still missing (default 0.25, at least 0.01).
    pub min_initial_deposit_ratio: Dec,
    /// Most proposals in their deposit or voting period at once (default 100).
    pub max_active_proposals: u32,
}

/// Default [`GovParams::min_deposit`]: 10^9 base units, like a validator seat
/// ([`DEFAULT_MIN_SELF_DELEGATION`]); refunded unless vetoed.
pub const DEFAULT_MIN_DEPOSIT: Amount = 1_000_000_000;

impl Default for GovParams {
    fn default() -> Self {
        GovParams {
            min_deposit: DEFAULT_MIN_DEPOSIT,
            max_deposit_period_ms: 2 * 86_400_000,
            voting_period_ms: 2 * 86_400_000,
            quorum: Dec(Dec::SCALE * 334 / 1000),
            threshold: Dec(Dec::SCALE / 2),
            veto_threshold: Dec(Dec::SCALE * 334 / 1000),
            min_initial_deposit_ratio: Dec(Dec::SCALE / 4),
            max_active_proposals: 100,
        }
    }
}

mod opt_amount {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Amount;

    #[derive(Deserialize)]
    struct W(#[serde(with = "crate::amount_serde")] Amount);

    pub(crate) fn serialize<S: Serializer>(v: &Option<Amount>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

mod hex_bytes32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{}", hex::encode(v)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(&s), &mut out)
            .map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

mod hex_bytes64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{}", hex::encode(v)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(&s), &mut out)
            .map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul_div_matches_u128_math_and_handles_wide_products() {
        assert_eq!(mul_div(7, 9, 4), Some(15));
        assert_eq!(mul_div_ceil(7, 9, 4), Some(16));
        assert_eq!(mul_div_ceil(8, 9, 4), Some(18));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 3, 2), None);
        assert_eq!(mul_div(1, 1, 0), None);
        assert_eq!(mul_div(1 << 100, 1 << 100, 1 << 90), Some(1 << 110));
    }

    #[test]
    fn dec_parses_and_prints_decimal_strings() {
        let d: Dec = "0.05".parse().unwrap();
        assert_eq!(d, Dec(Dec::SCALE / 20));
        assert_eq!(d.to_string(), "0.05");
        assert_eq!("1".parse::<Dec>().unwrap(), Dec::ONE);
        assert!("1.".parse::<Dec>().is_err());
        assert!("-1".parse::<Dec>().is_err());
        assert!("0.0000000000000000001".parse::<Dec>().is_err());
        assert_eq!(Dec::from_bps(250), "0.025".parse().unwrap());
        assert_eq!(d.mul_floor(1000), Some(50));
    }
}
