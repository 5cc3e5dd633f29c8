//! Every state key the chain writes, in one place. Keys are ASCII prefixes followed by raw bytes
//! (addresses are their 20 raw bytes, not hex); values are borsh.
//!
//! | key | value |
//! |---|---|
//! | `chain/id` | `u64` chain id |
//! | `chain/genesis_time_ms` | `u64` |
//! | `chain/height` | `u64` height of the last executed block (0 after genesis) |
//! | `chain/time_ms` | `u64` time of the last executed block |
//! | `params/bank` | `BankParams` |
//! | `params/validators` | `ValidatorParams` |
//! | `auth/nonce/<addr20>` | `u64` next expected nonce (absent = 0) |
//! | `bank/balance/<addr20>` | `u128` balance (absent = 0; zero balances are deleted) |
//! | `bank/module/<name>` | `u128` module pool balance (absent = 0) |
//! | `bank/supply` | `u128` total supply |
//! | `validators/<operator addr20>` | unused since staking (was the placeholder record) |
//!
//! Staking, distribution, slashing and governance keys (`staking/…`, `dist/…`, `gov/…`,
//! `params/{staking,slashing,distribution,gov}`) live in `components::staking::keys` and are
//! listed in `docs/staking.md`.

use chorus_types::Address;

/// Chain id.
pub const CHAIN_ID: &[u8] = b"chain/id";
/// Genesis time.
pub const GENESIS_TIME_MS: &[u8] = b"chain/genesis_time_ms";
/// Height of the last executed block.
pub const LAST_HEIGHT: &[u8] = b"chain/height";
/// Time of the last executed block.
pub const LAST_TIME_MS: &[u8] = b"chain/time_ms";
/// Bank parameters.
pub const PARAMS_BANK: &[u8] = b"params/bank";
/// Validator-set parameters.
pub const PARAMS_VALIDATORS: &[u8] = b"params/validators";
/// Prefix of account nonces.
pub const NONCE_PREFIX: &[u8] = b"auth/nonce/";
/// Prefix of account balances.
pub const BALANCE_PREFIX: &[u8] = b"bank/balance/";
/// Prefix of module pool balances.
pub const MODULE_PREFIX: &[u8] = b"bank/module/";
/// Total supply.
pub const SUPPLY: &[u8] = b"bank/supply";
/// Prefix of validator records.
pub const VALIDATOR_PREFIX: &[u8] = b"validators/";

/// The active validator set written by each block's end-block (`Vec<ValidatorInfo>`): in the
/// state after block `h` it is the set that signs block `h + 1` (after genesis: the set of block
/// 1). Light clients prove it against a verified header's `state_root` to follow set changes
/// (the same key as `components::staking::keys::SET`).
pub const VALIDATOR_SET: &[u8] = b"staking/set";

fn join(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + rest.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(rest);
    k
}

/// `auth/nonce/<addr>`.
pub fn nonce(addr: &Address) -> Vec<u8> {
    join(NONCE_PREFIX, &addr.0)
}

/// `bank/balance/<addr>`.
pub fn balance(addr: &Address) -> Vec<u8> {
    join(BALANCE_PREFIX, &addr.0)
}

/// `bank/module/<name>`.
pub fn module_pool(name: &str) -> Vec<u8> {
    join(MODULE_PREFIX, name.as_bytes())
}

/// `validators/<operator>`.
pub fn validator(operator: &Address) -> Vec<u8> {
    join(VALIDATOR_PREFIX, &operator.0)
}

/// The address at the end of a key built by [`balance`], [`nonce`] or [`validator`].
pub fn address_suffix(key: &[u8], prefix: &[u8]) -> Option<Address> {
    let rest = key.strip_prefix(prefix)?;
    <[u8; 20]>::try_from(rest).ok().map(Address)
}

// Registry and learning keys (`docs/learning.md` §State keys). Task ids are u64 BE, rounds and
// versions u32 BE, addresses 20 raw bytes, so prefix scans come back in numeric/address order.

/// Registry parameters.
pub const PARAMS_REGISTRY: &[u8] = b"params/registry";
/// Prefix of registrations: `registry/reg/<addr20>` → `Registration`.
pub const REGISTRATION_PREFIX: &[u8] = b"registry/reg/";
/// Prefix of fault records: `registry/fault/<addr20><seq u32>` → `FaultRecord`.
pub const FAULT_PREFIX: &[u8] = b"registry/fault/";
/// Next task id (`u64`).
pub const LEARNING_NEXT_TASK: &[u8] = b"learning/next_task";
/// Prefix of tasks: `learning/task/<task>` → `Task`.
pub const TASK_PREFIX: &[u8] = b"learning/task/";
/// Prefix of the index of tasks that still need block hooks: `learning/active/<task>` → `()`.
pub const ACTIVE_TASK_PREFIX: &[u8] = b"learning/active/";
/// Prefix of the learning hook's deadline-indexed queue:
/// `learning/due/<height u64 BE><task u64 BE>` → `()` (each live task has at most one entry).
pub const LEARNING_DUE_PREFIX: &[u8] = b"learning/due/";
/// Number of tasks that are not ended (`u64`): capped by `learning::MAX_ACTIVE_TASKS`.
pub const LEARNING_ACTIVE_COUNT: &[u8] = b"learning/active_count";
/// Prefix of registry bond locks: `registry/lock/<addr20>` → `u64` height before which the
/// participant may not `Withdraw` (it is selected in an open round).
pub const BOND_LOCK_PREFIX: &[u8] = b"registry/lock/";
/// Prefix of learning per-round records: `learning/<kind>/<task><round>[<addr20>]`.
pub const LEARNING_PREFIX: &[u8] = b"learning/";

/// `registry/reg/<addr>`.
pub fn registration(addr: &Address) -> Vec<u8> {
    join(REGISTRATION_PREFIX, &addr.0)
}

/// `registry/fault/<addr>`.
pub fn fault_prefix(addr: &Address) -> Vec<u8> {
    join(FAULT_PREFIX, &addr.0)
}

/// `registry/fault/<addr><seq>`.
pub fn fault(addr: &Address, seq: u32) -> Vec<u8> {
    let mut k = fault_prefix(addr);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// `learning/task/<task>`.
pub fn task(task: u64) -> Vec<u8> {
    join(TASK_PREFIX, &task.to_be_bytes())
}

/// `learning/due/<height>`: the queue entries due at `height`.
pub fn learning_due_at(height: u64) -> Vec<u8> {
    join(LEARNING_DUE_PREFIX, &height.to_be_bytes())
}

/// `learning/due/<height><task>`.
pub fn learning_due(height: u64, task: u64) -> Vec<u8> {
    let mut k = learning_due_at(height);
    k.extend_from_slice(&task.to_be_bytes());
    k
}

/// `registry/lock/<addr>`.
pub fn bond_lock(addr: &Address) -> Vec<u8> {
    join(BOND_LOCK_PREFIX, &addr.0)
}

/// `learning/active/<task>`.
pub fn active_task(task: u64) -> Vec<u8> {
    join(ACTIVE_TASK_PREFIX, &task.to_be_bytes())
}

/// `learning/<kind>/<task>[<round>]`: `kind` is `round`, `sel`, `commit`, `score`, `attest`,
/// `outcome` (with a round) or `version` (with a version number in place of the round).
pub fn learning(kind: &str, task: u64, round: Option<u32>) -> Vec<u8> {
    let mut k = join(LEARNING_PREFIX, kind.as_bytes());
    k.push(b'/');
    k.extend_from_slice(&task.to_be_bytes());
    if let Some(r) = round {
        k.extend_from_slice(&r.to_be_bytes());
    }
    k
}

/// [`learning`] followed by an address.
pub fn learning_addr(kind: &str, task: u64, round: u32, addr: &Address) -> Vec<u8> {
    let mut k = learning(kind, task, Some(round));
    k.extend_from_slice(&addr.0);
    k
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_public_validator_set_key_is_the_one_staking_writes() {
        assert_eq!(super::VALIDATOR_SET, crate::components::staking::keys::SET);
    }
}
