//! HTTP client: verified downloads, retries with backoff and jitter, per-endpoint circuit breakers,
//! failover across replicas.

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::{HDR_DIGEST, RequestSigner, sign_request};
use crate::backend::BlobMeta;
use crate::challenge::ChallengeProof;
use crate::error::Error;
use crate::id::{BlobId, hex_encode, validate_namespace};
use crate::server::{ErrorBody, ListBody, PutResponse, now_ms};
use crate::verify::{GROUP_BYTES, StreamVerifier};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ReqBody = BoxBody<Bytes, BoxError>;

/// Client behaviour. See `docs/store.md` ("Client resilience").
#[derive(Clone)]
pub struct ClientOptions {
    /// Limit for one attempt (connect + headers + whole body).
    pub request_timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Attempts in total, across all endpoints.
    pub max_attempts: u32,
    /// First backoff delay; doubles per failed attempt (full jitter in [d/2, d]).
    pub backoff_base: Duration,
    /// Cap on one backoff delay.
    pub backoff_max: Duration,
    /// Consecutive failures that open an endpoint's breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses requests before one half-open probe.
    pub breaker_cooldown: Duration,
    /// Signs every request when set (needed for private namespaces).
    pub signer: Option<Arc<dyn RequestSigner>>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 6,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(10),
            signer: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

/// State of one endpoint's circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; consecutive failures are counted.
    Closed,
    /// Requests are refused until the cool-down ends.
    Open,
    /// Cool-down over: one probe request is let through; success closes, failure re-opens.
    HalfOpen,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

struct Endpoint {
    base: String,
    breaker: Mutex<Breaker>,
}

impl Endpoint {
    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state(&self, now: Instant) -> BreakerState {
        match self.breaker().open_until {
            None => BreakerState::Closed,
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    fn try_acquire(&self, now: Instant) -> bool {
        let mut b = self.breaker();
        match b.open_until {
            None => true,
            Some(t) if now < t => false,
            Some(_) if b.probing => false,
            Some(_) => {
                b.probing = true;
                true
            }
        }
    }

    fn success(&self) {
        *self.breaker() = Breaker::default();
    }

    fn failure(&self, now: Instant, opts: &ClientOptions) {
        let mut b = self.breaker();
        if b.probing || b.open_until.is_some() {
            b.probing = false;
            b.open_until = Some(now + opts.breaker_cooldown);
            return;
        }
        b.failures += 1;
        if b.failures >= opts.breaker_threshold {
            b.open_until = Some(now + opts.breaker_cooldown);
        }
    }
}

/// A blob-store client over one or more replica endpoints (`http://host:port[/prefix]`).
pub struct StoreClient {
    endpoints: Vec<Arc<Endpoint>>,
    http: Client<HttpConnector, ReqBody>,
    opts: ClientOptions,
    next: AtomicUsize,
    counter: AtomicU64,
}

enum Outcome {
    /// Give up and return this error (the endpoint answered properly).
    Fatal,
    /// Try the next endpoint; the endpoint is healthy (e.g. 404 on one replica).
    Soft,
    /// Count a failure against the endpoint, back off, retry elsewhere.
    Fail,
}

fn classify(e: &Error) -> Outcome {
    match e {
        Error::Http { status, .. } if *status == 404 => Outcome::Soft,
        Error::Http { status, .. } if *status >= 500 || *status == 429 || *status == 408 => {
            Outcome::Fail
        }
        Error::Http { .. } | Error::Invalid(_) | Error::TooLarge { .. } => Outcome::Fatal,
        _ => Outcome::Fail,
    }
}

fn transport(e: impl std::fmt::Display) -> Error {
    Error::Transport(e.to_string())
}

async fn error_from(resp: Response<Incoming>) -> Error {
    let status = resp.status().as_u16();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return transport(e),
    };
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .map(|b| b.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
    Error::Http { status, message }
}

fn full(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

impl StoreClient {
    /// A client for `endpoints` (base URLs such as `http://127.0.0.1:7070` or
    /// `http://node:8080/store`).
    pub fn new(endpoints: Vec<String>, opts: ClientOptions) -> Result<Self, Error> {
        if endpoints.is_empty() {
            return Err(Error::Invalid("no endpoints".into()));
        }
        let mut eps = Vec::new();
        for e in endpoints {
            let base = e.trim_end_matches('/').to_string();
            if !base.starts_with("http://") {
                return Err(Error::Invalid(format!("endpoint {base}: only http:// is supported")));
            }
            eps.push(Arc::new(Endpoint { base, breaker: Mutex::new(Breaker::default()) }));
        }
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(opts.connect_timeout));
        conn.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new()).build(conn);
        Ok(Self {
            endpoints: eps,
            http,
            opts,
            next: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
        })
    }

    /// The breaker state of endpoint `i` (in the order given to [`StoreClient::new`]).
    pub fn breaker_state(&self, i: usize) -> Option<BreakerState> {
        self.endpoints.get(i).map(|e| e.state(Instant::now()))
    }

    fn jitter(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut x = now_ms() ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let d = self
            .opts
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.opts.backoff_max);
        let ms = d.as_millis() as u64;
        Duration::from_millis(ms / 2 + if ms > 1 { self.jitter() % (ms / 2 + 1) } else { 0 })
    }

    fn nonce(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut h = blake3::Hasher::new();
        h.update(&t.to_le_bytes())
            .update(&n.to_le_bytes())
            .update(&std::process::id().to_le_bytes());
        hex_encode(&h.finalize().as_bytes()[..12])
    }

    fn request(
        &self,
        ep: &Endpoint,
        method: Method,
        path: &str,
        digest: Option<BlobId>,
        body: ReqBody,
        extra: &[(&'static str, String)],
    ) -> Result<Request<ReqBody>, Error> {
        self.request_as(ep, method, path, digest, body, extra, self.opts.signer.as_deref())
    }

    #[allow(clippy::too_many_arguments)]
    fn request_as(
        &self,
        ep: &Endpoint,
        method: Method,
        path: &str,
        digest: Option<BlobId>,
        body: ReqBody,
        extra: &[(&'static str, String)],
        signer: Option<&dyn RequestSigner>,
    ) -> Result<Request<ReqBody>, Error> {
        let url = format!("{}{path}", ep.base);
        let mut b = Request::builder().method(method.clone()).uri(&url);
        if let Some(d) = digest {
            b = b.header(HDR_DIGEST, d.to_string());
        }
        if let Some(signer) = signer {
            let uri: hyper::Uri = url.parse().map_err(transport)?;
            let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let d = digest.unwrap_or_else(|| BlobId::of(b""));
            let h = sign_request(signer, method.as_str(), pq, &d, now_ms() / 1000, &self.nonce());
            for (k, v) in h.to_headers() {
                b = b.header(k, v);
            }
        }
        for (k, v) in extra {
            b = b.header(*k, v);
        }
        b.body(body).map_err(transport)
    }

    async fn send(&self, req: Request<ReqBody>) -> Result<Response<Incoming>, Error> {
        let resp = self.http.request(req).await.map_err(transport)?;
        if resp.status().is_success() { Ok(resp) } else { Err(error_from(resp).await) }
    }

    async fn with_failover<T, F, Fut>(&self, mut op: F) -> Result<T, Error>
    where
        F: FnMut(Arc<Endpoint>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let n = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last: Option<Error> = None;
        let mut soft_only = true;
        for attempt in 0..self.opts.max_attempts {
            let now = Instant::now();
            let ep = (0..n)
                .map(|k| &self.endpoints[(start + attempt as usize + k) % n])
                .find(|e| e.try_acquire(now))
                .cloned();
            let Some(ep) = ep else {
                last.get_or_insert_with(|| Error::Transport("all circuit breakers open".into()));
                soft_only = false;
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            };
            let res = tokio::time::timeout(self.opts.request_timeout, op(ep.clone())).await;
            let err = match res {
                Ok(Ok(v)) => {
                    ep.success();
                    return Ok(v);
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    Error::Timeout(format!("{} after {:?}", ep.base, self.opts.request_timeout))
                }
            };
            match classify(&err) {
                Outcome::Fatal => {
                    ep.success();
                    return Err(err);
                }
                Outcome::Soft => {
                    ep.success();
                    tracing::debug!(endpoint = %ep.base, error = %err, "trying next replica");
                    last = Some(err);
                    if attempt as usize + 1 >= n && soft_only {
                        break;
                    }
                }
                Outcome::Fail => {
                    ep.failure(Instant::now(), &self.opts);
                    soft_only = false;
                    tracing::warn!(endpoint = %ep.base, error = %err, attempt, "store request failed");
                    last = Some(err);
                    if attempt + 1 < self.opts.max_attempts {
                        tokio::time::sleep(self.backoff(attempt)).await;
                    }
                }
            }
        }
        let last = last.unwrap_or_else(|| Error::Transport("no attempt made".into()));
        if soft_only { Err(last) } else { Err(Error::AllEndpointsFailed(Box::new(last))) }
    }

    /// Uploads `data` to namespace `ns`; returns its id. Idempotent: retries and re-uploads of the
    /// same bytes give the same id (the server answers 201 or 200).
    pub async fn put(&self, ns: &str, data: impl Into<Bytes>) -> Result<BlobId, Error> {
        self.put_signed_by(ns, data.into(), self.opts.signer.as_deref()).await
    }

    /// Like [`StoreClient::put`], signed by `signer` instead of the client's own signer (one client
    /// shared by several accounts, e.g. the participants of an in-process devnet).
    pub async fn put_as(
        &self,
        ns: &str,
        data: impl Into<Bytes>,
        signer: &dyn RequestSigner,
    ) -> Result<BlobId, Error> {
        self.put_signed_by(ns, data.into(), Some(signer)).await
    }

    async fn put_signed_by(
        &self,
        ns: &str,
        data: Bytes,
        signer: Option<&dyn RequestSigner>,
    ) -> Result<BlobId, Error> {
        validate_namespace(ns)?;
        let id = BlobId::of(&data);
        let path = format!("/blobs/{ns}");
        self.with_failover(|ep| {
            let data = data.clone();
            let path = path.clone();
            async move {
                let req =
                    self.request_as(&ep, Method::PUT, &path, Some(id), full(data), &[], signer)?;
                self.finish_put(req, Some(id)).await
            }
        })
        .await
    }

    async fn finish_put(
        &self,
        req: Request<ReqBody>,
        expect: Option<BlobId>,
    ) -> Result<BlobId, Error> {
        let resp = self.send(req).await?;
        let body = resp.into_body().collect().await.map_err(transport)?.to_bytes();
        let r: PutResponse = serde_json::from_slice(&body).map_err(transport)?;
        match expect {
            Some(id) if id != r.id => Err(Error::DigestMismatch { declared: id, actual: r.id }),
            _ => Ok(r.id),
        }
    }

    /// Streams an upload (one attempt on the first available endpoint: a stream cannot be
    /// replayed). `expected`, when given, is checked by the server before the blob becomes
    /// visible; it is required with a signer (the digest is part of the signature).
    pub async fn put_stream<S>(
        &self,
        ns: &str,
        stream: S,
        expected: Option<BlobId>,
    ) -> Result<BlobId, Error>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static,
    {
        validate_namespace(ns)?;
        if self.opts.signer.is_some() && expected.is_none() {
            return Err(Error::Invalid("signed streaming upload needs the expected id".into()));
        }
        let now = Instant::now();
        let n = self.endpoints.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let ep = (0..n)
            .map(|k| &self.endpoints[(start + k) % n])
            .find(|e| e.try_acquire(now))
            .cloned()
            .ok_or_else(|| Error::Transport("all circuit breakers open".into()))?;
        let body = BodyExt::boxed(StreamBody::new(
            stream.map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError),
        ));
        let req = self.request(&ep, Method::PUT, &format!("/blobs/{ns}"), expected, body, &[])?;
        let res =
            tokio::time::timeout(self.opts.request_timeout, self.finish_put(req, expected)).await;
        let res = res.unwrap_or_else(|_| Err(Error::Timeout(ep.base.clone())));
        match &res {
            Err(e) if matches!(classify(e), Outcome::Fail) => {
                ep.failure(Instant::now(), &self.opts)
            }
            _ => ep.success(),
        }
        res
    }

    /// Downloads and verifies a whole blob. Corrupted bytes are never returned: the error is
    /// [`Error::Verification`] (after trying the other replicas).
    pub async fn get(&self, ns: &str, id: &BlobId) -> Result<Vec<u8>, Error> {
        self.get_verified(ns, id, None).await
    }

    /// Downloads and verifies bytes `range` of a blob (clamped to its size). The request is widened
    /// to 16 KiB chunk-group boundaries for verification and trimmed afterwards.
    pub async fn get_range(
        &self,
        ns: &str,
        id: &BlobId,
        range: Range<u64>,
    ) -> Result<Vec<u8>, Error> {
        self.get_verified(ns, id, Some(range)).await
    }

    async fn get_verified(
        &self,
        ns: &str,
        id: &BlobId,
        range: Option<Range<u64>>,
    ) -> Result<Vec<u8>, Error> {
        validate_namespace(ns)?;
        let id = *id;
        self.with_failover(|ep| {
            let range = range.clone();
            async move {
                let ob_req = self.request(
                    &ep,
                    Method::GET,
                    &format!("/blobs/{ns}/{id}/outboard"),
                    None,
                    full(Bytes::new()),
                    &[],
                )?;
                let ob = self
                    .send(ob_req)
                    .await?
                    .into_body()
                    .collect()
                    .await
                    .map_err(transport)?
                    .to_bytes();
                let probe = StreamVerifier::new(id, ob.to_vec(), 0, None)?;
                let size = probe.blob_size();
                let (want, start, end) = match &range {
                    None => (0..size, 0, size),
                    Some(r) => {
                        let s = r.start.min(size);
                        let e = r.end.min(size).max(s);
                        let gs = s / GROUP_BYTES * GROUP_BYTES;
                        let ge = (e.div_ceil(GROUP_BYTES) * GROUP_BYTES).min(size);
                        (s..e, gs, ge)
                    }
                };
                let mut v = StreamVerifier::new(id, ob.to_vec(), start, Some(end))?;
                if start < end {
                    let extra = if range.is_some() {
                        vec![("range", format!("bytes={start}-{}", end - 1))]
                    } else {
                        vec![]
                    };
                    let req = self.request(
                        &ep,
                        Method::GET,
                        &format!("/blobs/{ns}/{id}"),
                        None,
                        full(Bytes::new()),
                        &extra,
                    )?;
                    let resp = self.send(req).await?;
                    v.reserve((end - start) as usize);
                    let mut body = resp.into_body();
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(transport)?;
                        if let Some(d) = frame.data_ref() {
                            v.push(d)?;
                        }
                    }
                }
                let all = v.finish()?;
                let off = (want.start - start) as usize;
                Ok(if off == 0 && all.len() as u64 == want.end - want.start {
                    all
                } else {
                    all[off..off + (want.end - want.start) as usize].to_vec()
                })
            }
        })
        .await
    }

    /// Size of a blob, or `None` if no replica has it.
    pub async fn head(&self, ns: &str, id: &BlobId) -> Result<Option<u64>, Error> {
        validate_namespace(ns)?;
        let r = self
            .with_failover(|ep| async move {
                let req = self.request(
                    &ep,
                    Method::HEAD,
                    &format!("/blobs/{ns}/{id}"),
                    None,
                    full(Bytes::new()),
                    &[],
                )?;
                let resp = self.send(req).await?;
                resp.headers()
                    .get("x-chorus-blob-size")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| transport("missing x-chorus-blob-size"))
            })
            .await;
        match r {
            Ok(s) => Ok(Some(s)),
            Err(Error::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists a whole namespace (from the first healthy replica), page by page.
    pub async fn list(&self, ns: &str) -> Result<Vec<BlobMeta>, Error> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self.list_page(ns, after.as_ref(), crate::MAX_LIST_LIMIT).await?;
            out.extend(page);
            match next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// One page of a namespace listing: up to `limit` blobs with ids after `after`, by id, and the
    /// `after` of the next page (`None` on the last page).
    pub async fn list_page(
        &self,
        ns: &str,
        after: Option<&BlobId>,
        limit: usize,
    ) -> Result<(Vec<BlobMeta>, Option<BlobId>), Error> {
        validate_namespace(ns)?;
        let mut path = format!("/blobs/{ns}?limit={limit}");
        if let Some(a) = after {
            path.push_str(&format!("&after={a}"));
        }
        self.with_failover(|ep| {
            let path = path.clone();
            async move {
                let req = self.request(&ep, Method::GET, &path, None, full(Bytes::new()), &[])?;
                let body = self
                    .send(req)
                    .await?
                    .into_body()
                    .collect()
                    .await
                    .map_err(transport)?
                    .to_bytes();
                let b = serde_json::from_slice::<ListBody>(&body).map_err(transport)?;
                Ok((b.blobs, b.next))
            }
        })
        .await
    }

    /// Asks a replica to answer a storage challenge (check it with [`crate::verify_challenge`]).
    pub async fn challenge(
        &self,
        ns: &str,
        id: &BlobId,
        seed: &[u8; 32],
        count: u32,
    ) -> Result<ChallengeProof, Error> {
        validate_namespace(ns)?;
        let seed = hex_encode(seed);
        self.with_failover(|ep| {
            let path = format!("/blobs/{ns}/{id}/challenge?seed={seed}&count={count}");
            async move {
                let req = self.request(&ep, Method::GET, &path, None, full(Bytes::new()), &[])?;
                let body = self
                    .send(req)
                    .await?
                    .into_body()
                    .collect()
                    .await
                    .map_err(transport)?
                    .to_bytes();
                serde_json::from_slice(&body).map_err(transport)
            }
        })
        .await
    }
}

impl std::fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let eps: Vec<&str> = self.endpoints.iter().map(|e| e.base.as_str()).collect();
        f.debug_struct("StoreClient").field("endpoints", &eps).field("opts", &self.opts).finish()
    }
}
