use chorus_chain::{TxError, check_stateless};
use chorus_types::{MAX_TX_BYTES, Msg};

use crate::support::*;

/// secp256k1 order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn n_minus(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

#[test]
fn stateless_accepts_a_good_tx_and_recovers_the_sender() {
    let stx = signed("alice", 0, 10, vec![transfer("bob", 5)]);
    let v = check_stateless(&stx.encode(), CHAIN).unwrap();
    assert_eq!(v.sender(), addr("alice"));
    assert_eq!(v.hash(), stx.hash());
    assert_eq!(v.size(), stx.encode().len());
    assert_eq!(v.signed(), &stx);
}

#[test]
fn stateless_rejects_malformed_bytes() {
    let bytes = signed("alice", 0, 10, vec![transfer("bob", 5)]).encode();
    assert!(matches!(check_stateless(&[], CHAIN), Err(TxError::Malformed(_))));
    assert!(matches!(
        check_stateless(&bytes[..bytes.len() - 1], CHAIN),
        Err(TxError::Malformed(_))
    ));
    let mut trailing = bytes.clone();
    trailing.push(1);
    assert!(matches!(check_stateless(&trailing, CHAIN), Err(TxError::Malformed(_))));
    assert_eq!(TxError::Malformed(String::new()).code(), 1);
}

#[test]
fn stateless_rejects_oversized_before_decoding() {
    let big = vec![0u8; MAX_TX_BYTES + 1];
    assert_eq!(
        check_stateless(&big, CHAIN),
        Err(TxError::Oversized { size: MAX_TX_BYTES + 1, max: MAX_TX_BYTES })
    );
    // A real transaction that is too large (many messages) is refused the same way.
    let msgs: Vec<Msg> = (0..2000).map(|_| transfer("bob", 1)).collect();
    let bytes = signed("alice", 0, 10, msgs).encode();
    assert!(bytes.len() > MAX_TX_BYTES);
    assert!(matches!(check_stateless(&bytes, CHAIN), Err(TxError::Oversized { .. })));
}

#[test]
fn stateless_rejects_wrong_chain_id() {
    let bytes = signed("alice", 0, 10, vec![transfer("bob", 5)]).encode();
    assert_eq!(check_stateless(&bytes, 8), Err(TxError::WrongChainId { expected: 8, got: CHAIN }));
}

#[test]
fn stateless_rejects_bad_signatures() {
    let stx = signed("alice", 0, 10, vec![transfer("bob", 5)]);
    let mut bad_v = stx.clone();
    bad_v.signature[64] = 1;
    assert_eq!(check_stateless(&bad_v.encode(), CHAIN), Err(TxError::BadSignature));
    let mut zero_r = stx.clone();
    zero_r.signature[..32].fill(0);
    assert_eq!(check_stateless(&zero_r.encode(), CHAIN), Err(TxError::BadSignature));
    // Tampering with the body changes the recovered sender, so it is not alice any more.
    let mut tampered = stx.clone();
    tampered.tx.fee = 11;
    match check_stateless(&tampered.encode(), CHAIN) {
        Ok(v) => assert_ne!(v.sender(), addr("alice")),
        Err(e) => assert_eq!(e, TxError::BadSignature),
    }
}

#[test]
fn stateless_rejects_high_s_twin_of_a_valid_signature() {
    let stx = signed("alice", 0, 10, vec![transfer("bob", 5)]);
    let mut high = stx.clone();
    high.signature[32..64].copy_from_slice(&n_minus(&stx.signature[32..64]));
    high.signature[64] = if stx.signature[64] == 27 { 28 } else { 27 };
    assert_eq!(check_stateless(&high.encode(), CHAIN), Err(TxError::HighS));
}

#[test]
fn stateless_rejects_empty_msgs_and_zero_amounts() {
    let bytes = signed("alice", 0, 10, vec![]).encode();
    assert_eq!(check_stateless(&bytes, CHAIN), Err(TxError::NoMessages));
    let bytes = signed("alice", 0, 10, vec![transfer("bob", 5), transfer("bob", 0)]).encode();
    assert_eq!(check_stateless(&bytes, CHAIN), Err(TxError::ZeroAmount));
}

#[test]
fn stateless_rejects_unknown_message_type_from_hand_crafted_bytes() {
    // chain_id, nonce, fee, 1 message with top-level variant 0x2a, then a 65-byte signature.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&CHAIN.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&10u128.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.push(0x2a);
    bytes.extend_from_slice(&[0u8; 8]);
    bytes.extend_from_slice(&[0u8; 65]);
    assert_eq!(
        check_stateless(&bytes, CHAIN),
        Err(TxError::UnknownMessage { position: 0, variant: 0x2a })
    );
    assert_eq!(TxError::UnknownMessage { position: 0, variant: 0 }.code(), 7);
}

#[test]
fn error_codes_are_stable() {
    let codes = [
        (TxError::Oversized { size: 0, max: 0 }.code(), 2),
        (TxError::WrongChainId { expected: 0, got: 0 }.code(), 3),
        (TxError::BadSignature.code(), 4),
        (TxError::HighS.code(), 5),
        (TxError::NoMessages.code(), 6),
        (TxError::ZeroAmount.code(), 8),
        (TxError::NonceTooLow { expected: 0, got: 0 }.code(), 10),
        (TxError::NonceGap { expected: 0, got: 0 }.code(), 11),
        (TxError::InsufficientFee { min: 0, got: 0 }.code(), 12),
        (TxError::InsufficientBalance { need: 0, have: 0 }.code(), 13),
        (TxError::Overflow.code(), 14),
    ];
    for (got, want) in codes {
        assert_eq!(got, want);
    }
}
