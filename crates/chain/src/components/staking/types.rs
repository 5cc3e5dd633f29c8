//! The records staking, slashing and distribution store: [`Validator`] (with [`BondStatus`] and
//! [`Commission`]), [`Delegation`], unbonding and redelegation entries, liveness
//! [`SigningInfo`], and the F1 distribution records ([`ValidatorRewards`], [`StartInfo`],
//! [`RewardTotals`]). Their borsh encodings are part of the state root: field order and types
//! must not change. Keys are in `keys.rs`.

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::staking::{Dec, Description, mul_div};
use chorus_types::{Address, Amount, ConsensusKeyBytes, Height};

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

pub(super) type RedelegationRow = (Address, Address, Address, Vec<RedelegationEntry>);
