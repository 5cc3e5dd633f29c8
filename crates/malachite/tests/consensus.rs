//! Integration tests: 1 validator, 4 validators, restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use chorus_consensus::{
    Application, CommitCertificate, ConsensusConfig, ValidatorInfo, public_key, run,
};

#[derive(BorshSerialize, BorshDeserialize)]
struct Block {
    height: u64,
    round: u32,
    counter: u64,
}

#[derive(Default)]
struct State {
    validators: Vec<ValidatorInfo>,
    counter: u64,
    proposed: HashMap<(u64, u32), (Vec<u8>, [u8; 32])>,
    committed: Vec<(u64, Vec<u8>, CommitCertificate)>,
    commit_times: Vec<Instant>,
}

#[derive(Clone, Default)]
struct TestApp(Arc<Mutex<State>>);

impl TestApp {
    fn new(validators: Vec<ValidatorInfo>) -> Self {
        Self(Arc::new(Mutex::new(State { validators, ..Default::default() })))
    }
    fn committed(&self) -> Vec<(u64, [u8; 32])> {
        self.0.lock().unwrap().committed.iter().map(|(h, _, c)| (*h, c.value_id)).collect()
    }
}

impl Application for TestApp {
    fn consensus_ready(&mut self) -> (u64, Vec<ValidatorInfo>) {
        let s = self.0.lock().unwrap();
        (s.committed.last().map(|c| c.0 + 1).unwrap_or(1), s.validators.clone())
    }
    fn propose(&mut self, height: u64, round: u32) -> (Vec<u8>, [u8; 32]) {
        let mut s = self.0.lock().unwrap();
        if let Some(v) = s.proposed.get(&(height, round)) {
            return v.clone();
        }
        s.counter += 1;
        let b = borsh::to_vec(&Block { height, round, counter: s.counter }).unwrap();
        let id: [u8; 32] = Sha256::digest(&b).into();
        s.proposed.insert((height, round), (b.clone(), id));
        (b, id)
    }
    fn validate(&mut self, height: u64, _round: u32, _proposer: [u8; 32], block: &[u8]) -> Option<[u8; 32]> {
        let b: Block = borsh::from_slice(block).ok()?;
        (b.height == height).then(|| Sha256::digest(block).into())
    }
    fn commit(&mut self, block: &[u8], cert: &CommitCertificate) -> Vec<ValidatorInfo> {
        let mut s = self.0.lock().unwrap();
        let expected = s.committed.last().map(|c| c.0 + 1).unwrap_or(1);
        assert_eq!(cert.height, expected, "commits must be in order, once each");
        let id: [u8; 32] = Sha256::digest(block).into();
        assert_eq!(id, cert.value_id);
        cert.verify(&s.validators).expect("certificate must verify");
        s.committed.push((cert.height, block.to_vec(), cert.clone()));
        s.commit_times.push(Instant::now());
        s.validators.clone()
    }
    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate)> {
        let s = self.0.lock().unwrap();
        s.committed.iter().find(|c| c.0 == height).map(|c| (c.1.clone(), c.2.clone()))
    }
    fn history_min_height(&self) -> u64 {
        let s = self.0.lock().unwrap();
        s.committed.first().map(|c| c.0).unwrap_or(0)
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chorus_consensus=info,warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn home(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("chorus-cons-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

async fn wait_for(app: &TestApp, n: usize, timeout: Duration) {
    let start = Instant::now();
    while app.0.lock().unwrap().committed.len() < n {
        assert!(start.elapsed() < timeout, "timed out waiting for {n} commits (have {})", app.committed().len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report_latency(label: &str, app: &TestApp) {
    let s = app.0.lock().unwrap();
    let t = &s.commit_times;
    if t.len() >= 2 {
        let total = t[t.len() - 1] - t[0];
        println!("{label}: {} heights, mean interval between commits {:?}", t.len(), total / (t.len() as u32 - 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_validator_decides_10_heights() {
    init_logs();
    let sk = [1u8; 32];
    let vals = vec![ValidatorInfo { consensus_key: public_key(&sk), power: 1 }];
    let app = TestApp::new(vals);
    let mut cfg = ConsensusConfig::new(home("single"), addr(29100));
    cfg.block_time = Duration::ZERO;
    cfg.moniker = "v0".into();
    let t0 = Instant::now();
    let handle = run(sk, cfg, app.clone()).await.unwrap();
    wait_for(&app, 10, Duration::from_secs(60)).await;
    println!("single validator: first 10 heights in {:?} (incl. startup)", t0.elapsed());
    report_latency("single validator (block_time=0)", &app);
    handle.stop().await;
    let c = app.committed();
    for (i, (h, _)) in c.iter().enumerate() {
        assert_eq!(*h, i as u64 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_agree() {
    init_logs();
    let sks: Vec<[u8; 32]> = (0..4).map(|i| [10 + i as u8; 32]).collect();
    let vals: Vec<ValidatorInfo> =
        sks.iter().map(|sk| ValidatorInfo { consensus_key: public_key(sk), power: 10 }).collect();
    let ports: Vec<u16> = (0..4).map(|i| 29200 + i).collect();
    let peers: Vec<SocketAddr> = ports.iter().map(|p| addr(*p)).collect();
    let mut apps = vec![];
    let mut handles = vec![];
    for i in 0..4 {
        let app = TestApp::new(vals.clone());
        let mut cfg = ConsensusConfig::new(home(&format!("four{i}")), addr(ports[i]));
        cfg.peers = peers.clone();
        let ms = std::env::var("CHORUS_TEST_BLOCK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
        cfg.block_time = Duration::from_millis(ms);
        cfg.moniker = format!("v{i}");
        handles.push(run(sks[i], cfg, app.clone()).await.unwrap());
        apps.push(app);
    }
    for app in &apps {
        wait_for(app, 5, Duration::from_secs(90)).await;
    }
    report_latency("four validators", &apps[0]);
    for h in handles {
        h.stop().await;
    }
    let first: Vec<_> = apps[0].committed().into_iter().take(5).collect();
    for app in &apps[1..] {
        let c: Vec<_> = app.committed().into_iter().take(5).collect();
        assert_eq!(c, first, "all validators decide the same ids");
    }
    println!("four validators agree on heights 1..=5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_continues_at_next_height() {
    init_logs();
    let sk = [3u8; 32];
    let vals = vec![ValidatorInfo { consensus_key: public_key(&sk), power: 1 }];
    let app = TestApp::new(vals);
    let dir = home("restart");
    let mk = || {
        let mut cfg = ConsensusConfig::new(dir.clone(), addr(29300));
        cfg.block_time = Duration::from_millis(50);
        cfg.moniker = "r0".into();
        cfg
    };
    let handle = run(sk, mk(), app.clone()).await.unwrap();
    wait_for(&app, 3, Duration::from_secs(60)).await;
    handle.stop().await;
    let n = app.committed().len();
    println!("stopped after {n} heights");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let handle = run(sk, mk(), app.clone()).await.unwrap();
    wait_for(&app, n + 3, Duration::from_secs(60)).await;
    handle.stop().await;
    let c = app.committed();
    for (i, (h, _)) in c.iter().enumerate() {
        assert_eq!(*h, i as u64 + 1);
    }
    println!("restarted and continued to height {}", c.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn late_validator_catches_up_via_sync() {
    init_logs();
    let sks: Vec<[u8; 32]> = (0..4).map(|i| [40 + i as u8; 32]).collect();
    let vals: Vec<ValidatorInfo> =
        sks.iter().map(|sk| ValidatorInfo { consensus_key: public_key(sk), power: 10 }).collect();
    let ports: Vec<u16> = (0..4).map(|i| 29400 + i).collect();
    let peers: Vec<SocketAddr> = ports.iter().map(|p| addr(*p)).collect();
    let mk = |i: usize| {
        let mut cfg = ConsensusConfig::new(home(&format!("sync{i}")), addr(ports[i]));
        cfg.peers = peers.clone();
        cfg.block_time = Duration::from_millis(100);
        cfg.moniker = format!("s{i}");
        cfg
    };
    let mut apps = vec![];
    let mut handles = vec![];
    for i in 0..3 {
        let app = TestApp::new(vals.clone());
        handles.push(run(sks[i], mk(i), app.clone()).await.unwrap());
        apps.push(app);
    }
    wait_for(&apps[0], 8, Duration::from_secs(90)).await;
    let late = TestApp::new(vals.clone());
    handles.push(run(sks[3], mk(3), late.clone()).await.unwrap());
    wait_for(&late, 10, Duration::from_secs(90)).await;
    for h in handles {
        h.stop().await;
    }
    let a: Vec<_> = apps[0].committed().into_iter().take(10).collect();
    let b: Vec<_> = late.committed().into_iter().take(10).collect();
    assert_eq!(a, b);
    println!("late validator synced heights 1..=10");
}
