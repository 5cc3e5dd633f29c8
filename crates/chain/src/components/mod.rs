//! Components: the modules of the state machine (spec DESIGN §2 "Components").
//!
//! # Adding a component
//! Each component is one file here (`bank.rs`, later `staking.rs`, `registry.rs`, `learning.rs`,
//! `storage.rs`, `compute.rs`) owning:
//! - its message enum in `chorus-types` (`Msg::<Component>(…)`, **appended** as a new variant so
//!   existing indices stay stable; bump `Msg::VARIANTS`);
//! - its state keys in [`crate::state_key`] under its own prefix, its params in
//!   `chorus_types::Params` (a new field with `#[serde(default)]`);
//! - up to six functions, wired into the dispatchers below with one `match` arm or one call each:
//!   - `check_stateless(&Msg) -> Result<(), TxError>`: shape checks, no state (zero amounts, …);
//!   - `spend(&Msg) -> Amount`: tokens the message takes from the sender's liquid balance, so
//!     `check_stateful` can require `balance ≥ fee + Σ spend` before a tx enters the mempool;
//!   - `check_stateful(&dyn StateRead, &TxContext, &Msg) -> Result<(), TxError>`: preconditions
//!     the mempool checks on a snapshot (optional);
//!   - `execute(&mut StateDelta, &TxContext, &Msg, &mut Vec<Event>) -> Result<(), TxError>`: the
//!     state transition. It runs inside a child overlay: an `Err` reverts every write of the whole
//!     transaction's messages (the fee stays charged), so write freely and fail late if needed;
//!   - `begin_block` / `end_block(&mut StateDelta, &BlockContext, &mut Vec<Event>)`: per-block
//!     hooks (reward distribution, unbonding queues, round deadlines), run in component order;
//!   - `init_genesis(&mut StateDelta, &Genesis)`.
//! - Moving tokens goes through [`bank`]'s `move_*` / `mint_*` / `burn_*` helpers only, so the
//!   supply invariant (`crate::invariants`) holds by construction. Escrow and bonded stake live
//!   in named module pools (`bank/module/<name>`).
//! - Everything is deterministic: no clocks (use `BlockContext::time_ms`), no entropy (use
//!   `BlockContext::randomness`), BTreeMap / sorted Vec only, integers only.

pub mod bank;
pub mod genesis;
pub mod gov;
pub mod learning;
pub mod registry;
pub mod staking;

/// The voting-power rule and the validator set, now part of [`staking`] (this module used to be
/// `components/validators.rs`); kept so `components::validators::…` paths still compile.
pub mod validators {
    pub use super::staking::{MAX_TOTAL_POWER, power_of, power_params as params, validator_set};
}

use chorus_types::{Amount, Event, Msg};

use crate::TxError;
use crate::context::BlockContext;
pub use crate::context::TxContext;
use crate::state::{StateDelta, StateRead};

/// Stateless checks of one message, by component.
pub(crate) fn check_stateless(msg: &Msg) -> Result<(), TxError> {
    match msg {
        Msg::Bank(m) => bank::check_stateless(m),
        Msg::Registry(m) => registry::check_stateless(m),
        Msg::Learning(m) => learning::check_stateless(m),
        Msg::Staking(m) => staking::check_stateless(m),
        Msg::Gov(m) => gov::check_stateless(m),
    }
}

/// Tokens a message takes from the sender's liquid balance, by component.
pub(crate) fn spend(msg: &Msg) -> Amount {
    match msg {
        Msg::Bank(m) => bank::spend(m),
        Msg::Registry(m) => registry::spend(m),
        Msg::Learning(m) => learning::spend(m),
        Msg::Staking(m) => staking::spend(m),
        Msg::Gov(m) => gov::spend(m),
    }
}

/// Stateful preconditions of one message (mempool), by component.
pub(crate) fn check_stateful(
    state: &dyn StateRead,
    ctx: &TxContext<'_>,
    msg: &Msg,
) -> Result<(), TxError> {
    match msg {
        Msg::Bank(m) => bank::check_stateful(state, ctx, m),
        Msg::Registry(m) => registry::check_stateful(state, ctx, m),
        Msg::Learning(m) => learning::check_stateful(state, ctx, m),
        Msg::Staking(m) => staking::check_stateful(state, ctx, m),
        Msg::Gov(m) => gov::check_stateful(state, ctx, m),
    }
}

/// Executes one message, by component.
pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &Msg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    match msg {
        Msg::Bank(m) => bank::execute(delta, ctx, m, events),
        Msg::Registry(m) => registry::execute(delta, ctx, m, events),
        Msg::Learning(m) => learning::execute(delta, ctx, m, events),
        Msg::Staking(m) => staking::execute(delta, ctx, m, events),
        Msg::Gov(m) => gov::execute(delta, ctx, m, events),
    }
}

/// Runs every component's `begin_block`, in component order.
pub(crate) fn begin_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    bank::begin_block(delta, ctx, events)?;
    staking::begin_block(delta, ctx, events)?;
    registry::begin_block(delta, ctx, events)?;
    learning::begin_block(delta, ctx, events)
}

/// Runs every component's `end_block`, in component order.
pub(crate) fn end_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    bank::end_block(delta, ctx, events)?;
    staking::end_block(delta, ctx, events)?;
    // Governance last: passed parameter changes apply from the next block.
    gov::end_block(delta, ctx, events)
}
