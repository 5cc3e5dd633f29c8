//! One validator: deciding heights in order, and resuming after a restart.

use std::time::{Duration, Instant};

use chorus_consensus::{CommitCertificate, ConsensusConfig, Error, run};

use crate::common::{
    TestApp, addr, assert_heights_in_order, home, init_logs, report_latency, validators, wait_for,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_validator_decides_ten_heights_in_order() {
    init_logs();
    let sk = [1u8; 32];
    let app = TestApp::new(validators(&[sk], 1));
    let mut cfg = ConsensusConfig::new(home("single"), addr(29100));
    cfg.block_time = Duration::ZERO;
    cfg.moniker = "v0".into();
    let t0 = Instant::now();
    let handle = run(sk, cfg, app.clone()).await.unwrap();
    wait_for(&app, 10, Duration::from_secs(60)).await;
    println!("single validator: first 10 heights in {:?} (incl. startup)", t0.elapsed());
    report_latency("single validator (block_time=0)", &app);
    assert!(!handle.is_finished(), "the host loop keeps running until stopped");
    handle.stop().await;
    assert!(app.committed().len() >= 10);
    assert_heights_in_order(&app);
    for cert in app.certificates() {
        assert_eq!(cert.signatures.len(), 1, "the only validator signs every commit");
        assert_eq!(CommitCertificate::from_bytes(&cert.to_bytes()).unwrap(), cert);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarted_validator_continues_at_the_next_height() {
    init_logs();
    let sk = [3u8; 32];
    let app = TestApp::new(validators(&[sk], 1));
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
    assert_heights_in_order(&app);
    println!("restarted and continued to height {}", app.committed().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_that_cannot_commit_stops_the_host_with_its_error_instead_of_aborting() {
    init_logs();
    let sk = [4u8; 32];
    let app = TestApp::new(validators(&[sk], 1));
    app.fail_commit_at(3);
    let mut cfg = ConsensusConfig::new(home("fail-commit"), addr(29700));
    cfg.block_time = Duration::ZERO;
    cfg.moniker = "f0".into();
    let mut handle = run(sk, cfg, app.clone()).await.unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(60), handle.stopped())
        .await
        .expect("the host stops after the failed commit");
    match stopped {
        Err(Error::Application(e)) => {
            assert!(e.to_string().contains("disk failed committing height 3"), "{e}")
        }
        other => panic!("expected the application's error, got {other:?}"),
    }
    assert!(handle.is_finished());
    assert_eq!(app.committed().len(), 2, "nothing after the failed height was committed");
    assert!(handle.stopped().await.is_ok(), "a second call returns at once");
    handle.stop().await;
}
