//! [`TxSender`] pays the chain's minimum fee (discovered through the ledger, `/v1/status` for a
//! node) unless configured to pay more, and a transaction signed that way is accepted; a sender
//! pinned to a chain id signs for that chain only.

use std::sync::Arc;

use chorus_crypto::{AccountKey, ConsensusKey};
use chorus_sdk::ledger::MemLedger;
use chorus_sdk::{LedgerSource, TxSender};
use chorus_types::{Address, BankMsg, Genesis, GenesisValidator, Msg, Params};

fn ledger(min_fee: u128) -> (Arc<MemLedger>, AccountKey) {
    let alice = AccountKey::from_seed(b"alice");
    let mut params = Params::default();
    params.bank.min_fee = min_fee;
    let genesis = Genesis {
        chain_id: 5,
        genesis_time_ms: 0,
        accounts: vec![(alice.address(), 10u128.pow(12))],
        validators: vec![GenesisValidator {
            operator: AccountKey::from_seed(b"op").address(),
            consensus_key: ConsensusKey::from_seed(b"v").public_key(),
            stake: 10u128.pow(12),
        }],
        params,
    };
    (Arc::new(MemLedger::new(&genesis).unwrap()), alice)
}

fn transfer() -> Vec<Msg> {
    vec![Msg::Bank(BankMsg::Transfer { to: Address([9; 20]), amount: 1 })]
}

#[tokio::test]
async fn a_sender_configured_with_fee_zero_pays_the_chains_minimum_and_is_accepted() {
    let (l, alice) = ledger(1_000);
    assert_eq!(l.min_fee().await.unwrap(), 1_000);
    let sender = TxSender::new(l.clone(), alice, 0);
    assert_eq!(sender.fee().await.unwrap(), 1_000);
    let stx = sender.sign(transfer()).await.unwrap();
    assert_eq!(stx.tx.fee, 1_000);
    sender.resubmit(&stx).await.unwrap();
    l.produce_block().unwrap();
    let r = l.receipt(&stx.hash()).await.unwrap().unwrap();
    assert!(r.result.is_ok(), "{r:?}");
}

#[tokio::test]
async fn a_configured_fee_above_the_minimum_is_kept_and_a_lower_one_is_raised() {
    let (l, alice) = ledger(50);
    assert_eq!(TxSender::new(l.clone(), alice.clone(), 70).fee().await.unwrap(), 70);
    assert_eq!(TxSender::new(l, alice, 49).fee().await.unwrap(), 50);
}

#[test]
fn node_status_carries_the_minimum_fee_and_defaults_to_zero_without_it() {
    let s: chorus_sdk::client::NodeStatus =
        serde_json::from_str(r#"{"chain_id": 7, "height": 3, "min_fee": "1000"}"#).unwrap();
    assert_eq!((s.chain_id, s.min_fee), (7, 1_000));
    let old: chorus_sdk::client::NodeStatus =
        serde_json::from_str(r#"{"chain_id": 7, "height": 3}"#).unwrap();
    assert_eq!(old.min_fee, 0);
}

#[tokio::test]
async fn a_sender_pinned_to_another_chain_signs_nothing_and_one_pinned_to_this_chain_signs() {
    let (l, alice) = ledger(1_000);
    let wrong = TxSender::new(l.clone(), alice.clone(), 0).pinned(Some(6));
    match wrong.sign(transfer()).await {
        Err(chorus_sdk::Error::WrongChain { pinned: 6, reported: 5 }) => {}
        other => panic!("expected WrongChain, got {other:?}"),
    }
    let right = TxSender::new(l, alice, 0).pinned(Some(5));
    assert_eq!(right.sign(transfer()).await.unwrap().tx.chain_id, 5);
}
