//! Staking, slashing and F1 reward distribution (Cosmos SDK x/staking, x/slashing,
//! x/distribution semantics; `docs/staking.md`). Governance is in [`gov`].
//!
//! - Validators hold `tokens` and issue `shares`; a delegation owns shares, worth
//!   `shares × tokens / total shares` (rounded down). Slashing lowers `tokens` only.
//! - Bonded validators' tokens sit in the `bonded` pool; everybody else's, and every unbonding
//!   entry, in `not_bonded`. The active set (top `max_validators` by power, not jailed) is
//!   recomputed in `end_block`; [`validator_set`] returns it.
//! - Rewards: `block_reward` is minted into the `distribution` pool every block and joined by the
//!   fees the bank collected since the last block; both are taxed for the community pool and
//!   split by power over the previous block's set; per validator the
//!   commission is set aside and the rest accrues to delegators lazily (F1 periods, replayed
//!   across slashes).
//! - Liveness from `BlockContext::last_commit`, double-sign evidence ([`handle_evidence`]),
//!   objective faults from other components ([`handle_fault`]).

pub mod gov;
pub(crate) mod keys;

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::staking::{
    Dec, Description, DistributionParams, DoubleSignEvidence, SlashingParams, StakingMsg,
    StakingParams, mul_div, pop_bytes,
};
use chorus_types::{
    Address, Amount, ConsensusKeyBytes, Event, Genesis, Height, ValidatorInfo, ValidatorParams,
};

use crate::TxError;
use crate::block::BlockContext;
use crate::codec::{read, write};
use crate::components::validators::{MAX_TOTAL_POWER, power_of};
use crate::components::{TxContext, bank};
use crate::state::{StateDelta, StateRead};

/// Pool of bonded validators' tokens.
pub const BONDED_POOL: &str = bank::BONDED_POOL;
/// Pool of unbonding/unbonded validators' tokens and unbonding entries.
pub const NOT_BONDED_POOL: &str = "not_bonded";
/// Pool of undistributed rewards, commission and the community pool.
pub const DISTRIBUTION_POOL: &str = "distribution";
/// `jailed_until` of a tombstoned validator (never).
pub const JAILED_FOREVER: u64 = u64::MAX;

/// Why a staking or governance message was refused (codes 400–499).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingError {
    /// The sender already operates a validator (400).
    #[error("validator {0} already exists")]
    ValidatorExists(Address),
    /// The consensus key is used (or was tombstoned) (401).
    #[error("consensus key already in use")]
    ConsensusKeyInUse,
    /// Not an ed25519 point (402).
    #[error("invalid consensus key")]
    InvalidConsensusKey,
    /// The proof of possession does not verify (403).
    #[error("proof of possession does not verify")]
    BadProofOfPossession,
    /// Commission rates out of bounds (404).
    #[error("invalid commission: {0}")]
    InvalidCommission(&'static str),
    /// Commission changed less than a period ago (405).
    #[error("commission can change again at {next_ms}")]
    CommissionChangeTooSoon {
        /// Earliest time of the next change.
        next_ms: u64,
    },
    /// No such validator (406).
    #[error("unknown validator {0}")]
    UnknownValidator(Address),
    /// No delegation from the sender to that validator (407).
    #[error("no delegation to {0}")]
    NoDelegation(Address),
    /// Not enough delegated tokens (408).
    #[error("insufficient delegation: asked {asked}, have {have}")]
    InsufficientDelegation {
        /// Tokens asked for.
        asked: Amount,
        /// Tokens the delegation is worth.
        have: Amount,
    },
    /// The validator has shares but no tokens (fully slashed) (409).
    #[error("validator has no tokens left: invalid exchange rate")]
    InvalidExchangeRate,
    /// `max_entries` reached (410).
    #[error("too many unbonding/redelegation entries (max {0})")]
    TooManyEntries(u32),
    /// Redelegating from a validator the stake was redelegated into, before that matured (411).
    #[error("redelegation from {0} refused: an immature redelegation into it exists (no hopping)")]
    TransitiveRedelegation(Address),
    /// Source and destination are the same (412).
    #[error("cannot redelegate to the same validator")]
    SelfRedelegation,
    /// No unbonding entry at that height (413).
    #[error("no unbonding entry created at height {0}")]
    NoUnbondingEntry(Height),
    /// The validator is not jailed (414).
    #[error("validator is not jailed")]
    NotJailed,
    /// Jail time not over (415).
    #[error("validator jailed until {until_ms}")]
    StillJailed {
        /// End of the jail time.
        until_ms: u64,
    },
    /// Tombstoned validators cannot come back (416).
    #[error("validator is tombstoned")]
    Tombstoned,
    /// Self-delegation below the validator's minimum (417).
    #[error("self-delegation {have} below minimum {min}")]
    SelfDelegationTooLow {
        /// Minimum.
        min: Amount,
        /// Current.
        have: Amount,
    },
    /// Evidence does not prove double signing (418).
    #[error("invalid evidence: {0}")]
    InvalidEvidence(&'static str),
    /// Evidence older than `max_evidence_age_blocks` (419).
    #[error("evidence from height {height} is too old")]
    EvidenceTooOld {
        /// Infraction height.
        height: Height,
    },
    /// Description too long (420).
    #[error("description too long")]
    InvalidDescription,
    /// Minimum self-delegation may only grow, up to the current self-delegation (421).
    #[error("invalid min self-delegation: {0}")]
    InvalidMinSelfDelegation(&'static str),
    /// The validator is jailed (422).
    #[error("validator is jailed")]
    ValidatorJailed,
    /// No such proposal (450).
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    /// A parameter change does not parse or validate (451).
    #[error("invalid parameter change: {0}")]
    InvalidParamChange(String),
    /// The proposal is not open for deposits / votes (452).
    #[error("proposal {0} is not open for this")]
    ProposalClosed(u64),
    /// A proposal needs a title ≤ 140 bytes and 1–16 changes (453).
    #[error("invalid proposal: {0}")]
    InvalidProposal(&'static str),
}

impl StakingError {
    /// Stable numeric code.
    pub fn code(&self) -> u32 {
        use StakingError::*;
        match self {
            ValidatorExists(_) => 400,
            ConsensusKeyInUse => 401,
            InvalidConsensusKey => 402,
            BadProofOfPossession => 403,
            InvalidCommission(_) => 404,
            CommissionChangeTooSoon { .. } => 405,
            UnknownValidator(_) => 406,
            NoDelegation(_) => 407,
            InsufficientDelegation { .. } => 408,
            InvalidExchangeRate => 409,
            TooManyEntries(_) => 410,
            TransitiveRedelegation(_) => 411,
            SelfRedelegation => 412,
            NoUnbondingEntry(_) => 413,
            NotJailed => 414,
            StillJailed { .. } => 415,
            Tombstoned => 416,
            SelfDelegationTooLow { .. } => 417,
            InvalidEvidence(_) => 418,
            EvidenceTooOld { .. } => 419,
            InvalidDescription => 420,
            InvalidMinSelfDelegation(_) => 421,
            ValidatorJailed => 422,
            UnknownProposal(_) => 450,
            InvalidParamChange(_) => 451,
            ProposalClosed(_) => 452,
            InvalidProposal(_) => 453,
        }
    }
}

fn err(e: StakingError) -> TxError {
    TxError::Staking(e)
}

/// Validator status (Cosmos lifecycle Unbonded → Bonded → Unbonding → Unbonded).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum BondStatus {
    /// Not in the set, tokens free to leave immediately.
    Unbonded,
    /// Left the set, waiting `unbonding_time_ms`.
    Unbonding,
    /// In the active set.
    Bonded,
}

impl BondStatus {
    /// API form.
    pub fn as_str(&self) -> &'static str {
        match self {
            BondStatus::Unbonded => "unbonded",
            BondStatus::Unbonding => "unbonding",
            BondStatus::Bonded => "bonded",
        }
    }
}

/// Commission state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Commission {
    /// Current rate.
    pub rate: Dec,
    /// Maximum rate (fixed).
    pub max_rate: Dec,
    /// Maximum change per commission period (fixed).
    pub max_change_rate: Dec,
    /// Time of the last change.
    pub update_time_ms: u64,
}

/// A validator at `staking/val/<operator>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus key.
    pub consensus_key: ConsensusKeyBytes,
    /// Status.
    pub status: BondStatus,
    /// Jailed (excluded from the set until unjailed).
    pub jailed: bool,
    /// Tokens backing the shares.
    pub tokens: Amount,
    /// Shares issued to delegators.
    pub shares: Amount,
    /// Commission.
    pub commission: Commission,
    /// Minimum self-delegation.
    pub min_self_delegation: Amount,
    /// Description.
    pub description: Description,
    /// Height the validator started unbonding.
    pub unbonding_height: Height,
    /// When the unbonding completes.
    pub unbonding_time_ms: u64,
}

impl Validator {
    /// Tokens `shares` are worth, rounded down.
    pub fn tokens_from_shares(&self, shares: Amount) -> Amount {
        if shares == self.shares {
            return self.tokens;
        }
        mul_div(shares, self.tokens, self.shares).unwrap_or(0)
    }
}

/// A delegation at `staking/del/<delegator><validator>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Delegation {
    /// Shares (> 0; deleted at 0).
    pub shares: Amount,
}

/// An unbonding entry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UnbondingEntry {
    /// Height it was created.
    pub creation_height: Height,
    /// When it pays out.
    pub completion_time_ms: u64,
    /// Tokens at creation.
    pub initial_balance: Amount,
    /// Tokens now (after slashes).
    pub balance: Amount,
}

/// A redelegation entry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RedelegationEntry {
    /// Height it was created.
    pub creation_height: Height,
    /// When it matures.
    pub completion_time_ms: u64,
    /// Tokens moved.
    pub initial_balance: Amount,
    /// Destination shares created.
    pub shares_dst: Amount,
}

/// Liveness bookkeeping at `staking/sign/<operator>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SigningInfo {
    /// Height liveness tracking (re)started.
    pub start_height: Height,
    /// Blocks seen in the window so far.
    pub index_offset: u64,
    /// Missed blocks in the window.
    pub missed_blocks: u64,
    /// Jailed until (ms).
    pub jailed_until_ms: u64,
    /// Double-signed: never again.
    pub tombstoned: bool,
    /// One bit per window slot, 1 = missed.
    pub bitmap: Vec<u8>,
}

/// Distribution state of a validator at `dist/val/<operator>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorRewards {
    /// Rewards allocated and not yet paid (commission included).
    pub outstanding: Amount,
    /// Accumulated commission.
    pub commission: Amount,
    /// Delegator rewards of the current period.
    pub current: Amount,
    /// Current period (starts at 1).
    pub period: u64,
}

/// Starting point of a delegation's rewards at `dist/start/<delegator><validator>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StartInfo {
    /// Last ended period before the delegation (re)started.
    pub previous_period: u64,
    /// Tokens at that point.
    pub stake: Amount,
    /// Height.
    pub height: Height,
}

/// Cumulative reward counters at `dist/totals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RewardTotals {
    /// Rewards minted since genesis.
    pub minted: Amount,
    /// Rewards and commission paid out.
    pub paid: Amount,
    /// Transaction fees distributed since genesis (collected by the bank, allocated like rewards).
    pub fees: Amount,
}

// ---------------------------------------------------------------------------------------------
// Reads

fn list<T: BorshDeserialize>(
    state: &dyn StateRead,
    prefix: &[u8],
) -> Result<Vec<(Vec<u8>, T)>, TxError> {
    state
        .scan_prefix(prefix)
        .into_iter()
        .map(|(k, v)| {
            borsh::from_slice(&v).map(|t| (k.clone(), t)).map_err(|_| TxError::corrupt(&k))
        })
        .collect()
}

/// Staking parameters.
pub fn staking_params(state: &dyn StateRead) -> Result<StakingParams, TxError> {
    Ok(read(state, keys::PARAMS_STAKING)?.unwrap_or_default())
}
/// Slashing parameters.
pub fn slashing_params(state: &dyn StateRead) -> Result<SlashingParams, TxError> {
    Ok(read(state, keys::PARAMS_SLASHING)?.unwrap_or_default())
}
/// Distribution parameters.
pub fn distribution_params(state: &dyn StateRead) -> Result<DistributionParams, TxError> {
    Ok(read(state, keys::PARAMS_DISTRIBUTION)?.unwrap_or_default())
}
fn power_params(state: &dyn StateRead) -> Result<ValidatorParams, TxError> {
    crate::components::validators::params(state)
}

/// The validator operated by `op`.
pub fn validator(state: &dyn StateRead, op: &Address) -> Result<Option<Validator>, TxError> {
    read(state, &keys::validator(op))
}
fn must_validator(state: &dyn StateRead, op: &Address) -> Result<Validator, TxError> {
    validator(state, op)?.ok_or_else(|| err(StakingError::UnknownValidator(*op)))
}
/// Every validator, by operator.
pub fn validators(state: &dyn StateRead) -> Result<Vec<Validator>, TxError> {
    Ok(list(state, keys::VALIDATOR)?.into_iter().map(|(_, v)| v).collect())
}
/// The operator of a consensus key.
pub fn validator_by_consensus_key(
    state: &dyn StateRead,
    key: &ConsensusKeyBytes,
) -> Result<Option<Address>, TxError> {
    read(state, &keys::cons(key))
}
/// A delegation.
pub fn delegation(
    state: &dyn StateRead,
    del: &Address,
    val: &Address,
) -> Result<Option<Delegation>, TxError> {
    read(state, &keys::delegation(del, val))
}
/// Every delegation of `del`: `(validator, shares)`.
pub fn delegations_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Delegation)>, TxError> {
    let prefix = keys::k(keys::DELEGATION, &[&del.0]);
    Ok(list::<Delegation>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, d)| keys::addrs(&k, keys::DELEGATION, 20).first().map(|v| (*v, d)))
        .collect())
}
/// Every delegation: `(delegator, validator, delegation)`.
pub fn all_delegations(
    state: &dyn StateRead,
) -> Result<Vec<(Address, Address, Delegation)>, TxError> {
    Ok(list::<Delegation>(state, keys::DELEGATION)?
        .into_iter()
        .filter_map(|(k, d)| match keys::addrs(&k, keys::DELEGATION, 0)[..] {
            [a, b] => Some((a, b, d)),
            _ => None,
        })
        .collect())
}
/// Unbonding entries of `del` by validator.
pub fn unbondings_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Vec<UnbondingEntry>)>, TxError> {
    let prefix = keys::k(keys::UBD, &[&del.0]);
    Ok(list::<Vec<UnbondingEntry>>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, e)| keys::addrs(&k, keys::UBD, 20).first().map(|v| (*v, e)))
        .collect())
}
fn all_unbondings(
    state: &dyn StateRead,
) -> Result<Vec<(Address, Address, Vec<UnbondingEntry>)>, TxError> {
    Ok(list::<Vec<UnbondingEntry>>(state, keys::UBD)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::UBD, 0)[..] {
            [a, b] => Some((a, b, e)),
            _ => None,
        })
        .collect())
}
/// Redelegations of `del`: `(src, dst, entries)`.
pub fn redelegations_of(
    state: &dyn StateRead,
    del: &Address,
) -> Result<Vec<(Address, Address, Vec<RedelegationEntry>)>, TxError> {
    let prefix = keys::k(keys::RED, &[&del.0]);
    Ok(list::<Vec<RedelegationEntry>>(state, &prefix)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::RED, 20)[..] {
            [a, b] => Some((a, b, e)),
            _ => None,
        })
        .collect())
}
type RedelegationRow = (Address, Address, Address, Vec<RedelegationEntry>);

fn all_redelegations(state: &dyn StateRead) -> Result<Vec<RedelegationRow>, TxError> {
    Ok(list::<Vec<RedelegationEntry>>(state, keys::RED)?
        .into_iter()
        .filter_map(|(k, e)| match keys::addrs(&k, keys::RED, 0)[..] {
            [a, b, c] => Some((a, b, c, e)),
            _ => None,
        })
        .collect())
}
/// Liveness info of a validator.
pub fn signing_info(state: &dyn StateRead, op: &Address) -> Result<Option<SigningInfo>, TxError> {
    read(state, &keys::signing(op))
}
/// Distribution state of a validator.
pub fn validator_rewards(state: &dyn StateRead, op: &Address) -> Result<ValidatorRewards, TxError> {
    Ok(read(state, &keys::dist_val(op))?.unwrap_or_default())
}
/// The community pool.
pub fn community_pool(state: &dyn StateRead) -> Result<Amount, TxError> {
    Ok(read(state, keys::DIST_COMMUNITY)?.unwrap_or(0))
}
/// Reward counters.
pub fn reward_totals(state: &dyn StateRead) -> Result<RewardTotals, TxError> {
    Ok(read(state, keys::DIST_TOTALS)?.unwrap_or_default())
}

/// The active validator set written by the last `end_block` (power desc, consensus key asc).
pub fn validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    Ok(read(state, keys::SET)?.unwrap_or_default())
}

/// The set that was active at the last committed height — the one whose precommits make up that
/// block's commit certificate, carried as `last_commit` by the next block. It differs from
/// [`validator_set`] right after a set change (jailing, tombstoning, new validators).
pub fn previous_validator_set(state: &dyn StateRead) -> Result<Vec<ValidatorInfo>, TxError> {
    Ok(read(state, keys::SET_PREV)?.unwrap_or_default())
}

fn pool_of(status: BondStatus) -> &'static str {
    if status == BondStatus::Bonded { BONDED_POOL } else { NOT_BONDED_POOL }
}

fn put_validator(delta: &mut StateDelta<'_>, v: &Validator) {
    write(delta, keys::validator(&v.operator), v);
}

fn add(a: Amount, b: Amount) -> Result<Amount, TxError> {
    a.checked_add(b).ok_or(TxError::Overflow)
}

fn move_pool(
    delta: &mut StateDelta<'_>,
    from: &str,
    to: &str,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 || from == to {
        return Ok(());
    }
    bank::move_between_modules(delta, from, to, amount)
}

fn ev(kind: &str, attrs: Vec<(&str, String)>) -> Event {
    Event::new(kind, attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

// ---------------------------------------------------------------------------------------------
// F1 distribution

fn hist(state: &dyn StateRead, op: &Address, period: u64) -> Result<u128, TxError> {
    Ok(read(state, &keys::dist_hist(op, period))?.unwrap_or(0))
}

/// Ends the validator's current period: its current rewards become a ratio increment over its
/// tokens (or go to the community pool if it has none). Returns the period ended.
fn increment_period(delta: &mut StateDelta<'_>, op: &Address) -> Result<u64, TxError> {
    let v = must_validator(delta, op)?;
    let mut vr = validator_rewards(delta, op)?;
    let inc = if v.tokens == 0 {
        if vr.current > 0 {
            let c = add(community_pool(delta)?, vr.current)?;
            write(delta, keys::DIST_COMMUNITY.to_vec(), &c);
            vr.outstanding = vr.outstanding.saturating_sub(vr.current);
        }
        0
    } else {
        mul_div(vr.current, Dec::SCALE, v.tokens).ok_or(TxError::Overflow)?
    };
    let prev = hist(delta, op, vr.period.saturating_sub(1))?;
    write(delta, keys::dist_hist(op, vr.period), &add(prev, inc)?);
    let ended = vr.period;
    vr.current = 0;
    vr.period += 1;
    write(delta, keys::dist_val(op), &vr);
    Ok(ended)
}

/// Rewards of `del` at `val` up to a period whose cumulative ratio is `end_ratio`, replaying
/// slashes in between.
fn rewards_until(
    state: &dyn StateRead,
    del: &Address,
    v: &Validator,
    end_period: u64,
    end_ratio: u128,
) -> Result<Amount, TxError> {
    let Some(start) = read::<StartInfo>(state, &keys::dist_start(del, &v.operator))? else {
        return Ok(0);
    };
    let seg = |from: u64, to_ratio: u128, stake: Amount| -> Result<Amount, TxError> {
        let r0 = hist(state, &v.operator, from)?;
        Ok(mul_div(to_ratio.saturating_sub(r0), stake, Dec::SCALE).unwrap_or(0))
    };
    let mut stake = start.stake;
    let mut from = start.previous_period;
    let mut total: Amount = 0;
    for (k, fraction) in list::<Dec>(state, &keys::k(keys::DIST_SLASH, &[&v.operator.0]))? {
        let p = k
            .get(k.len().saturating_sub(8)..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| TxError::corrupt(&k))?;
        if p <= from || p > end_period {
            continue;
        }
        total = add(total, seg(from, hist(state, &v.operator, p)?, stake)?)?;
        stake = fraction.one_minus().mul_floor(stake).unwrap_or(0);
        from = p;
    }
    if let Some(d) = delegation(state, del, &v.operator)? {
        stake = stake.min(v.tokens_from_shares(d.shares));
    }
    add(total, seg(from, end_ratio, stake)?)
}

/// Rewards `del` could withdraw from `val` now (read-only; the API's reward query).
pub fn pending_rewards(
    state: &dyn StateRead,
    del: &Address,
    val: &Address,
) -> Result<Amount, TxError> {
    let Some(v) = validator(state, val)? else { return Ok(0) };
    let vr = validator_rewards(state, val)?;
    let ended = vr.period.saturating_sub(1);
    let mut ratio = hist(state, val, ended)?;
    if v.tokens > 0 {
        ratio = add(ratio, mul_div(vr.current, Dec::SCALE, v.tokens).unwrap_or(0))?;
    }
    let r = rewards_until(state, del, &v, vr.period, ratio)?;
    Ok(r.min(vr.outstanding.saturating_sub(vr.commission)))
}

fn pay_out(delta: &mut StateDelta<'_>, to: &Address, amount: Amount) -> Result<(), TxError> {
    if amount == 0 {
        return Ok(());
    }
    bank::move_from_module(delta, DISTRIBUTION_POOL, to, amount)?;
    let mut t = reward_totals(delta)?;
    t.paid = add(t.paid, amount)?;
    write(delta, keys::DIST_TOTALS.to_vec(), &t);
    Ok(())
}

/// Ends the period, pays `del`'s rewards from `val`, deletes its starting info.
fn withdraw_rewards(
    delta: &mut StateDelta<'_>,
    del: &Address,
    val: &Address,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let ended = increment_period(delta, val)?;
    let v = must_validator(delta, val)?;
    let ratio = hist(delta, val, ended)?;
    let mut vr = validator_rewards(delta, val)?;
    let r = rewards_until(delta, del, &v, ended, ratio)?
        .min(vr.outstanding.saturating_sub(vr.commission));
    vr.outstanding -= r;
    write(delta, keys::dist_val(val), &vr);
    pay_out(delta, del, r)?;
    delta.delete(keys::dist_start(del, val));
    if r > 0 {
        events.push(ev(
            "distribution.withdraw_rewards",
            vec![
                ("delegator", del.to_string()),
                ("validator", val.to_string()),
                ("amount", r.to_string()),
            ],
        ));
    }
    Ok(r)
}

fn initialize_delegation(
    delta: &mut StateDelta<'_>,
    del: &Address,
    val: &Address,
    height: Height,
) -> Result<(), TxError> {
    let v = must_validator(delta, val)?;
    let Some(d) = delegation(delta, del, val)? else { return Ok(()) };
    let vr = validator_rewards(delta, val)?;
    let info = StartInfo {
        previous_period: vr.period.saturating_sub(1),
        stake: v.tokens_from_shares(d.shares),
        height,
    };
    write(delta, keys::dist_start(del, val), &info);
    Ok(())
}

/// Mints the block reward, takes the fees collected since the last allocation, and allocates both
/// over `set` (the set that signed the previous block): the community tax first, the rest by
/// power (commission to the operator, the remainder to the delegators' F1 period); what is not
/// given (rounding, no set) goes to the community pool.
fn allocate_rewards(
    delta: &mut StateDelta<'_>,
    set: &[ValidatorInfo],
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let p = distribution_params(delta)?;
    let fees = bank::module_balance(delta, bank::FEE_COLLECTOR)?;
    let total = add(p.block_reward, fees)?;
    if total == 0 {
        return Ok(());
    }
    if p.block_reward > 0 {
        bank::mint_to_module(delta, DISTRIBUTION_POOL, p.block_reward)?;
    }
    if fees > 0 {
        bank::move_between_modules(delta, bank::FEE_COLLECTOR, DISTRIBUTION_POOL, fees)?;
    }
    let mut totals = reward_totals(delta)?;
    totals.minted = add(totals.minted, p.block_reward)?;
    totals.fees = add(totals.fees, fees)?;
    write(delta, keys::DIST_TOTALS.to_vec(), &totals);
    let tax = p.community_tax.mul_ceil(total).unwrap_or(total).min(total);
    let to_validators = total - tax;
    let total_power: u128 = set.iter().map(|v| u128::from(v.power)).sum();
    let mut given: Amount = 0;
    if total_power > 0 {
        for vi in set {
            let Some(v) = validator(delta, &vi.operator)? else { continue };
            let r = mul_div(to_validators, u128::from(vi.power), total_power).unwrap_or(0);
            if r == 0 {
                continue;
            }
            let commission = v.commission.rate.mul_floor(r).unwrap_or(r).min(r);
            let mut vr = validator_rewards(delta, &vi.operator)?;
            vr.outstanding = add(vr.outstanding, r)?;
            vr.commission = add(vr.commission, commission)?;
            vr.current = add(vr.current, r - commission)?;
            write(delta, keys::dist_val(&vi.operator), &vr);
            given += r;
        }
    }
    let community = add(community_pool(delta)?, total - given)?;
    write(delta, keys::DIST_COMMUNITY.to_vec(), &community);
    events.push(ev(
        "distribution.rewards",
        vec![
            ("minted", p.block_reward.to_string()),
            ("fees", fees.to_string()),
            ("validators", given.to_string()),
            ("community", (total - given).to_string()),
        ],
    ));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Delegation core

/// Where delegated tokens come from.
enum Source<'a> {
    Account,
    Pool(&'a str),
}

fn delegate(
    delta: &mut StateDelta<'_>,
    height: Height,
    del: &Address,
    val: &Address,
    amount: Amount,
    source: Source<'_>,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    let mut v = must_validator(delta, val)?;
    if v.tokens == 0 && v.shares > 0 {
        return Err(err(StakingError::InvalidExchangeRate));
    }
    let existing = delegation(delta, del, val)?;
    if existing.is_some() {
        withdraw_rewards(delta, del, val, events)?;
        v = must_validator(delta, val)?;
    }
    match source {
        Source::Account => bank::move_to_module(delta, del, pool_of(v.status), amount)?,
        Source::Pool(p) => move_pool(delta, p, pool_of(v.status), amount)?,
    }
    let shares = if v.shares == 0 {
        amount
    } else {
        mul_div(amount, v.shares, v.tokens).ok_or(TxError::Overflow)?
    };
    if shares == 0 {
        return Err(err(StakingError::InvalidExchangeRate));
    }
    v.tokens = add(v.tokens, amount)?;
    v.shares = add(v.shares, shares)?;
    put_validator(delta, &v);
    let d = Delegation { shares: add(existing.map_or(0, |d| d.shares), shares)? };
    write(delta, keys::delegation(del, val), &d);
    initialize_delegation(delta, del, val, height)?;
    Ok(shares)
}

/// Shares worth `amount` tokens of `del`'s delegation (rounded up, capped at the delegation;
/// the rest of a delegation worth nothing is included so no dust delegation remains).
fn shares_for(v: &Validator, d: &Delegation, amount: Amount) -> Result<Amount, TxError> {
    if v.tokens == 0 {
        return Err(err(StakingError::InvalidExchangeRate));
    }
    let have = v.tokens_from_shares(d.shares);
    if amount > have {
        return Err(err(StakingError::InsufficientDelegation { asked: amount, have }));
    }
    let mut s = crate::components::staking::ceil_shares(v, amount)?.min(d.shares);
    let rest = d.shares - s;
    if rest > 0 && v.tokens_from_shares(rest) == 0 {
        s = d.shares;
    }
    Ok(s)
}

fn ceil_shares(v: &Validator, amount: Amount) -> Result<Amount, TxError> {
    chorus_types::staking::mul_div_ceil(amount, v.shares, v.tokens).ok_or(TxError::Overflow)
}

/// Burns `shares` of `del` at `val`; returns the tokens (still in the validator's pool).
fn unbond(
    delta: &mut StateDelta<'_>,
    height: Height,
    del: &Address,
    val: &Address,
    shares: Amount,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let d = delegation(delta, del, val)?.ok_or_else(|| err(StakingError::NoDelegation(*val)))?;
    withdraw_rewards(delta, del, val, events)?;
    let mut v = must_validator(delta, val)?;
    let shares = shares.min(d.shares);
    let tokens = v.tokens_from_shares(shares);
    v.shares -= shares;
    v.tokens -= tokens;
    let left = d.shares - shares;
    if left == 0 {
        delta.delete(keys::delegation(del, val));
    } else {
        write(delta, keys::delegation(del, val), &Delegation { shares: left });
    }
    // Self-delegation below the minimum jails the validator.
    if del == val && !v.jailed && v.tokens_from_shares(left) < v.min_self_delegation.max(1) {
        v.jailed = true;
        events.push(ev(
            "staking.jail",
            vec![("validator", val.to_string()), ("reason", "self_delegation".into())],
        ));
    }
    put_validator(delta, &v);
    if left > 0 {
        initialize_delegation(delta, del, val, height)?;
    }
    Ok(tokens)
}

fn push_entry<T>(list: &mut Vec<T>, e: T, max: u32) -> Result<(), TxError> {
    if list.len() >= max as usize {
        return Err(err(StakingError::TooManyEntries(max)));
    }
    list.push(e);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Slashing

/// Slashes `fraction` of the stake `power` represented at `infraction_height`: unbonding and
/// redelegation entries from `op` created at or after that height first, then the validator's
/// tokens. Burns the tokens; emits `staking.slash` with `reason`. Returns the amount burnt.
#[allow(clippy::too_many_arguments)]
pub fn slash(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    op: &Address,
    infraction_height: Height,
    power: u64,
    fraction: Dec,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let Some(v0) = validator(delta, op)? else { return Ok(0) };
    let pr = power_params(delta)?;
    let target = fraction
        .mul_floor(u128::from(power).saturating_mul(pr.power_reduction))
        .unwrap_or(u128::MAX);
    let mut remaining = target;
    let mut burnt: Amount = 0;
    if infraction_height < ctx.height {
        for (del, val, mut entries) in all_unbondings(delta)? {
            if val != *op {
                continue;
            }
            for e in entries.iter_mut() {
                if e.creation_height < infraction_height || e.completion_time_ms <= ctx.time_ms {
                    continue;
                }
                let s = fraction.mul_floor(e.initial_balance).unwrap_or(0).min(e.balance);
                if s == 0 {
                    continue;
                }
                e.balance -= s;
                remaining = remaining.saturating_sub(s);
                bank::burn_from_module(delta, NOT_BONDED_POOL, s)?;
                burnt += s;
            }
            write(delta, keys::ubd(&del, &val), &entries);
        }
        for (del, src, dst, entries) in all_redelegations(delta)? {
            if src != *op {
                continue;
            }
            for e in &entries {
                if e.creation_height < infraction_height || e.completion_time_ms <= ctx.time_ms {
                    continue;
                }
                let want = fraction.mul_floor(e.initial_balance).unwrap_or(0);
                remaining = remaining.saturating_sub(want);
                let Some(d) = delegation(delta, &del, &dst)? else { continue };
                let shares = fraction.mul_floor(e.shares_dst).unwrap_or(0).min(d.shares);
                if shares == 0 {
                    continue;
                }
                let dv = must_validator(delta, &dst)?;
                let tokens = unbond(delta, ctx.height, &del, &dst, shares, events)?;
                if tokens > 0 {
                    bank::burn_from_module(delta, pool_of(dv.status), tokens)?;
                    burnt += tokens;
                }
            }
        }
    }
    let v = must_validator(delta, op)?;
    let from_tokens = remaining.min(v.tokens);
    if from_tokens > 0 {
        // The effective fraction of the validator's tokens, for F1's slash replay.
        let eff = Dec::ratio(from_tokens, v.tokens).unwrap_or(Dec::ONE).min(Dec::ONE);
        let ended = increment_period(delta, op)?;
        write(delta, keys::dist_slash(op, ended), &eff);
        let mut v = must_validator(delta, op)?;
        v.tokens -= from_tokens;
        put_validator(delta, &v);
        bank::burn_from_module(delta, pool_of(v.status), from_tokens)?;
        burnt += from_tokens;
    }
    events.push(ev(
        "staking.slash",
        vec![
            ("validator", op.to_string()),
            ("reason", reason.to_string()),
            ("fraction", fraction.to_string()),
            ("infraction_height", infraction_height.to_string()),
            ("amount", burnt.to_string()),
            ("tokens_before", v0.tokens.to_string()),
        ],
    ));
    Ok(burnt)
}

fn jail(
    delta: &mut StateDelta<'_>,
    op: &Address,
    until_ms: u64,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let mut v = must_validator(delta, op)?;
    v.jailed = true;
    put_validator(delta, &v);
    let mut si = signing_info(delta, op)?.unwrap_or_default();
    si.jailed_until_ms = si.jailed_until_ms.max(until_ms);
    write(delta, keys::signing(op), &si);
    events.push(ev(
        "staking.jail",
        vec![
            ("validator", op.to_string()),
            ("reason", reason.into()),
            ("until_ms", until_ms.to_string()),
        ],
    ));
    Ok(())
}

/// Verifies double-sign evidence, then slashes `slash_fraction_double_sign`, jails forever and
/// tombstones the validator. The entry point for evidence (from a `SubmitEvidence` transaction,
/// which the node builds from Malachite's misbehaviour evidence).
pub fn handle_evidence(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    evidence: &DoubleSignEvidence,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let (a, b) = (&evidence.a.vote, &evidence.b.vote);
    let bad = |m| err(StakingError::InvalidEvidence(m));
    if a.height != b.height || a.round != b.round || a.vote_type != b.vote_type {
        return Err(bad("votes are not for the same height, round and type"));
    }
    if a.validator != b.validator {
        return Err(bad("votes are by different keys"));
    }
    if a.value_id == b.value_id {
        return Err(bad("votes are for the same value"));
    }
    for sv in [&evidence.a, &evidence.b] {
        chorus_crypto::verify_consensus(
            &sv.vote.validator,
            &sv.vote.sign_bytes(ctx.chain_id),
            &sv.signature,
        )
        .map_err(|_| bad("signature does not verify"))?;
    }
    if a.height >= ctx.height {
        return Err(bad("infraction height not in the past"));
    }
    let p = slashing_params(delta)?;
    if a.height.saturating_add(p.max_evidence_age_blocks) < ctx.height {
        return Err(err(StakingError::EvidenceTooOld { height: a.height }));
    }
    let op =
        validator_by_consensus_key(delta, &a.validator)?.ok_or_else(|| bad("unknown validator"))?;
    let v = must_validator(delta, &op)?;
    let mut si = signing_info(delta, &op)?.unwrap_or_default();
    if si.tombstoned {
        return Err(err(StakingError::Tombstoned));
    }
    let pr = power_params(delta)?;
    let burnt = slash(
        delta,
        ctx,
        &op,
        a.height,
        power_of(v.tokens, &pr),
        p.slash_fraction_double_sign,
        "double_sign",
        events,
    )?;
    jail(delta, &op, JAILED_FOREVER, "double_sign", events)?;
    si = signing_info(delta, &op)?.unwrap_or_default();
    si.tombstoned = true;
    si.jailed_until_ms = JAILED_FOREVER;
    write(delta, keys::signing(&op), &si);
    events.push(ev(
        "staking.tombstone",
        vec![("validator", op.to_string()), ("height", a.height.to_string())],
    ));
    Ok(burnt)
}

/// The objective-fault hook (failed reveal, wrong aggregate, failed Freivalds, …): slashes
/// `slash_fraction_fault` of `operator`'s tokens, reason in the `staking.slash` event. Does not
/// jail (a single validator would halt the chain). No-op for an unknown validator.
pub fn handle_fault(
    delta: &mut StateDelta<'_>,
    height: Height,
    operator: &Address,
    reason: &str,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let Some(v) = validator(delta, operator)? else { return Ok(0) };
    let p = slashing_params(delta)?;
    let pr = power_params(delta)?;
    let time_ms: u64 = read(delta, crate::state_key::LAST_TIME_MS)?.unwrap_or(0);
    let ctx = BlockContext {
        chain_id: 0,
        height,
        time_ms,
        proposer: [0; 32],
        randomness: chorus_types::Hash::ZERO,
        last_commit: None,
    };
    slash(
        delta,
        &ctx,
        operator,
        height,
        power_of(v.tokens, &pr),
        p.slash_fraction_fault,
        reason,
        events,
    )
}

fn bitmap_bytes(window: u64) -> usize {
    usize::try_from(window.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Liveness: one window slot per validator of the previous block's set.
fn track_liveness(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let Some(commit) = &ctx.last_commit else { return Ok(()) };
    let prev: Vec<ValidatorInfo> = read(delta, keys::SET_PREV)?.unwrap_or_default();
    let p = slashing_params(delta)?;
    let window = p.signed_blocks_window.max(1);
    let max_missed = window
        - p.min_signed_per_window
            .mul_floor(u128::from(window))
            .map_or(window, |m| m.min(u128::from(window)) as u64);
    for vi in prev {
        let Some(v) = validator(delta, &vi.operator)? else { continue };
        if v.consensus_key != vi.consensus_key {
            continue;
        }
        let mut si = signing_info(delta, &vi.operator)?
            .unwrap_or(SigningInfo { start_height: ctx.height, ..Default::default() });
        if si.bitmap.len() != bitmap_bytes(window) {
            si = SigningInfo {
                start_height: ctx.height,
                jailed_until_ms: si.jailed_until_ms,
                tombstoned: si.tombstoned,
                bitmap: vec![0; bitmap_bytes(window)],
                ..Default::default()
            };
        }
        let missed = !commit.signers.contains(&vi.consensus_key);
        let idx = (si.index_offset % window) as usize;
        si.index_offset += 1;
        let (byte, bit) = (idx / 8, 1u8 << (idx % 8));
        let was = si.bitmap[byte] & bit != 0;
        if missed && !was {
            si.bitmap[byte] |= bit;
            si.missed_blocks += 1;
        } else if !missed && was {
            si.bitmap[byte] &= !bit;
            si.missed_blocks = si.missed_blocks.saturating_sub(1);
        }
        if missed {
            events.push(ev(
                "staking.liveness",
                vec![
                    ("validator", vi.operator.to_string()),
                    ("missed_blocks", si.missed_blocks.to_string()),
                ],
            ));
        }
        let over =
            ctx.height > si.start_height.saturating_add(window) && si.missed_blocks > max_missed;
        write(delta, keys::signing(&vi.operator), &si);
        if over && !v.jailed && !si.tombstoned {
            slash(
                delta,
                ctx,
                &vi.operator,
                ctx.height.saturating_sub(2),
                vi.power,
                p.slash_fraction_downtime,
                "downtime",
                events,
            )?;
            jail(
                delta,
                &vi.operator,
                ctx.time_ms.saturating_add(p.downtime_jail_duration_ms),
                "downtime",
                events,
            )?;
            let mut si = signing_info(delta, &vi.operator)?.unwrap_or_default();
            si.missed_blocks = 0;
            si.index_offset = 0;
            si.bitmap = vec![0; bitmap_bytes(window)];
            write(delta, keys::signing(&vi.operator), &si);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Block hooks

pub(crate) fn begin_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let prev: Vec<ValidatorInfo> = read(delta, keys::SET_PREV)?.unwrap_or_default();
    allocate_rewards(delta, &prev, events)?;
    track_liveness(delta, ctx, events)
}

pub(crate) fn end_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    complete_unbondings(delta, ctx, events)?;
    complete_redelegations(delta, ctx)?;
    update_validator_set(delta, ctx.height, ctx.time_ms, events)
}

fn queue_time(key: &[u8], prefix: &[u8]) -> u64 {
    key.get(prefix.len()..prefix.len() + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(u64::MAX, u64::from_be_bytes)
}

fn complete_unbondings(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    for (k, _) in delta.scan_prefix(keys::UBD_QUEUE) {
        if queue_time(&k, keys::UBD_QUEUE) > ctx.time_ms {
            break;
        }
        delta.delete(k.clone());
        let [del, val] = keys::addrs(&k, keys::UBD_QUEUE, 8)[..] else { continue };
        let entries: Vec<UnbondingEntry> = read(delta, &keys::ubd(&del, &val))?.unwrap_or_default();
        let (done, keep): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|e| e.completion_time_ms <= ctx.time_ms);
        let paid: Amount = done.iter().map(|e| e.balance).sum();
        if paid > 0 {
            bank::move_from_module(delta, NOT_BONDED_POOL, &del, paid)?;
        }
        if keep.is_empty() {
            delta.delete(keys::ubd(&del, &val));
        } else {
            write(delta, keys::ubd(&del, &val), &keep);
        }
        if !done.is_empty() {
            events.push(ev(
                "staking.unbonding_complete",
                vec![
                    ("delegator", del.to_string()),
                    ("validator", val.to_string()),
                    ("amount", paid.to_string()),
                ],
            ));
        }
    }
    Ok(())
}

fn complete_redelegations(delta: &mut StateDelta<'_>, ctx: &BlockContext) -> Result<(), TxError> {
    for (k, _) in delta.scan_prefix(keys::RED_QUEUE) {
        if queue_time(&k, keys::RED_QUEUE) > ctx.time_ms {
            break;
        }
        delta.delete(k.clone());
        let [del, src, dst] = keys::addrs(&k, keys::RED_QUEUE, 8)[..] else { continue };
        let mut entries: Vec<RedelegationEntry> =
            read(delta, &keys::red(&del, &src, &dst))?.unwrap_or_default();
        entries.retain(|e| e.completion_time_ms > ctx.time_ms);
        if entries.is_empty() {
            delta.delete(keys::red(&del, &src, &dst));
        } else {
            write(delta, keys::red(&del, &src, &dst), &entries);
        }
    }
    Ok(())
}

/// Recomputes the active set (top `max_validators` by power, not jailed), moves tokens between
/// the pools for validators entering or leaving it, matures unbonding validators, removes empty
/// unbonded ones, and stores the set (`staking/set`, previous in `staking/set_prev`).
fn update_validator_set(
    delta: &mut StateDelta<'_>,
    height: Height,
    time_ms: u64,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sp = staking_params(delta)?;
    let pr = power_params(delta)?;
    let all = validators(delta)?;
    let mut cands: Vec<(u64, ConsensusKeyBytes, Address)> = all
        .iter()
        .filter(|v| !v.jailed)
        .map(|v| (power_of(v.tokens, &pr), v.consensus_key, v.operator))
        .filter(|c| c.0 > 0)
        .collect();
    cands.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut set = Vec::new();
    let mut total: u64 = 0;
    for (power, key, op) in cands.into_iter().take(sp.max_validators as usize) {
        match total.checked_add(power).filter(|t| *t <= MAX_TOTAL_POWER) {
            Some(t) => total = t,
            None => break,
        }
        set.push(ValidatorInfo { consensus_key: key, power, operator: op });
    }
    for mut v in all {
        let in_set = set.iter().any(|s| s.operator == v.operator);
        let before = v.status;
        let orig = v.clone();
        if in_set && v.status != BondStatus::Bonded {
            move_pool(delta, NOT_BONDED_POOL, BONDED_POOL, v.tokens)?;
            v.status = BondStatus::Bonded;
            let mut si = signing_info(delta, &v.operator)?.unwrap_or_default();
            si.start_height = height;
            write(delta, keys::signing(&v.operator), &si);
        } else if !in_set && v.status == BondStatus::Bonded {
            move_pool(delta, BONDED_POOL, NOT_BONDED_POOL, v.tokens)?;
            v.status = BondStatus::Unbonding;
            v.unbonding_height = height;
            v.unbonding_time_ms = time_ms.saturating_add(sp.unbonding_time_ms);
        } else if v.status == BondStatus::Unbonding && v.unbonding_time_ms <= time_ms {
            v.status = BondStatus::Unbonded;
        }
        if v.status != before {
            events.push(ev(
                "staking.status",
                vec![
                    ("validator", v.operator.to_string()),
                    ("from", before.as_str().into()),
                    ("to", v.status.as_str().into()),
                ],
            ));
        }
        if v.status == BondStatus::Unbonded && v.shares == 0 {
            remove_validator(delta, &v, events)?;
        } else if v != orig {
            put_validator(delta, &v);
        }
    }
    // Only real changes are written, so an idle block changes nothing here.
    let current: Vec<ValidatorInfo> = read(delta, keys::SET)?.unwrap_or_default();
    let prev: Option<Vec<ValidatorInfo>> = read(delta, keys::SET_PREV)?;
    if prev.as_ref() != Some(&current) {
        write(delta, keys::SET_PREV.to_vec(), &current);
    }
    if current != set || prev.is_none() {
        write(delta, keys::SET.to_vec(), &set);
    }
    Ok(())
}

fn remove_validator(
    delta: &mut StateDelta<'_>,
    v: &Validator,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let op = v.operator;
    let vr = validator_rewards(delta, &op)?;
    pay_out(delta, &op, vr.commission.min(vr.outstanding))?;
    let rest = vr.outstanding.saturating_sub(vr.commission);
    let c = add(community_pool(delta)?, rest)?;
    write(delta, keys::DIST_COMMUNITY.to_vec(), &c);
    if v.tokens > 0 {
        // Unreachable with zero shares except for rounding dust: burn it.
        bank::burn_from_module(delta, NOT_BONDED_POOL, v.tokens)?;
    }
    delta.delete(keys::dist_val(&op));
    for prefix in [keys::DIST_HIST, keys::DIST_SLASH] {
        for (k, _) in delta.scan_prefix(&keys::k(prefix, &[&op.0])) {
            delta.delete(k);
        }
    }
    delta.delete(keys::validator(&op));
    let tomb = signing_info(delta, &op)?.is_some_and(|s| s.tombstoned);
    if !tomb {
        delta.delete(keys::cons(&v.consensus_key));
        delta.delete(keys::signing(&op));
    }
    events.push(ev("staking.remove_validator", vec![("validator", op.to_string())]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Messages

pub(crate) fn check_stateless(msg: &StakingMsg) -> Result<(), TxError> {
    match msg {
        StakingMsg::CreateValidator {
            self_delegation,
            commission,
            description,
            min_self_delegation,
            ..
        } => {
            if *self_delegation == 0 {
                return Err(TxError::ZeroAmount);
            }
            if self_delegation < min_self_delegation {
                return Err(err(StakingError::SelfDelegationTooLow {
                    min: *min_self_delegation,
                    have: *self_delegation,
                }));
            }
            check_rates(commission.rate, commission.max_rate, commission.max_change_rate)?;
            if !description.is_valid() {
                return Err(err(StakingError::InvalidDescription));
            }
            Ok(())
        }
        StakingMsg::EditValidator { description, .. } => {
            if description.as_ref().is_some_and(|d| !d.is_valid()) {
                return Err(err(StakingError::InvalidDescription));
            }
            Ok(())
        }
        StakingMsg::Delegate { amount, .. }
        | StakingMsg::Undelegate { amount, .. }
        | StakingMsg::CancelUnbonding { amount, .. }
        | StakingMsg::Redelegate { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            if let StakingMsg::Redelegate { src, dst, .. } = msg
                && src == dst
            {
                return Err(err(StakingError::SelfRedelegation));
            }
            Ok(())
        }
        StakingMsg::WithdrawRewards { .. }
        | StakingMsg::WithdrawCommission
        | StakingMsg::Unjail
        | StakingMsg::SubmitEvidence { .. } => Ok(()),
    }
}

fn check_rates(rate: Dec, max_rate: Dec, max_change: Dec) -> Result<(), TxError> {
    if max_rate > Dec::ONE {
        return Err(err(StakingError::InvalidCommission("max rate above 1")));
    }
    if rate > max_rate {
        return Err(err(StakingError::InvalidCommission("rate above max rate")));
    }
    if max_change > max_rate {
        return Err(err(StakingError::InvalidCommission("max change rate above max rate")));
    }
    Ok(())
}

pub(crate) fn spend(msg: &StakingMsg) -> Amount {
    match msg {
        StakingMsg::CreateValidator { self_delegation, .. } => *self_delegation,
        StakingMsg::Delegate { amount, .. } => *amount,
        _ => 0,
    }
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    ctx: &TxContext<'_>,
    msg: &StakingMsg,
) -> Result<(), TxError> {
    match msg {
        StakingMsg::CreateValidator { .. } => {
            if validator(state, &ctx.sender)?.is_some() {
                return Err(err(StakingError::ValidatorExists(ctx.sender)));
            }
            Ok(())
        }
        StakingMsg::Delegate { validator: v, .. } | StakingMsg::Undelegate { validator: v, .. } => {
            must_validator(state, v).map(|_| ())
        }
        StakingMsg::Redelegate { src, dst, .. } => {
            must_validator(state, src)?;
            must_validator(state, dst).map(|_| ())
        }
        _ => Ok(()),
    }
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &StakingMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let (sender, height, now) = (ctx.sender, ctx.block.height, ctx.block.time_ms);
    match msg {
        StakingMsg::CreateValidator {
            consensus_key,
            pop,
            self_delegation,
            min_self_delegation,
            commission,
            description,
        } => {
            if validator(delta, &sender)?.is_some() {
                return Err(err(StakingError::ValidatorExists(sender)));
            }
            if validator_by_consensus_key(delta, consensus_key)?.is_some() {
                return Err(err(StakingError::ConsensusKeyInUse));
            }
            if !chorus_crypto::is_valid_consensus_key(consensus_key) {
                return Err(err(StakingError::InvalidConsensusKey));
            }
            chorus_crypto::verify_consensus(
                consensus_key,
                &pop_bytes(&sender, ctx.block.chain_id),
                pop,
            )
            .map_err(|_| err(StakingError::BadProofOfPossession))?;
            check_rates(commission.rate, commission.max_rate, commission.max_change_rate)?;
            if commission.rate < staking_params(delta)?.min_commission_rate {
                return Err(err(StakingError::InvalidCommission("rate below the minimum")));
            }
            if self_delegation < min_self_delegation {
                return Err(err(StakingError::SelfDelegationTooLow {
                    min: *min_self_delegation,
                    have: *self_delegation,
                }));
            }
            create_validator(
                delta,
                sender,
                *consensus_key,
                Commission {
                    rate: commission.rate,
                    max_rate: commission.max_rate,
                    max_change_rate: commission.max_change_rate,
                    update_time_ms: now,
                },
                *min_self_delegation,
                description.clone(),
            );
            delegate(delta, height, &sender, &sender, *self_delegation, Source::Account, events)?;
            events.push(ev(
                "staking.create_validator",
                vec![
                    ("validator", sender.to_string()),
                    ("consensus_key", format!("0x{}", hex(consensus_key))),
                    ("self_delegation", self_delegation.to_string()),
                    ("commission_rate", commission.rate.to_string()),
                ],
            ));
            Ok(())
        }
        StakingMsg::EditValidator { description, commission_rate, min_self_delegation } => {
            let mut v = must_validator(delta, &sender)?;
            if let Some(d) = description {
                v.description = d.clone();
            }
            if let Some(rate) = commission_rate {
                let sp = staking_params(delta)?;
                let next =
                    v.commission.update_time_ms.saturating_add(sp.commission_change_period_ms);
                if now < next {
                    return Err(err(StakingError::CommissionChangeTooSoon { next_ms: next }));
                }
                if *rate > v.commission.max_rate {
                    return Err(err(StakingError::InvalidCommission("rate above max rate")));
                }
                if *rate < sp.min_commission_rate {
                    return Err(err(StakingError::InvalidCommission("rate below the minimum")));
                }
                if rate.0.abs_diff(v.commission.rate.0) > v.commission.max_change_rate.0 {
                    return Err(err(StakingError::InvalidCommission(
                        "change above max change rate",
                    )));
                }
                v.commission.rate = *rate;
                v.commission.update_time_ms = now;
            }
            if let Some(m) = min_self_delegation {
                if *m <= v.min_self_delegation {
                    return Err(err(StakingError::InvalidMinSelfDelegation("may only increase")));
                }
                let own = delegation(delta, &sender, &sender)?
                    .map_or(0, |d| v.tokens_from_shares(d.shares));
                if *m > own {
                    return Err(err(StakingError::InvalidMinSelfDelegation(
                        "above current self-delegation",
                    )));
                }
                v.min_self_delegation = *m;
            }
            put_validator(delta, &v);
            events.push(ev(
                "staking.edit_validator",
                vec![
                    ("validator", sender.to_string()),
                    ("commission_rate", v.commission.rate.to_string()),
                ],
            ));
            Ok(())
        }
        StakingMsg::Delegate { validator: val, amount } => {
            let shares = delegate(delta, height, &sender, val, *amount, Source::Account, events)?;
            events.push(ev(
                "staking.delegate",
                vec![
                    ("delegator", sender.to_string()),
                    ("validator", val.to_string()),
                    ("amount", amount.to_string()),
                    ("shares", shares.to_string()),
                ],
            ));
            Ok(())
        }
        StakingMsg::Undelegate { validator: val, amount } => {
            let v = must_validator(delta, val)?;
            let d = delegation(delta, &sender, val)?
                .ok_or_else(|| err(StakingError::NoDelegation(*val)))?;
            let shares = shares_for(&v, &d, *amount)?;
            let sp = staking_params(delta)?;
            let mut entries: Vec<UnbondingEntry> =
                read(delta, &keys::ubd(&sender, val))?.unwrap_or_default();
            if v.status != BondStatus::Unbonded && entries.len() >= sp.max_entries as usize {
                return Err(err(StakingError::TooManyEntries(sp.max_entries)));
            }
            let tokens = unbond(delta, height, &sender, val, shares, events)?;
            let completion = now.saturating_add(sp.unbonding_time_ms);
            if v.status == BondStatus::Unbonded {
                if tokens > 0 {
                    bank::move_from_module(delta, NOT_BONDED_POOL, &sender, tokens)?;
                }
            } else if tokens > 0 {
                move_pool(delta, pool_of(v.status), NOT_BONDED_POOL, tokens)?;
                push_entry(
                    &mut entries,
                    UnbondingEntry {
                        creation_height: height,
                        completion_time_ms: completion,
                        initial_balance: tokens,
                        balance: tokens,
                    },
                    sp.max_entries,
                )?;
                write(delta, keys::ubd(&sender, val), &entries);
                write(delta, keys::ubd_queue(completion, &sender, val), &());
            }
            events.push(ev(
                "staking.undelegate",
                vec![
                    ("delegator", sender.to_string()),
                    ("validator", val.to_string()),
                    ("amount", tokens.to_string()),
                    (
                        "completion_time_ms",
                        if v.status == BondStatus::Unbonded { now } else { completion }.to_string(),
                    ),
                ],
            ));
            Ok(())
        }
        StakingMsg::CancelUnbonding { validator: val, amount, creation_height } => {
            let v = must_validator(delta, val)?;
            if v.jailed {
                return Err(err(StakingError::ValidatorJailed));
            }
            let mut entries: Vec<UnbondingEntry> =
                read(delta, &keys::ubd(&sender, val))?.unwrap_or_default();
            let i = entries
                .iter()
                .position(|e| e.creation_height == *creation_height && e.completion_time_ms > now)
                .ok_or_else(|| err(StakingError::NoUnbondingEntry(*creation_height)))?;
            if *amount > entries[i].balance {
                return Err(err(StakingError::InsufficientDelegation {
                    asked: *amount,
                    have: entries[i].balance,
                }));
            }
            entries[i].balance -= amount;
            entries[i].initial_balance = entries[i].initial_balance.saturating_sub(*amount);
            if entries[i].balance == 0 {
                entries.remove(i);
            }
            if entries.is_empty() {
                delta.delete(keys::ubd(&sender, val));
            } else {
                write(delta, keys::ubd(&sender, val), &entries);
            }
            delegate(delta, height, &sender, val, *amount, Source::Pool(NOT_BONDED_POOL), events)?;
            events.push(ev(
                "staking.cancel_unbonding",
                vec![
                    ("delegator", sender.to_string()),
                    ("validator", val.to_string()),
                    ("amount", amount.to_string()),
                ],
            ));
            Ok(())
        }
        StakingMsg::Redelegate { src, dst, amount } => {
            if src == dst {
                return Err(err(StakingError::SelfRedelegation));
            }
            let sv = must_validator(delta, src)?;
            must_validator(delta, dst)?;
            // No hopping: stake redelegated INTO src cannot move on until that matures.
            if redelegations_of(delta, &sender)?
                .iter()
                .any(|(_, d, es)| d == src && es.iter().any(|e| e.completion_time_ms > now))
            {
                return Err(err(StakingError::TransitiveRedelegation(*src)));
            }
            let sp = staking_params(delta)?;
            let mut entries: Vec<RedelegationEntry> =
                read(delta, &keys::red(&sender, src, dst))?.unwrap_or_default();
            if entries.len() >= sp.max_entries as usize {
                return Err(err(StakingError::TooManyEntries(sp.max_entries)));
            }
            let d = delegation(delta, &sender, src)?
                .ok_or_else(|| err(StakingError::NoDelegation(*src)))?;
            let shares = shares_for(&sv, &d, *amount)?;
            let tokens = unbond(delta, height, &sender, src, shares, events)?;
            if tokens == 0 {
                return Err(err(StakingError::InsufficientDelegation { asked: *amount, have: 0 }));
            }
            let shares_dst = delegate(
                delta,
                height,
                &sender,
                dst,
                tokens,
                Source::Pool(pool_of(sv.status)),
                events,
            )?;
            let completion = now.saturating_add(sp.unbonding_time_ms);
            if sv.status != BondStatus::Unbonded {
                push_entry(
                    &mut entries,
                    RedelegationEntry {
                        creation_height: height,
                        completion_time_ms: completion,
                        initial_balance: tokens,
                        shares_dst,
                    },
                    sp.max_entries,
                )?;
                write(delta, keys::red(&sender, src, dst), &entries);
                write(delta, keys::red_queue(completion, &sender, src, dst), &());
            }
            events.push(ev(
                "staking.redelegate",
                vec![
                    ("delegator", sender.to_string()),
                    ("src", src.to_string()),
                    ("dst", dst.to_string()),
                    ("amount", tokens.to_string()),
                    ("completion_time_ms", completion.to_string()),
                ],
            ));
            Ok(())
        }
        StakingMsg::WithdrawRewards { validator: val } => {
            must_validator(delta, val)?;
            if delegation(delta, &sender, val)?.is_none() {
                return Err(err(StakingError::NoDelegation(*val)));
            }
            withdraw_rewards(delta, &sender, val, events)?;
            initialize_delegation(delta, &sender, val, height)
        }
        StakingMsg::WithdrawCommission => {
            must_validator(delta, &sender)?;
            let mut vr = validator_rewards(delta, &sender)?;
            let c = vr.commission.min(vr.outstanding);
            vr.commission = 0;
            vr.outstanding -= c;
            write(delta, keys::dist_val(&sender), &vr);
            pay_out(delta, &sender, c)?;
            events.push(ev(
                "distribution.withdraw_commission",
                vec![("validator", sender.to_string()), ("amount", c.to_string())],
            ));
            Ok(())
        }
        StakingMsg::Unjail => {
            let mut v = must_validator(delta, &sender)?;
            let si = signing_info(delta, &sender)?.unwrap_or_default();
            if si.tombstoned {
                return Err(err(StakingError::Tombstoned));
            }
            if !v.jailed {
                return Err(err(StakingError::NotJailed));
            }
            if now < si.jailed_until_ms {
                return Err(err(StakingError::StillJailed { until_ms: si.jailed_until_ms }));
            }
            let own =
                delegation(delta, &sender, &sender)?.map_or(0, |d| v.tokens_from_shares(d.shares));
            if own == 0 || own < v.min_self_delegation {
                return Err(err(StakingError::SelfDelegationTooLow {
                    min: v.min_self_delegation,
                    have: own,
                }));
            }
            v.jailed = false;
            put_validator(delta, &v);
            events.push(ev("staking.unjail", vec![("validator", sender.to_string())]));
            Ok(())
        }
        StakingMsg::SubmitEvidence { evidence } => {
            handle_evidence(delta, ctx.block, evidence, events)?;
            Ok(())
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn create_validator(
    delta: &mut StateDelta<'_>,
    op: Address,
    consensus_key: ConsensusKeyBytes,
    commission: Commission,
    min_self_delegation: Amount,
    description: Description,
) {
    let v = Validator {
        operator: op,
        consensus_key,
        status: BondStatus::Unbonded,
        jailed: false,
        tokens: 0,
        shares: 0,
        commission,
        min_self_delegation,
        description,
        unbonding_height: 0,
        unbonding_time_ms: 0,
    };
    put_validator(delta, &v);
    write(delta, keys::cons(&consensus_key), &op);
    write(delta, keys::dist_hist(&op, 0), &0u128);
    write(delta, keys::dist_val(&op), &ValidatorRewards { period: 1, ..Default::default() });
}

/// Validates staking/slashing/distribution/gov parameters.
pub fn validate_params(p: &chorus_types::Params) -> Result<(), &'static str> {
    if p.staking.max_validators == 0 {
        return Err("staking.max_validators must be positive");
    }
    if p.staking.max_entries == 0 {
        return Err("staking.max_entries must be positive");
    }
    if p.staking.min_commission_rate > Dec::ONE {
        return Err("staking.min_commission_rate above 1");
    }
    if p.slashing.signed_blocks_window == 0 {
        return Err("slashing.signed_blocks_window must be positive");
    }
    let s = &p.slashing;
    if [
        s.min_signed_per_window,
        s.slash_fraction_double_sign,
        s.slash_fraction_downtime,
        s.slash_fraction_fault,
    ]
    .iter()
    .any(|d| *d > Dec::ONE)
    {
        return Err("slashing fractions must be at most 1");
    }
    if p.distribution.community_tax > Dec::ONE {
        return Err("distribution.community_tax above 1");
    }
    let g = &p.gov;
    if [g.quorum, g.threshold, g.veto_threshold].iter().any(|d| *d > Dec::ONE) {
        return Err("gov thresholds must be at most 1");
    }
    if p.validators.power_reduction == 0 {
        return Err("validators.power_reduction must be positive");
    }
    Ok(())
}

/// Genesis: writes the parameters, creates every genesis validator with its stake as a
/// self-delegation (commission 0, max 1, max change 0.01 per period; minted into the pools) and
/// computes the first active set.
pub(crate) fn init_genesis(delta: &mut StateDelta<'_>, genesis: &Genesis) -> Result<(), TxError> {
    let p = &genesis.params;
    write(delta, keys::PARAMS_STAKING.to_vec(), &p.staking);
    write(delta, keys::PARAMS_SLASHING.to_vec(), &p.slashing);
    write(delta, keys::PARAMS_DISTRIBUTION.to_vec(), &p.distribution);
    write(delta, keys::PARAMS_GOV.to_vec(), &p.gov);
    let mut events = Vec::new();
    for v in &genesis.validators {
        let commission = Commission {
            rate: Dec::ZERO,
            max_rate: Dec::ONE,
            max_change_rate: Dec(Dec::SCALE / 100),
            update_time_ms: genesis.genesis_time_ms,
        };
        create_validator(delta, v.operator, v.consensus_key, commission, 0, Description::default());
        bank::mint_to_module(delta, NOT_BONDED_POOL, v.stake)?;
        delegate(
            delta,
            0,
            &v.operator,
            &v.operator,
            v.stake,
            Source::Pool(NOT_BONDED_POOL),
            &mut events,
        )?;
    }
    update_validator_set(delta, 0, genesis.genesis_time_ms, &mut events)?;
    let set = validator_set(delta)?;
    write(delta, keys::SET_PREV.to_vec(), &set);
    Ok(())
}

/// Checks the staking, distribution and governance invariants (`docs/staking.md`).
pub fn check_invariants(state: &dyn StateRead) -> Result<(), String> {
    let e = |x: TxError| x.to_string();
    let vals = validators(state).map_err(e)?;
    let bonded: Amount =
        vals.iter().filter(|v| v.status == BondStatus::Bonded).map(|v| v.tokens).sum();
    let pool = bank::module_balance(state, BONDED_POOL).map_err(e)?;
    if pool != bonded {
        return Err(format!("bonded pool {pool} != bonded validators' tokens {bonded}"));
    }
    let not_bonded: Amount =
        vals.iter().filter(|v| v.status != BondStatus::Bonded).map(|v| v.tokens).sum();
    let entries: Amount = all_unbondings(state)
        .map_err(e)?
        .iter()
        .flat_map(|(_, _, es)| es.iter().map(|x| x.balance))
        .sum();
    let nb = bank::module_balance(state, NOT_BONDED_POOL).map_err(e)?;
    if nb != not_bonded + entries {
        return Err(format!(
            "not-bonded pool {nb} != unbonding/unbonded tokens {not_bonded} + entries {entries}"
        ));
    }
    let dels = all_delegations(state).map_err(e)?;
    for v in &vals {
        let s: Amount =
            dels.iter().filter(|(_, val, _)| *val == v.operator).map(|(_, _, d)| d.shares).sum();
        if s != v.shares {
            return Err(format!("validator {} shares {} != delegations {s}", v.operator, v.shares));
        }
    }
    for (d, v, del) in &dels {
        if del.shares == 0 {
            return Err(format!("zero delegation {d} -> {v}"));
        }
        if !vals.iter().any(|x| x.operator == *v) {
            return Err(format!("delegation {d} -> unknown validator {v}"));
        }
    }
    let mut outstanding: Amount = 0;
    for v in &vals {
        let vr = validator_rewards(state, &v.operator).map_err(e)?;
        if vr.commission > vr.outstanding {
            return Err(format!("validator {} commission above outstanding", v.operator));
        }
        outstanding += vr.outstanding;
        let mut owed: Amount = 0;
        for (d, _, _) in dels.iter().filter(|(_, val, _)| *val == v.operator) {
            owed += pending_rewards(state, d, &v.operator).map_err(e)?;
        }
        if owed > vr.outstanding - vr.commission {
            return Err(format!(
                "validator {} owes {owed} > outstanding {}",
                v.operator,
                vr.outstanding - vr.commission
            ));
        }
    }
    let community = community_pool(state).map_err(e)?;
    let dist = bank::module_balance(state, DISTRIBUTION_POOL).map_err(e)?;
    if dist != outstanding + community {
        return Err(format!(
            "distribution pool {dist} != outstanding {outstanding} + community {community}"
        ));
    }
    let t = reward_totals(state).map_err(e)?;
    if t.minted + t.fees != t.paid + dist {
        return Err(format!(
            "rewards minted {} + fees {} != paid {} + distribution pool {dist}",
            t.minted, t.fees, t.paid
        ));
    }
    gov::check_invariants(state)
}
