//! Loopback benchmark: upload / verified download throughput and latency, plus raw hashing.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use chorus_store::{
    ClientOptions, Error, FsBackend, MemBackend, NamespaceConfig, StoreClient, StoreConfig,
    StoreState, create_outboard, serve_listener,
};

/// Benchmark options.
#[derive(Clone, Debug)]
pub struct BenchOpts {
    /// Blob sizes in bytes.
    pub sizes: Vec<usize>,
    /// Uploads and downloads per size.
    pub iterations: usize,
    /// Use the filesystem backend (in a fresh temp dir, fsync included) instead of memory.
    pub fs_backend: bool,
}

impl Default for BenchOpts {
    fn default() -> Self {
        Self { sizes: vec![10_000_000, 100_000_000], iterations: 5, fs_backend: true }
    }
}

/// One measured operation.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    /// `upload`, `download (verified)` or `hash (blake3+outboard)`.
    pub op: String,
    /// Blob size in bytes.
    pub size: usize,
    /// Throughput over all iterations, MB/s (10^6 bytes).
    pub mb_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th-percentile latency, ms.
    pub p95_ms: f64,
}

/// Benchmark result.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// `fs` or `mem`.
    pub backend: String,
    /// Iterations per size.
    pub iterations: usize,
    /// Measurements.
    pub rows: Vec<BenchRow>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chorus-store bench (backend: {}, {} iterations, loopback)",
            self.backend, self.iterations
        )?;
        writeln!(f, "| op | size | MB/s | p50 ms | p95 ms |")?;
        writeln!(f, "|---|---:|---:|---:|---:|")?;
        for r in &self.rows {
            writeln!(
                f,
                "| {} | {} MB | {:.0} | {:.1} | {:.1} |",
                r.op,
                r.size / 1_000_000,
                r.mb_per_s,
                r.p50_ms,
                r.p95_ms
            )?;
        }
        Ok(())
    }
}

fn row(op: &str, size: usize, times: &mut [Duration]) -> BenchRow {
    times.sort();
    let total: f64 = times.iter().map(|d| d.as_secs_f64()).sum();
    let pct = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[i.min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    BenchRow {
        op: op.into(),
        size,
        mb_per_s: (size * times.len()) as f64 / 1e6 / total.max(1e-9),
        p50_ms: pct(0.5),
        p95_ms: pct(0.95),
    }
}

fn data(size: usize, salt: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    let mut xof = blake3::Hasher::new().update(&salt.to_le_bytes()).finalize_xof();
    xof.fill(&mut v);
    v
}

/// Runs the benchmark against a server it starts on 127.0.0.1 (ephemeral port).
pub async fn run(opts: BenchOpts) -> Result<BenchReport, Error> {
    let dir = std::env::temp_dir().join(format!("chorus-store-bench-{}", std::process::id()));
    let config = StoreConfig {
        max_blob_size: 1 << 31,
        rate_limit: None,
        namespaces: vec![NamespaceConfig::public("bench")],
        ..StoreConfig::default()
    };
    let state = if opts.fs_backend {
        StoreState::new(FsBackend::open(&dir)?, config)?
    } else {
        StoreState::new(MemBackend::new(), config)?
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_listener(state, listener, async {
        let _ = stop_rx.await;
    }));
    let client = StoreClient::new(vec![format!("http://{addr}")], ClientOptions::default())?;
    let mut rows = Vec::new();
    let result = async {
        for &size in &opts.sizes {
            let mut hash_t = Vec::new();
            let mut up_t = Vec::new();
            let mut down_t = Vec::new();
            for i in 0..opts.iterations {
                let d = bytes::Bytes::from(data(size, size + i));
                let t = Instant::now();
                let (hid, _) = create_outboard(&d);
                hash_t.push(t.elapsed());
                let t = Instant::now();
                let id = client.put("bench", d.clone()).await?;
                up_t.push(t.elapsed());
                if id != hid {
                    return Err(Error::Invalid("id mismatch".into()));
                }
                let t = Instant::now();
                let back = client.get("bench", &id).await?;
                down_t.push(t.elapsed());
                if back.len() != size {
                    return Err(Error::Invalid("short download".into()));
                }
            }
            rows.push(row("upload", size, &mut up_t));
            rows.push(row("download (verified)", size, &mut down_t));
            rows.push(row("hash (blake3 + outboard)", size, &mut hash_t));
        }
        Ok::<(), Error>(())
    }
    .await;
    let _ = stop_tx.send(());
    let _ = server.await;
    if opts.fs_backend {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    Ok(BenchReport {
        backend: if opts.fs_backend { "fs".into() } else { "mem".into() },
        iterations: opts.iterations,
        rows,
    })
}
