//! Bank: balances, transfers, fees (collected for the validators), module pools and the total supply.
//!
//! Invariant (checked by [`crate::invariants::check`]): `supply = Σ balances + Σ module pools`.
//! Every token movement in the chain goes through the helpers here; the only functions that change
//! the supply are [`mint_to_account`], [`mint_to_module`], [`burn_from_account`] and
//! [`burn_from_module`]. `charge_fee` moves fees into the [`FEE_COLLECTOR`] pool, which staking
//! distributes with the next block's rewards.

use chorus_types::{Address, Amount, BankMsg, BankParams, Event, Genesis};

use crate::codec::{read, write};
use crate::components::TxContext;
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

/// The module pool holding bonded validator stake.
pub const BONDED_POOL: &str = "bonded";

/// Balance of an account (0 if it has none).
pub fn balance(state: &dyn StateRead, addr: &Address) -> Result<Amount, TxError> {
    Ok(read::<Amount>(state, &state_key::balance(addr))?.unwrap_or(0))
}

/// Balance of a module pool (0 if it has none).
pub fn module_balance(state: &dyn StateRead, module: &str) -> Result<Amount, TxError> {
    validate_module_name(module)?;
    Ok(read::<Amount>(state, &state_key::module_pool(module))?.unwrap_or(0))
}

/// Total supply.
pub fn supply(state: &dyn StateRead) -> Result<Amount, TxError> {
    Ok(read::<Amount>(state, state_key::SUPPLY)?.unwrap_or(0))
}

/// Bank parameters (defaults if absent).
pub fn params(state: &dyn StateRead) -> Result<BankParams, TxError> {
    Ok(read::<BankParams>(state, state_key::PARAMS_BANK)?.unwrap_or_default())
}

/// Module pool names are `[a-z0-9_]{1,32}`.
pub fn validate_module_name(name: &str) -> Result<(), TxError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok { Ok(()) } else { Err(TxError::InvalidModuleName(name.to_string())) }
}

fn set_balance(delta: &mut StateDelta<'_>, addr: &Address, amount: Amount) {
    let key = state_key::balance(addr);
    if amount == 0 { delta.delete(key) } else { write(delta, key, &amount) }
}

fn set_module_balance(delta: &mut StateDelta<'_>, module: &str, amount: Amount) {
    let key = state_key::module_pool(module);
    if amount == 0 { delta.delete(key) } else { write(delta, key, &amount) }
}

fn set_supply(delta: &mut StateDelta<'_>, amount: Amount) {
    write(delta, state_key::SUPPLY.to_vec(), &amount);
}

fn debit(delta: &mut StateDelta<'_>, addr: &Address, amount: Amount) -> Result<(), TxError> {
    let have = balance(delta, addr)?;
    let left =
        have.checked_sub(amount).ok_or(TxError::InsufficientBalance { need: amount, have })?;
    set_balance(delta, addr, left);
    Ok(())
}

fn credit(delta: &mut StateDelta<'_>, addr: &Address, amount: Amount) -> Result<(), TxError> {
    let new = balance(delta, addr)?.checked_add(amount).ok_or(TxError::Overflow)?;
    set_balance(delta, addr, new);
    Ok(())
}

fn debit_module(delta: &mut StateDelta<'_>, module: &str, amount: Amount) -> Result<(), TxError> {
    let have = module_balance(delta, module)?;
    let left = have.checked_sub(amount).ok_or_else(|| TxError::InsufficientModuleBalance {
        module: module.to_string(),
        need: amount,
        have,
    })?;
    set_module_balance(delta, module, left);
    Ok(())
}

fn credit_module(delta: &mut StateDelta<'_>, module: &str, amount: Amount) -> Result<(), TxError> {
    let new = module_balance(delta, module)?.checked_add(amount).ok_or(TxError::Overflow)?;
    set_module_balance(delta, module, new);
    Ok(())
}

/// Moves `amount` between accounts. Zero amounts are refused.
pub fn transfer(
    delta: &mut StateDelta<'_>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    debit(delta, from, amount)?;
    credit(delta, to, amount)
}

/// Moves `amount` from an account into a module pool (escrow, bonding).
pub fn move_to_module(
    delta: &mut StateDelta<'_>,
    from: &Address,
    module: &str,
    amount: Amount,
) -> Result<(), TxError> {
    validate_module_name(module)?;
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    debit(delta, from, amount)?;
    credit_module(delta, module, amount)
}

/// Moves `amount` from a module pool to an account (refund, reward payout, unbonding).
pub fn move_from_module(
    delta: &mut StateDelta<'_>,
    module: &str,
    to: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    validate_module_name(module)?;
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    debit_module(delta, module, amount)?;
    credit(delta, to, amount)
}

/// Moves `amount` between module pools.
pub fn move_between_modules(
    delta: &mut StateDelta<'_>,
    from: &str,
    to: &str,
    amount: Amount,
) -> Result<(), TxError> {
    validate_module_name(from)?;
    validate_module_name(to)?;
    if amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    debit_module(delta, from, amount)?;
    credit_module(delta, to, amount)
}

fn add_supply(delta: &mut StateDelta<'_>, amount: Amount) -> Result<(), TxError> {
    let s = supply(delta)?.checked_add(amount).ok_or(TxError::Overflow)?;
    set_supply(delta, s);
    Ok(())
}

fn sub_supply(delta: &mut StateDelta<'_>, amount: Amount) -> Result<(), TxError> {
    // Cannot underflow while the invariant holds: the burnt tokens were part of the supply.
    let s = supply(delta)?.checked_sub(amount).ok_or(TxError::Overflow)?;
    set_supply(delta, s);
    Ok(())
}

/// Creates `amount` new tokens in an account (supply grows).
pub fn mint_to_account(
    delta: &mut StateDelta<'_>,
    to: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    add_supply(delta, amount)?;
    credit(delta, to, amount)
}

/// Creates `amount` new tokens in a module pool (supply grows).
pub fn mint_to_module(
    delta: &mut StateDelta<'_>,
    module: &str,
    amount: Amount,
) -> Result<(), TxError> {
    validate_module_name(module)?;
    add_supply(delta, amount)?;
    credit_module(delta, module, amount)
}

/// Destroys `amount` tokens of an account (supply shrinks).
pub fn burn_from_account(
    delta: &mut StateDelta<'_>,
    from: &Address,
    amount: Amount,
) -> Result<(), TxError> {
    debit(delta, from, amount)?;
    sub_supply(delta, amount)
}

/// Destroys `amount` tokens of a module pool (slashing; supply shrinks).
pub fn burn_from_module(
    delta: &mut StateDelta<'_>,
    module: &str,
    amount: Amount,
) -> Result<(), TxError> {
    validate_module_name(module)?;
    debit_module(delta, module, amount)?;
    sub_supply(delta, amount)
}

/// Module pool collecting transaction fees until the next block distributes them.
pub const FEE_COLLECTOR: &str = "fee_collector";

/// Charges a transaction fee into [`FEE_COLLECTOR`] and emits `bank.fee`.
pub(crate) fn charge_fee(
    delta: &mut StateDelta<'_>,
    payer: &Address,
    fee: Amount,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    if fee == 0 {
        return Ok(());
    }
    move_to_module(delta, payer, FEE_COLLECTOR, fee)?;
    events.push(Event::new(
        "bank.fee",
        vec![("payer".into(), payer.to_string()), ("amount".into(), fee.to_string())],
    ));
    Ok(())
}

pub(crate) fn check_stateless(msg: &BankMsg) -> Result<(), TxError> {
    match msg {
        BankMsg::Transfer { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            Ok(())
        }
    }
}

pub(crate) fn spend(msg: &BankMsg) -> Amount {
    match msg {
        BankMsg::Transfer { amount, .. } => *amount,
    }
}

pub(crate) fn check_stateful(
    _state: &dyn StateRead,
    _ctx: &TxContext<'_>,
    msg: &BankMsg,
) -> Result<(), TxError> {
    match msg {
        // The balance precondition is covered by the transaction-level `fee + Σ spend` check.
        BankMsg::Transfer { .. } => Ok(()),
    }
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &BankMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    match msg {
        BankMsg::Transfer { to, amount } => {
            transfer(delta, &ctx.sender, to, *amount)?;
            events.push(Event::new(
                "bank.transfer",
                vec![
                    ("from".into(), ctx.sender.to_string()),
                    ("to".into(), to.to_string()),
                    ("amount".into(), amount.to_string()),
                ],
            ));
            Ok(())
        }
    }
}

pub(crate) fn begin_block(
    _delta: &mut StateDelta<'_>,
    _ctx: &BlockContext,
    _events: &mut Vec<Event>,
) -> Result<(), TxError> {
    Ok(())
}

pub(crate) fn end_block(
    _delta: &mut StateDelta<'_>,
    _ctx: &BlockContext,
    _events: &mut Vec<Event>,
) -> Result<(), TxError> {
    Ok(())
}

/// Writes params and initial balances; the supply starts as their sum.
pub(crate) fn init_genesis(delta: &mut StateDelta<'_>, genesis: &Genesis) -> Result<(), TxError> {
    write(delta, state_key::PARAMS_BANK.to_vec(), &genesis.params.bank);
    for (addr, amount) in &genesis.accounts {
        if *amount > 0 {
            mint_to_account(delta, addr, *amount)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemState;

    fn a(i: u8) -> Address {
        Address([i; 20])
    }

    #[test]
    fn module_moves_keep_supply_and_reject_overdraw() {
        let base = MemState::new();
        let mut d = StateDelta::new(&base);
        mint_to_account(&mut d, &a(1), 100).unwrap();
        move_to_module(&mut d, &a(1), "escrow", 60).unwrap();
        assert_eq!(balance(&d, &a(1)).unwrap(), 40);
        assert_eq!(module_balance(&d, "escrow").unwrap(), 60);
        move_between_modules(&mut d, "escrow", "rewards", 10).unwrap();
        move_from_module(&mut d, "escrow", &a(2), 50).unwrap();
        assert_eq!(
            move_from_module(&mut d, "escrow", &a(2), 1),
            Err(TxError::InsufficientModuleBalance { module: "escrow".into(), need: 1, have: 0 })
        );
        burn_from_module(&mut d, "rewards", 4).unwrap();
        assert_eq!(supply(&d).unwrap(), 96);
        assert_eq!(
            move_to_module(&mut d, &a(1), "Bad-Name", 1),
            Err(TxError::InvalidModuleName("Bad-Name".into()))
        );
        assert_eq!(move_to_module(&mut d, &a(1), "escrow", 0), Err(TxError::ZeroAmount));
        let mut s = base.clone();
        s.apply(&d.into_changes());
        crate::invariants::check(&s).unwrap();
        // Emptied accounts and pools leave no key behind.
        assert!(s.get(&state_key::module_pool("escrow")).unwrap().is_none());
    }

    #[test]
    fn transfer_rejects_insufficient_balance_and_overflow() {
        let base = MemState::new();
        let mut d = StateDelta::new(&base);
        mint_to_account(&mut d, &a(1), 5).unwrap();
        assert_eq!(
            transfer(&mut d, &a(1), &a(2), 6),
            Err(TxError::InsufficientBalance { need: 6, have: 5 })
        );
        assert_eq!(mint_to_account(&mut d, &a(2), u128::MAX), Err(TxError::Overflow));
    }
}
