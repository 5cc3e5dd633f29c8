#![allow(clippy::unwrap_used)]
//! Integration tests for chorus-store: each test starts its own server(s) on 127.0.0.1:0.

mod limits;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chorus_crypto::AccountKey;
use chorus_store::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), Error>>>,
}

impl Server {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.task.take().unwrap().await;
    }
}

async fn start(state: StoreState) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(state, listener).await
}

async fn start_on(state: StoreState, listener: tokio::net::TcpListener) -> Server {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_listener(state, listener, async {
        let _ = rx.await;
    }));
    Server { addr, stop: Some(tx), task: Some(task) }
}

fn config() -> StoreConfig {
    StoreConfig {
        rate_limit: None,
        namespaces: vec![NamespaceConfig::public("pub")],
        ..StoreConfig::default()
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chorus-store-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn data(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    blake3::Hasher::new().update(&(n as u64).to_le_bytes()).finalize_xof().fill(&mut v);
    v
}

fn fast_opts() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(5),
        request_timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    }
}

/// A raw HTTP/1.1 request; returns (status, body).
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    (status, body)
}

fn signed(
    key: &AccountKey,
    method: &str,
    path: &str,
    body: &[u8],
    ts: u64,
    nonce: &str,
) -> Vec<(String, String)> {
    sign_request(key, method, path, &BlobId::of(body), ts, nonce)
        .to_headers()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn blobs_of_edge_sizes_round_trip_verified_on_the_fs_backend() {
    let dir = tmpdir("edge");
    let srv = start(StoreState::new(FsBackend::open(&dir).unwrap(), config()).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    for n in [0usize, 1, 1023, 1024, 16383, 16384, 16385, (1 << 20) + 1] {
        let d = data(n);
        let id = c.put("pub", d.clone()).await.unwrap();
        assert_eq!(id, BlobId::of(&d));
        assert_eq!(c.get("pub", &id).await.unwrap(), d, "size {n}");
        assert_eq!(c.head("pub", &id).await.unwrap(), Some(n as u64));
        if n > 20_000 {
            let r = c.get_range("pub", &id, 16_000..20_000).await.unwrap();
            assert_eq!(r, &d[16_000..20_000]);
        }
    }
    // idempotent: same content, same id
    assert_eq!(c.put("pub", data(1)).await.unwrap(), BlobId::of(&data(1)));
    assert_eq!(c.list("pub").await.unwrap().len(), 8);
    assert!(matches!(
        c.get("pub", &BlobId::of(b"nope")).await,
        Err(Error::Http { status: 404, .. })
    ));
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn http_range_requests_answer_206_and_416() {
    let srv = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    let id = c.put("pub", b"0123456789".to_vec()).await.unwrap();
    let path = format!("/blobs/pub/{id}");
    let (st, body) =
        raw(srv.addr, "GET", &path, &[("range".into(), "bytes=2-4".into())], b"").await;
    assert_eq!((st, body.as_str()), (206, "234"));
    let (st, body) =
        raw(srv.addr, "GET", &path, &[("range".into(), "bytes=20-".into())], b"").await;
    assert_eq!(st, 416);
    assert!(body.contains("\"code\":416"), "{body}");
    let (st, _) = raw(srv.addr, "GET", "/blobs/pub/b3xyz", &[], b"").await;
    assert_eq!(st, 400);
    let (st, _) = raw(srv.addr, "GET", "/blobs/nope/x", &[], b"").await;
    assert_eq!(st, 404);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_100_mb_blob_round_trips_over_loopback() {
    let srv = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    let d = data(100_000_000);
    let id = c.put("pub", d.clone()).await.unwrap();
    let back = c.get("pub", &id).await.unwrap();
    assert!(back == d);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_corrupted_byte_on_disk_is_reported_never_returned() {
    let dir = tmpdir("corrupt");
    let be = FsBackend::open(&dir).unwrap();
    let srv = start(StoreState::new(be.clone(), config()).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], ClientOptions { max_attempts: 1, ..fast_opts() })
        .unwrap();
    let d = data(300_000);
    let id = c.put("pub", d).await.unwrap();
    let p = be.data_path("pub", &id);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[200_000] ^= 0x40;
    std::fs::write(&p, bytes).unwrap();
    let err = c.get("pub", &id).await.unwrap_err();
    assert!(format!("{err}").contains("verification failed"), "{err}");
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupted_byte_in_transit_is_detected_and_a_good_replica_is_used() {
    let mem = MemBackend::new();
    let good = start(StoreState::new(mem.clone(), config()).unwrap()).await;
    let d = data(100_000);
    let c = StoreClient::new(vec![good.url()], fast_opts()).unwrap();
    let id = c.put("pub", d.clone()).await.unwrap();
    // a replica that serves the right outboard but flips a byte of the data
    let bad_mem = MemBackend::new();
    let st = StoreState::new(bad_mem.clone(), config()).unwrap();
    st.put_bytes("pub", d.clone().into(), None).await.unwrap();
    assert!(bad_mem.corrupt("pub", &id, 99_999));
    let bad = start(st).await;
    let only_bad =
        StoreClient::new(vec![bad.url()], ClientOptions { max_attempts: 2, ..fast_opts() })
            .unwrap();
    assert!(
        matches!(only_bad.get("pub", &id).await, Err(Error::AllEndpointsFailed(e)) if matches!(*e, Error::Verification { .. }))
    );
    let both = StoreClient::new(vec![bad.url(), good.url()], fast_opts()).unwrap();
    for _ in 0..3 {
        assert_eq!(both.get("pub", &id).await.unwrap(), d);
    }
    good.shutdown().await;
    bad.shutdown().await;
}

#[tokio::test]
async fn a_killed_upload_leaves_nothing_visible_and_no_temp_file() {
    let dir = tmpdir("killed");
    let be = FsBackend::open(&dir).unwrap();
    let srv = start(StoreState::new(be.clone(), config()).unwrap()).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"PUT /blobs/pub HTTP/1.1\r\nhost: x\r\ncontent-length: 5000000\r\n\r\n")
        .await
        .unwrap();
    s.write_all(&vec![7u8; 3_000_000]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s); // client dies mid-body
    let mut left = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = std::fs::read_dir(be.tmp_dir()).unwrap().count();
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "temp file removed after disconnect");
    assert!(be.list("pub").unwrap().is_empty());
    srv.shutdown().await;
    // a leftover from a crash is removed on open
    std::fs::write(be.tmp_dir().join("crash.part"), b"half").unwrap();
    let be2 = FsBackend::open(&dir).unwrap();
    assert_eq!(std::fs::read_dir(be2.tmp_dir()).unwrap().count(), 0);
    assert!(be2.list("pub").unwrap().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn over_limit_uploads_are_cut_off_with_413_and_leave_nothing() {
    let dir = tmpdir("limit");
    let be = FsBackend::open(&dir).unwrap();
    let cfg = StoreConfig { max_blob_size: 100_000, ..config() };
    let srv = start(StoreState::new(be.clone(), cfg).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    // declared length over the limit: refused before reading
    assert!(matches!(c.put("pub", data(100_001)).await, Err(Error::Http { status: 413, .. })));
    // exactly at the limit is fine
    c.put("pub", data(100_000)).await.unwrap();
    // streamed without a length: cut off once the limit is passed
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..50).map(|_| Ok(bytes::Bytes::from(vec![1u8; 10_000]))).collect();
    let r = c.put_stream("pub", futures_util::stream::iter(chunks), None).await;
    assert!(matches!(r, Err(Error::Http { status: 413, .. }) | Err(Error::Transport(_))), "{r:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(be.list("pub").unwrap().len(), 1);
    assert_eq!(std::fs::read_dir(be.tmp_dir()).unwrap().count(), 0);
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn private_namespaces_refuse_missing_bad_replayed_and_stale_signatures() {
    let owner = AccountKey::from_seed(b"owner");
    let stranger = AccountKey::from_seed(b"stranger");
    let mut cfg = config();
    cfg.namespaces.push(NamespaceConfig::private("priv", owner.address()));
    let srv = start(StoreState::new(MemBackend::new(), cfg).unwrap()).await;
    let body = b"secret update";
    let path = "/blobs/priv";
    let now = unix_now();
    // missing
    assert_eq!(raw(srv.addr, "PUT", path, &[], body).await.0, 401);
    // good
    let h = signed(&owner, "PUT", path, body, now, "nonce-0001");
    let (st, resp) = raw(srv.addr, "PUT", path, &h, body).await;
    assert_eq!(st, 201, "{resp}");
    // replayed
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 401);
    // stale
    let h = signed(&owner, "PUT", path, body, now - 3600, "nonce-0002");
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 401);
    // signature over another path
    let h = signed(&owner, "PUT", "/blobs/other", body, now, "nonce-0003");
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 401);
    // tampered signature
    let mut h = signed(&owner, "PUT", path, body, now, "nonce-0004");
    let sig = h.iter_mut().find(|(k, _)| k == HDR_SIGNATURE).unwrap();
    sig.1.replace_range(4..6, if &sig.1[4..6] == "00" { "11" } else { "00" });
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 401);
    // body differs from the signed digest: 409, nothing stored
    let h = signed(&owner, "PUT", path, b"other body", now, "nonce-0005");
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 409);
    // valid signature, not allowed
    let h = signed(&stranger, "PUT", path, body, now, "nonce-0006");
    assert_eq!(raw(srv.addr, "PUT", path, &h, body).await.0, 403);
    // reads: unsigned refused, owner's client reads and verifies
    let id = BlobId::of(body);
    assert_eq!(raw(srv.addr, "GET", &format!("/blobs/priv/{id}"), &[], b"").await.0, 401);
    let c = StoreClient::new(
        vec![srv.url()],
        ClientOptions { signer: Some(Arc::new(owner)), ..fast_opts() },
    )
    .unwrap();
    assert_eq!(c.get("priv", &id).await.unwrap(), body);
    assert_eq!(c.put("priv", b"second".to_vec()).await.unwrap(), BlobId::of(b"second"));
    srv.shutdown().await;
}

#[tokio::test]
async fn quota_and_rate_overruns_are_refused() {
    let owner = AccountKey::from_seed(b"quota");
    let mut cfg = config();
    cfg.namespaces.push(NamespaceConfig::private("priv", owner.address()));
    cfg.quota = Quota { max_bytes: 1000, max_objects: 2 };
    let state = StoreState::new(MemBackend::new(), cfg).unwrap();
    let srv = start(state.clone()).await;
    let c = StoreClient::new(
        vec![srv.url()],
        ClientOptions { signer: Some(Arc::new(owner.clone())), ..fast_opts() },
    )
    .unwrap();
    c.put("priv", vec![1u8; 600]).await.unwrap();
    c.put("priv", vec![1u8; 600]).await.unwrap(); // same blob again: not charged twice
    let over = c.put("priv", vec![2u8; 600]).await;
    assert!(
        matches!(&over, Err(Error::Http { status: 413, message }) if message.contains("quota exceeded")),
        "{over:?}"
    );
    c.put("priv", vec![3u8; 100]).await.unwrap();
    assert!(matches!(c.put("priv", vec![4u8; 10]).await, Err(Error::Http { status: 413, .. })));
    assert_eq!(state.usage(&owner.address()), (700, 2));
    srv.shutdown().await;

    let cfg = StoreConfig { rate_limit: Some(RateLimit { per_sec: 0.01, burst: 3.0 }), ..config() };
    let srv = start(StoreState::new(MemBackend::new(), cfg).unwrap()).await;
    for _ in 0..3 {
        assert_eq!(raw(srv.addr, "GET", "/health", &[], b"").await.0, 200);
    }
    let (st, body) = raw(srv.addr, "GET", "/health", &[], b"").await;
    assert_eq!(st, 429);
    assert!(body.contains("\"code\":429"));
    srv.shutdown().await;
}

#[tokio::test]
async fn gc_removes_expired_unpinned_blobs_and_keeps_pinned_ones() {
    let cfg = StoreConfig { ttl_secs: Some(60), ..config() };
    let state = StoreState::new(MemBackend::new(), cfg).unwrap();
    let a = state.put_bytes("pub", b"pinned".to_vec().into(), None).await.unwrap().id;
    let b = state.put_bytes("pub", b"loose".to_vec().into(), None).await.unwrap().id;
    let pins: std::collections::BTreeSet<BlobId> = [a].into();
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as u64;
    let r = state.gc(&pins, now).unwrap();
    assert!(r.removed_metas.is_empty(), "nothing expired yet");
    let r = state.gc(&pins, now + 61_000).unwrap();
    assert_eq!(r.removed_metas.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(r.kept_pinned, 1);
    assert!(state.backend().stat("pub", &a).unwrap().is_some());
    assert!(state.backend().stat("pub", &b).unwrap().is_none());
}

#[tokio::test]
async fn client_fails_over_when_one_of_three_servers_is_down() {
    let s1 = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let s3 = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let c =
        StoreClient::new(vec![format!("http://{dead}"), s1.url(), s3.url()], fast_opts()).unwrap();
    for i in 0..6u8 {
        let id = c.put("pub", vec![i; 1000]).await.unwrap();
        assert_eq!(id, BlobId::of(&[i; 1000]));
    }
    // reads find the blob on whichever live replica has it (404 elsewhere is not a failure)
    for i in 0..6u8 {
        assert_eq!(c.get("pub", &BlobId::of(&[i; 1000])).await.unwrap(), vec![i; 1000]);
    }
    s1.shutdown().await;
    s3.shutdown().await;
}

#[tokio::test]
async fn circuit_breaker_opens_after_k_failures_half_opens_and_closes_on_success() {
    let live = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap();
    drop(l);
    let opts = ClientOptions {
        breaker_threshold: 2,
        breaker_cooldown: Duration::from_millis(300),
        max_attempts: 1,
        ..fast_opts()
    };
    let c = StoreClient::new(vec![format!("http://{dead}"), live.url()], opts).unwrap();
    assert_eq!(c.breaker_state(0), Some(BreakerState::Closed));
    // round-robin start: hit the dead endpoint until its breaker opens
    let mut failures = 0;
    for _ in 0..8 {
        if c.put("pub", b"x".to_vec()).await.is_err() {
            failures += 1;
        }
        if c.breaker_state(0) == Some(BreakerState::Open) {
            break;
        }
    }
    assert_eq!(failures, 2);
    assert_eq!(c.breaker_state(0), Some(BreakerState::Open));
    // while open, every request goes to the live endpoint
    for _ in 0..4 {
        c.put("pub", b"y".to_vec()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(c.breaker_state(0), Some(BreakerState::HalfOpen));
    // the endpoint comes back; the half-open probe succeeds and closes the breaker
    let back = start_on(
        StoreState::new(MemBackend::new(), config()).unwrap(),
        tokio::net::TcpListener::bind(dead).await.unwrap(),
    )
    .await;
    for _ in 0..2 {
        c.put("pub", b"z".to_vec()).await.unwrap();
    }
    assert_eq!(c.breaker_state(0), Some(BreakerState::Closed));
    live.shutdown().await;
    back.shutdown().await;
}

#[tokio::test]
async fn sealed_blobs_round_trip_through_the_store_and_challenges_verify() {
    let srv = start(StoreState::new(MemBackend::new(), config()).unwrap()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    let keys: Vec<SealSecretKey> = (1..=3u8).map(|i| SealSecretKey([i; 32])).collect();
    let pubs: Vec<SealPublicKey> = keys.iter().map(|k| k.public()).collect();
    let plain = data(200_000);
    let sealed = seal(&plain, &pubs, &[42; 32]).unwrap();
    let id = c.put("pub", sealed.clone()).await.unwrap();
    assert_eq!(id, BlobId::of(&sealed), "id is of the ciphertext");
    let got = c.get("pub", &id).await.unwrap();
    assert_eq!(open(&got, &keys[2]).unwrap(), plain);
    let seed = [5u8; 32];
    let proof = c.challenge("pub", &id, &seed, 8).await.unwrap();
    verify_challenge(&id, &seed, 8, &proof).unwrap();
    assert!(verify_challenge(&BlobId::of(b"other"), &seed, 8, &proof).is_err());
    srv.shutdown().await;
}
