//! The HTTP server: axum router, state, handlers.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use chorus_types::Address;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::auth::{self, AuthError, HDR_DIGEST, NonceCache, Verified};
use crate::backend::{BlobBackend, BlobData, BlobMeta, BlobWriter, FsBackend, MemBackend};
use crate::challenge::{self, ChallengeProof};
use crate::error::Error;
use crate::gc::{self, GcReport, PinSet};
use crate::id::{BlobId, hex_decode, validate_namespace};
use crate::limits::{Quota, RateLimit, RateLimiter, Usage};

/// Access rules of one namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Namespace name (`[a-z0-9][a-z0-9_-]{0,63}`).
    pub name: String,
    /// Anyone may read (GET/HEAD/list) without a signature.
    pub public_read: bool,
    /// Anyone may upload without a signature.
    pub public_write: bool,
    /// The owner: may read and write.
    pub owner: Option<Address>,
    /// Accounts allowed to read.
    #[serde(default)]
    pub readers: Vec<Address>,
    /// Accounts allowed to write (and read).
    #[serde(default)]
    pub writers: Vec<Address>,
}

impl NamespaceConfig {
    /// A namespace anyone can read and write.
    pub fn public(name: &str) -> Self {
        Self {
            name: name.into(),
            public_read: true,
            public_write: true,
            owner: None,
            readers: vec![],
            writers: vec![],
        }
    }

    /// A private namespace: only `owner` (plus readers/writers added later) with signed requests.
    pub fn private(name: &str, owner: Address) -> Self {
        Self {
            name: name.into(),
            public_read: false,
            public_write: false,
            owner: Some(owner),
            readers: vec![],
            writers: vec![],
        }
    }

    fn may_read(&self, a: &Address) -> bool {
        self.owner.as_ref() == Some(a) || self.readers.contains(a) || self.writers.contains(a)
    }

    fn may_write(&self, a: &Address) -> bool {
        self.owner.as_ref() == Some(a) || self.writers.contains(a)
    }
}

/// Server configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreConfig {
    /// Address for [`serve`].
    pub listen: SocketAddr,
    /// Filesystem root for [`serve`]; `None` keeps blobs in memory.
    pub data_dir: Option<PathBuf>,
    /// Largest accepted blob in bytes (413 beyond).
    pub max_blob_size: u64,
    /// Allowed clock skew of signed requests, in seconds.
    pub max_skew_secs: u64,
    /// Per-account quota for signed uploads.
    pub quota: Quota,
    /// Per-IP token bucket; `None` disables rate limiting.
    pub rate_limit: Option<RateLimit>,
    /// Configured namespaces (unknown namespaces answer 404).
    pub namespaces: Vec<NamespaceConfig>,
    /// Unpinned blobs older than this are removed by GC; `None` keeps them forever.
    pub ttl_secs: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: None,
            max_blob_size: 1 << 30,
            max_skew_secs: 300,
            quota: Quota::default(),
            rate_limit: Some(RateLimit { per_sec: 200.0, burst: 400.0 }),
            namespaces: vec![NamespaceConfig::public("public")],
            ttl_secs: Some(7 * 24 * 3600),
        }
    }
}

struct Inner {
    backend: Arc<dyn BlobBackend>,
    config: StoreConfig,
    namespaces: RwLock<HashMap<String, NamespaceConfig>>,
    nonces: NonceCache,
    rate: RateLimiter,
    usage: Usage,
    in_flight: Mutex<HashMap<(String, BlobId), usize>>,
}

/// Shared server state: backend, configuration, nonce cache, rate limiter, quotas. Cheap to clone.
#[derive(Clone)]
pub struct StoreState {
    inner: Arc<Inner>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Response body of a successful PUT.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutResponse {
    /// The blob id.
    pub id: BlobId,
    /// Size in bytes.
    pub size: u64,
    /// True when this request created the blob (201), false when it already existed (200).
    pub created: bool,
}

/// Marks (ns, id) as in flight while alive; GC skips in-flight blobs.
struct InFlight {
    state: StoreState,
    key: (String, BlobId),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.state.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

impl StoreState {
    /// Builds the state; charges existing blobs to their owners' quotas.
    pub fn new(backend: impl BlobBackend, config: StoreConfig) -> Result<Self, Error> {
        Self::from_arc(Arc::new(backend), config)
    }

    /// Like [`StoreState::new`] with a shared backend.
    pub fn from_arc(backend: Arc<dyn BlobBackend>, config: StoreConfig) -> Result<Self, Error> {
        let usage = Usage::default();
        for ns in backend.namespaces()? {
            for m in backend.list(&ns)? {
                if let Some(o) = m.owner {
                    usage.add(o, m.size);
                }
            }
        }
        let mut namespaces = HashMap::new();
        for n in &config.namespaces {
            validate_namespace(&n.name)?;
            namespaces.insert(n.name.clone(), n.clone());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                rate: RateLimiter::new(config.rate_limit),
                config,
                namespaces: RwLock::new(namespaces),
                nonces: NonceCache::default(),
                usage,
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn BlobBackend> {
        &self.inner.backend
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Adds or replaces a namespace's access rules.
    pub fn set_namespace(&self, cfg: NamespaceConfig) -> Result<(), Error> {
        validate_namespace(&cfg.name)?;
        let mut m = self.inner.namespaces.write().unwrap_or_else(|p| p.into_inner());
        m.insert(cfg.name.clone(), cfg);
        Ok(())
    }

    /// Bytes and objects currently charged to `account`.
    pub fn usage(&self, account: &Address) -> (u64, u64) {
        self.inner.usage.get(account)
    }

    fn namespace(&self, ns: &str) -> Option<NamespaceConfig> {
        let m = self.inner.namespaces.read().unwrap_or_else(|p| p.into_inner());
        m.get(ns).cloned()
    }

    fn in_flight(&self, ns: &str, id: BlobId) -> InFlight {
        let key = (ns.to_string(), id);
        let mut m = self.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(key.clone()).or_insert(0) += 1;
        InFlight { state: self.clone(), key }
    }

    pub(crate) fn is_in_flight(&self, ns: &str, id: &BlobId) -> bool {
        let m = self.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        m.contains_key(&(ns.to_string(), *id))
    }

    /// Stores `data` in-process (no HTTP, no ACL): for a node that embeds the store.
    pub async fn put_bytes(
        &self,
        ns: &str,
        data: Bytes,
        owner: Option<Address>,
    ) -> Result<PutResponse, Error> {
        validate_namespace(ns)?;
        let backend = self.inner.backend.clone();
        let ns2 = ns.to_string();
        let (writer, id) = blocking(move || {
            let mut w = backend.begin_write(&ns2)?;
            w.write(&data)?;
            let id = w.finish()?;
            Ok((w, id))
        })
        .await?;
        self.commit(ns, writer, id, owner, true).await
    }

    async fn commit(
        &self,
        ns: &str,
        writer: Box<dyn BlobWriter>,
        id: BlobId,
        owner: Option<Address>,
        charge: bool,
    ) -> Result<PutResponse, Error> {
        let size = writer.written();
        let _guard = self.in_flight(ns, id);
        let meta = BlobMeta { id, size, created_ms: now_ms(), owner };
        let created = blocking(move || writer.commit(&meta)).await?;
        if created
            && charge
            && let Some(o) = owner
        {
            self.inner.usage.add(o, size);
        }
        Ok(PutResponse { id, size, created })
    }

    /// Removes unpinned blobs older than the configured TTL (never in-flight ones).
    pub fn gc(&self, pins: &dyn PinSet, now_ms: u64) -> Result<GcReport, Error> {
        let Some(ttl) = self.inner.config.ttl_secs else { return Ok(GcReport::default()) };
        let skip = |ns: &str, id: &BlobId| self.is_in_flight(ns, id);
        let report = gc::gc(self.inner.backend.as_ref(), pins, ttl * 1000, now_ms, &skip)?;
        for m in &report.removed_metas {
            if let Some(o) = &m.owner {
                self.inner.usage.remove(o, m.size);
            }
        }
        Ok(report)
    }

    /// Answers a storage challenge for a blob held here.
    pub fn challenge(
        &self,
        ns: &str,
        id: &BlobId,
        seed: &[u8; 32],
        count: u32,
    ) -> Result<ChallengeProof, Error> {
        let b = &self.inner.backend;
        let ob = b.outboard(ns, id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
        match b.open(ns, id)?.ok_or_else(|| Error::NotFound(id.to_string()))? {
            BlobData::Bytes(d) => challenge::challenge(id, &d[..], &ob, seed, count),
            BlobData::File(f) => challenge::challenge(id, &f, &ob, seed, count),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An HTTP error with a JSON body `{"error": "...", "code": N}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    pub(crate) code: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.message, code: self.status.as_u16() };
        (self.status, Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::DigestMismatch { .. } => StatusCode::CONFLICT,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "store request failed");
        }
        Self::new(status, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Router

/// The store's routes (mount with `Router::nest("/store", router(state))` inside a node).
///
/// For per-IP rate limiting the server must be run with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does); without it all
/// peers share one bucket.
pub fn router(state: StoreState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/blobs/{ns}", get(list_blobs).put(put_blob))
        .route("/blobs/{ns}/{id}", get(get_blob))
        .route("/blobs/{ns}/{id}/outboard", get(get_outboard))
        .route("/blobs/{ns}/{id}/challenge", get(get_challenge))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .with_state(state)
}

/// Serves a store standalone per `config` until the process ends (`chorus store serve`).
pub async fn serve(config: StoreConfig) -> Result<(), Error> {
    let state = match &config.data_dir {
        Some(dir) => StoreState::new(FsBackend::open(dir)?, config.clone())?,
        None => StoreState::new(MemBackend::new(), config.clone())?,
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %config.listen, "chorus store listening");
    serve_listener(state, listener, std::future::pending()).await
}

/// Serves `state` on an already bound listener until `shutdown` resolves (tests, benches, nodes).
pub async fn serve_listener(
    state: StoreState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

async fn rate_limit(State(state): State<StoreState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if !state.inner.rate.allow(ip, Instant::now()) {
        return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded").into_response();
    }
    next.run(req).await
}

fn unix_now() -> u64 {
    now_ms() / 1000
}

/// Looks up the namespace and checks the signature; returns the namespace and the signer.
fn authorize(
    state: &StoreState,
    ns: &str,
    method: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    write: bool,
) -> Result<(NamespaceConfig, Option<Verified>), ApiError> {
    validate_namespace(ns)?;
    let cfg = state
        .namespace(ns)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown namespace {ns}")))?;
    let pq = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let verified = auth::verify_request(
        headers,
        method,
        pq,
        unix_now(),
        state.inner.config.max_skew_secs,
        &state.inner.nonces,
    )?;
    let open = if write { cfg.public_write } else { cfg.public_read };
    if !open {
        match &verified {
            None => {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "signature required"));
            }
            Some(v) => {
                let ok = if write { cfg.may_write(&v.address) } else { cfg.may_read(&v.address) };
                if !ok {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!(
                            "{} may not {} {ns}",
                            v.address,
                            if write { "write" } else { "read" }
                        ),
                    ));
                }
            }
        }
    }
    Ok((cfg, verified))
}

const BATCH: usize = 1 << 20;

type WriteResult = Result<Option<(Box<dyn BlobWriter>, BlobId)>, Error>;

enum WriteMsg {
    Data(Bytes),
    Finish,
}

async fn put_blob(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (_cfg, verified) = authorize(&state, &ns, "PUT", &uri, &headers, true)?;
    let declared: Option<BlobId> = match &verified {
        Some(v) => Some(v.digest),
        None => match headers.get(HDR_DIGEST) {
            Some(h) => Some(
                h.to_str()
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad content digest"))?,
            ),
            None => None,
        },
    };
    let owner = verified.as_ref().map(|v| v.address);
    let cfgs = &state.inner.config;
    let limit = cfgs.max_blob_size;
    // re-uploading a blob the namespace already holds is idempotent and charges nothing
    let exists = |id: &BlobId| matches!(state.inner.backend.stat(&ns, id), Ok(Some(_)));
    let already = declared.as_ref().is_some_and(exists);
    let quota_left = owner.filter(|_| !already).map(|o| {
        let (b, n) = state.inner.usage.get(&o);
        if n >= cfgs.quota.max_objects { 0 } else { cfgs.quota.max_bytes.saturating_sub(b) }
    });
    let quota_err = || ApiError::new(StatusCode::FORBIDDEN, "quota exceeded");
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("blob exceeds {limit} bytes"));
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
        if quota_left.is_some_and(|q| len > q) {
            return Err(quota_err());
        }
    }
    if quota_left == Some(0) {
        return Err(quota_err());
    }

    // The writer lives on a blocking thread; the channel closing without `Finish` (error, limit,
    // client gone, handler dropped) aborts it, which removes the temp file.
    let backend = state.inner.backend.clone();
    let writer = backend.begin_write(&ns)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<WriteMsg>(8);
    let task = tokio::task::spawn_blocking(move || -> WriteResult {
        let mut writer = writer;
        while let Some(msg) = rx.blocking_recv() {
            match msg {
                WriteMsg::Data(b) => writer.write(&b)?,
                WriteMsg::Finish => {
                    let id = writer.finish()?;
                    return Ok(Some((writer, id)));
                }
            }
        }
        Ok(None)
    });

    let mut total: u64 = 0;
    let mut buf = BytesMut::with_capacity(BATCH);
    let mut stream = body.into_data_stream();
    let write_failed = || ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "upload writer failed");
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large());
        }
        if quota_left.is_some_and(|q| total > q) {
            return Err(quota_err());
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= BATCH {
            let b = buf.split().freeze();
            tx.send(WriteMsg::Data(b)).await.map_err(|_| write_failed())?;
        }
    }
    if !buf.is_empty() {
        tx.send(WriteMsg::Data(buf.freeze())).await.map_err(|_| write_failed())?;
    }
    tx.send(WriteMsg::Finish).await.map_err(|_| write_failed())?;
    let (writer, id) = task.await.map_err(|_| write_failed())??.ok_or_else(write_failed)?;
    if let Some(d) = declared
        && d != id
    {
        return Err(Error::DigestMismatch { declared: d, actual: id }.into());
    }
    let size = writer.written();
    let owner = owner.filter(|_| !exists(&id));
    if let Some(o) = owner
        && !state.inner.usage.try_add(o, size, &cfgs.quota)
    {
        return Err(quota_err());
    }
    let res = state.commit(&ns, writer, id, owner, false).await;
    if let Some(o) = owner
        && !matches!(res, Ok(PutResponse { created: true, .. }))
    {
        // quota was reserved above; release it unless this request created the blob
        state.inner.usage.remove(&o, size);
    }
    let res = res?;
    let status = if res.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(res)).into_response())
}

#[derive(Serialize, Deserialize)]
struct ListBody {
    namespace: String,
    blobs: Vec<BlobMeta>,
}

async fn list_blobs(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, false)?;
    let backend = state.inner.backend.clone();
    let ns2 = ns.clone();
    let blobs = blocking(move || backend.list(&ns2)).await?;
    Ok(Json(ListBody { namespace: ns, blobs }).into_response())
}

fn parse_id(id: &str) -> Result<BlobId, ApiError> {
    id.parse().map_err(|e: Error| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// Parses a single `bytes=` range against `size`. `Ok(None)`: no (or an ignored multi-) range.
fn parse_range(h: Option<&HeaderValue>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let s: u64 = a.parse().map_err(|_| ())?;
        let e: u64 =
            if b.is_empty() { size.saturating_sub(1) } else { b.parse().map_err(|_| ())? };
        if s >= size || e < s {
            return Err(());
        }
        (s, e.min(size - 1))
    };
    Ok(Some(range))
}

async fn get_blob(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m = if method == Method::HEAD { "HEAD" } else { "GET" };
    authorize(&state, &ns, m, &uri, &headers, false)?;
    let id = parse_id(&id)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no blob {id} in {ns}"));
    let backend = state.inner.backend.clone();
    let (ns2, id2) = (ns.clone(), id);
    let (meta, data) = blocking(move || {
        let meta = backend.stat(&ns2, &id2)?;
        let data = backend.open(&ns2, &id2)?;
        Ok((meta, data))
    })
    .await?;
    let (meta, data) = match (meta, data) {
        (Some(m), Some(d)) => (m, d),
        _ => return Err(not_found()),
    };
    let size = meta.size;
    let range = match parse_range(headers.get(header::RANGE), size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable")
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let (start, len, status) = match range {
        Some((s, e)) => (s, e - s + 1, StatusCode::PARTIAL_CONTENT),
        None => (0, size, StatusCode::OK),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match data {
            BlobData::Bytes(b) => Body::from(b.slice(start as usize..(start + len) as usize)),
            BlobData::File(f) => {
                let mut f = tokio::fs::File::from_std(f);
                f.seek(std::io::SeekFrom::Start(start)).await.map_err(Error::from)?;
                let stream = futures_util::stream::unfold((f, len), |(mut f, rem)| async move {
                    if rem == 0 {
                        return None;
                    }
                    let n = rem.min(BATCH as u64) as usize;
                    let mut buf = vec![0u8; n];
                    match f.read_exact(&mut buf).await {
                        Ok(_) => {
                            Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (f, rem - n as u64)))
                        }
                        Err(e) => Some((Err(e), (f, 0))),
                    }
                });
                Body::from_stream(stream)
            }
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put("etag", format!("\"{id}\""));
    put("x-chorus-blob-size", size.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        put("content-range", format!("bytes {start}-{}/{size}", start + len - 1));
    }
    Ok(resp)
}

async fn get_outboard(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, false)?;
    let id = parse_id(&id)?;
    let backend = state.inner.backend.clone();
    let ns2 = ns.clone();
    match blocking(move || backend.outboard(&ns2, &id)).await? {
        Some(ob) => {
            Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], ob)
                .into_response())
        }
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no blob {id} in {ns}"))),
    }
}

#[derive(Deserialize)]
struct ChallengeQuery {
    seed: String,
    count: u32,
}

async fn get_challenge(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    Query(q): Query<ChallengeQuery>,
    uri: OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, false)?;
    let id = parse_id(&id)?;
    let seed: [u8; 32] = hex_decode(&q.seed, false)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "seed must be 64 hex digits"))?;
    if q.count == 0 || q.count > 1024 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "count must be 1..=1024"));
    }
    let st = state.clone();
    let proof = blocking(move || st.challenge(&ns, &id, &seed, q.count)).await?;
    Ok(Json(proof).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing_follows_rfc_9110() {
        assert_eq!(parse_range(None, 10), Ok(None));
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_range(Some(&h("bytes=0-3")), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some(&h("bytes=5-")), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some(&h("bytes=-4")), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some(&h("bytes=8-100")), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some(&h("bytes=10-")), 10), Err(()));
        assert_eq!(parse_range(Some(&h("bytes=0-0")), 0), Err(()));
        assert_eq!(parse_range(Some(&h("bytes=0-1,3-4")), 10), Ok(None));
    }
}
