//! Validators as separate OS processes: this test binary re-executes itself, running
//! `procs::testnode_entry` with its settings in environment variables.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorus_consensus::{run, ConsensusConfig};

use crate::app::{read_commits, secret, validators, TestApp};
use crate::single::{fast_timeouts, free_addr};

const ENV: &str = "CHORUS_CONSENSUS_TESTNODE";

/// Entry point of a child node process (ignored unless started by a test below).
#[test]
#[ignore = "only runs as a child process of the multi-process tests"]
fn testnode_entry() {
    let Ok(spec) = std::env::var(ENV) else { return };
    // spec: index;n;home;listen;peers(comma);block_ms
    let f: Vec<&str> = spec.split(';').collect();
    let (index, n): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
    let home = PathBuf::from(f[2]);
    let listen: SocketAddr = f[3].parse().unwrap();
    let peers: Vec<SocketAddr> =
        f[4].split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let block_ms: u64 = f[5].parse().unwrap();

    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,arc_malachitebft_network=error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let app = TestApp::open(&home.join("app"), secret(index), validators(n));
        let mut cfg = ConsensusConfig::new("chorus-test", home.join("consensus"), listen);
        cfg.peers = peers;
        cfg.block_time = Duration::from_millis(block_ms);
        cfg.timeouts = fast_timeouts();
        cfg.moniker = format!("node{index}");
        let handle = run(secret(index), cfg, app).await.unwrap();
        while !handle.is_finished() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let s = handle.stats();
            let line = format!(
                "committed {} timed {} mean_decide_us {} max_decide_us {} extra_rounds {}\n",
                s.committed,
                s.timed,
                s.mean_decide_time().unwrap_or_default().as_micros(),
                s.decide_time_max.as_micros(),
                s.extra_rounds
            );
            let _ = std::fs::write(home.join("stats.txt"), line);
        }
        let r = handle.wait().await;
        panic!("consensus stopped: {r:?}");
    });
}

struct Node {
    index: usize,
    n: usize,
    home: PathBuf,
    listen: SocketAddr,
    peers: Vec<SocketAddr>,
    block_ms: u64,
    child: Option<Child>,
}

impl Node {
    fn start(&mut self) {
        let peers: Vec<String> = self.peers.iter().map(|p| p.to_string()).collect();
        let spec = format!(
            "{};{};{};{};{};{}",
            self.index,
            self.n,
            self.home.display(),
            self.listen,
            peers.join(","),
            self.block_ms
        );
        std::fs::create_dir_all(&self.home).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.join("node.log"))
            .unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["procs::testnode_entry", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(ENV, spec)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn commits(&self) -> Vec<(u64, String)> {
        read_commits(&self.home.join("app"))
    }

    fn height(&self) -> u64 {
        self.commits().last().map_or(0, |c| c.0)
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.home.join("app").join("errors.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.home.join("node.log")).unwrap_or_default();
        s.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn cluster(dir: &Path, n: usize, block_ms: u64) -> Vec<Node> {
    let addrs: Vec<SocketAddr> = (0..n).map(|_| free_addr()).collect();
    (0..n)
        .map(|i| Node {
            index: i,
            n,
            home: dir.join(format!("node{i}")),
            listen: addrs[i],
            peers: addrs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| *a).collect(),
            block_ms,
            child: None,
        })
        .collect()
}

fn wait_until(nodes: &[&Node], what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            for n in nodes {
                eprintln!("--- node{} height {} log:\n{}", n.index, n.height(), n.log_tail());
            }
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every height committed by several nodes has the same hash everywhere, and each node's log is
/// exactly 1..=h once each.
fn assert_agreement(nodes: &[Node]) {
    let mut by_height: BTreeMap<u64, String> = BTreeMap::new();
    for n in nodes {
        assert_eq!(n.errors(), "", "node{} reported errors", n.index);
        let commits = n.commits();
        let heights: Vec<u64> = commits.iter().map(|c| c.0).collect();
        assert_eq!(heights, (1..=heights.len() as u64).collect::<Vec<_>>(), "node{}", n.index);
        for (h, id) in commits {
            let prev = by_height.entry(h).or_insert_with(|| id.clone());
            assert_eq!(*prev, id, "divergence at height {h} on node{}", n.index);
        }
    }
}

#[test]
fn four_validator_processes_agree_survive_a_crash_and_the_restarted_one_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 4, 100);
    for n in nodes.iter_mut() {
        n.start();
    }
    let t0 = Instant::now();
    {
        let all: Vec<&Node> = nodes.iter().collect();
        wait_until(&all, "4 nodes at height 5", Duration::from_secs(40), || {
            nodes.iter().all(|n| n.height() >= 5)
        });
    }
    eprintln!("4 validators reached height 5 in {:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    for n in &nodes {
        let stats = std::fs::read_to_string(n.home.join("stats.txt")).unwrap_or_default();
        eprintln!("node{} stats: {}", n.index, stats.trim());
    }

    // kill one: the other three (> 2/3 of the power) keep deciding
    nodes[3].kill();
    let stopped_at = nodes[3].height();
    let target = nodes[..3].iter().map(Node::height).max().unwrap() + 6;
    {
        let live: Vec<&Node> = nodes[..3].iter().collect();
        wait_until(&live, "3 nodes to advance", Duration::from_secs(40), || {
            nodes[..3].iter().all(|n| n.height() >= target)
        });
    }
    assert_eq!(nodes[3].height(), stopped_at);

    // restart it: it catches up through sync and follows again
    nodes[3].start();
    let target = nodes[..3].iter().map(Node::height).max().unwrap() + 3;
    {
        let all: Vec<&Node> = nodes.iter().collect();
        wait_until(&all, "restarted node to catch up", Duration::from_secs(40), || {
            nodes.iter().all(|n| n.height() >= target)
        });
    }
    for n in nodes.iter_mut() {
        n.kill();
    }
    assert_agreement(&nodes);
    eprintln!("4 validators: {} heights in {:?}", nodes[0].height(), t0.elapsed());
}

#[test]
fn a_single_validator_killed_with_sigkill_resumes_from_its_last_committed_height() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path(), 1, 50);
    nodes[0].start();
    wait_until(&[&nodes[0]], "height 5", Duration::from_secs(30), || nodes[0].height() >= 5);
    nodes[0].kill();
    let before = nodes[0].commits();
    let h = before.len() as u64;

    nodes[0].start();
    wait_until(&[&nodes[0]], "progress after restart", Duration::from_secs(30), || {
        nodes[0].height() >= h + 5
    });
    nodes[0].kill();
    let after = nodes[0].commits();
    assert_eq!(after[..before.len()], before[..], "history changed across the restart");
    assert_agreement(&nodes);
}
