use std::path::{Path, PathBuf};

use chorus_fuzz_targets::TARGETS;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (name, _) in TARGETS {
        let dir = corpus_root().join(name);
        assert!(!files(&dir).is_empty(), "no seeds in {}", dir.display());
    }
}

#[test]
fn every_corpus_file_passes_through_every_target_without_a_panic() {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(corpus_root()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            all.extend(files(&dir));
        }
    }
    assert!(all.len() >= TARGETS.len());
    for path in &all {
        let data = std::fs::read(path).unwrap();
        for (name, target) in TARGETS {
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "target {name} panicked on {}", path.display());
        }
    }
}

fn seed(target: &str, what: &str) -> Vec<u8> {
    let dir = corpus_root().join(target);
    let path = files(&dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with(what))
        .unwrap_or_else(|| panic!("no seed {what} in {}", dir.display()));
    std::fs::read(path).unwrap()
}

#[test]
fn the_seeds_reach_the_decoders_success_paths() {
    use chorus_fuzz_targets::*;
    let tx = seed("tx", "transfer");
    assert!(chorus_chain::check_stateless(&tx, CHAIN_ID).is_ok());
    let block: chorus_types::Block = borsh::from_slice(&seed("block", "height-2-tx")).unwrap();
    let lc = block.last_commit.as_ref().unwrap();
    chorus_chain::verify_commit(validators(), CHAIN_ID, &block.header.prev_hash, lc).unwrap();
    let none = chorus_fl::ValidationLimits { max_norm: None, max_bytes: None };
    for what in ["chfu", "safetensors-i32"] {
        let bytes = seed("update", what);
        let scale = chorus_fl::FixedScale::default();
        chorus_fl::validate::validate_bytes(&bytes, model_spec(), scale, &none).unwrap();
    }
    for what in ["scrypt", "pbkdf2"] {
        let v: serde_json::Value = serde_json::from_slice(&seed("keystore", what)).unwrap();
        chorus_crypto::decrypt_keystore(&v, KEYSTORE_PASSWORD).unwrap();
    }
    let spec: chorus_types::learning::TaskSpec =
        serde_json::from_slice(&seed("task_spec", "shard-pool-dp")).unwrap();
    chorus_chain::components::learning::validate_spec(&spec).unwrap();
    let genesis: chorus_types::Genesis =
        serde_json::from_slice(&seed("genesis", "one-validator")).unwrap();
    chorus_chain::init_genesis(&genesis).unwrap();
    let blob = seed("store_blob", "blob-16484");
    let id = chorus_store::BlobId::from_bytes(blob[1..33].try_into().unwrap());
    let len = u32::from_le_bytes(blob[33..37].try_into().unwrap()) as usize;
    let (outboard, data) = blob[37..].split_at(len);
    chorus_store::verify_blob(&id, data, outboard).unwrap();
    let sealed = seed("store_blob", "sealed");
    assert_eq!(chorus_store::open(&sealed[1..], &seal_secret()).unwrap(), b"an update");
}

#[test]
fn the_store_request_seed_carries_a_valid_signature() {
    let text = String::from_utf8(seed("store_request", "put")).unwrap();
    let f: Vec<&str> = text.split('\n').collect();
    let mut headers = http::HeaderMap::new();
    let names = [
        chorus_store::HDR_ADDRESS,
        chorus_store::HDR_TIMESTAMP,
        chorus_store::HDR_NONCE,
        chorus_store::HDR_DIGEST,
        chorus_store::HDR_SIGNATURE,
    ];
    for (name, value) in names.into_iter().zip(&f[2..]) {
        headers.insert(name, value.parse().unwrap());
    }
    let nonces = chorus_store::NonceCache::new(4, 0);
    let now = chorus_fuzz_targets::STORE_NOW;
    let ok = chorus_store::verify_request(&headers, f[0], f[1], now, 300, &nonces).unwrap();
    assert!(ok.is_some());
    assert_eq!(
        chorus_store::verify_request(&headers, f[0], f[1], now, 300, &nonces).unwrap_err(),
        chorus_store::AuthError::Replay
    );
}
