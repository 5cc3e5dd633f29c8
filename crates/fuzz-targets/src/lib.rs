//! `chorus-fuzz-targets`: the bodies of Chorus's fuzz targets, one function per decoder or parser
//! of outside input (transactions, blocks, consensus messages and proposal parts, update and model
//! blobs, store requests, blobs and envelopes, signatures, keystores, task specs, genesis files,
//! node configuration). Each calls what the node, the SDK, the store or the CLI calls on bytes it
//! did not make, and checks what must hold there: no panic, and where an encoding is canonical,
//! that what decodes re-encodes to the same bytes.
//!
//! The AFL++ binaries in `fuzz/` (outside the workspace, instrumented by `cargo afl`) are one-line
//! wrappers around these functions; `tests/corpus.rs` replays the seed corpus `fuzz/corpus/` through
//! every target in the ordinary test run. See `docs/fuzzing.md`.
//!
//! It must not: check inputs before handing them to the decoder beyond what the real caller does
//! (a target that filters input hides the bugs it exists to find; the one exception, the keystore's
//! key-derivation cost, is documented there), or be linked into the product binaries.

use std::sync::OnceLock;

use borsh::BorshDeserialize;
use chorus_crypto::ConsensusKey;
use chorus_fl::fixed::Micros;
use chorus_fl::validate::validate_bytes;
use chorus_fl::{FixedScale, ModelSpec, TensorSpec, Update, ValidationLimits};
use chorus_types::{Block, CommitInfo, Genesis, Receipt, SignedTx, ValidatorInfo};

/// A fuzz target: takes any bytes and must not panic.
pub type Target = fn(&[u8]);

/// Every target, by the name of its AFL++ binary and of its corpus folder `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("tx", tx),
    ("signature", signature),
    ("block", block),
    ("update", update),
    ("model", model),
    ("store_request", store_request),
    ("store_blob", store_blob),
    ("keystore", keystore),
    ("task_spec", task_spec),
    ("genesis", genesis),
    #[cfg(feature = "net")]
    ("consensus", net::consensus),
    #[cfg(feature = "net")]
    ("proposal_stream", net::proposal_stream),
    #[cfg(feature = "net")]
    ("config", net::config),
];

/// The chain id the targets check transactions and commits against.
pub const CHAIN_ID: u64 = 7;

/// The unix time (seconds) the store-request target takes as "now".
pub const STORE_NOW: u64 = 1_700_000_000;

/// The store's default skew window (seconds).
pub const STORE_MAX_SKEW: u64 = 300;

/// The password the keystore target tries.
pub const KEYSTORE_PASSWORD: &str = "fuzz";

/// The consensus keys of the targets' validator set (seeds `fuzz-0`, `fuzz-1`, `fuzz-2`).
pub fn consensus_keys() -> &'static [ConsensusKey] {
    static KEYS: OnceLock<Vec<ConsensusKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3).map(|i| ConsensusKey::from_seed(format!("fuzz-{i}").as_bytes())).collect()
    })
}

/// The validator set commits are checked against: [`consensus_keys`], power 10 each.
pub fn validators() -> &'static [ValidatorInfo] {
    static VALS: OnceLock<Vec<ValidatorInfo>> = OnceLock::new();
    VALS.get_or_init(|| {
        consensus_keys()
            .iter()
            .map(|k| ValidatorInfo {
                consensus_key: k.public_key(),
                power: 10,
                operator: chorus_types::Address([1; 20]),
            })
            .collect()
    })
}

/// The model layout of the update and model targets: `w` of shape `[3, 2]` and `b` of `[2]`.
pub fn model_spec() -> &'static ModelSpec {
    static SPEC: OnceLock<ModelSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        ModelSpec::new(vec![TensorSpec::new("w", vec![3, 2]), TensorSpec::new("b", vec![2])])
    })
}

/// A signed transaction as the node takes it from the API and from gossip: the decoder
/// (`SignedTx::decode`), then the stateless checks (`check_stateless`: size, chain id, signature
/// recovery, each message's checks). A transaction that decodes re-encodes to its bytes.
pub fn tx(data: &[u8]) {
    if let Ok(stx) = SignedTx::decode(data) {
        assert_eq!(stx.encode(), data, "a decoded transaction re-encodes to its bytes");
        let _ = chorus_crypto::recover_tx_sender(&stx);
        let _ = stx.tx.eip712_json();
    }
    if let Ok(v) = chorus_chain::check_stateless(data, CHAIN_ID) {
        assert_eq!(v.encode(), data, "a verified transaction re-encodes to its bytes");
        let _ = chorus_chain::max_spend(&v);
    }
}

/// Signature checks on outside bytes: `digest[32] ‖ sig[65] ‖ message` for secp256k1 recovery
/// (transactions, EIP-191 store requests) and `key[32] ‖ sig[64] ‖ message` read from the same
/// bytes for ed25519 (consensus votes, evidence).
pub fn signature(data: &[u8]) {
    let (Some(head), Some(sig65), Some(msg)) = (data.get(..32), data.get(32..97), data.get(97..))
    else {
        return;
    };
    let (Ok(digest), Ok(sig65)) = (<[u8; 32]>::try_from(head), <[u8; 65]>::try_from(sig65)) else {
        return;
    };
    let _ = chorus_crypto::recover_prehash(&digest, &sig65);
    let _ = chorus_crypto::recover_eip191(msg, &sig65);
    let mut sig64 = [0u8; 64];
    sig64.copy_from_slice(&sig65[..64]);
    let _ = chorus_crypto::is_valid_consensus_key(&digest);
    let _ = chorus_crypto::verify_consensus(&digest, msg, &sig64);
}

/// A block as the ledger takes it from a proposal or from sync (`Block::try_from_slice`, then its
/// hash, roots and the previous block's commit against a validator set), and the receipts and
/// commit summaries the light client reads. Each re-encodes to its bytes.
pub fn block(data: &[u8]) {
    if let Ok(b) = Block::try_from_slice(data) {
        assert_eq!(borsh::to_vec(&b).ok().as_deref(), Some(data), "a block re-encodes");
        let _ = b.hash();
        let _ = b.compute_tx_root();
        let _ = b.compute_last_commit_hash();
        for t in &b.txs {
            let _ = chorus_crypto::recover_tx_sender(t);
        }
        if let Some(lc) = &b.last_commit {
            let _ = chorus_chain::verify_commit(
                validators(),
                b.header.chain_id,
                &b.header.prev_hash,
                lc,
            );
        }
    }
    if let Ok(r) = Receipt::try_from_slice(data) {
        assert_eq!(borsh::to_vec(&r).ok().as_deref(), Some(data), "a receipt re-encodes");
    }
    if let Ok(c) = CommitInfo::try_from_slice(data) {
        assert_eq!(borsh::to_vec(&c).ok().as_deref(), Some(data), "a commit re-encodes");
        let _ = chorus_chain::verify_commit(validators(), CHAIN_ID, &chorus_types::Hash::ZERO, &c);
    }
}

/// An update blob as a validator reads it from the store (`validate_bytes` with a norm and size
/// limit: the `CHFU` fixed-point encoding or safetensors). A `CHFU` blob that validates re-encodes
/// to its bytes; a safetensors one survives a safetensors round trip.
pub fn update(data: &[u8]) {
    let limits =
        ValidationLimits { max_norm: Some(Micros::from_int(100)), max_bytes: Some(1 << 20) };
    let Ok(u) = validate_bytes(data, model_spec(), FixedScale::default(), &limits) else {
        return;
    };
    if data.starts_with(b"CHFU") {
        assert_eq!(u.to_bytes(), data, "a fixed-point update re-encodes to its bytes");
    } else if let Ok(st) = u.to_safetensors() {
        let back = Update::from_safetensors(&st, model_spec(), FixedScale::default());
        assert_eq!(back.ok(), Some(u), "a safetensors update survives a round trip");
    }
}

/// A model blob as a participant reads it (`Update::from_bytes` on its own, whatever its layout,
/// and the SDK's `TaskModel::decode`: `validate_bytes` with no limits against the task's layout).
pub fn model(data: &[u8]) {
    if let Ok(u) = Update::from_bytes(data) {
        assert_eq!(u.to_bytes(), data, "a model re-encodes to its bytes");
        let _ = u.to_f32();
    }
    let none = ValidationLimits { max_norm: None, max_bytes: None };
    let _ = validate_bytes(data, model_spec(), FixedScale::default(), &none);
}

/// A store request's authentication as the store server checks it (`verify_request`). The input is
/// up to seven `\n`-separated fields: method, path and query, then the values of the headers
/// `x-chorus-address`, `x-chorus-timestamp`, `x-chorus-nonce`, `x-chorus-content-digest` and
/// `x-chorus-signature` (an empty field leaves the header out). Also the store's text parsers:
/// blob ids and namespace names.
pub fn store_request(data: &[u8]) {
    use chorus_store::{HDR_ADDRESS, HDR_DIGEST, HDR_NONCE, HDR_SIGNATURE, HDR_TIMESTAMP};
    let mut fields = data.splitn(7, |&b| b == b'\n');
    let method = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let path = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let mut headers = http::HeaderMap::new();
    for name in [HDR_ADDRESS, HDR_TIMESTAMP, HDR_NONCE, HDR_DIGEST, HDR_SIGNATURE] {
        let value = fields.next().unwrap_or_default();
        if value.is_empty() {
            continue;
        }
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    }
    let nonces = chorus_store::NonceCache::new(4, 0);
    for _ in 0..2 {
        // The second time the nonce is a replay.
        let _ = chorus_store::verify_request(
            &headers,
            &method,
            &path,
            STORE_NOW,
            STORE_MAX_SKEW,
            &nonces,
        );
    }
    if let Ok(id) = method.parse::<chorus_store::BlobId>() {
        assert_eq!(id.to_string(), method, "a blob id has one spelling");
    }
    let _ = chorus_store::validate_namespace(&path);
}

/// Bytes a store client or committee member takes from a store or a peer, chosen by the first
/// byte: 0, a blob with its outboard against an id (`id[32] ‖ outboard length u32 LE ‖ outboard ‖
/// data`: `verify_blob`, and the streaming verifier fed in uneven pieces); 1, a sealed envelope
/// (`open` with a fixed recipient key); 2, a storage-challenge answer as JSON (`verify_challenge`
/// against the id of `b"fuzz"`).
pub fn store_blob(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let (Some(id), Some(len)) = (rest.get(..32), rest.get(32..36)) else { return };
            let mut id32 = [0u8; 32];
            id32.copy_from_slice(id);
            let id = chorus_store::BlobId::from_bytes(id32);
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let body = &rest[36..];
            let (outboard, blob) = body.split_at(len.min(body.len()));
            let _ = chorus_store::verify_blob(&id, blob, outboard);
            if let Ok(mut v) = chorus_store::StreamVerifier::new(id, outboard.to_vec(), 0, None) {
                let _ = v.blob_size();
                let mut ok = true;
                for (i, piece) in blob.chunks(7 + blob.len() / 3).enumerate() {
                    if v.push(piece).is_err() {
                        ok = false;
                        break;
                    }
                    if i % 2 == 1 {
                        let _ = v.take_verified();
                    }
                }
                if ok {
                    let _ = v.finish();
                }
            }
        }
        1 => {
            let _ = chorus_store::open(rest, &seal_secret());
        }
        _ => {
            if let Ok(proof) = serde_json::from_slice::<chorus_store::ChallengeProof>(rest) {
                let id = chorus_store::BlobId::of(b"fuzz");
                let _ = chorus_store::verify_challenge(&id, &[7; 32], 2, &proof);
            }
        }
    }
}

/// The committee key the sealed-envelope branch of [`store_blob`] opens with.
pub fn seal_secret() -> chorus_store::SealSecretKey {
    chorus_store::SealSecretKey([9; 32])
}

/// The most key-derivation work the keystore target lets a file ask for (scrypt `n·r`, `p`, and
/// PBKDF2 iterations). The decoder caps these itself (scrypt up to 1 GiB, PBKDF2 up to 10⁷
/// iterations); a fuzzer spending a second per input on legal but costly files would find nothing.
pub const KEYSTORE_MAX_WORK: u64 = 1 << 12;

fn keystore_is_cheap(v: &serde_json::Value) -> bool {
    let params = v.get("crypto").or_else(|| v.get("Crypto")).and_then(|c| c.get("kdfparams"));
    let num = |k: &str| params.and_then(|p| p.get(k)).and_then(serde_json::Value::as_u64);
    let n = num("n").unwrap_or(0);
    let r = num("r").unwrap_or(0);
    let p = num("p").unwrap_or(0);
    let c = num("c").unwrap_or(0);
    n.saturating_mul(r) <= KEYSTORE_MAX_WORK && p <= 4 && c <= KEYSTORE_MAX_WORK
}

/// A keystore file as the CLI and the SDK read it: JSON, then `decrypt_keystore` with a fixed
/// password (when its key derivation is cheap, see [`KEYSTORE_MAX_WORK`]).
pub fn keystore(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if keystore_is_cheap(&v) {
        let _ = chorus_crypto::decrypt_keystore(&v, KEYSTORE_PASSWORD);
    }
}

/// A task spec as the CLI reads it (JSON) and as the chain judges it (`validate_spec`, the
/// per-participant example cap, the aggregation rule the SDK builds from it). It survives JSON and
/// borsh round trips.
pub fn task_spec(data: &[u8]) {
    use chorus_chain::components::learning::{examples_cap, validate_spec};
    let Ok(spec) = serde_json::from_slice::<chorus_types::learning::TaskSpec>(data) else {
        return;
    };
    let _ = validate_spec(&spec);
    let _ = examples_cap(&spec, 3);
    if let Some(rule) =
        chorus_fl::AggregationRule::default_for(&spec.aggregation.id.replace('_', "-"))
    {
        let _ = rule.validate();
    }
    let json = serde_json::to_vec(&spec).ok();
    let back = json.and_then(|j| serde_json::from_slice(&j).ok());
    assert_eq!(back.as_ref(), Some(&spec), "a task spec survives a JSON round trip");
    let bytes = borsh::to_vec(&spec).ok();
    let back = bytes.and_then(|b| borsh::from_slice(&b).ok());
    assert_eq!(back.as_ref(), Some(&spec), "a task spec survives a borsh round trip");
}

/// A genesis file as `chorus init`/`chorus start` read it (JSON), then `init_genesis`. It survives
/// a JSON round trip.
pub fn genesis(data: &[u8]) {
    let Ok(g) = serde_json::from_slice::<Genesis>(data) else { return };
    let _ = chorus_chain::init_genesis(&g);
    let json = serde_json::to_vec(&g).ok();
    let back = json.and_then(|j| serde_json::from_slice(&j).ok());
    assert_eq!(back.as_ref(), Some(&g), "a genesis survives a JSON round trip");
}

/// The targets that need the consensus adapter and the node.
#[cfg(feature = "net")]
pub mod net {
    use chorus_consensus::wire::{self, WireKind};
    use chorus_consensus::{CommitCertificate, ValidatorInfo};

    use super::{CHAIN_ID, consensus_keys};

    fn consensus_validators() -> Vec<ValidatorInfo> {
        consensus_keys()
            .iter()
            .map(|k| ValidatorInfo { consensus_key: k.public_key(), power: 10 })
            .collect()
    }

    /// A consensus message as a peer sends it: the first byte picks the channel
    /// ([`WireKind::ALL`]), the rest is decoded with the node's codec, whose re-encoding must be
    /// stable. The rest is also read as a commit certificate (sync, the light client) and checked
    /// against a validator set.
    pub fn consensus(data: &[u8]) {
        let Some((&k, rest)) = data.split_first() else { return };
        let kind = WireKind::ALL[usize::from(k) % WireKind::ALL.len()];
        if let Ok(stable) = wire::decode(kind, rest) {
            assert!(stable, "the re-encoding of a {kind:?} is stable");
        }
        if let Ok(c) = CommitCertificate::from_bytes(rest) {
            assert_eq!(c.to_bytes(), rest, "a commit certificate re-encodes to its bytes");
            let _ = c.verify(&consensus_validators(), CHAIN_ID);
        }
    }

    /// Blocks of at most this many bytes in the proposal-stream target (four parts).
    pub const STREAM_MAX_VALUE_BYTES: usize = 4 * wire::PART_BYTES;

    /// A sequence of proposal-part stream messages from several publishers, fed to the node's
    /// reassembly buffer: `(publisher u8, length u16 LE, message)*`. The buffer never holds more
    /// than its bound.
    pub fn proposal_stream(data: &[u8]) {
        let mut msgs = Vec::new();
        let mut rest = data;
        while let [publisher, l0, l1, tail @ ..] = rest {
            let len = usize::from(u16::from_le_bytes([*l0, *l1])).min(tail.len());
            let (msg, next) = tail.split_at(len);
            msgs.push((*publisher, msg));
            rest = next;
        }
        let r = wire::reassemble(&msgs, STREAM_MAX_VALUE_BYTES);
        assert!(r.max_bytes_held <= r.bound, "the proposal buffer stays within its bound");
    }

    /// A node configuration file (TOML) with `CHORUS__…` overrides, as `chorus start` loads it:
    /// the text up to a line `#ENV`, then `KEY=VALUE` lines. A configuration that loads prints
    /// (`--print-config`) to TOML that loads to the same configuration.
    pub fn config(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else { return };
        let (file, env) = text.split_once("\n#ENV\n").unwrap_or((text, ""));
        let env: Vec<(String, String)> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let Ok(c) = chorus_node::config::NodeConfig::from_toml(Some(file), env) else { return };
        let printed = c.to_toml();
        let again = chorus_node::config::NodeConfig::from_toml(Some(&printed), Vec::new());
        assert_eq!(
            again.ok().map(|c| c.to_toml()),
            Some(printed),
            "a printed configuration loads to itself"
        );
    }
}
