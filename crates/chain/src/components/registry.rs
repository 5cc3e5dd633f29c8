//! Registry: participants and workers with a bond, capabilities and an integer reputation
//! (spec DESIGN §2 "registry", `docs/learning.md` §Registry).
//!
//! Bonds live in the `registry` module pool. `Deregister` starts an unbonding delay
//! (`RegistryParams::unbonding_blocks`) during which the bond stays slashable; `Withdraw` after it
//! returns the bond. Objective faults go through [`slash`] (participants) or
//! [`validator_fault`] (validators, forwarded to the staking hook [`staking_fault_hook`]).
//! Slashed tokens are **burnt** (the supply shrinks), so nobody profits from reporting a fault.

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::learning::{
    Capabilities, MAX_DATASETS, MAX_TEXT_LEN, RegistryMsg, RegistryParams, Role,
};
use chorus_types::{Address, Amount, Event, Height};

use crate::codec::{read, write};
use crate::components::{TxContext, bank};
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

/// The module pool holding registry bonds.
pub const REGISTRY_POOL: &str = "registry";

/// Reputation gained for an accepted update.
pub const REP_ACCEPTED: i64 = 10;
/// Reputation lost for a selected participant that did not reveal.
pub const REP_NO_REVEAL: i64 = -5;
/// Reputation lost for an objective fault.
pub const REP_FAULT: i64 = -50;

/// Why a registry message was refused. Codes are stable (200–299).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The sender is already registered (code 200).
    #[error("already registered")]
    AlreadyRegistered,
    /// The sender is not registered (code 201).
    #[error("not registered")]
    NotRegistered,
    /// Bond below the minimum (code 202).
    #[error("bond {got} below minimum {min}")]
    BondTooLow {
        /// Minimum bond.
        min: Amount,
        /// Offered bond.
        got: Amount,
    },
    /// The registration is unbonding (code 203).
    #[error("registration is unbonding")]
    Unbonding,
    /// `Withdraw` without a prior `Deregister` (code 204).
    #[error("registration is not unbonding")]
    NotUnbonding,
    /// The unbonding delay has not passed (code 205).
    #[error("unbonding until height {until}")]
    UnbondingNotOver {
        /// First height at which `Withdraw` succeeds.
        until: Height,
    },
    /// A capability field is out of bounds (code 206).
    #[error("invalid capabilities: {0}")]
    InvalidCapabilities(&'static str),
    /// The bond is locked: the participant is selected in an open learning round whose reveal
    /// window has not closed, so it stays slashable (code 207, security review L8).
    #[error("bond locked by an open learning round until height {until}")]
    BondLocked {
        /// First height at which `Withdraw` can succeed.
        until: Height,
    },
}

impl RegistryError {
    /// The stable numeric code.
    pub fn code(&self) -> u32 {
        match self {
            RegistryError::AlreadyRegistered => 200,
            RegistryError::NotRegistered => 201,
            RegistryError::BondTooLow { .. } => 202,
            RegistryError::Unbonding => 203,
            RegistryError::NotUnbonding => 204,
            RegistryError::UnbondingNotOver { .. } => 205,
            RegistryError::InvalidCapabilities(_) => 206,
            RegistryError::BondLocked { .. } => 207,
        }
    }
}

/// Registration status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum RegStatus {
    /// Selectable.
    Active,
    /// Deregistered; the bond can be withdrawn from `until` on.
    Unbonding {
        /// First height at which `Withdraw` succeeds.
        until: Height,
    },
}

/// A registration, stored at `registry/reg/<addr>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Registration {
    /// Account.
    pub address: Address,
    /// Participant or worker.
    pub role: Role,
    /// Bond held in the `registry` pool.
    pub bond: Amount,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Reputation (starts at 0).
    pub reputation: i64,
    /// Status.
    pub status: RegStatus,
    /// Height of registration.
    pub registered_at: Height,
    /// Objective faults so far.
    pub faults: u32,
}

/// An objective fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum FaultReason {
    /// A reveal that does not open the participant's commitment.
    RevealMismatch,
    /// A score reveal that does not open the validator's score commitment.
    ScoreRevealMismatch,
    /// A validator attested two different aggregates in one round.
    ConflictingAttestation,
    /// A participant committed to an update and did not reveal it (security review M4).
    RevealWithheld,
    /// A validator committed to a score vector and did not reveal it (security review M4).
    ScoreRevealWithheld,
}

impl FaultReason {
    /// Event form.
    pub fn as_str(&self) -> &'static str {
        match self {
            FaultReason::RevealMismatch => "reveal_mismatch",
            FaultReason::ScoreRevealMismatch => "score_reveal_mismatch",
            FaultReason::ConflictingAttestation => "conflicting_attestation",
            FaultReason::RevealWithheld => "reveal_withheld",
            FaultReason::ScoreRevealWithheld => "score_reveal_withheld",
        }
    }
}

/// A recorded fault, stored at `registry/fault/<addr><seq u32 BE>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FaultRecord {
    /// Height of the fault.
    pub height: Height,
    /// Reason.
    pub reason: FaultReason,
    /// Task and round it happened in.
    pub task: u64,
    /// Round.
    pub round: u32,
    /// Tokens slashed from the registry bond (0 for validators: staking slashes them).
    pub slashed: Amount,
    /// Whether the offender is a validator.
    pub validator: bool,
}

/// Registry parameters: written at genesis from `Params::registry` and changed by governance
/// (`registry.*`); the [`chorus_types::Params`] default (bond floor
/// [`chorus_types::DEFAULT_MIN_BOND`]) if absent.
pub fn params(state: &dyn StateRead) -> Result<RegistryParams, TxError> {
    Ok(read::<RegistryParams>(state, state_key::PARAMS_REGISTRY)?
        .unwrap_or_else(|| chorus_types::Params::default().registry))
}

/// The registration of `addr`, if any.
pub fn registration(
    state: &dyn StateRead,
    addr: &Address,
) -> Result<Option<Registration>, TxError> {
    read(state, &state_key::registration(addr))
}

/// Every registration, by address.
pub fn registrations(state: &dyn StateRead) -> Result<Vec<Registration>, TxError> {
    state
        .scan_prefix(state_key::REGISTRATION_PREFIX)?
        .into_iter()
        .map(|(k, v)| borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k)))
        .collect()
}

/// Selectable participants: role participant, active, bond ≥ `min_bond`; `(address, bond)` by
/// address.
pub fn eligible_participants(
    state: &dyn StateRead,
    min_bond: Amount,
) -> Result<Vec<(Address, Amount)>, TxError> {
    Ok(registrations(state)?
        .into_iter()
        .filter(|r| {
            r.role == Role::Participant
                && r.status == RegStatus::Active
                && r.bond >= min_bond
                && r.bond > 0
        })
        .map(|r| (r.address, r.bond))
        .collect())
}

/// Faults recorded against `addr`.
pub fn faults(state: &dyn StateRead, addr: &Address) -> Result<Vec<FaultRecord>, TxError> {
    state
        .scan_prefix(&state_key::fault_prefix(addr))?
        .into_iter()
        .map(|(k, v)| borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k)))
        .collect()
}

/// The height before which `addr` may not `Withdraw` (0: not locked).
pub fn bond_locked_until(state: &dyn StateRead, addr: &Address) -> Result<Height, TxError> {
    Ok(read::<Height>(state, &state_key::bond_lock(addr))?.unwrap_or(0))
}

/// Locks `addr`'s bond until `until` (keeps the later of this and any existing lock): the
/// learning component calls it for every participant it selects, with the round's reveal
/// deadline, so a selected participant cannot withdraw before its round can slash it (L8).
pub fn lock_bond(delta: &mut StateDelta<'_>, addr: &Address, until: Height) -> Result<(), TxError> {
    if bond_locked_until(delta, addr)? < until {
        write(delta, state_key::bond_lock(addr), &until);
    }
    Ok(())
}

fn put(delta: &mut StateDelta<'_>, r: &Registration) {
    write(delta, state_key::registration(&r.address), r);
}

fn record_fault(delta: &mut StateDelta<'_>, addr: &Address, rec: &FaultRecord) {
    let seq = faults(delta, addr).map(|f| f.len() as u32).unwrap_or(0);
    write(delta, state_key::fault(addr, seq), rec);
}

/// Adds `delta_rep` to `addr`'s reputation (saturating); no-op if unregistered.
pub fn adjust_reputation(
    delta: &mut StateDelta<'_>,
    addr: &Address,
    delta_rep: i64,
) -> Result<(), TxError> {
    if let Some(mut r) = registration(delta, addr)? {
        r.reputation = r.reputation.saturating_add(delta_rep);
        put(delta, &r);
    }
    Ok(())
}

/// The objective-faults hook for participants and workers: slashes `slash_bps` of the bond
/// (rounded down, at least 1 token while the bond is non-zero), burns it, lowers the reputation,
/// records the fault and emits `registry.fault`. Returns the slashed amount (0 if unregistered).
pub fn slash(
    delta: &mut StateDelta<'_>,
    height: Height,
    addr: &Address,
    reason: FaultReason,
    task: u64,
    round: u32,
    events: &mut Vec<Event>,
) -> Result<Amount, TxError> {
    let p = params(delta)?;
    let mut slashed = 0;
    if let Some(mut r) = registration(delta, addr)? {
        slashed = (r.bond / 10_000 * u128::from(p.slash_bps)
            + r.bond % 10_000 * u128::from(p.slash_bps) / 10_000)
            .max(u128::from(r.bond > 0))
            .min(r.bond);
        if slashed > 0 {
            bank::burn_from_module(delta, REGISTRY_POOL, slashed)?;
        }
        r.bond -= slashed;
        r.reputation = r.reputation.saturating_add(REP_FAULT);
        r.faults = r.faults.saturating_add(1);
        put(delta, &r);
    }
    record_fault(
        delta,
        addr,
        &FaultRecord { height, reason, task, round, slashed, validator: false },
    );
    events.push(fault_event(addr, reason, task, round, slashed, "participant"));
    Ok(slashed)
}

/// Objective fault of a validator: records it, emits `registry.fault` (role `validator`) and
/// calls [`staking_fault_hook`].
pub fn validator_fault(
    delta: &mut StateDelta<'_>,
    height: Height,
    operator: &Address,
    reason: FaultReason,
    task: u64,
    round: u32,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    record_fault(
        delta,
        operator,
        &FaultRecord { height, reason, task, round, slashed: 0, validator: true },
    );
    events.push(fault_event(operator, reason, task, round, 0, "validator"));
    staking_fault_hook(delta, height, operator, reason, events)
}

/// Hook for the staking component: slashes the validator `slash_fraction_fault` of its stake for
/// an objective protocol fault (`staking.slash` event with the reason; see
/// `staking::handle_fault`).
pub fn staking_fault_hook(
    delta: &mut StateDelta<'_>,
    height: Height,
    operator: &Address,
    reason: FaultReason,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    crate::components::staking::handle_fault(delta, height, operator, reason.as_str(), events)
        .map(|_| ())
}

fn fault_event(
    addr: &Address,
    reason: FaultReason,
    task: u64,
    round: u32,
    slashed: Amount,
    role: &str,
) -> Event {
    Event::new(
        "registry.fault",
        vec![
            ("address".into(), addr.to_string()),
            ("role".into(), role.into()),
            ("reason".into(), reason.as_str().into()),
            ("task".into(), task.to_string()),
            ("round".into(), round.to_string()),
            ("slashed".into(), slashed.to_string()),
        ],
    )
}

fn check_capabilities(c: &Capabilities) -> Result<(), RegistryError> {
    if c.datasets.len() > MAX_DATASETS {
        return Err(RegistryError::InvalidCapabilities("too many datasets"));
    }
    if c.datasets.iter().any(|d| d.is_empty() || d.len() > MAX_TEXT_LEN) {
        return Err(RegistryError::InvalidCapabilities("dataset name empty or too long"));
    }
    if c.device.accelerator.len() > MAX_TEXT_LEN {
        return Err(RegistryError::InvalidCapabilities("accelerator name too long"));
    }
    if c.x25519_public_key == [0u8; 32] {
        return Err(RegistryError::InvalidCapabilities("x25519 public key is zero"));
    }
    Ok(())
}

pub(crate) fn check_stateless(msg: &RegistryMsg) -> Result<(), TxError> {
    match msg {
        RegistryMsg::Register { bond, capabilities, .. } => {
            if *bond == 0 {
                return Err(TxError::ZeroAmount);
            }
            check_capabilities(capabilities)?;
        }
        RegistryMsg::AddBond { amount } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
        }
        RegistryMsg::UpdateCapabilities { capabilities } => check_capabilities(capabilities)?,
        RegistryMsg::Deregister | RegistryMsg::Withdraw => {}
    }
    Ok(())
}

pub(crate) fn spend(msg: &RegistryMsg) -> Amount {
    match msg {
        RegistryMsg::Register { bond, .. } => *bond,
        RegistryMsg::AddBond { amount } => *amount,
        _ => 0,
    }
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    ctx: &TxContext<'_>,
    msg: &RegistryMsg,
) -> Result<(), TxError> {
    let mut delta = StateDelta::new(state);
    execute(&mut delta, ctx, msg, &mut Vec::new())
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &RegistryMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let sender = ctx.sender;
    let height = ctx.block.height;
    let existing = registration(delta, &sender)?;
    match msg {
        RegistryMsg::Register { role, bond, capabilities } => {
            if existing.is_some() {
                return Err(RegistryError::AlreadyRegistered.into());
            }
            let min = params(delta)?.min_bond;
            if *bond < min {
                return Err(RegistryError::BondTooLow { min, got: *bond }.into());
            }
            bank::move_to_module(delta, &sender, REGISTRY_POOL, *bond)?;
            put(
                delta,
                &Registration {
                    address: sender,
                    role: *role,
                    bond: *bond,
                    capabilities: capabilities.clone(),
                    reputation: 0,
                    status: RegStatus::Active,
                    registered_at: height,
                    faults: 0,
                },
            );
            events.push(Event::new(
                "registry.registered",
                vec![
                    ("address".into(), sender.to_string()),
                    ("role".into(), format!("{role:?}").to_lowercase()),
                    ("bond".into(), bond.to_string()),
                ],
            ));
        }
        RegistryMsg::AddBond { amount } => {
            let mut r = existing.ok_or(RegistryError::NotRegistered)?;
            if r.status != RegStatus::Active {
                return Err(RegistryError::Unbonding.into());
            }
            bank::move_to_module(delta, &sender, REGISTRY_POOL, *amount)?;
            r.bond = r.bond.checked_add(*amount).ok_or(TxError::Overflow)?;
            put(delta, &r);
            events.push(Event::new(
                "registry.bonded",
                vec![("address".into(), sender.to_string()), ("amount".into(), amount.to_string())],
            ));
        }
        RegistryMsg::UpdateCapabilities { capabilities } => {
            let mut r = existing.ok_or(RegistryError::NotRegistered)?;
            r.capabilities = capabilities.clone();
            put(delta, &r);
            events.push(Event::new(
                "registry.capabilities_updated",
                vec![("address".into(), sender.to_string())],
            ));
        }
        RegistryMsg::Deregister => {
            let mut r = existing.ok_or(RegistryError::NotRegistered)?;
            if r.status != RegStatus::Active {
                return Err(RegistryError::Unbonding.into());
            }
            let until = height.saturating_add(params(delta)?.unbonding_blocks);
            r.status = RegStatus::Unbonding { until };
            put(delta, &r);
            events.push(Event::new(
                "registry.unbonding",
                vec![("address".into(), sender.to_string()), ("until".into(), until.to_string())],
            ));
        }
        RegistryMsg::Withdraw => {
            let r = existing.ok_or(RegistryError::NotRegistered)?;
            let RegStatus::Unbonding { until } = r.status else {
                return Err(RegistryError::NotUnbonding.into());
            };
            if height < until {
                return Err(RegistryError::UnbondingNotOver { until }.into());
            }
            let locked = bond_locked_until(delta, &sender)?;
            if height < locked {
                return Err(RegistryError::BondLocked { until: locked }.into());
            }
            delta.delete(state_key::bond_lock(&sender));
            if r.bond > 0 {
                bank::move_from_module(delta, REGISTRY_POOL, &sender, r.bond)?;
            }
            delta.delete(state_key::registration(&sender));
            events.push(Event::new(
                "registry.withdrawn",
                vec![("address".into(), sender.to_string()), ("amount".into(), r.bond.to_string())],
            ));
        }
    }
    Ok(())
}

pub(crate) fn begin_block(
    _delta: &mut StateDelta<'_>,
    _ctx: &BlockContext,
    _events: &mut Vec<Event>,
) -> Result<(), TxError> {
    Ok(())
}
