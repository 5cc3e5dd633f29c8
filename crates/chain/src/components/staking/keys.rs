//! State keys of staking, distribution, slashing and governance (`docs/staking.md` §Keys).
//! Heights, periods, times and ids are u64 big-endian so prefix scans come back in order.

use chorus_types::Address;

pub(crate) const PARAMS_STAKING: &[u8] = b"params/staking";
pub(crate) const PARAMS_SLASHING: &[u8] = b"params/slashing";
pub(crate) const PARAMS_DISTRIBUTION: &[u8] = b"params/distribution";
pub(crate) const PARAMS_GOV: &[u8] = b"params/gov";

pub(crate) const VALIDATOR: &[u8] = b"staking/val/";
pub(crate) const CONS: &[u8] = b"staking/cons/";
pub(crate) const DELEGATION: &[u8] = b"staking/del/";
pub(crate) const UBD: &[u8] = b"staking/ubd/";
pub(crate) const UBD_QUEUE: &[u8] = b"staking/ubdq/";
pub(crate) const RED: &[u8] = b"staking/red/";
pub(crate) const RED_QUEUE: &[u8] = b"staking/redq/";
pub(crate) const SIGNING: &[u8] = b"staking/sign/";
pub(crate) const SET: &[u8] = b"staking/set";
pub(crate) const SET_PREV: &[u8] = b"staking/set_prev";
/// Power index of the validators that may enter the set (not jailed, power > 0):
/// `staking/pow/<!power u64 BE><consensus key><operator>`, so a prefix scan walks power
/// descending, then consensus key ascending.
pub(crate) const POWER: &[u8] = b"staking/pow/";
/// Validators unbonding, by completion time: `staking/valq/<time BE><operator>`.
pub(crate) const VAL_QUEUE: &[u8] = b"staking/valq/";
/// Validators whose shares fell to 0 in this block (checked for removal in `end_block`).
pub(crate) const EMPTY: &[u8] = b"staking/empty/";
/// Number of stored validators (u32).
pub(crate) const VAL_COUNT: &[u8] = b"staking/nval";

pub(crate) const DIST_VAL: &[u8] = b"dist/val/";
pub(crate) const DIST_HIST: &[u8] = b"dist/hist/";
pub(crate) const DIST_SLASH: &[u8] = b"dist/slash/";
pub(crate) const DIST_START: &[u8] = b"dist/start/";
pub(crate) const DIST_COMMUNITY: &[u8] = b"dist/community";
pub(crate) const DIST_TOTALS: &[u8] = b"dist/totals";

pub(crate) const GOV_NEXT_ID: &[u8] = b"gov/next_id";
pub(crate) const GOV_PROPOSAL: &[u8] = b"gov/prop/";
pub(crate) const GOV_DEPOSIT: &[u8] = b"gov/deposit/";
pub(crate) const GOV_VOTE: &[u8] = b"gov/vote/";
/// Proposals in their deposit period by its end: `gov/dq/<deposit_end BE><id BE>`.
pub(crate) const GOV_DEPOSIT_QUEUE: &[u8] = b"gov/dq/";
/// Proposals in their voting period by its end: `gov/vq/<voting_end BE><id BE>`.
pub(crate) const GOV_VOTING_QUEUE: &[u8] = b"gov/vq/";
/// Number of proposals in their deposit or voting period (u32).
pub(crate) const GOV_ACTIVE_COUNT: &[u8] = b"gov/n_active";

pub(crate) fn k(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

pub(crate) fn validator(op: &Address) -> Vec<u8> {
    k(VALIDATOR, &[&op.0])
}
pub(crate) fn cons(key: &[u8; 32]) -> Vec<u8> {
    k(CONS, &[key])
}
pub(crate) fn delegation(del: &Address, val: &Address) -> Vec<u8> {
    k(DELEGATION, &[&del.0, &val.0])
}
pub(crate) fn ubd(del: &Address, val: &Address) -> Vec<u8> {
    k(UBD, &[&del.0, &val.0])
}
pub(crate) fn ubd_queue(time: u64, del: &Address, val: &Address) -> Vec<u8> {
    k(UBD_QUEUE, &[&time.to_be_bytes(), &del.0, &val.0])
}
pub(crate) fn red(del: &Address, src: &Address, dst: &Address) -> Vec<u8> {
    k(RED, &[&del.0, &src.0, &dst.0])
}
pub(crate) fn red_queue(time: u64, del: &Address, src: &Address, dst: &Address) -> Vec<u8> {
    k(RED_QUEUE, &[&time.to_be_bytes(), &del.0, &src.0, &dst.0])
}
pub(crate) fn signing(op: &Address) -> Vec<u8> {
    k(SIGNING, &[&op.0])
}
pub(crate) fn dist_val(op: &Address) -> Vec<u8> {
    k(DIST_VAL, &[&op.0])
}
pub(crate) fn dist_hist(op: &Address, period: u64) -> Vec<u8> {
    k(DIST_HIST, &[&op.0, &period.to_be_bytes()])
}
pub(crate) fn dist_slash(op: &Address, period: u64) -> Vec<u8> {
    k(DIST_SLASH, &[&op.0, &period.to_be_bytes()])
}
pub(crate) fn dist_start(del: &Address, val: &Address) -> Vec<u8> {
    k(DIST_START, &[&del.0, &val.0])
}
pub(crate) fn proposal(id: u64) -> Vec<u8> {
    k(GOV_PROPOSAL, &[&id.to_be_bytes()])
}
pub(crate) fn deposit(id: u64, addr: &Address) -> Vec<u8> {
    k(GOV_DEPOSIT, &[&id.to_be_bytes(), &addr.0])
}
pub(crate) fn vote(id: u64, addr: &Address) -> Vec<u8> {
    k(GOV_VOTE, &[&id.to_be_bytes(), &addr.0])
}
pub(crate) fn deposit_queue(end_ms: u64, id: u64) -> Vec<u8> {
    k(GOV_DEPOSIT_QUEUE, &[&end_ms.to_be_bytes(), &id.to_be_bytes()])
}
pub(crate) fn voting_queue(end_ms: u64, id: u64) -> Vec<u8> {
    k(GOV_VOTING_QUEUE, &[&end_ms.to_be_bytes(), &id.to_be_bytes()])
}
pub(crate) fn power(power: u64, cons: &[u8; 32], op: &Address) -> Vec<u8> {
    k(POWER, &[&(u64::MAX - power).to_be_bytes(), cons, &op.0])
}
pub(crate) fn val_queue(time: u64, op: &Address) -> Vec<u8> {
    k(VAL_QUEUE, &[&time.to_be_bytes(), &op.0])
}
pub(crate) fn empty(op: &Address) -> Vec<u8> {
    k(EMPTY, &[&op.0])
}

/// Splits the raw suffix after `prefix` into 20-byte addresses.
pub(crate) fn addrs(key: &[u8], prefix: &[u8], skip: usize) -> Vec<Address> {
    let rest = key.get(prefix.len() + skip..).unwrap_or_default();
    rest.chunks_exact(20).filter_map(|c| <[u8; 20]>::try_from(c).ok().map(Address)).collect()
}
