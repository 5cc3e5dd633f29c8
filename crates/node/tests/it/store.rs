//! The blob store as a validator node mounts it: who may write and list (H2, H5), quotas, the
//! node API's pagination, and a slow-loris upload flood that must not slow the API (H2, M9).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chorus_crypto::AccountKey;
use chorus_node::config::{LocalUploads, NodeConfig};
use chorus_store::{BlobId, ClientOptions, Error as StoreError, RateLimit, StoreClient};
use chorus_types::learning::{Capabilities, RegistryMsg, Role};
use chorus_types::{BankMsg, Msg, Tx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::{CHAIN, Net, start_with};

fn operator() -> AccountKey {
    AccountKey::from_seed(b"operator")
}

fn store_client(net: &Net, signer: Option<AccountKey>) -> StoreClient {
    let opts = ClientOptions {
        signer: signer.map(|k| Arc::new(k) as Arc<dyn chorus_store::RequestSigner>),
        max_attempts: 1,
        ..ClientOptions::default()
    };
    StoreClient::new(vec![format!("{}/store", net.svc.api_url())], opts).unwrap()
}

fn register() -> Msg {
    Msg::Registry(RegistryMsg::Register {
        role: Role::Participant,
        bond: 1_000,
        capabilities: Capabilities { x25519_public_key: [1; 32], ..Capabilities::default() },
    })
}

fn refused(r: Result<BlobId, StoreError>, status: u16, reason: &str) {
    match r {
        Err(StoreError::Http { status: s, message }) => {
            assert_eq!(s, status, "{message}");
            assert!(message.contains(reason), "{reason:?} not in {message:?}");
        }
        other => panic!("expected {status} ({reason}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_uploads_only_from_registered_participants_and_models_only_from_operators() {
    let mut config = NodeConfig::default();
    config.store.quota_bytes_per_account = 10_000;
    let net = start_with(config).await;
    let updates = |b: &[u8]| (b.to_vec(), BlobId::of(b));
    let stored = |ns: &str, id: &BlobId| net.svc.store.backend().stat(ns, id).unwrap().is_some();

    // Anonymous: refused with 401 and a reason, nothing stored.
    let (body, id) = updates(b"anonymous update");
    refused(store_client(&net, None).put("updates", body.clone()).await, 401, "must be signed");
    refused(store_client(&net, None).put("public", body).await, 401, "must be signed");
    assert!(!stored("updates", &id));

    // Signed by an account the chain does not know: 403.
    let alice = store_client(&net, Some(net.alice.clone()));
    let (body, id) = updates(b"alice's update");
    refused(alice.put("updates", body.clone()).await, 403, "not a registered participant");
    assert!(!stored("updates", &id));

    // Once registered on chain, the same upload succeeds.
    let receipt = net.send_and_commit(0, vec![register()]).await;
    assert!(receipt["receipt"]["result"].get("Ok").is_some(), "{receipt}");
    assert_eq!(alice.put("updates", body).await.unwrap(), id);
    assert!(stored("updates", &id));
    assert_eq!(net.svc.store.usage(&net.alice.address()), (14, 1));

    // `models` takes validator operators only: a participant is refused, the operator is not.
    let model = b"aggregated model".to_vec();
    refused(alice.put("models", model.clone()).await, 403, "only validator operators");
    assert_eq!(
        store_client(&net, Some(operator())).put("models", model.clone()).await.unwrap(),
        BlobId::of(&model)
    );

    // Over quota (10 000 bytes per account): refused with a reason, nothing stored.
    alice.put("updates", vec![1u8; 9_000]).await.unwrap();
    let big = vec![2u8; 5_000];
    refused(alice.put("updates", big.clone()).await, 413, "quota exceeded");
    assert!(!stored("updates", &BlobId::of(&big)));
    assert_eq!(net.svc.store.usage(&net.alice.address()), (9_014, 2));

    // The node still serves: API, store reads, and uploads from others.
    let (status, _) = net.get("/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(store_client(&net, None).get("updates", &id).await.unwrap(), b"alice's update");
    store_client(&net, Some(operator())).put("updates", b"op".to_vec()).await.unwrap();
    net.block();
    assert_eq!(net.get("/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_model_uploads_are_taken_only_from_loopback_when_configured() {
    // `auto` on a loopback API (the devnet's initial model, uploaded by `chorus devnet`)...
    let net = start_with(NodeConfig::default()).await;
    let model = b"initial model".to_vec();
    store_client(&net, None).put("models", model.clone()).await.unwrap();
    // ...never into `updates`,
    refused(store_client(&net, None).put("updates", model.clone()).await, 401, "must be signed");
    // and not at all when switched off.
    let mut config = NodeConfig::default();
    config.store.local_model_uploads = LocalUploads::Off;
    let net = start_with(config).await;
    refused(store_client(&net, None).put("models", model).await, 401, "must be signed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_are_paginated_and_strangers_and_participants_cannot_list_updates() {
    let net = start_with(NodeConfig::default()).await;
    // Alice funds two more accounts; all three register as participants.
    let (k1, k2) = (AccountKey::from_seed(b"p1"), AccountKey::from_seed(b"p2"));
    let fund = |to: &AccountKey| Msg::Bank(BankMsg::Transfer { to: to.address(), amount: 10_000 });
    let r = net.send_and_commit(0, vec![fund(&k1), fund(&k2), register()]).await;
    assert!(r["receipt"]["result"].get("Ok").is_some(), "{r}");
    for k in [&k1, &k2] {
        let tx = chorus_crypto::sign_tx(
            k,
            Tx { chain_id: CHAIN, nonce: 0, fee: 10, msgs: vec![register()] },
        );
        assert_eq!(net.submit(&tx).await.0, 200);
    }
    net.block();

    let alice = store_client(&net, Some(net.alice.clone()));
    let mut ids = Vec::new();
    for i in 0..5u8 {
        ids.push(alice.put("updates", vec![i; 100]).await.unwrap());
    }
    ids.sort();

    // `updates`: not listable by strangers, anonymous clients or participants...
    let stranger = store_client(&net, Some(AccountKey::from_seed(b"stranger")));
    let anon = store_client(&net, None);
    match anon.list("updates").await {
        Err(StoreError::Http { status: 401, .. }) => {}
        r => panic!("anonymous listing: {r:?}"),
    }
    for (who, c) in [("stranger", &stranger), ("participant", &alice)] {
        match c.list("updates").await {
            Err(StoreError::Http { status: 403, message }) => {
                assert!(message.contains("only validator operators"), "{who}: {message}")
            }
            r => panic!("{who} listing: {r:?}"),
        }
    }
    // ...but each update stays readable by id (validators and auditors fetch revealed ones).
    assert_eq!(anon.get("updates", &ids[0]).await.unwrap().len(), 100);
    // A validator operator lists it, page by page in id order.
    let op = store_client(&net, Some(operator()));
    let (p1, next) = op.list_page("updates", None, 2).await.unwrap();
    assert_eq!(p1.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..2]);
    let (p2, next) = op.list_page("updates", next.as_ref(), 2).await.unwrap();
    assert_eq!(p2.iter().map(|m| m.id).collect::<Vec<_>>(), ids[2..4]);
    let (p3, next) = op.list_page("updates", next.as_ref(), 2).await.unwrap();
    assert_eq!((p3.len(), next), (1, None));
    assert_eq!(op.list("updates").await.unwrap().len(), 5);

    // The node API's list endpoints page too: three participants, two per page.
    let (status, page) = net.get("/v1/registry/participants?limit=2").await;
    assert_eq!((status, page.as_array().unwrap().len()), (200, 2));
    let after = page[1]["address"].as_str().unwrap().to_string();
    let (_, rest) = net.get(&format!("/v1/registry/participants?limit=2&after={after}")).await;
    assert_eq!(rest.as_array().unwrap().len(), 1);
    let mut all: Vec<String> = page
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.as_array().unwrap())
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    let sorted = {
        let mut s = all.clone();
        s.sort();
        s
    };
    assert_eq!(all, sorted, "pages are in address order");
    all.dedup();
    assert_eq!(all.len(), 3);
    let (_, vals) = net.get("/v1/staking/validators?limit=1").await;
    assert_eq!(vals["validators"].as_array().unwrap().len(), 1);
    assert!(vals["next"].is_null(), "{vals}");
    assert_eq!(net.get("/v1/gov/proposals?limit=0").await.0, 400);
    assert_eq!(net.get("/v1/learning/tasks?after=nope").await.0, 400);
    let (status, tasks) = net.get("/v1/learning/tasks?limit=5").await;
    assert_eq!((status, tasks.as_array().map(Vec::len)), (200, Some(0)));
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99).div_ceil(100) - 1]
}

/// `POST /v1/txs` latencies of `n` submissions the node refuses quickly (a signed transfer with
/// a nonce gap, so it goes through the blocking pool, signature recovery and a state read).
async fn submit_latencies(net: &Net, n: u64, nonce_base: u64) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let tx = net.transfer(nonce_base + i, 1, 10);
        let t = Instant::now();
        let (status, body) = net.submit(&tx).await;
        out.push(t.elapsed());
        assert_eq!(status, 400, "{body}");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_uploads_do_not_slow_transaction_submission_and_are_cut_off() {
    const UPLOADS: usize = 200;
    let mut config = NodeConfig::default();
    // Let all 200 uploads in, as if they came from 200 hosts and accounts.
    config.store.max_uploads = 1024;
    config.store.max_uploads_per_ip = 1024;
    config.store.rate_per_account = Some(RateLimit { per_sec: 1000.0, burst: 1000.0 });
    config.store.rate_per_ip = Some(RateLimit { per_sec: 1000.0, burst: 1000.0 });
    // Minimum upload rate (4 KiB/s) enforced after 8 s, so the flood is cut off in this test.
    config.store.upload_grace_ms = 8_000;
    let net = start_with(config).await;
    net.block();

    submit_latencies(&net, 20, 500).await; // warm-up: connections, caches
    let unloaded = submit_latencies(&net, 200, 1_000).await;

    // 200 signed uploads (a validator operator may upload) that send one byte per second.
    let addr = net.svc.api_addr;
    let body = vec![7u8; 1000];
    let id = BlobId::of(&body);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let finished = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..UPLOADS {
        let headers = chorus_store::sign_request(
            &operator(),
            "PUT",
            "/store/blobs/updates",
            &id,
            now,
            &format!("loris-{i:04}"),
        )
        .to_headers();
        let finished = finished.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let mut req =
                "PUT /store/blobs/updates HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n"
                    .to_string();
            for (k, v) in headers {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            req.push_str("\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let (mut rd, mut wr) = s.into_split();
            let trickle = async move {
                for _ in 0..1000 {
                    if wr.write_all(&[7u8]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                std::future::pending::<()>().await;
            };
            let mut resp = Vec::new();
            let read = rd.read_to_end(&mut resp);
            tokio::select! {
                _ = trickle => {}
                _ = read => {}
            }
            finished.fetch_add(1, Ordering::Relaxed);
            String::from_utf8_lossy(&resp).into_owned()
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = submit_latencies(&net, 200, 2_000).await;
    let measured_within = started.elapsed();
    let still_open = UPLOADS - finished.load(Ordering::Relaxed);

    let (u, l) = (p99(unloaded), p99(loaded));
    println!(
        "POST /v1/txs p99: unloaded {:.2} ms, with {still_open} slow uploads open {:.2} ms",
        u.as_secs_f64() * 1e3,
        l.as_secs_f64() * 1e3
    );
    assert_eq!(still_open, UPLOADS, "the flood was in progress while measuring");
    assert!(measured_within < Duration::from_secs(8), "measured after the cut-off");
    // 2x the unloaded p99, plus 20 ms: on a 2-core machine shared with other builds a single
    // scheduler hiccup moves a p99 of a few milliseconds by more than 2x.
    assert!(l <= u * 2 + Duration::from_millis(20), "p99 {l:?} > 2 x {u:?} + 20 ms");

    // The uploads are cut off with 408 once they fall below the minimum rate; nothing is stored.
    for t in tasks {
        let resp = tokio::time::timeout(Duration::from_secs(30), t).await.unwrap().unwrap();
        assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
        assert!(resp.contains("upload too slow"), "{resp}");
    }
    println!("all {UPLOADS} slow uploads cut off after {:.1} s", started.elapsed().as_secs_f64());
    assert!(net.svc.store.backend().stat("updates", &id).unwrap().is_none());
    assert_eq!(net.get("/v1/status").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriptions_are_capped_and_a_closed_one_frees_its_slot() {
    let mut config = NodeConfig::default();
    config.api.max_websockets = 2;
    let net = start_with(config).await;
    let addr = net.svc.api_addr;
    let open = || async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"GET /v1/ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
              sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        (String::from_utf8_lossy(&buf[..n]).into_owned(), s)
    };
    let (a, sa) = open().await;
    let (b, _sb) = open().await;
    assert!(a.starts_with("HTTP/1.1 101") && b.starts_with("HTTP/1.1 101"), "{a}\n{b}");
    let (c, _) = open().await;
    assert!(c.starts_with("HTTP/1.1 503") && c.contains("too many WebSocket"), "{c}");
    // closing one subscription frees its slot
    drop(sa);
    let mut reopened = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        reopened = open().await.0;
        if reopened.starts_with("HTTP/1.1 101") {
            break;
        }
    }
    assert!(reopened.starts_with("HTTP/1.1 101"), "{reopened}");
    assert_eq!(net.get("/v1/status").await.0, 200);
}
