//! Aggregation benchmark (cargo feature `bench`; this module may do I/O: spawning
//! `scripts/flower/bench.py`) and the heap-counting allocator it uses for peak memory.
//!
//! Inputs come from a documented deterministic generator shared with the Flower script: value `j` of
//! client `i` is `q = (splitmix64(seed·2^40 + i·P + j) >> 42) − 2^21` as fixed point with 16
//! fractional bits (uniform in [−32, 32)); Flower gets `q / 65536` as float32.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use chorus_fl::agg::{AggregateOptions, Aggregator, ServerAggregator, WeightedInput};
use chorus_fl::{AggregationRule, FixedScale, ModelSpec, SliceReader};

/// Benchmark options.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// (N clients, P params) configurations.
    pub sizes: Vec<(usize, usize)>,
    /// Byzantine count for Krum/Bulyan.
    pub f: u32,
    /// Repeats per measurement (minimum reported); heavy rules run once.
    pub repeats: usize,
    /// Also run `scripts/flower/bench.py` and report ratios.
    pub flower: bool,
    /// Path of the Flower script (default: the repo's `scripts/flower/bench.py`).
    pub flower_script: Option<std::path::PathBuf>,
    /// Generator seed.
    pub seed: u64,
    /// Only these measurements (by key: `fedavg`, `median`, `trimmed_mean`, `krum`, `bulyan`;
    /// empty: all). The memory-read floor always runs.
    pub only: Vec<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            sizes: vec![(100, 1_000_000), (1000, 100_000)],
            f: 10,
            repeats: 3,
            flower: false,
            flower_script: None,
            seed: 0,
            only: Vec::new(),
        }
    }
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// Clients.
    pub n: usize,
    /// Parameters.
    pub p: usize,
    /// Measurement name.
    pub name: String,
    /// Minimum wall time, seconds.
    pub seconds: f64,
    /// Input bytes / seconds, GB/s.
    pub gb_per_s: f64,
    /// Flower's time for the same measurement, if run.
    pub flower_seconds: Option<f64>,
    /// flower_seconds / seconds.
    pub speedup_vs_flower: Option<f64>,
}

/// The benchmark report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Rayon threads used.
    pub threads: usize,
    /// Rows.
    pub rows: Vec<BenchRow>,
    /// Extra peak heap (MiB) of a streaming FedAvg per size: the highest net growth of live heap
    /// bytes during the call, counted by [`PeakAlloc`]; `None` when the binary does not install it.
    pub fedavg_extra_peak_mib: Vec<(usize, usize, Option<f64>)>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chorus-fl aggregation benchmark ({} threads)", self.threads)?;
        writeln!(f, "| N | P | measurement | time | GB/s | Flower | speed-up |")?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            let fl = r.flower_seconds.map_or("-".to_string(), |s| format!("{:.3} s", s));
            let sp = r.speedup_vs_flower.map_or("-".to_string(), |s| format!("{s:.1}×"));
            writeln!(
                f,
                "| {} | {:.0e} | {} | {:.1} ms | {:.1} | {} | {} |",
                r.n,
                r.p as f64,
                r.name,
                r.seconds * 1e3,
                r.gb_per_s,
                fl,
                sp
            )?;
        }
        for (n, p, mib) in &self.fedavg_extra_peak_mib {
            let Some(mib) = mib else {
                writeln!(
                    f,
                    "streaming FedAvg extra peak memory at N={n}, P={p:.0e}: not measured \
                     (this binary does not install chorus_fl::bench::PeakAlloc)",
                    p = *p as f64
                )?;
                continue;
            };
            writeln!(
                f,
                "streaming FedAvg extra peak memory at N={n}, P={:.0e}: {mib:.1} MiB \
                 (inputs: {:.0} MiB; output alone: {:.1} MiB)",
                *p as f64,
                (n * p * 4) as f64 / (1 << 20) as f64,
                (p * 4) as f64 / (1 << 20) as f64,
            )?;
        }
        Ok(())
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shared deterministic generator (see module docs).
pub fn generate(n: usize, p: usize, seed: u64) -> Vec<Vec<i32>> {
    (0..n)
        .into_par_iter()
        .map(|i| {
            (0..p)
                .map(|j| ((splitmix64((seed << 40) + (i * p + j) as u64) >> 42) as i32) - (1 << 21))
                .collect()
        })
        .collect()
}

/// A global allocator (the system one) that counts the net growth of live heap bytes and its peak
/// while a [`PeakAlloc::measure`] call runs. Binaries that run this benchmark install it with
/// `#[global_allocator] static A: chorus_fl::bench::PeakAlloc = chorus_fl::bench::PeakAlloc;`;
/// outside a measurement it costs one relaxed atomic load per allocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct PeakAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static MEASURING: Mutex<()> = Mutex::new(());

impl PeakAlloc {
    fn grew(size: usize) {
        if ARMED.load(Ordering::Relaxed) {
            let now = LIVE.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn shrank(size: usize) {
        if ARMED.load(Ordering::Relaxed) {
            LIVE.fetch_sub(size as isize, Ordering::Relaxed);
        }
    }

    /// Runs `f` and returns the peak net heap growth in bytes during it (allocations minus frees,
    /// all threads), or `None` when `PeakAlloc` is not the global allocator.
    pub fn measure(f: impl FnOnce() -> eyre::Result<()>) -> eyre::Result<Option<usize>> {
        let _one_at_a_time = MEASURING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        LIVE.store(0, Ordering::SeqCst);
        PEAK.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        // A probe allocation shows whether the counting allocator is installed.
        let probe = std::hint::black_box(vec![0u8; 64]);
        let installed = LIVE.load(Ordering::SeqCst) >= 64;
        drop(probe);
        LIVE.store(0, Ordering::SeqCst);
        PEAK.store(0, Ordering::SeqCst);
        let r = f();
        ARMED.store(false, Ordering::SeqCst);
        r?;
        Ok(installed.then(|| PEAK.load(Ordering::SeqCst).max(0) as usize))
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters only observe.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            Self::grew(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Self::shrank(layout.size());
            Self::grew(new_size);
        }
        p
    }
}

fn time_min<T>(repeats: usize, mut f: impl FnMut() -> eyre::Result<T>) -> eyre::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        std::hint::black_box(f()?);
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn flower_times(
    script: &std::path::Path,
    n: usize,
    p: usize,
    f: u32,
    seed: u64,
) -> eyre::Result<serde_json::Value> {
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([
            "--n",
            &n.to_string(),
            "--p",
            &p.to_string(),
            "--f",
            &f.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .output()
        .map_err(|e| eyre::eyre!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(eyre::eyre!("flower script failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("{}");
    serde_json::from_str(line).map_err(|e| eyre::eyre!("flower output: {e}"))
}

/// Runs the benchmark.
pub fn run(opts: BenchOptions) -> eyre::Result<BenchReport> {
    let mut rows = Vec::new();
    let mut mem = Vec::new();
    for &(n, p) in &opts.sizes {
        let data = generate(n, p, opts.seed);
        let spec = Arc::new(ModelSpec::flat(p));
        let scale = FixedScale::default();
        let weights: Vec<u64> = (0..n as u64).map(|i| 50 + (splitmix64(i) % 450)).collect();
        let bytes = (n * p * 4) as f64;
        let flower = if opts.flower {
            let script = opts.flower_script.clone().unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../scripts/flower/bench.py")
            });
            Some(flower_times(&script, n, p, opts.f, opts.seed)?)
        } else {
            None
        };
        let mut push = |name: &str, key: &str, secs: f64| {
            let fl = flower.as_ref().and_then(|v| v.get(key)).and_then(serde_json::Value::as_f64);
            rows.push(BenchRow {
                n,
                p,
                name: name.to_string(),
                seconds: secs,
                gb_per_s: bytes / secs / 1e9,
                flower_seconds: fl,
                speedup_vs_flower: fl.map(|f| f / secs),
            });
        };
        let floor = time_min(opts.repeats, || {
            Ok(data.par_iter().map(|row| row.iter().map(|&x| x as i64).sum::<i64>()).sum::<i64>())
        })?;
        push("floor: sum of all inputs", "floor", floor);
        let run_rule = |rule: &AggregationRule| -> eyre::Result<chorus_fl::agg::AggregateOutcome> {
            let mut agg = ServerAggregator::new(rule.clone());
            let mut inputs: Vec<WeightedInput<'_>> = data
                .iter()
                .zip(&weights)
                .map(|(v, &w)| WeightedInput::new(SliceReader(v), w))
                .collect();
            Ok(agg.aggregate(&spec, scale, &mut inputs, &AggregateOptions::default())?)
        };
        let f = opts.f;
        let rules: Vec<(&str, &str, AggregationRule, usize)> = vec![
            ("fedavg", "fedavg", AggregationRule::FedAvg, opts.repeats),
            ("median", "median", AggregationRule::Median, opts.repeats),
            ("trimmed mean (0.2)", "trimmed_mean", "trimmed-mean:trim=0.2".parse()?, opts.repeats),
            ("krum (f)", "krum", AggregationRule::Krum { f }, 1),
            ("bulyan (f)", "bulyan", AggregationRule::Bulyan { f }, 1),
        ];
        for (name, key, rule, reps) in rules {
            if !opts.only.is_empty() && !opts.only.iter().any(|o| o == key) {
                continue;
            }
            if matches!(rule, AggregationRule::Bulyan { f } if n < 4 * f as usize + 3) {
                continue;
            }
            let secs = time_min(reps, || run_rule(&rule))?;
            push(&name.replace("(f)", &format!("(f={f})")), key, secs);
        }
        // Peak extra heap of streaming FedAvg (the O(P) output and accumulators, not O(N·P)).
        let peak = PeakAlloc::measure(|| run_rule(&AggregationRule::FedAvg).map(|_| ()))?;
        mem.push((n, p, peak.map(|b| b as f64 / (1 << 20) as f64)));
    }
    Ok(BenchReport { threads: rayon::current_num_threads(), rows, fedavg_extra_peak_mib: mem })
}
