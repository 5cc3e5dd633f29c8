use chorus_chain::{TxError, check_stateful, execute_block, validator_set};
use chorus_types::{Address, Receipt, TxFailure};

use crate::support::*;

fn failure(r: &Receipt) -> &TxFailure {
    r.result.as_ref().unwrap_err()
}

#[test]
fn transfer_moves_tokens_collects_the_fee_and_bumps_nonce() {
    let s = genesis_state();
    let tx = verified("alice", 0, 10, vec![transfer("bob", 100)]);
    check_stateful(&s, &tx).unwrap();
    let supply_before = chorus_chain::components::bank::supply(&s).unwrap();
    let (s2, out) = run(&s, 1, std::slice::from_ref(&tx));
    assert_eq!(balance(&s2, "alice"), 1000 - 100 - 10);
    assert_eq!(balance(&s2, "bob"), 600);
    assert_eq!(nonce(&s2, "alice"), 1);
    assert_eq!(chorus_chain::components::bank::supply(&s2).unwrap(), supply_before);
    assert_eq!(
        chorus_chain::components::bank::module_balance(
            &s2,
            chorus_chain::components::bank::FEE_COLLECTOR
        )
        .unwrap(),
        10
    );
    let r = &out.receipts[0];
    assert_eq!(r.result, Ok(()));
    assert_eq!((r.tx_hash, r.height, r.index, r.fee_paid), (tx.hash(), 1, 0, 10));
    let kinds: Vec<&str> = r.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["bank.fee", "bank.transfer"]);
    assert_eq!(r.events[1].attr("amount"), Some("100"));
    assert_eq!(r.events[1].attr("to"), Some(addr("bob").to_string().as_str()));
    assert_eq!(out.validator_set, validator_set(&s2).unwrap());
    assert_eq!(out.validator_set.len(), 1);
    assert_eq!(out.validator_set[0].power, 1_000_000);
}

#[test]
fn sequential_nonces_from_one_sender_execute_in_one_block() {
    let s = genesis_state();
    let txs: Vec<_> = (0..3).map(|n| verified("alice", n, 10, vec![transfer("bob", 1)])).collect();
    let (s2, out) = run(&s, 1, &txs);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()));
    assert_eq!(nonce(&s2, "alice"), 3);
    assert_eq!(balance(&s2, "bob"), 503);
}

#[test]
fn replayed_nonce_is_rejected_and_changes_nothing() {
    let s = genesis_state();
    let tx = verified("alice", 0, 10, vec![transfer("bob", 100)]);
    let (s2, _) = run(&s, 1, std::slice::from_ref(&tx));
    assert_eq!(check_stateful(&s2, &tx), Err(TxError::NonceTooLow { expected: 1, got: 0 }));
    let (s3, out) = run(&s2, 2, &[tx]);
    assert_eq!(failure(&out.receipts[0]).code, 10);
    assert_eq!(out.receipts[0].fee_paid, 0);
    assert!(out.receipts[0].events.is_empty());
    assert_eq!(user_state(&s3), user_state(&s2));
}

#[test]
fn gapped_nonce_is_rejected_and_changes_nothing() {
    let s = genesis_state();
    let tx = verified("alice", 5, 10, vec![transfer("bob", 1)]);
    assert_eq!(check_stateful(&s, &tx), Err(TxError::NonceGap { expected: 0, got: 5 }));
    let (s2, out) = run(&s, 1, &[tx]);
    assert_eq!(failure(&out.receipts[0]).code, 11);
    assert_eq!(user_state(&s2), user_state(&s));
}

#[test]
fn fee_below_minimum_is_rejected_and_changes_nothing() {
    let s = genesis_state();
    let tx = verified("alice", 0, MIN_FEE - 1, vec![transfer("bob", 1)]);
    assert_eq!(check_stateful(&s, &tx), Err(TxError::InsufficientFee { min: MIN_FEE, got: 9 }));
    let (s2, out) = run(&s, 1, &[tx]);
    assert_eq!(failure(&out.receipts[0]).code, 12);
    assert_eq!(user_state(&s2), user_state(&s));
}

#[test]
fn fee_above_balance_is_rejected_and_changes_nothing() {
    let s = genesis_state();
    let tx = verified("carol", 0, 10, vec![transfer("bob", 1)]);
    assert_eq!(check_stateful(&s, &tx), Err(TxError::InsufficientBalance { need: 10, have: 0 }));
    let (s2, out) = run(&s, 1, &[tx]);
    assert_eq!(failure(&out.receipts[0]).code, 13);
    assert_eq!(user_state(&s2), user_state(&s));
}

#[test]
fn mempool_rejects_amounts_above_balance_but_block_charges_fee_and_reverts_msgs() {
    let s = genesis_state();
    // bob has 500: 10 fee + 300 + 300 is too much.
    let tx = verified("bob", 0, 10, vec![transfer("alice", 300), transfer("carol", 300)]);
    assert_eq!(check_stateful(&s, &tx), Err(TxError::InsufficientBalance { need: 610, have: 500 }));
    // A proposer may still include it: the fee is charged and the nonce bumped, but the first
    // (successful) transfer is reverted together with the failing second one.
    let (s2, out) = run(&s, 1, &[tx]);
    let r = &out.receipts[0];
    assert_eq!(failure(r).code, 13);
    assert_eq!(r.fee_paid, 10);
    assert_eq!(r.events.len(), 1);
    assert_eq!(r.events[0].kind, "bank.fee");
    assert_eq!(balance(&s2, "bob"), 490);
    assert_eq!(balance(&s2, "alice"), 1000);
    assert_eq!(balance(&s2, "carol"), 0);
    assert_eq!(nonce(&s2, "bob"), 1);
}

#[test]
fn wrong_chain_tx_inside_a_block_changes_nothing() {
    let s = genesis_state();
    let tx = verified("alice", 0, 10, vec![transfer("bob", 1)]);
    let mut c = ctx(1);
    c.chain_id = 99;
    let out = execute_block(&s, &c, &[tx]).unwrap();
    assert_eq!(failure(&out.receipts[0]).code, 3);
    let mut s2 = s.clone();
    s2.apply(&out.changes);
    assert_eq!(user_state(&s2), user_state(&s));
}

#[test]
fn execute_block_is_deterministic() {
    let s = genesis_state();
    let txs = vec![
        verified("alice", 0, 10, vec![transfer("bob", 7), transfer("carol", 3)]),
        verified("bob", 0, 12, vec![transfer("alice", 900)]),
        verified("alice", 1, 10, vec![transfer("dave", 1)]),
        verified("alice", 1, 10, vec![transfer("dave", 1)]),
    ];
    let a = execute_block(&s, &ctx(1), &txs).unwrap();
    let b = execute_block(&s.clone(), &ctx(1), &txs.clone()).unwrap();
    assert_eq!(a, b);
    let enc = |o: &chorus_chain::BlockOutcome| borsh::to_vec(&o.receipts).unwrap();
    assert_eq!(enc(&a), enc(&b));
    // The duplicate (nonce 1 twice) fails the second time.
    assert!(a.receipts[2].result.is_ok());
    assert_eq!(failure(&a.receipts[3]).code, 10);
}

#[test]
fn empty_block_records_height_and_time_only() {
    let s = genesis_state();
    let (s2, out) = run(&s, 1, &[]);
    assert!(out.receipts.is_empty());
    assert_eq!(out.changes.len(), 2);
    assert_eq!(user_state(&s2), user_state(&s));
    let next = chorus_chain::BlockContext::next_after(&s2, CHAIN).unwrap();
    assert_eq!((next.height, next.time_ms), (2, ctx(1).time_ms));
}

#[test]
fn transfer_to_self_keeps_balance_minus_fee() {
    let s = genesis_state();
    let (s2, out) = run(&s, 1, &[verified("alice", 0, 10, vec![transfer("alice", 1000 - 10)])]);
    assert!(out.receipts[0].result.is_ok());
    assert_eq!(balance(&s2, "alice"), 990);
    let _ = Address::ZERO;
}
