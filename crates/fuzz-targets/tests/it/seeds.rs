//! The seed corpus `fuzz/corpus/<target>/`: valid encodings made with the crates' own encoders,
//! plus a few edge cases. Regenerate with
//! `cargo test -p chorus-fuzz-targets --test it -- --ignored write_seed_corpus`; the files are
//! committed (findings added by hand stay: only `seed-*` files are rewritten).

use std::path::{Path, PathBuf};

use chorus_crypto::{AccountKey, KeystoreKdf, sign_tx};
use chorus_fl::{FixedScale, Update};
use chorus_fuzz_targets::{
    CHAIN_ID, KEYSTORE_PASSWORD, STORE_NOW, consensus_keys, model_spec, seal_secret,
};
use chorus_types::learning::{
    DataMode, DpSettings, Encryption, ModelSpec, PhaseLengths, RuleSpec, TaskSpec,
};
use chorus_types::staking::{Vote, VoteType};
use chorus_types::{
    Address, BankMsg, Block, BlockHeader, CommitInfo, Event, Hash, Msg, Receipt, SignedTx, Tx,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

struct Writer {
    dir: PathBuf,
    n: usize,
}

impl Writer {
    fn new(target: &str) -> Writer {
        let dir = root().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("seed-") {
                std::fs::remove_file(p).unwrap();
            }
        }
        Writer { dir, n: 0 }
    }

    fn put(&mut self, what: &str, bytes: impl AsRef<[u8]>) {
        let path = self.dir.join(format!("seed-{:02}-{what}", self.n));
        std::fs::write(path, bytes).unwrap();
        self.n += 1;
    }
}

fn account() -> AccountKey {
    AccountKey::from_bytes(&[0x11; 32]).unwrap()
}

fn signed_tx(nonce: u64, msgs: Vec<Msg>) -> SignedTx {
    sign_tx(&account(), Tx { chain_id: CHAIN_ID, nonce, fee: 1_000, msgs })
}

fn transfer(amount: u128) -> Msg {
    Msg::Bank(BankMsg::Transfer { to: Address([0x22; 20]), amount })
}

fn commit_for(height: u64, block_hash: Hash) -> CommitInfo {
    let mut signed: Vec<([u8; 32], [u8; 64])> = consensus_keys()
        .iter()
        .map(|k| {
            let vote = Vote {
                height,
                round: 0,
                vote_type: VoteType::Precommit,
                value_id: Some(block_hash),
                validator: k.public_key(),
            };
            (k.public_key(), k.sign(&vote.sign_bytes(CHAIN_ID)))
        })
        .collect();
    signed.sort();
    CommitInfo {
        height,
        round: 0,
        signers: signed.iter().map(|(k, _)| *k).collect(),
        signatures: signed.iter().map(|(_, s)| *s).collect(),
    }
}

fn block(height: u64, txs: Vec<SignedTx>) -> Block {
    let prev_hash = Hash([0x33; 32]);
    let last_commit = (height > 1).then(|| commit_for(height - 1, prev_hash));
    let mut b = Block {
        header: BlockHeader {
            chain_id: CHAIN_ID,
            height,
            time_ms: 1_700_000_000_000,
            prev_hash,
            tx_root: Hash::ZERO,
            state_root: Hash([0x44; 32]),
            receipts_root: Hash::ZERO,
            proposer: consensus_keys()[0].public_key(),
            last_commit_hash: Hash::ZERO,
        },
        txs,
        last_commit,
    };
    b.header.tx_root = b.compute_tx_root();
    b.header.last_commit_hash = b.compute_last_commit_hash();
    b
}

fn task_spec() -> TaskSpec {
    TaskSpec {
        model: ModelSpec {
            spec_id: "mlp-784-128-10".into(),
            description: "mnist".into(),
            initial_model: Hash([0xAA; 32]),
        },
        data: DataMode::Private,
        rounds: 3,
        participants_per_round: 2,
        phases: PhaseLengths {
            commit: 2,
            reveal: 2,
            score_commit: 2,
            score_reveal: 2,
            aggregate: 2,
        },
        aggregation: RuleSpec { id: "fedavg".into(), params: vec![] },
        score_rule: RuleSpec { id: "loss_delta".into(), params: vec![] },
        min_quorum: 1,
        reward_per_round: 1_000_000,
        min_participant_stake: 1_000,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
        max_examples: 1_000,
    }
}

const GENESIS_JSON: &str = r#"{
  "chain_id": 7,
  "genesis_time_ms": 1700000000000,
  "accounts": [["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "1000000000000000000"]],
  "validators": [{
    "operator": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "consensus_key": "0xd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "stake": "1000000000000"
  }],
  "params": { "bank": { "min_fee": 10 } }
}"#;

#[test]
#[ignore = "writes fuzz/corpus; run by hand when a format changes"]
fn write_seed_corpus() {
    // tx
    let mut w = Writer::new("tx");
    let one = signed_tx(0, vec![transfer(5)]);
    w.put("transfer", one.encode());
    w.put("two-msgs", signed_tx(3, vec![transfer(1), transfer(u128::MAX)]).encode());
    w.put("no-msgs", signed_tx(1, vec![]).encode());
    w.put(
        "learning",
        signed_tx(
            2,
            vec![Msg::Learning(chorus_types::learning::LearningMsg::CreateTask {
                spec: Box::new(task_spec()),
            })],
        )
        .encode(),
    );
    let mut unknown = one.encode();
    unknown[36] = 0xEE; // the first message's variant
    w.put("unknown-msg", unknown);
    w.put("truncated", &one.encode()[..40]);
    w.put("empty", []);

    // signature
    let mut w = Writer::new("signature");
    let digest = one.tx.signing_digest();
    let mut s = digest.to_vec();
    s.extend_from_slice(&one.signature);
    s.extend_from_slice(b"hello");
    w.put("secp256k1", &s);
    let ck = &consensus_keys()[0];
    let msg = b"chorus/vote/v1 message";
    let mut s = ck.public_key().to_vec();
    s.extend_from_slice(&ck.sign(msg));
    s.push(0x1b);
    s.extend_from_slice(msg);
    w.put("ed25519", &s);

    // block
    let mut w = Writer::new("block");
    w.put("height-1", borsh::to_vec(&block(1, vec![])).unwrap());
    w.put("height-2-tx", borsh::to_vec(&block(2, vec![one.clone()])).unwrap());
    let receipt = Receipt {
        tx_hash: one.hash(),
        height: 2,
        index: 0,
        result: Ok(()),
        fee_paid: 1_000,
        events: vec![Event::new("transfer", vec![("amount".into(), "5".into())])],
    };
    w.put("receipt", borsh::to_vec(&receipt).unwrap());
    w.put("commit", borsh::to_vec(&commit_for(1, Hash::ZERO)).unwrap());

    // update and model
    let scale = FixedScale::default();
    let u = Update::from_f32(model_spec(), &[0.5, -1.0, 0.25, 2.0, -0.125, 1.5, 0.0, 3.0], scale)
        .unwrap();
    let mut w = Writer::new("update");
    w.put("chfu", u.to_bytes());
    w.put("safetensors-i32", u.to_safetensors().unwrap());
    let mut w = Writer::new("model");
    w.put("chfu", u.to_bytes());
    let other = chorus_fl::ModelSpec::new(vec![chorus_fl::TensorSpec::new("x", vec![2, 2, 1])]);
    w.put("chfu-other-layout", Update::from_f32(&other, &[1.0; 4], scale).unwrap().to_bytes());

    // store_request
    let mut w = Writer::new("store_request");
    let body = chorus_store::BlobId::of(b"body");
    for (method, path, digest) in
        [("PUT", "/blobs/updates", Some(body)), ("GET", "/blobs/updates?limit=10", None)]
    {
        let d = digest.unwrap_or_else(|| chorus_store::BlobId::of(b""));
        let h = chorus_store::sign_request(&account(), method, path, &d, STORE_NOW, "abcdefgh12");
        let lines = [
            method.to_string(),
            path.to_string(),
            h.address.to_string(),
            h.timestamp.to_string(),
            h.nonce.clone(),
            digest.map(|d| d.to_string()).unwrap_or_default(),
            h.to_headers().into_iter().find(|(k, _)| *k == chorus_store::HDR_SIGNATURE).unwrap().1,
        ];
        w.put(&method.to_ascii_lowercase(), lines.join("\n"));
    }
    w.put("blob-id", format!("{body}\nupdates"));

    // store_blob
    let mut w = Writer::new("store_blob");
    for n in [100usize, 16 * 1024 + 100] {
        let data: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let (id, ob) = chorus_store::create_outboard(&data);
        let mut s = vec![0u8];
        s.extend_from_slice(id.as_bytes());
        s.extend_from_slice(&(ob.len() as u32).to_le_bytes());
        s.extend_from_slice(&ob);
        s.extend_from_slice(&data);
        w.put(&format!("blob-{n}"), s);
    }
    let sealed = chorus_store::seal(b"an update", &[seal_secret().public()], &[1; 32]).unwrap();
    w.put("sealed", [&[1u8][..], &sealed].concat());
    let id = chorus_store::BlobId::of(b"fuzz");
    let (_, ob) = chorus_store::create_outboard(b"fuzz");
    let proof = chorus_store::challenge(&id, &b"fuzz"[..], &ob, &[7; 32], 2).unwrap();
    w.put("challenge", [&[2u8][..], &serde_json::to_vec(&proof).unwrap()].concat());

    // keystore
    let mut w = Writer::new("keystore");
    for (what, kdf) in [
        ("scrypt", KeystoreKdf::Scrypt { log_n: 10, r: 1, p: 1 }),
        ("pbkdf2", KeystoreKdf::Pbkdf2 { c: 1_000 }),
    ] {
        let v = chorus_crypto::encrypt_keystore_with(&account(), KEYSTORE_PASSWORD, &[5; 32], kdf)
            .unwrap();
        w.put(what, serde_json::to_vec_pretty(&v).unwrap());
    }

    // task_spec
    let mut w = Writer::new("task_spec");
    w.put("private", serde_json::to_vec_pretty(&task_spec()).unwrap());
    let mut s = task_spec();
    s.data =
        DataMode::ShardPool { root: Hash([1; 32]), shard_count: 10, shards_per_participant: 2 };
    s.aggregation = RuleSpec { id: "trimmed_mean".into(), params: vec![100_000] };
    s.dp = Some(DpSettings {
        epsilon_budget_micro: 8_000_000,
        delta_atto: 1_000,
        noise_multiplier_micro: 1_100_000,
        sample_rate_micro: 10_000,
    });
    s.encryption = Encryption::Committee { keys: vec![[3; 32]] };
    w.put("shard-pool-dp", serde_json::to_vec_pretty(&s).unwrap());

    // genesis
    let mut w = Writer::new("genesis");
    w.put("one-validator", GENESIS_JSON);

    #[cfg(feature = "net")]
    net_seeds();
}

#[cfg(feature = "net")]
fn net_seeds() {
    use chorus_consensus::CommitCertificate;
    use chorus_consensus::wire::{self, WireKind};

    let mut w = Writer::new("consensus");
    for (kind, bytes) in wire::examples() {
        let k = WireKind::ALL.iter().position(|x| *x == kind).unwrap() as u8;
        w.put(&format!("{kind:?}").to_ascii_lowercase(), [&[k][..], &bytes].concat());
    }
    let c = CommitCertificate {
        height: 1,
        round: 0,
        value_id: [5; 32],
        signatures: consensus_keys()
            .iter()
            .map(|k| (k.public_key(), k.sign(b"not the sign bytes")))
            .collect(),
    };
    w.put("certificate", [&[0u8][..], &c.to_bytes()].concat());

    // proposal_stream: one complete stream from publisher 0, (publisher, len u16 LE, message)*.
    let mut w = Writer::new("proposal_stream");
    let mut s = Vec::new();
    for (kind, bytes) in wire::examples() {
        if kind == WireKind::StreamMessage {
            s.push(0u8);
            s.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            s.extend_from_slice(&bytes);
        }
    }
    w.put("one-stream", &s);

    let mut w = Writer::new("config");
    w.put("default", chorus_node::config::NodeConfig::default().to_toml());
    w.put(
        "with-env",
        "moniker = \"alice\"\n[consensus]\nblock_time_ms = 250\n#ENV\n\
         CHORUS__API__LISTEN=127.0.0.1:9999\nCHORUS__MEMPOOL__MAX_TXS=7\n",
    );
}
