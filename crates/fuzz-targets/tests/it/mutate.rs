//! A blind mutation loop over the seed corpus (byte flips, inserts, deletes, splices), for targets
//! and machines without AFL++: not coverage-guided, so it finds only shallow panics, but it needs
//! nothing beyond the test build. `CHORUS_FUZZ_SECS` seconds per target (default 1), targets
//! filtered by `CHORUS_FUZZ_TARGETS` (comma-separated names):
//! `CHORUS_FUZZ_SECS=300 cargo test --release -p chorus-fuzz-targets --test it -- --ignored mutate`.

use std::path::Path;
use std::time::{Duration, Instant};

use chorus_fuzz_targets::TARGETS;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            4 if !other.is_empty() => {
                let a = rng.below(other.len());
                let b = a + rng.below(other.len() - a).min(64);
                let at = rng.below(len + 1);
                input.splice(at..at, other[a..=b.min(other.len() - 1)].iter().copied());
            }
            _ if len >= 4 => {
                let i = rng.below(len - 3);
                let v = [0u32, 1, u32::MAX, 0x8000_0000, 0xFFFF][rng.below(5)];
                input[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
            _ => input.push(rng.next() as u8),
        }
    }
}

#[test]
#[ignore = "a fuzzing run, not a test: CHORUS_FUZZ_SECS per target"]
fn mutate_the_corpus_through_every_target() {
    let secs: u64 =
        std::env::var("CHORUS_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let only = std::env::var("CHORUS_FUZZ_TARGETS").ok();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for (name, target) in TARGETS {
        if only.as_ref().is_some_and(|o| !o.split(',').any(|t| t == *name)) {
            continue;
        }
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(root.join(name))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        let start = Instant::now();
        let mut execs = 0u64;
        while start.elapsed() < Duration::from_secs(secs) {
            let mut input = seeds[rng.below(seeds.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, &mut input, other);
            if std::panic::catch_unwind(|| target(&input)).is_err() {
                let path = std::env::temp_dir().join(format!("chorus-fuzz-{name}-crash"));
                std::fs::write(&path, &input).unwrap();
                panic!("target {name} panicked; input saved to {}", path.display());
            }
            execs += 1;
        }
        println!("{name:16} {execs:>12} executions {:>6} s", start.elapsed().as_secs());
    }
}
