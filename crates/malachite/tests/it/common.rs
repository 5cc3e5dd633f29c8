//! A counter application and helpers shared by the consensus tests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use chorus_consensus::{AppError, Application, CommitCertificate, ValidatorInfo, public_key};

#[derive(BorshSerialize, BorshDeserialize)]
struct Block {
    height: u64,
    round: u32,
    counter: u64,
}

#[derive(Default)]
pub(crate) struct State {
    validators: Vec<ValidatorInfo>,
    counter: u64,
    proposed: HashMap<(u64, u32), (Vec<u8>, [u8; 32])>,
    committed: Vec<(u64, Vec<u8>, CommitCertificate)>,
    commit_times: Vec<Instant>,
    /// A height whose commit fails (a simulated disk failure).
    fail_commit_at: Option<u64>,
}

/// Application whose blocks are `(height, round, counter)`; it checks every commit and its
/// certificate, and records what was committed.
#[derive(Clone, Default)]
pub(crate) struct TestApp(Arc<Mutex<State>>);

impl TestApp {
    pub(crate) fn new(validators: Vec<ValidatorInfo>) -> Self {
        Self(Arc::new(Mutex::new(State { validators, ..Default::default() })))
    }

    /// `(height, value id)` of every commit, in commit order.
    pub(crate) fn committed(&self) -> Vec<(u64, [u8; 32])> {
        self.0.lock().unwrap().committed.iter().map(|(h, _, c)| (*h, c.value_id)).collect()
    }

    /// The committed certificates, in commit order.
    pub(crate) fn certificates(&self) -> Vec<CommitCertificate> {
        self.0.lock().unwrap().committed.iter().map(|(_, _, c)| c.clone()).collect()
    }

    /// Makes the commit of `height` fail, as a broken disk would.
    pub(crate) fn fail_commit_at(&self, height: u64) {
        self.0.lock().unwrap().fail_commit_at = Some(height);
    }

    fn committed_len(&self) -> usize {
        self.0.lock().unwrap().committed.len()
    }
}

impl Application for TestApp {
    fn consensus_ready(&mut self) -> Result<(u64, Vec<ValidatorInfo>), AppError> {
        let s = self.0.lock().unwrap();
        Ok((s.committed.last().map(|c| c.0 + 1).unwrap_or(1), s.validators.clone()))
    }

    fn propose(&mut self, height: u64, round: u32) -> Result<(Vec<u8>, [u8; 32]), AppError> {
        let mut s = self.0.lock().unwrap();
        if let Some(v) = s.proposed.get(&(height, round)) {
            return Ok(v.clone());
        }
        s.counter += 1;
        let b = borsh::to_vec(&Block { height, round, counter: s.counter }).unwrap();
        let id: [u8; 32] = Sha256::digest(&b).into();
        s.proposed.insert((height, round), (b.clone(), id));
        Ok((b, id))
    }

    fn validate(
        &mut self,
        height: u64,
        _round: u32,
        _proposer: [u8; 32],
        block: &[u8],
    ) -> Result<Option<[u8; 32]>, AppError> {
        let Ok(b) = borsh::from_slice::<Block>(block) else { return Ok(None) };
        Ok((b.height == height).then(|| Sha256::digest(block).into()))
    }

    fn commit(
        &mut self,
        block: &[u8],
        cert: &CommitCertificate,
    ) -> Result<Vec<ValidatorInfo>, AppError> {
        let mut s = self.0.lock().unwrap();
        if s.fail_commit_at == Some(cert.height) {
            return Err(AppError::new(format!("disk failed committing height {}", cert.height)));
        }
        let expected = s.committed.last().map(|c| c.0 + 1).unwrap_or(1);
        assert_eq!(cert.height, expected, "commits must be in order, once each");
        let id: [u8; 32] = Sha256::digest(block).into();
        assert_eq!(id, cert.value_id);
        cert.verify(&s.validators, 0).expect("certificate must verify");
        s.committed.push((cert.height, block.to_vec(), cert.clone()));
        s.commit_times.push(Instant::now());
        Ok(s.validators.clone())
    }

    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, AppError> {
        let s = self.0.lock().unwrap();
        Ok(s.committed.iter().find(|c| c.0 == height).map(|c| (c.1.clone(), c.2.clone())))
    }

    fn history_min_height(&self) -> u64 {
        let s = self.0.lock().unwrap();
        s.committed.first().map(|c| c.0).unwrap_or(0)
    }
}

/// Validator set with one validator of power `power` per secret key.
pub(crate) fn validators(secret_keys: &[[u8; 32]], power: u64) -> Vec<ValidatorInfo> {
    secret_keys.iter().map(|sk| ValidatorInfo { consensus_key: public_key(sk), power }).collect()
}

pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chorus_consensus=info,warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A fresh, empty home directory for this test process.
pub(crate) fn home(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("chorus-cons-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

pub(crate) fn addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// Waits until `app` has committed at least `n` heights; fails the test after `timeout`.
pub(crate) async fn wait_for(app: &TestApp, n: usize, timeout: Duration) {
    let start = Instant::now();
    while app.committed_len() < n {
        assert!(
            start.elapsed() < timeout,
            "timed out waiting for {n} commits (have {})",
            app.committed_len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that the commits are heights `1..=len`, in order.
pub(crate) fn assert_heights_in_order(app: &TestApp) {
    for (i, (h, _)) in app.committed().iter().enumerate() {
        assert_eq!(*h, i as u64 + 1);
    }
}

pub(crate) fn report_latency(label: &str, app: &TestApp) {
    let s = app.0.lock().unwrap();
    let t = &s.commit_times;
    if t.len() >= 2 {
        let total = t[t.len() - 1] - t[0];
        println!(
            "{label}: {} heights, mean interval between commits {:?}",
            t.len(),
            total / (t.len() as u32 - 1)
        );
    }
}
