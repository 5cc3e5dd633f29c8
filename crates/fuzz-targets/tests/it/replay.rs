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
