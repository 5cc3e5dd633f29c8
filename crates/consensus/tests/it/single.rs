use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use chorus_consensus::{run, ConsensusConfig, Timeouts};

use crate::app::{secret, validators, TestApp};

pub(crate) fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

pub(crate) fn fast_timeouts() -> Timeouts {
    Timeouts {
        propose: Duration::from_millis(1500),
        prevote: Duration::from_millis(500),
        precommit: Duration::from_millis(500),
        delta: Duration::from_millis(250),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_validator_decides_ten_heights_in_order_with_valid_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::open(&dir.path().join("app"), secret(0), validators(1));
    let observed = app.observed.clone();
    let mut cfg = ConsensusConfig::new("chorus-test", dir.path().join("consensus"), free_addr());
    cfg.block_time = Duration::from_millis(50);
    cfg.timeouts = fast_timeouts();
    let handle = run(secret(0), cfg, app).await.unwrap();

    let start = Instant::now();
    while observed.lock().unwrap().commits.len() < 12 {
        assert!(start.elapsed() < Duration::from_secs(30), "too slow: {:?}", observed.lock().unwrap());
        assert!(!handle.is_finished());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let stats = handle.stats();
    handle.stop().await;

    let obs = observed.lock().unwrap();
    assert!(obs.errors.is_empty(), "{:?}", obs.errors);
    let heights: Vec<u64> = obs.commits.iter().map(|c| c.0).collect();
    assert_eq!(heights[..12], (1..=12).collect::<Vec<_>>()[..]);
    let vals = validators(1);
    for (h, id, cert) in &obs.commits {
        assert_eq!(cert.height, *h);
        assert_eq!(&cert.value_id, id);
        assert_eq!(cert.signatures.len(), 1);
        assert_eq!(cert.signatures[0].0, vals[0].consensus_key);
        cert.verify("chorus-test", &vals).unwrap();
        // a certificate checked against another chain or another set must fail
        assert!(cert.verify("other-chain", &vals).is_err());
        assert!(cert.verify("chorus-test", &validators(4)).is_err());
        let again = chorus_consensus::CommitCertificate::from_bytes(&cert.to_bytes()).unwrap();
        assert_eq!(&again, cert);
    }
    // pacing: 12 heights at >= 50 ms each
    assert!(elapsed >= Duration::from_millis(50 * 11), "{elapsed:?}");
    eprintln!(
        "1 validator: {} heights in {elapsed:?}; mean decide {:?}, max {:?}",
        obs.commits.len(),
        stats.mean_decide_time(),
        stats.decide_time_max
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rejects_an_empty_validator_set_and_an_empty_chain_id() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::open(&dir.path().join("app"), secret(0), Vec::new());
    let cfg = ConsensusConfig::new("chorus-test", dir.path().join("c"), free_addr());
    assert!(matches!(
        run(secret(0), cfg, app).await,
        Err(chorus_consensus::Error::EmptyValidatorSet(1))
    ));
    let app = TestApp::open(&dir.path().join("app2"), secret(0), validators(1));
    let cfg = ConsensusConfig::new("", dir.path().join("c2"), free_addr());
    assert!(matches!(run(secret(0), cfg, app).await, Err(chorus_consensus::Error::Config(_))));
}
