//! Commit throughput benchmark (`chorus bench db`): blocks of N changed keys, half new keys and
//! half updates of keys from earlier blocks (all new in the first block), through `prepare` +
//! `commit`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chorus_chain::state::ChangeSet;
use sha2::{Digest, Sha256};

use chorus_db::{BlockRecord, Db, DbOptions, Error, TxRecord};

/// Benchmark parameters.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchOptions {
    /// Database file (`None`: redb's in-memory backend, which measures CPU cost without I/O).
    pub path: Option<PathBuf>,
    /// Blocks to commit (after genesis).
    pub blocks: u64,
    /// Changed keys per block.
    pub keys_per_block: usize,
    /// Length of each value in bytes.
    pub value_len: usize,
    /// Options the database is opened with.
    #[serde(skip)]
    pub db: DbOptions,
}

impl Default for BenchOptions {
    fn default() -> BenchOptions {
        BenchOptions {
            path: None,
            blocks: 20,
            keys_per_block: 5_000,
            value_len: 64,
            db: DbOptions::default(),
        }
    }
}

/// Benchmark results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Blocks committed.
    pub blocks: u64,
    /// Changed keys per block.
    pub keys_per_block: usize,
    /// Keys in state at the end.
    pub final_keys: u64,
    /// Whether the database was a file (`false`: in memory).
    pub on_disk: bool,
    /// Whether commits were fsynced.
    pub durable: bool,
    /// Seconds spent in `prepare` (tree update, no writes).
    pub prepare_s: f64,
    /// Seconds spent in `commit` (one write transaction per block).
    pub commit_s: f64,
    /// Blocks per second, prepare + commit.
    pub blocks_per_s: f64,
    /// Changed keys per second, prepare + commit.
    pub keys_per_s: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "db commit: {} blocks × {} keys ({} keys in state at the end, {}, {})",
            self.blocks,
            self.keys_per_block,
            self.final_keys,
            if self.on_disk { "file" } else { "in memory" },
            if self.durable && self.on_disk { "fsync per block" } else { "no fsync" },
        )?;
        writeln!(
            f,
            "  prepare {:.3} s, commit {:.3} s ({:.1} ms/block prepare, {:.1} ms/block commit)",
            self.prepare_s,
            self.commit_s,
            1e3 * self.prepare_s / self.blocks.max(1) as f64,
            1e3 * self.commit_s / self.blocks.max(1) as f64,
        )?;
        write!(f, "  {:.1} blocks/s, {:.0} keys/s", self.blocks_per_s, self.keys_per_s)
    }
}

fn key(i: u64) -> Vec<u8> {
    let h = Sha256::digest(i.to_le_bytes());
    let mut k = b"acct/".to_vec();
    k.extend_from_slice(&h[..20]);
    k
}

fn value(block: u64, i: u64, len: usize) -> Vec<u8> {
    let seed = Sha256::digest([block.to_le_bytes(), i.to_le_bytes()].concat());
    seed.iter().copied().cycle().take(len).collect()
}

/// Runs the benchmark.
pub fn run(opts: &BenchOptions) -> Result<BenchReport, Error> {
    let db = match &opts.path {
        Some(p) => Db::open_with(p, opts.db.clone())?,
        None => Db::open_in_memory_with(opts.db.clone())?,
    };
    let mut next_new: u64 = 0;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut prepare = Duration::ZERO;
    let mut commit = Duration::ZERO;
    let start_height = db.next_height()?;
    if start_height == 0 {
        db.commit_genesis(&ChangeSet::new())?;
    }
    let first = db.next_height()?;
    for height in first..first + opts.blocks {
        let mut changes = ChangeSet::new();
        // Half updates of keys from earlier blocks (at most half of them, so random picks stay
        // cheap), the rest new keys.
        let existing = next_new;
        let updates = (opts.keys_per_block / 2).min(existing as usize / 2);
        while changes.len() < updates {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = rng % existing;
            changes.insert(key(i), Some(value(height, i, opts.value_len)));
        }
        while changes.len() < opts.keys_per_block {
            changes.insert(key(next_new), Some(value(height, next_new, opts.value_len)));
            next_new += 1;
        }
        let t = Instant::now();
        let prepared = db.prepare(height, &changes)?;
        prepare += t.elapsed();
        let t = Instant::now();
        let block = BlockRecord {
            height,
            hash: Sha256::digest(height.to_le_bytes()).into(),
            block_bytes: vec![0u8; 1024],
            certificate_bytes: vec![0u8; 128],
            txs: (0..opts.keys_per_block as u32 / 2)
                .map(|i| TxRecord {
                    hash: Sha256::digest(
                        [height.to_le_bytes(), u64::from(i).to_le_bytes()].concat(),
                    )
                    .into(),
                    index: i,
                    receipt_bytes: vec![0u8; 32],
                })
                .collect(),
        };
        db.commit(prepared, block)?;
        commit += t.elapsed();
    }
    let total = (prepare + commit).as_secs_f64().max(1e-9);
    Ok(BenchReport {
        blocks: opts.blocks,
        keys_per_block: opts.keys_per_block,
        final_keys: next_new,
        on_disk: opts.path.is_some(),
        durable: opts.db.durable,
        prepare_s: prepare.as_secs_f64(),
        commit_s: commit.as_secs_f64(),
        blocks_per_s: opts.blocks as f64 / total,
        keys_per_s: (opts.blocks as f64 * opts.keys_per_block as f64) / total,
    })
}
