//! The HTTP server: axum router, state, handlers.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use chorus_types::Address;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;

use crate::auth::{self, AuthError, HDR_DIGEST, NonceCache, Verified};
use crate::backend::{BlobBackend, BlobData, BlobMeta, BlobWriter, FsBackend, MemBackend};
use crate::challenge::{self, ChallengeProof};
use crate::error::Error;
use crate::gc::{self, GcReport, PinSet};
use crate::id::{BlobId, hex_decode, validate_namespace};
use crate::limits::{KeyedLimiter, Principal, Quota, RateLimit, UploadSlots, Usage};
use crate::policy::{Listable, WritePolicy};

/// Access rules of one namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Namespace name (`[a-z0-9][a-z0-9_-]{0,63}`).
    pub name: String,
    /// Anyone may read (GET/HEAD, and list when [`NamespaceConfig::listable`] is `Public`)
    /// without a signature.
    pub public_read: bool,
    /// Anyone may upload without a signature (charged to the client IP's quota). For standalone
    /// stores and tests; a validator node never sets it.
    pub public_write: bool,
    /// The owner: may read and write.
    pub owner: Option<Address>,
    /// Accounts allowed to read.
    #[serde(default)]
    pub readers: Vec<Address>,
    /// Accounts allowed to write (and read).
    #[serde(default)]
    pub writers: Vec<Address>,
    /// Signers not in the ACL are judged by the store's [`WritePolicy`] (no policy: refused).
    #[serde(default)]
    pub policy_write: bool,
    /// Who may list the namespace.
    #[serde(default)]
    pub listable: Listable,
}

impl NamespaceConfig {
    /// A namespace anyone can read, list and write (standalone stores and tests only).
    pub fn public(name: &str) -> Self {
        Self {
            name: name.into(),
            public_read: true,
            public_write: true,
            owner: None,
            readers: vec![],
            writers: vec![],
            policy_write: false,
            listable: Listable::Public,
        }
    }

    /// A private namespace: only `owner` (plus readers/writers added later) with signed requests;
    /// listable by its writers.
    pub fn private(name: &str, owner: Address) -> Self {
        Self {
            name: name.into(),
            public_read: false,
            public_write: false,
            owner: Some(owner),
            readers: vec![],
            writers: vec![],
            policy_write: false,
            listable: Listable::Writers,
        }
    }

    /// A namespace anyone may read by id, whose writers (and, for [`Listable::Writers`], listers)
    /// are decided by the store's [`WritePolicy`]: what a validator node mounts.
    pub fn policy(name: &str, listable: Listable) -> Self {
        Self {
            name: name.into(),
            public_read: true,
            public_write: false,
            owner: None,
            readers: vec![],
            writers: vec![],
            policy_write: true,
            listable,
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
    /// Most (signer, nonce) pairs remembered within the skew window; beyond it signed requests
    /// are refused with 503 until entries expire.
    pub max_nonces: usize,
    /// Per-account quota, charged for every signed upload.
    pub quota: Quota,
    /// Per-client-IP quota, charged for unsigned uploads (where a namespace allows them).
    pub ip_quota: Quota,
    /// Requests per client IP; `None` disables.
    pub rate_limit: Option<RateLimit>,
    /// Signed requests per signing account; `None` disables.
    pub account_rate_limit: Option<RateLimit>,
    /// Uploads refused (507) when they would leave less than this many bytes free on the
    /// backend's volume (the node's chain database shares it).
    pub min_free_bytes: u64,
    /// Uploads in progress at once (503 beyond).
    pub max_uploads: usize,
    /// Uploads in progress at once from one client IP (429 beyond).
    pub max_uploads_per_ip: usize,
    /// An upload whose next body bytes take longer than this is cut off (408), in milliseconds.
    pub upload_idle_timeout_ms: u64,
    /// After [`StoreConfig::upload_grace_ms`], an upload must average at least this many bytes
    /// per second or it is cut off (408).
    pub upload_min_bytes_per_sec: u64,
    /// Time an upload may take before the minimum rate applies, in milliseconds.
    pub upload_grace_ms: u64,
    /// Limit for every request except uploads (which have the limits above), in milliseconds.
    pub request_timeout_ms: u64,
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
            max_nonces: 65_536,
            quota: Quota::default(),
            ip_quota: Quota::default(),
            rate_limit: Some(RateLimit { per_sec: 200.0, burst: 400.0 }),
            account_rate_limit: Some(RateLimit { per_sec: 50.0, burst: 200.0 }),
            min_free_bytes: 1 << 30,
            max_uploads: 256,
            max_uploads_per_ip: 32,
            upload_idle_timeout_ms: 10_000,
            upload_min_bytes_per_sec: 4096,
            upload_grace_ms: 10_000,
            request_timeout_ms: 30_000,
            namespaces: vec![NamespaceConfig::public("public")],
            ttl_secs: Some(7 * 24 * 3600),
        }
    }
}

/// Largest page of `GET /blobs/{ns}`.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Page size of `GET /blobs/{ns}` without `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 100;

struct Inner {
    backend: Arc<dyn BlobBackend>,
    config: StoreConfig,
    namespaces: RwLock<HashMap<String, NamespaceConfig>>,
    policy: RwLock<Option<Arc<dyn WritePolicy>>>,
    nonces: NonceCache,
    ip_rate: KeyedLimiter<IpAddr>,
    account_rate: KeyedLimiter<Address>,
    uploads: UploadSlots,
    usage: Usage,
    in_flight: Mutex<HashMap<(String, BlobId), usize>>,
}

/// Shared server state: backend, configuration, nonce cache, rate limiters, quotas. Cheap to clone.
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

/// Holds one upload slot of a client IP while alive.
struct UploadSlot {
    state: StoreState,
    ip: IpAddr,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.state.inner.uploads.release(self.ip);
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
                    usage.add(Principal::Account(o), m.size);
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
                ip_rate: KeyedLimiter::new(config.rate_limit),
                account_rate: KeyedLimiter::new(config.account_rate_limit),
                uploads: UploadSlots::new(config.max_uploads, config.max_uploads_per_ip),
                nonces: NonceCache::new(config.max_nonces, unix_now()),
                config,
                namespaces: RwLock::new(namespaces),
                policy: RwLock::new(None),
                usage,
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Installs the authorisation hook consulted for namespaces with `policy_write`.
    pub fn set_policy(&self, policy: Arc<dyn WritePolicy>) {
        *self.inner.policy.write().unwrap_or_else(|p| p.into_inner()) = Some(policy);
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
        self.inner.usage.get(&Principal::Account(*account))
    }

    fn namespace(&self, ns: &str) -> Option<NamespaceConfig> {
        let m = self.inner.namespaces.read().unwrap_or_else(|p| p.into_inner());
        m.get(ns).cloned()
    }

    fn policy(&self) -> Option<Arc<dyn WritePolicy>> {
        self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
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

    /// Stores `data` in-process (no HTTP, no ACL, no quota): for a node that embeds the store.
    /// Still refuses to eat into the free-space reserve.
    pub async fn put_bytes(
        &self,
        ns: &str,
        data: Bytes,
        owner: Option<Address>,
    ) -> Result<PutResponse, Error> {
        validate_namespace(ns)?;
        let backend = self.inner.backend.clone();
        let ns2 = ns.to_string();
        let reserve = self.inner.config.min_free_bytes;
        let (writer, id) = blocking(move || {
            check_space(backend.as_ref(), data.len() as u64, reserve)?;
            let mut w = backend.begin_write(&ns2)?;
            w.write(&data)?;
            let id = w.finish()?;
            Ok((w, id))
        })
        .await?;
        let res = self.commit(ns, writer, id, owner).await?;
        if res.created
            && let Some(o) = owner
        {
            self.inner.usage.add(Principal::Account(o), res.size);
        }
        Ok(res)
    }

    async fn commit(
        &self,
        ns: &str,
        writer: Box<dyn BlobWriter>,
        id: BlobId,
        owner: Option<Address>,
    ) -> Result<PutResponse, Error> {
        let size = writer.written();
        let _guard = self.in_flight(ns, id);
        let meta = BlobMeta { id, size, created_ms: now_ms(), owner };
        let created = blocking(move || writer.commit(&meta)).await?;
        Ok(PutResponse { id, size, created })
    }

    /// Removes unpinned blobs older than the configured TTL (never in-flight ones).
    pub fn gc(&self, pins: &dyn PinSet, now_ms: u64) -> Result<GcReport, Error> {
        let Some(ttl) = self.inner.config.ttl_secs else { return Ok(GcReport::default()) };
        let skip = |ns: &str, id: &BlobId| self.is_in_flight(ns, id);
        let report = gc::gc(self.inner.backend.as_ref(), pins, ttl * 1000, now_ms, &skip)?;
        for m in &report.removed_metas {
            if let Some(o) = m.owner {
                self.inner.usage.remove(&Principal::Account(o), m.size);
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

/// Refuses (507) when writing `incoming` more bytes would leave less than `reserve` free.
fn check_space(backend: &dyn BlobBackend, incoming: u64, reserve: u64) -> Result<(), Error> {
    if let Some(avail) = backend.available_space()?
        && avail < incoming.saturating_add(reserve)
    {
        return Err(Error::InsufficientStorage(format!(
            "{avail} bytes free on the store's volume; {incoming} more would leave less than \
             the {reserve}-byte reserve"
        )));
    }
    Ok(())
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
            Error::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %e, "store request failed");
        } else if status == StatusCode::INSUFFICIENT_STORAGE {
            tracing::warn!(error = %e, "store refused an upload: volume full");
        }
        Self::new(status, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        };
        Self::new(status, e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Router

/// The store's routes (mount with `Router::nest("/store", router(state))` inside a node).
///
/// Per-IP limits need the server to run with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does); without it all
/// peers count as `0.0.0.0`. Every request except uploads is limited to
/// [`StoreConfig::request_timeout_ms`]; uploads have their own idle timeout and minimum rate.
pub fn router(state: StoreState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/blobs/{ns}", get(list_blobs).put(put_blob))
        .route("/blobs/{ns}/{id}", get(get_blob))
        .route("/blobs/{ns}/{id}/outboard", get(get_outboard))
        .route("/blobs/{ns}/{id}/challenge", get(get_challenge))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
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

fn peer_ip(ext: &Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

async fn rate_limit(State(state): State<StoreState>, req: Request, next: Next) -> Response {
    let ip = peer_ip(req.extensions());
    if !state.inner.ip_rate.allow(&ip) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for {ip}"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Limits every request but uploads to the configured request timeout (408).
async fn deadline(State(state): State<StoreState>, req: Request, next: Next) -> Response {
    if req.method() == Method::PUT {
        return next.run(req).await;
    }
    let limit = Duration::from_millis(state.inner.config.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timed out").into_response(),
    }
}

fn unix_now() -> u64 {
    now_ms() / 1000
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    List,
    Write,
}

/// What [`authorize`] established.
struct Access {
    verified: Option<Verified>,
    /// Who an upload is charged to.
    principal: Principal,
}

/// Looks up the namespace, checks the signature, the signer's rate and the access rules of `op`.
fn authorize(
    state: &StoreState,
    ns: &str,
    method: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    peer: IpAddr,
    op: Op,
) -> Result<Access, ApiError> {
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
    if let Some(v) = &verified
        && !state.inner.account_rate.allow(&v.address)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for account {}", v.address),
        ));
    }
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, m);
    let policy =
        || state.policy().ok_or_else(|| "no authorisation policy is installed".to_string());
    let policy_allows_write = |a: &Address| -> Result<(), String> {
        if cfg.policy_write { policy()?.may_write(a, ns) } else { Err("not a writer".into()) }
    };
    match op {
        Op::Read | Op::List => {
            if !cfg.public_read {
                let Some(v) = &verified else {
                    return Err(ApiError::new(StatusCode::UNAUTHORIZED, "signature required"));
                };
                let ok = cfg.may_read(&v.address)
                    || (cfg.policy_write
                        && policy().and_then(|p| p.may_list(&v.address, ns)).is_ok());
                if !ok {
                    return Err(forbidden(format!("{} may not read {ns}", v.address)));
                }
            }
            if op == Op::List {
                match cfg.listable {
                    Listable::Public => {}
                    Listable::Nobody => {
                        return Err(forbidden(format!("namespace {ns} is not listable")));
                    }
                    Listable::Writers => {
                        let Some(v) = &verified else {
                            return Err(ApiError::new(
                                StatusCode::UNAUTHORIZED,
                                format!("listing {ns} requires a signed request"),
                            ));
                        };
                        if !cfg.may_write(&v.address) {
                            let r = if cfg.policy_write {
                                policy().and_then(|p| p.may_list(&v.address, ns))
                            } else {
                                Err("not a writer".into())
                            };
                            r.map_err(|why| {
                                forbidden(format!("{} may not list {ns}: {why}", v.address))
                            })?;
                        }
                    }
                }
            }
        }
        Op::Write => match &verified {
            Some(v) => {
                if !(cfg.public_write || cfg.may_write(&v.address)) {
                    policy_allows_write(&v.address).map_err(|why| {
                        forbidden(format!("{} may not write {ns}: {why}", v.address))
                    })?;
                }
            }
            None => {
                if !cfg.public_write {
                    let r = if cfg.policy_write {
                        policy().and_then(|p| p.may_write_unsigned(peer, ns))
                    } else {
                        Err("signature required".into())
                    };
                    r.map_err(|why| {
                        ApiError::new(
                            StatusCode::UNAUTHORIZED,
                            format!("unsigned upload to {ns} refused: {why}"),
                        )
                    })?;
                }
            }
        },
    }
    let principal = match &verified {
        Some(v) => Principal::Account(v.address),
        None => Principal::Ip(peer),
    };
    Ok(Access { verified, principal })
}

/// Bytes buffered in memory before they are handed to the (blocking) writer.
const BATCH: usize = 1 << 20;

/// Appends `data` to the upload, starting the writer on the first batch. Runs on a blocking
/// thread only for the duration of the write (never while waiting for the client), after checking
/// that the volume keeps its free-space reserve.
async fn write_batch(
    backend: Arc<dyn BlobBackend>,
    ns: String,
    writer: Option<Box<dyn BlobWriter>>,
    data: Bytes,
    reserve: u64,
    finish: bool,
) -> Result<(Box<dyn BlobWriter>, Option<BlobId>), Error> {
    blocking(move || {
        check_space(backend.as_ref(), data.len() as u64, reserve)?;
        let mut w = match writer {
            Some(w) => w,
            None => backend.begin_write(&ns)?,
        };
        if !data.is_empty() {
            w.write(&data)?;
        }
        let id = if finish { Some(w.finish()?) } else { None };
        Ok((w, id))
    })
    .await
}

async fn put_blob(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let peer = peer_ip(&ext);
    let access = authorize(&state, &ns, "PUT", &uri, &headers, peer, Op::Write)?;
    let declared: Option<BlobId> = match &access.verified {
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
    let principal = access.principal;
    let cfgs = &state.inner.config;
    let quota = match principal {
        Principal::Account(_) => cfgs.quota,
        Principal::Ip(_) => cfgs.ip_quota,
    };
    let limit = cfgs.max_blob_size;
    let reserve = cfgs.min_free_bytes;
    // re-uploading a blob the namespace already holds is idempotent and charges nothing
    let exists = |id: &BlobId| matches!(state.inner.backend.stat(&ns, id), Ok(Some(_)));
    let already = declared.as_ref().is_some_and(exists);
    let quota_left = if already {
        u64::MAX
    } else {
        let (b, n) = state.inner.usage.get(&principal);
        if n >= quota.max_objects { 0 } else { quota.max_bytes.saturating_sub(b) }
    };
    let quota_err = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "quota exceeded for {principal}: at most {} bytes in {} blobs",
                quota.max_bytes, quota.max_objects
            ),
        )
    };
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("blob exceeds {limit} bytes"));
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if let Some(len) = declared_len {
        if len > limit {
            return Err(too_large());
        }
        if len > quota_left {
            return Err(quota_err());
        }
    }
    if quota_left == 0 {
        return Err(quota_err());
    }
    {
        let backend = state.inner.backend.clone();
        let incoming = declared_len.unwrap_or(0);
        blocking(move || check_space(backend.as_ref(), incoming, reserve)).await?;
    }
    let _slot = match state.inner.uploads.acquire(peer) {
        Ok(()) => UploadSlot { state: state.clone(), ip: peer },
        Err(true) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many uploads in progress; retry later",
            ));
        }
        Err(false) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many concurrent uploads from {peer}"),
            ));
        }
    };

    // Body bytes are gathered asynchronously; a blocking thread is used only while a full batch
    // is written. Dropping the writer (error, limit, timeout, client gone) removes its temp file.
    let idle = Duration::from_millis(cfgs.upload_idle_timeout_ms.max(1));
    let grace = Duration::from_millis(cfgs.upload_grace_ms);
    let min_rate = cfgs.upload_min_bytes_per_sec;
    let started = Instant::now();
    let backend = state.inner.backend.clone();
    let mut writer: Option<Box<dyn BlobWriter>> = None;
    let mut total: u64 = 0;
    let mut buf = BytesMut::new();
    let mut stream = body.into_data_stream();
    loop {
        // The next bytes must come within the idle timeout, and soon enough to keep the average
        // rate above the minimum once the grace period is over.
        let mut until = Instant::now() + idle;
        if min_rate > 0 {
            let need = Duration::from_secs_f64((total + 1) as f64 / min_rate as f64);
            until = until.min(started + grace + need);
        }
        let next = match tokio::time::timeout_at(until, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "upload too slow: {total} bytes in {:.1} s (at least {min_rate} bytes/s \
                         after {} s, and no pause over {} s)",
                        started.elapsed().as_secs_f64(),
                        grace.as_secs(),
                        idle.as_secs_f64()
                    ),
                ));
            }
        };
        let Some(chunk) = next else { break };
        let chunk =
            chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large());
        }
        if total > quota_left {
            return Err(quota_err());
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= BATCH {
            let b = buf.split().freeze();
            let (w, _) =
                write_batch(backend.clone(), ns.clone(), writer.take(), b, reserve, false).await?;
            writer = Some(w);
        }
    }
    let (writer, id) =
        write_batch(backend.clone(), ns.clone(), writer.take(), buf.freeze(), reserve, true)
            .await?;
    let id = id.ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no blob id"))?;
    if let Some(d) = declared
        && d != id
    {
        return Err(Error::DigestMismatch { declared: d, actual: id }.into());
    }
    let size = writer.written();
    let charge = !exists(&id);
    if charge && !state.inner.usage.try_add(principal, size, &quota) {
        return Err(quota_err());
    }
    let owner = match principal {
        Principal::Account(a) => Some(a),
        Principal::Ip(_) => None,
    };
    let res = state.commit(&ns, writer, id, owner.filter(|_| charge)).await;
    if charge && !matches!(res, Ok(PutResponse { created: true, .. })) {
        // quota was reserved above; release it unless this request created the blob
        state.inner.usage.remove(&principal, size);
    }
    let res = res?;
    let status = if res.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(res)).into_response())
}

/// Query of `GET /blobs/{ns}`.
#[derive(Deserialize)]
struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Body of `GET /blobs/{ns}`: one page, by id.
#[derive(Serialize, Deserialize)]
pub(crate) struct ListBody {
    pub(crate) namespace: String,
    pub(crate) blobs: Vec<BlobMeta>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default)]
    pub(crate) next: Option<BlobId>,
}

async fn list_blobs(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    Query(q): Query<ListQuery>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::List)?;
    let after = q.after.as_deref().map(parse_id).transpose()?;
    let limit = match q.limit {
        Some(0) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "limit must be ≥ 1")),
        Some(n) => n.min(MAX_LIST_LIMIT),
        None => DEFAULT_LIST_LIMIT,
    };
    let backend = state.inner.backend.clone();
    let ns2 = ns.clone();
    let blobs = blocking(move || backend.list_page(&ns2, after.as_ref(), limit)).await?;
    let next = if blobs.len() == limit { blobs.last().map(|m| m.id) } else { None };
    Ok(Json(ListBody { namespace: ns, blobs, next }).into_response())
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
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m = if method == Method::HEAD { "HEAD" } else { "GET" };
    authorize(&state, &ns, m, &uri, &headers, peer_ip(&ext), Op::Read)?;
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
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::Read)?;
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
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::Read)?;
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
