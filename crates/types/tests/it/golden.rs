use chorus_types::*;

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn sample_tx() -> Tx {
    Tx {
        chain_id: 7,
        nonce: 3,
        fee: 1000,
        msgs: vec![Msg::Bank(BankMsg::Transfer { to: Address([0x11; 20]), amount: 5 })],
    }
}

fn sample_signed() -> SignedTx {
    // Signature produced by Python eth_account (encode_typed_data + sign_message) with Hardhat
    // account #0 (0xac09…ff80 / 0xf39F…2266) over the typed data of sample_tx().
    let sig = hex::decode(
        "84cf2867b39907ed16293d7b38cafc10893a451d97aa76830cd4cf63542e1cda\
         2fc4f2345f638a418d1dab7848b0d9f1570dd1ee060fa6537f724a0330c5839d1c",
    )
    .unwrap();
    SignedTx { tx: sample_tx(), signature: sig.try_into().unwrap() }
}

#[test]
fn msg_encoding_is_pinned() {
    let m = vec![Msg::Bank(BankMsg::Transfer { to: Address([0x11; 20]), amount: 5 })];
    assert_eq!(
        hx(&borsh::to_vec(&m).unwrap()),
        // u32 count, Msg::Bank = 0, BankMsg::Transfer = 0, to, amount u128 LE
        "01000000\
         00\
         00\
         1111111111111111111111111111111111111111\
         05000000000000000000000000000000"
    );
}

#[test]
fn eip712_digest_matches_python_eth_account() {
    // Computed independently with Python eth_account 0.13 `encode_typed_data(full_message=…)`
    // for the typed data documented in docs/ledger.md.
    let tx = sample_tx();
    assert_eq!(
        hx(&domain_separator(7)),
        "328e6d06893b00f34699b5e53f796b8488842e63de08e86d14eed7fdd139dd9b"
    );
    assert_eq!(
        hx(&tx.struct_hash()),
        "5978ec36af770a5a354a088db915aa01054a0d0d1aad53a742a8107ddfb5d824"
    );
    assert_eq!(
        hx(&tx.signing_digest()),
        "e6ccf3bf6231a049107cdc57528da8a53af9c6f43b543b8e7e3aa2dcaa700f41"
    );
}

#[test]
fn eip712_digest_changes_with_every_field() {
    let base = sample_tx().signing_digest();
    let mut t = sample_tx();
    t.chain_id = 8;
    assert_ne!(t.signing_digest(), base);
    let mut t = sample_tx();
    t.nonce = 4;
    assert_ne!(t.signing_digest(), base);
    let mut t = sample_tx();
    t.fee = 1001;
    assert_ne!(t.signing_digest(), base);
    let mut t = sample_tx();
    t.msgs.push(t.msgs[0].clone());
    assert_ne!(t.signing_digest(), base);
}

#[test]
fn eip712_json_is_valid_typed_data() {
    let v: serde_json::Value = serde_json::from_str(&sample_tx().eip712_json()).unwrap();
    assert_eq!(v["primaryType"], "Tx");
    assert_eq!(v["domain"]["name"], "Chorus");
    assert_eq!(v["domain"]["chainId"], 7);
    assert_eq!(v["message"]["fee"], "1000");
    assert_eq!(v["message"]["msgs"], format!("0x{}", hx(&sample_tx().msgs_bytes())));
}

const SIGNED_HEX: &str = "0700000000000000\
     0300000000000000\
     e8030000000000000000000000000000\
     010000000000111111111111111111111111111111111111111105000000000000000000000000000000\
     84cf2867b39907ed16293d7b38cafc10893a451d97aa76830cd4cf63542e1cda\
     2fc4f2345f638a418d1dab7848b0d9f1570dd1ee060fa6537f724a0330c5839d1c";

#[test]
fn signed_tx_encoding_and_hash_are_pinned() {
    let s = sample_signed();
    assert_eq!(hx(&s.encode()), SIGNED_HEX);
    assert_eq!(s.hash(), Hash::keccak(&s.encode()));
    assert_eq!(s.hash().to_string(), GOLDEN_TX_HASH);
    assert_eq!(SignedTx::decode(&s.encode()).unwrap(), s);
}

const GOLDEN_TX_HASH: &str = "0x08ceb3f6a90aea29baf5699b2fd94ab787e71c73c862da9e4de433b17ce95936";

#[test]
fn decode_rejects_trailing_truncated_and_unknown_messages() {
    let bytes = sample_signed().encode();
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(SignedTx::decode(&long), Err(DecodeError::Malformed(_))));
    for cut in [0, 1, 8, 33, 40, bytes.len() - 1] {
        assert!(matches!(SignedTx::decode(&bytes[..cut]), Err(DecodeError::Malformed(_))), "{cut}");
    }
    // The first message's top-level variant byte sits right after chain_id, nonce, fee, count.
    let mut unknown = bytes.clone();
    unknown[36] = 0x09;
    assert_eq!(
        SignedTx::decode(&unknown),
        Err(DecodeError::UnknownMessage { position: 0, variant: 9 })
    );
    // An absurd message count is rejected without allocating.
    let mut huge = bytes.clone();
    huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(SignedTx::decode(&huge), Err(DecodeError::Malformed(_))));
}

fn sample_header() -> BlockHeader {
    BlockHeader {
        chain_id: 7,
        height: 2,
        time_ms: 1_700_000_000_000,
        prev_hash: Hash([0xaa; 32]),
        tx_root: merkle_root(&[sample_signed().hash()]),
        state_root: Hash([0xbb; 32]),
        receipts_root: merkle_root(&[]),
        proposer: [0xcc; 32],
        last_commit_hash: CommitInfo {
            height: 1,
            round: 0,
            signers: vec![[0xcc; 32]],
            signatures: vec![[0xdd; 64]],
        }
        .hash(),
    }
}

#[test]
fn header_encoding_and_block_hash_are_pinned() {
    let h = sample_header();
    assert_eq!(hx(&borsh::to_vec(&h).unwrap()), GOLDEN_HEADER);
    assert_eq!(h.hash().to_string(), GOLDEN_BLOCK_HASH);
    let b = Block {
        header: h.clone(),
        txs: vec![sample_signed()],
        last_commit: Some(CommitInfo {
            height: 1,
            round: 0,
            signers: vec![[0xcc; 32]],
            signatures: vec![[0xdd; 64]],
        }),
    };
    assert_eq!(b.compute_tx_root(), h.tx_root);
    assert_eq!(b.compute_last_commit_hash(), h.last_commit_hash);
    assert_eq!(b.hash(), h.hash());
    let bb = borsh::to_vec(&b).unwrap();
    assert_eq!(borsh::from_slice::<Block>(&bb).unwrap(), b);
    assert_eq!(Hash::keccak(&bb).to_string(), GOLDEN_BLOCK_BYTES_HASH);
}

// Moved 2026-12 when `CommitInfo` gained the precommit signatures (security review M1).
const GOLDEN_HEADER: &str = "070000000000000002000000000000000068e5cf8b010000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad8903a52e80f2424772b4b16543933947a31490dd071ef5284eababd57f04db7bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc789f5a96975785f08640636bd15b0573dad1dc5525cd1fa00597ba0d2ae0172d";
const GOLDEN_BLOCK_HASH: &str =
    "0x00b34728e4dea9e39c265aa14df2076fa200f36404b5843c7e98b3428c53138d";
const GOLDEN_BLOCK_BYTES_HASH: &str =
    "0x9c532c3321f6f547aed39539fe3f64e2b22c3959b0b88fc59bf1ceac5dc75384";

#[test]
fn merkle_root_is_pinned_and_order_sensitive() {
    let l: Vec<Hash> = (0u8..5).map(|i| Hash([i; 32])).collect();
    assert_eq!(
        merkle_root(&[]).to_string(),
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    );
    assert_eq!(merkle_root(&l).to_string(), GOLDEN_MERKLE_5);
    let mut swapped = l.clone();
    swapped.swap(0, 1);
    assert_ne!(merkle_root(&swapped), merkle_root(&l));
    // A leaf is not confused with an inner node of the same bytes.
    assert_ne!(merkle_root(&l[..1]), l[0]);
}

const GOLDEN_MERKLE_5: &str = "0xeff12a64e9f0dace3a0589100533c84bd5309d8c09229c0ca32afede81a70300";

fn sample_receipt() -> Receipt {
    Receipt {
        tx_hash: Hash([1; 32]),
        height: 2,
        index: 0,
        result: Err(TxFailure { code: 13, message: "insufficient balance".into() }),
        fee_paid: 1000,
        events: vec![Event::new(
            "bank.fee",
            vec![("payer".into(), Address([2; 20]).to_string()), ("amount".into(), "1000".into())],
        )],
    }
}

#[test]
fn receipt_encoding_is_pinned() {
    let r = sample_receipt();
    assert_eq!(hx(&borsh::to_vec(&r).unwrap()), GOLDEN_RECEIPT);
    assert_eq!(r.hash().to_string(), GOLDEN_RECEIPT_HASH);
    let ok = Receipt { result: Ok(()), ..r };
    assert_eq!(borsh::from_slice::<Receipt>(&borsh::to_vec(&ok).unwrap()).unwrap(), ok);
}

const GOLDEN_RECEIPT: &str = "0101010101010101010101010101010101010101010101010101010101010101020000000000000000000000000d00000014000000696e73756666696369656e742062616c616e6365e8030000000000000000000000000000010000000800000062616e6b2e666565020000000500000070617965722a00000030783032303230323032303230323032303230323032303230323032303230323032303230323032303206000000616d6f756e740400000031303030";
const GOLDEN_RECEIPT_HASH: &str =
    "0xbc661a6c49110bc5c5ad016727eaad1da2de8f9927a81ae70157f47dcfaae4f5";

#[test]
fn validator_info_encoding_is_pinned() {
    let v = ValidatorInfo { consensus_key: [3; 32], power: 10, operator: Address([4; 20]) };
    assert_eq!(
        hx(&borsh::to_vec(&v).unwrap()),
        format!("{}0a00000000000000{}", "03".repeat(32), "04".repeat(20))
    );
}

const GENESIS_JSON: &str = r#"{
  "chain_id": 7,
  "genesis_time_ms": 1700000000000,
  "accounts": [["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "340282366920938463463374607431768211455"]],
  "validators": [{
    "operator": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "consensus_key": "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "stake": "1000000"
  }],
  "params": { "bank": { "min_fee": 10 } }
}"#;

#[test]
fn genesis_json_roundtrips_with_string_amounts_and_defaults() {
    let g: Genesis = serde_json::from_str(GENESIS_JSON).unwrap();
    assert_eq!(g.accounts[0].1, u128::MAX);
    assert_eq!(g.validators[0].stake, 1_000_000);
    assert_eq!(g.params.bank.min_fee, 10);
    assert_eq!(g.params.validators, ValidatorParams::default());
    let again: Genesis = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(again, g);
    // Through serde_json::Value (as HTTP frameworks do) large amounts survive too.
    let v: serde_json::Value = serde_json::to_value(&g).unwrap();
    assert_eq!(serde_json::from_value::<Genesis>(v).unwrap(), g);
    assert!(
        serde_json::from_str::<Genesis>(&GENESIS_JSON.replace("\"1000000\"", "\"-1\"")).is_err()
    );
    assert!(serde_json::from_str::<Genesis>(&GENESIS_JSON.replace("min_fee", "min_fees")).is_err());
}

#[test]
fn tx_json_uses_snake_case_tags_and_string_amounts() {
    let j = serde_json::to_value(sample_tx()).unwrap();
    assert_eq!(
        j,
        serde_json::json!({
            "chain_id": 7, "nonce": 3, "fee": "1000",
            "msgs": [{"bank": {"transfer": {"to": format!("0x{}", "11".repeat(20)), "amount": "5"}}}]
        })
    );
    assert_eq!(serde_json::from_value::<Tx>(j).unwrap(), sample_tx());
}

#[test]
#[ignore = "prints fresh golden values; run with --ignored --nocapture when adding a fixture"]
fn print_golden_values() {
    let s = sample_signed();
    println!("tx hash {}", s.hash());
    let h = sample_header();
    println!("header {}", hx(&borsh::to_vec(&h).unwrap()));
    println!("block hash {}", h.hash());
    let b = Block {
        header: h,
        txs: vec![s],
        last_commit: Some(CommitInfo {
            height: 1,
            round: 0,
            signers: vec![[0xcc; 32]],
            signatures: vec![[0xdd; 64]],
        }),
    };
    println!("block bytes hash {}", Hash::keccak(&borsh::to_vec(&b).unwrap()));
    let l: Vec<Hash> = (0u8..5).map(|i| Hash([i; 32])).collect();
    println!("merkle5 {}", merkle_root(&l));
    let r = sample_receipt();
    println!("receipt {}", hx(&borsh::to_vec(&r).unwrap()));
    println!("receipt hash {}", r.hash());
}
