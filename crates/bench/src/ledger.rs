//! `chorus-bench ledger`: committed transfers per second and submit→commit latency, measured
//! against real `chorus node` processes (1 or N validators on loopback) over HTTP.
//!
//! Method: `chorus init` a fresh network whose genesis funds M sender accounts; start the
//! validators as child processes; pre-sign K transfers (K/M per sender, consecutive nonces);
//! submit them over keep-alive HTTP from several client tasks; a watcher polls committed blocks
//! and stamps each transaction's commit time. Throughput = committed / (last commit − first
//! submit).
//!
//! Offered load: unpaced (`rate` = `None`) every client submits as fast as the node answers, which
//! measures saturated throughput — and latency that is mostly queueing once the machine is
//! saturated. With `--rate R` the clients together submit R transactions per second, evenly
//! spaced, which measures the protocol's latency at that load (the figure the ≤ 3 block intervals
//! target is about).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chorus_crypto::{AccountKey, sign_tx};
use chorus_types::{Address, BankMsg, Msg, Tx};
use eyre::{bail, eyre};
use serde::Serialize;

use chorus_cli::home::{InitOptions, init};
use chorus_cli::http;

/// One configuration's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRow {
    validators: usize,
    /// Offered load in transactions per second (`None`: unpaced).
    rate: Option<f64>,
    txs: usize,
    committed: usize,
    seconds: f64,
    tx_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    blocks: u64,
    /// Mean block interval during the run (wall seconds / blocks), ms.
    block_ms: f64,
    /// p50 submit→commit latency in block intervals (target with mempool gossip: ≤ 3).
    p50_in_blocks: f64,
    /// Where the time goes on validator 0, from its `/metrics` histograms.
    breakdown: Breakdown,
}

/// Node 0's time per activity during the run (sums of its Prometheus histograms).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Breakdown {
    /// Transactions node 0 admitted (decode, signature recovery, stateful checks, pool insert).
    admitted: u64,
    /// Mean admission time per transaction, µs.
    admission_us_per_tx: f64,
    /// Blocks node 0 executed (proposals it built and blocks it validated).
    executions: u64,
    /// Mean execution time (state machine + state-tree preparation), ms.
    execution_ms_per_block: f64,
    /// Blocks node 0 wrote.
    commits: u64,
    /// Mean write time (one redb transaction), ms.
    commit_ms_per_block: f64,
    /// CPU-seconds of admission + execution + commit per wall second of the run (admission runs
    /// on several threads, so this can exceed 1; what it leaves of the 2 cores goes to HTTP,
    /// consensus and waiting for the next block).
    busy_share: f64,
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn breakdown(before: &str, after: &str, seconds: f64) -> Breakdown {
    let d = |n: &str| metric(after, n) - metric(before, n);
    let adm =
        ("chorus_mempool_tx_admission_seconds_sum", "chorus_mempool_tx_admission_seconds_count");
    let exe =
        ("chorus_chain_block_execution_seconds_sum", "chorus_chain_block_execution_seconds_count");
    let com = ("chorus_chain_block_commit_seconds_sum", "chorus_chain_block_commit_seconds_count");
    let per = |(s, c): (&str, &str), scale: f64| if d(c) > 0.0 { d(s) / d(c) * scale } else { 0.0 };
    Breakdown {
        admitted: d(adm.1) as u64,
        admission_us_per_tx: per(adm, 1e6),
        executions: d(exe.1) as u64,
        execution_ms_per_block: per(exe, 1e3),
        commits: d(com.1) as u64,
        commit_ms_per_block: per(com, 1e3),
        busy_share: (d(adm.0) + d(exe.0) + d(com.0)) / seconds.max(1e-9),
    }
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    rows: Vec<LedgerRow>,
}

impl std::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| validators | offered tx/s | txs | committed | seconds | tx/s | p50 ms | p99 ms | blocks | block ms | p50 / block |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        let rows = &self.rows;
        for r in rows {
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {} | {:.0} | {:.2} |",
                r.validators,
                r.rate.map_or_else(|| "unpaced".to_string(), |x| format!("{x:.0}")),
                r.txs,
                r.committed,
                r.seconds,
                r.tx_per_sec,
                r.p50_ms,
                r.p99_ms,
                r.blocks,
                r.block_ms,
                r.p50_in_blocks
            )?;
        }
        writeln!(f)?;
        writeln!(f, "Where the time goes (validator 0, from its /metrics):")?;
        writeln!(
            f,
            "| validators | admitted | µs/tx admission | executions | ms/block execution | commits | ms/block write | CPU-seconds per wall second |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in rows {
            let b = &r.breakdown;
            writeln!(
                f,
                "| {} | {} | {:.0} | {} | {:.1} | {} | {:.1} | {:.2} |",
                r.validators,
                b.admitted,
                b.admission_us_per_tx,
                b.executions,
                b.execution_ms_per_block,
                b.commits,
                b.commit_ms_per_block,
                b.busy_share
            )?;
        }
        Ok(())
    }
}

struct Procs(Vec<Child>);
impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The start of `len` consecutive loopback ports that are free now, below the kernel's
/// ephemeral range (32768+), where the bench's own client connections take ports.
fn free_port_range(len: u16) -> eyre::Result<u16> {
    let start = 20_000 + (std::process::id() % 100) as u16 * 120;
    let mut p = start;
    loop {
        if (0..len).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return Ok(p);
        }
        p = if p + 2 * len >= 32_700 { 20_000 } else { p + len };
        if p == start {
            bail!("no {len} free consecutive ports on 127.0.0.1 below 32700");
        }
    }
}

/// The `chorus` binary that runs the nodes: `$CHORUS_BIN`, else the one next to this binary.
fn chorus_binary() -> eyre::Result<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("CHORUS_BIN") {
        return Ok(p.into());
    }
    let me = std::env::current_exe()?;
    let sibling = me.with_file_name(format!("chorus{}", std::env::consts::EXE_SUFFIX));
    if !sibling.is_file() {
        bail!(
            "no `chorus` binary at {} to run the nodes: build it (`cargo build -p chorus`, same \
             profile) or set CHORUS_BIN",
            sibling.display()
        );
    }
    Ok(sibling)
}

fn sender(i: usize) -> AccountKey {
    AccountKey::from_seed(format!("chorus-bench-sender-{i}").as_bytes())
}

/// Measures each validator count of `validators` in turn: a fresh network, `txs` transfers from
/// `senders` accounts at the offered `rate` (`None`: unpaced).
pub async fn run(
    validators: &[usize],
    txs: usize,
    senders: usize,
    rate: Option<f64>,
) -> eyre::Result<LedgerReport> {
    if let Some(r) = rate
        && !(r.is_finite() && r > 0.0)
    {
        bail!("--rate must be a positive number of transactions per second, got {r}");
    }
    let mut rows = Vec::new();
    for &n in validators {
        rows.push(run_one(n, txs, senders, rate).await?);
    }
    Ok(LedgerReport { rows })
}

async fn run_one(
    n: usize,
    txs: usize,
    senders: usize,
    rate: Option<f64>,
) -> eyre::Result<LedgerRow> {
    let dir = tempfile::tempdir()?;
    let keys: Vec<AccountKey> = (0..senders).map(sender).collect();
    let base = free_port_range(10 * n as u16 + 2)?;
    let opts = InitOptions {
        validators: n,
        seed: Some(format!("bench-{n}")),
        api_port: base,
        block_time_ms: 200,
        extra_accounts: keys.iter().map(|k| (k.address(), 1_000_000_000_000)).collect(),
        ..InitOptions::default()
    };
    let net = init(dir.path(), &opts)?;
    let exe = chorus_binary()?;
    let mut procs = Procs(Vec::new());
    for h in &net.homes {
        let log = std::fs::File::create(h.0.join("node.log"))?;
        procs.0.push(
            Command::new(&exe)
                .args(["node", "--home"])
                .arg(&h.0)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        );
    }
    let urls: Vec<String> =
        (0..n).map(|i| format!("http://127.0.0.1:{}", base + 10 * i as u16)).collect();
    let start_wait = Instant::now();
    loop {
        if let Ok(s) = http::get(&format!("{}/v1/status", urls[0])).await
            && s["height"].as_u64().unwrap_or(0) >= 2
        {
            break;
        }
        if start_wait.elapsed() > Duration::from_secs(120) {
            let log = std::fs::read_to_string(net.homes[0].0.join("node.log")).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            bail!("network did not start; node 0's log ends with:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chain_id = net.genesis.chain_id;
    // Pre-sign.
    let per = txs.div_ceil(senders);
    let mut signed: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(); senders];
    for (s, key) in keys.iter().enumerate() {
        for nonce in 0..per as u64 {
            let tx = Tx {
                chain_id,
                nonce,
                fee: 1_000,
                msgs: vec![Msg::Bank(BankMsg::Transfer { to: Address([7; 20]), amount: 1 })],
            };
            let stx = sign_tx(key, tx);
            signed[s].push((stx.hash().to_string(), stx.encode()));
        }
    }
    let submitted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let start_height =
        http::get(&format!("{}/v1/status", urls[0])).await?["height"].as_u64().unwrap_or(0);
    let total = senders * per;
    // Watcher.
    let watcher = {
        let committed = committed.clone();
        let url = urls[0].clone();
        tokio::spawn(async move {
            let mut next = start_height + 1;
            let deadline = Instant::now() + Duration::from_secs(300);
            while committed.lock().map(|c| c.len()).unwrap_or(0) < total
                && Instant::now() < deadline
            {
                let Ok(b) = http::get(&format!("{url}/v1/blocks/{next}")).await else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let now = Instant::now();
                if let (Some(list), Ok(mut c)) = (b["txs"].as_array(), committed.lock()) {
                    for h in list {
                        if let Some(h) = h.as_str() {
                            c.insert(h.to_string(), now);
                        }
                    }
                }
                next += 1;
            }
            next - 1
        })
    };
    let metrics_url = format!("{}/metrics", urls[0]);
    let metrics_text = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let metrics_before = metrics_text(http::get(&metrics_url).await?);
    let first_submit = Instant::now();
    let mut clients = Vec::new();
    // Paced: each sender submits every `senders / rate` seconds, the senders evenly staggered.
    let gap = rate.map(|r| Duration::from_secs_f64(senders as f64 / r));
    for (s, list) in signed.into_iter().enumerate() {
        let url = format!("{}/v1/txs", urls[s % n]);
        let submitted = submitted.clone();
        let mut ticks = gap.map(|g| {
            let start =
                tokio::time::Instant::from_std(first_submit) + g.mul_f64(s as f64 / senders as f64);
            let mut t = tokio::time::interval_at(start, g);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        clients.push(tokio::spawn(async move {
            for (hash, bytes) in list {
                if let Some(t) = ticks.as_mut() {
                    t.tick().await;
                }
                if let Ok(mut m) = submitted.lock() {
                    m.insert(hash, Instant::now());
                }
                match http::request("POST", &url, Some((bytes, "application/octet-stream"))).await {
                    Ok((200, _)) => {}
                    Ok((code, body)) => return Err(eyre!("submit refused ({code}): {body}")),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }));
    }
    for c in clients {
        c.await??;
    }
    let last_height = watcher.await?;
    let sub = submitted.lock().map_err(|_| eyre!("poisoned"))?.clone();
    let com = committed.lock().map_err(|_| eyre!("poisoned"))?.clone();
    let mut lat: Vec<f64> = com
        .iter()
        .filter_map(|(h, t)| {
            sub.get(h).map(|s| t.saturating_duration_since(*s).as_secs_f64() * 1e3)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let last = com.values().max().copied().unwrap_or(first_submit);
    let seconds = last.saturating_duration_since(first_submit).as_secs_f64().max(1e-9);
    let pct =
        |p: f64| lat.get(((lat.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let metrics_after = metrics_text(http::get(&metrics_url).await?);
    let blocks = last_height.saturating_sub(start_height);
    let block_ms = seconds * 1e3 / blocks.max(1) as f64;
    Ok(LedgerRow {
        validators: n,
        rate,
        txs: total,
        committed: com.len(),
        seconds,
        tx_per_sec: com.len() as f64 / seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        blocks,
        block_ms,
        p50_in_blocks: pct(0.5) / block_ms,
        breakdown: breakdown(&metrics_before, &metrics_after, seconds),
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_rate_that_is_not_a_positive_number_is_refused_before_any_node_starts() {
        for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let err = super::run(&[1], 10, 1, Some(bad)).await.unwrap_err().to_string();
            assert!(err.contains("--rate must be a positive number"), "{err}");
        }
    }
}
