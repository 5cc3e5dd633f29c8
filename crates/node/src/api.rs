//! REST + WebSocket API (axum). Every error is JSON `{"error": "...", "code": N}` with a
//! meaningful HTTP status; a bad request never changes state and never stops the server.
//!
//! Routes (see [`openapi`] for the machine-readable document):
//! - `POST /v1/txs` — submit a signed transaction (raw bytes, or JSON `{"tx": "0x…"}`)
//! - `GET /v1/txs/{hash}` — status and receipt
//! - `GET /v1/accounts/{address}` — balance and nonces
//! - `GET /v1/blocks/latest`, `/v1/blocks/{height}`, `/v1/blocks/by-hash/{hash}`
//! - `GET /v1/state/proof?key=0x…[&height=N]` — inclusion / exclusion proof
//! - `GET /v1/validators`, `GET /v1/status`, `GET /v1/ws` (events), `GET /health`,
//!   `GET /metrics`, `GET /openapi.json`

use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use borsh::BorshDeserialize;
use bytes::Bytes;
use chorus_chain::state::StateRead;
use chorus_chain::{TxError, VerifiedTx, check_stateful, check_stateful_queued, check_stateless};
use chorus_types::{Address, Block, Hash, Receipt, SignedTx};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::events::NodeEvent;
use crate::ledger::Ledger;
use crate::mempool::{Mempool, MempoolError, PoolTx};
use crate::metrics::{Metrics, RejectLabels};

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The ledger (state, blocks).
    pub ledger: Arc<Ledger>,
    /// Pending transactions.
    pub mempool: Arc<Mutex<Mempool<VerifiedTx>>>,
    /// Event fan-out.
    pub events: broadcast::Sender<NodeEvent>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Node name.
    pub moniker: String,
    /// This node's consensus public key.
    pub node_key: [u8; 32],
    /// Mempool gossip, when this node has peers to gossip with.
    pub gossip: Option<crate::gossip::GossipHandle>,
    /// One permit per open `/v1/ws` subscription (`ApiConfig::max_websockets`).
    pub ws_slots: Arc<tokio::sync::Semaphore>,
}

/// An API error: HTTP status, stable numeric code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 400, message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, 404, message)
    }
    pub(crate) fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 500, message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message, "code": self.code }))).into_response()
    }
}

impl From<TxError> for ApiError {
    fn from(e: TxError) -> ApiError {
        let status = match e {
            TxError::Oversized { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Resource limits (M9)

/// Applies `limit` to every request of `router` (408 beyond). Wrap the API routes, not the blob
/// store: uploads are limited by the store's idle timeout and minimum rate instead.
pub fn with_timeout(router: Router, limit: std::time::Duration) -> Router {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(overload_error))
            .layer(tower::timeout::TimeoutLayer::new(limit)),
    )
}

/// Caps the requests `router` handles at once at `max` (shared by every route); beyond it
/// requests are refused at once with 503 instead of queueing.
pub fn with_concurrency_limit(router: Router, max: usize) -> Router {
    router.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(overload_error))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max.max(1))),
    )
}

async fn overload_error(err: tower::BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, 408, "request timed out")
    } else if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, 503, "server busy; retry later")
    } else {
        ApiError::internal(err)
    }
}

/// Runs a (database) read on the blocking pool, off the async worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// Page size of list endpoints without `limit`.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Largest page of list endpoints.
pub const MAX_PAGE_LIMIT: usize = 1000;
/// Response header naming the `after` of the next page (absent on the last page).
pub const NEXT_PAGE_HEADER: &str = "x-next-after";

/// `?after=KEY&limit=N` of the list endpoints: items with keys greater than `after`, in key
/// order, at most `limit` (default [`DEFAULT_PAGE_LIMIT`], at most [`MAX_PAGE_LIMIT`]).
#[derive(Deserialize, Default, Debug, Clone)]
pub struct PageQuery {
    /// The last key of the previous page.
    pub after: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
}

impl PageQuery {
    pub(crate) fn limit(&self) -> ApiResult<usize> {
        match self.limit {
            Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
            Some(n) => Ok(n.min(MAX_PAGE_LIMIT)),
            None => Ok(DEFAULT_PAGE_LIMIT),
        }
    }

    pub(crate) fn after<K: std::str::FromStr>(&self, what: &str) -> ApiResult<Option<K>> {
        self.after
            .as_deref()
            .map(|a| a.parse().map_err(|_| ApiError::bad_request(format!("bad `after` {what}"))))
            .transpose()
    }

    /// One page of `items` (in any order) by `key`; returns it and the next page's `after`.
    pub(crate) fn page<T, K: Ord + Copy + ToString>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> K,
        after: Option<K>,
    ) -> ApiResult<(Vec<T>, Option<String>)> {
        let limit = self.limit()?;
        items.retain(|t| after.is_none_or(|a| key(t) > a));
        items.sort_by_key(&key);
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(|t| key(t).to_string()) } else { None };
        Ok((items, next))
    }
}

/// A JSON page: `body`, with the next page's `after` in [`NEXT_PAGE_HEADER`].
pub(crate) fn paged(body: impl Serialize, next: Option<String>) -> Response {
    let mut r = Json(body).into_response();
    if let Some(n) = next
        && let Ok(v) = axum::http::HeaderValue::from_str(&n)
    {
        r.headers_mut().insert(NEXT_PAGE_HEADER, v);
    }
    r
}

/// The API router (mount the blob store next to it with `Router::merge`/`nest`).
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/v1/status", get(status))
        .route("/v1/txs", post(submit_tx))
        .route("/v1/txs/{hash}", get(get_tx))
        .route("/v1/accounts/{address}", get(get_account))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{height}", get(block_by_height))
        .route("/v1/blocks/by-hash/{hash}", get(block_by_hash))
        .route("/v1/state/proof", get(state_proof))
        .route("/v1/validators", get(validators))
        .route("/v1/evidence", get(evidence))
        .route("/v1/ws", get(ws))
        .merge(crate::api_staking::routes())
        .merge(crate::api_learning::routes())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

async fn health(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    let h = s.ledger.last_height().map_err(ApiError::internal)?;
    Ok(Json(json!({ "status": "ok", "height": h.unwrap_or(0) })))
}

async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        s.metrics.render(),
    )
}

/// `GET /v1/status`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct StatusResponse {
    /// Node name.
    pub moniker: String,
    /// Chain id.
    pub chain_id: u64,
    /// Latest committed height.
    pub height: u64,
    /// Hash of the latest block (zero before the first block).
    pub latest_hash: Hash,
    /// State root at the latest height.
    pub state_root: Hash,
    /// Pending transactions.
    pub mempool_size: usize,
    /// This node's consensus key.
    pub node_key: String,
    /// The smallest fee a transaction may offer now (`bank.min_fee`, base units, a decimal
    /// string in JSON); clients sign with at least this fee.
    #[serde(with = "chorus_types::amount_serde")]
    pub min_fee: chorus_types::Amount,
}

async fn status(State(s): State<ApiState>) -> ApiResult<Json<StatusResponse>> {
    let db = s.ledger.db();
    let (height, root) = db.latest().map_err(ApiError::internal)?.unwrap_or((0, [0; 32]));
    let latest_hash = db
        .block_by_height(height)
        .map_err(ApiError::internal)?
        .map_or(Hash::ZERO, |b| Hash(b.hash));
    let mempool_size = crate::lock(&s.mempool).len();
    let snap = db.snapshot().map_err(ApiError::internal)?;
    let min_fee = chorus_chain::components::bank::params(&snap)?.min_fee;
    Ok(Json(StatusResponse {
        moniker: s.moniker.clone(),
        chain_id: s.ledger.chain_id(),
        height,
        latest_hash,
        state_root: Hash(root),
        mempool_size,
        node_key: format!("0x{}", hex::encode(s.node_key)),
        min_fee,
    }))
}

#[derive(Deserialize)]
struct TxJson {
    tx: String,
}

/// `POST /v1/txs` reply.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct SubmitResponse {
    /// Transaction hash.
    pub hash: Hash,
    /// Recovered sender.
    pub sender: Address,
    /// `"accepted"` or `"replaced"`.
    pub status: String,
}

fn reject(s: &ApiState, reason: &str) {
    s.metrics.txs_rejected.get_or_create(&RejectLabels { reason: reason.to_string() }).inc();
}

fn decode_hex(s: &str) -> Result<Vec<u8>, ApiError> {
    hex::decode(s.trim().trim_start_matches("0x"))
        .map_err(|e| ApiError::bad_request(format!("invalid hex: {e}")))
}

/// Admits raw transaction bytes into the mempool, and queues them for gossip to the other
/// validators when admitted.
pub fn admit_tx(s: &ApiState, raw: &[u8]) -> ApiResult<SubmitResponse> {
    let started = std::time::Instant::now();
    let result = check_stateless(raw, s.ledger.chain_id())
        .inspect_err(|_| reject(s, "stateless"))
        .map_err(ApiError::from)
        .and_then(|vtx| admit_verified_timed(s, vtx));
    s.metrics.tx_admission_seconds.observe(started.elapsed().as_secs_f64());
    if result.is_ok()
        && let Some(g) = &s.gossip
        && !g.publish(raw.to_vec())
    {
        tracing::debug!(target: "node::gossip", "gossip queue full; transaction kept locally");
    }
    result
}

/// Admits a transaction that passed the stateless checks (the gossip path: it is not
/// re-published; gossipsub forwards it once admitted).
pub fn admit_verified(s: &ApiState, vtx: VerifiedTx) -> ApiResult<SubmitResponse> {
    let started = std::time::Instant::now();
    let result = admit_verified_timed(s, vtx);
    s.metrics.tx_admission_seconds.observe(started.elapsed().as_secs_f64());
    result
}

fn admit_verified_timed(s: &ApiState, vtx: VerifiedTx) -> ApiResult<SubmitResponse> {
    // The pool lock is taken before the snapshot: a commit writes the block and then prunes the
    // pool, so a snapshot older than the pool would judge a queued nonce against a pruned pool
    // and report a gap that does not exist.
    let mut pool = crate::lock(&s.mempool);
    let snap = s.ledger.db().snapshot().map_err(ApiError::internal)?;
    let sender = vtx.sender();
    let committed = chorus_chain::account_nonce(&snap, &sender)?;
    let pending = pool.pending_nonce(&sender, committed);
    let nonce = vtx.tx().nonce;
    // A transaction queued behind the sender's pending ones is judged as if they had run: its
    // nonce may be ahead of the committed one, and the balance must also cover what they may
    // spend (C2: a queue that cannot all pay is refused here, not carried into blocks).
    if nonce > committed && nonce <= pending {
        let queued = crate::mempool::queued_spend(&pool, &sender, nonce)?;
        check_stateful_queued(&snap, &vtx, queued).inspect_err(|_| reject(s, "stateful"))?;
    } else {
        check_stateful(&snap, &vtx).inspect_err(|_| reject(s, "stateful"))?;
    }
    let hash = vtx.hash();
    let entry = PoolTx { hash, sender, nonce, fee: vtx.tx().fee, size: vtx.size(), payload: vtx };
    let inserted = pool.insert(entry, committed).map_err(|e| {
        reject(s, "mempool");
        let code = match e {
            MempoolError::Duplicate(_) => 409,
            MempoolError::PoolFull | MempoolError::AccountFull(_) => 429,
            _ => 400,
        };
        let status = StatusCode::from_u16(code as u16).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, 1000 + code, e.to_string())
    })?;
    if matches!(inserted, crate::mempool::Inserted::Replaced(_)) {
        // A replacement may spend more than the transaction it replaced: later nonces that no
        // longer fit the balance go.
        crate::mempool::evict_unpayable(&mut pool, &snap, &sender)?;
    }
    s.metrics.txs_accepted.inc();
    s.metrics.mempool_size.set(pool.len() as i64);
    let status = match inserted {
        crate::mempool::Inserted::New => "accepted",
        crate::mempool::Inserted::Replaced(_) => "replaced",
    };
    Ok(SubmitResponse { hash, sender, status: status.into() })
}

async fn submit_tx(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<SubmitResponse>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let raw = if is_json {
        let j: TxJson = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
        decode_hex(&j.tx)?
    } else {
        body.to_vec()
    };
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || admit_tx(&s2, &raw))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

/// `GET /v1/txs/{hash}` reply.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct TxStatusResponse {
    /// Transaction hash.
    pub hash: Hash,
    /// `"pending"` or `"committed"`.
    pub status: String,
    /// Height of the including block when committed.
    pub height: Option<u64>,
    /// The receipt when committed.
    pub receipt: Option<Receipt>,
}

fn parse_hash(s: &str) -> ApiResult<Hash> {
    s.parse::<Hash>().map_err(|e| ApiError::bad_request(format!("invalid hash: {e}")))
}

async fn get_tx(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<TxStatusResponse>> {
    let hash = parse_hash(&hash)?;
    if let Some(stored) = s.ledger.db().tx(&hash.0).map_err(ApiError::internal)? {
        let receipt = Receipt::try_from_slice(&stored.tx.receipt_bytes)
            .map_err(|e| ApiError::internal(format!("corrupt receipt: {e}")))?;
        return Ok(Json(TxStatusResponse {
            hash,
            status: "committed".into(),
            height: Some(stored.height),
            receipt: Some(receipt),
        }));
    }
    if crate::lock(&s.mempool).contains(&hash) {
        return Ok(Json(TxStatusResponse {
            hash,
            status: "pending".into(),
            height: None,
            receipt: None,
        }));
    }
    Err(ApiError::not_found(format!("transaction {hash} not found")))
}

/// `GET /v1/accounts/{address}` reply.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct AccountResponse {
    /// The account.
    pub address: Address,
    /// Balance in base units (decimal string).
    pub balance: String,
    /// Next nonce in committed state.
    pub nonce: u64,
    /// Next nonce counting pending transactions.
    pub pending_nonce: u64,
    /// Height of the state read.
    pub height: u64,
}

async fn get_account(
    State(s): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult<Json<AccountResponse>> {
    let address: Address =
        address.parse().map_err(|e| ApiError::bad_request(format!("invalid address: {e}")))?;
    // Pool before snapshot, as in `admit_tx`, so the pending nonce is never older than the pool.
    let pool = crate::lock(&s.mempool);
    let snap = s.ledger.db().snapshot().map_err(ApiError::internal)?;
    let balance = chorus_chain::components::bank::balance(&snap, &address)?;
    let nonce = chorus_chain::account_nonce(&snap, &address)?;
    let pending_nonce = pool.pending_nonce(&address, nonce);
    drop(pool);
    Ok(Json(AccountResponse {
        address,
        balance: balance.to_string(),
        nonce,
        pending_nonce,
        height: snap.height().unwrap_or(0),
    }))
}

/// A block as the API shows it.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct BlockResponse {
    /// Block hash.
    pub hash: Hash,
    /// Header.
    pub header: chorus_types::BlockHeader,
    /// Transaction hashes in order.
    pub txs: Vec<Hash>,
    /// Signers of the previous block's commit, as carried by this block.
    pub last_commit: Option<chorus_types::CommitInfo>,
    /// Signers of this block's own commit certificate.
    pub commit: chorus_types::CommitInfo,
    /// The canonical block encoding, hex.
    pub raw: String,
}

fn block_response(bytes: &[u8], cert: &[u8]) -> ApiResult<BlockResponse> {
    let block = Block::try_from_slice(bytes).map_err(ApiError::internal)?;
    let cert =
        crate::ledger::StoredCertificate::try_from_slice(cert).map_err(ApiError::internal)?;
    Ok(BlockResponse {
        hash: block.hash(),
        txs: block.txs.iter().map(SignedTx::hash).collect(),
        header: block.header,
        last_commit: block.last_commit,
        commit: cert.info,
        raw: format!("0x{}", hex::encode(bytes)),
    })
}

async fn block_by_height(
    State(s): State<ApiState>,
    Path(height): Path<u64>,
) -> ApiResult<Json<BlockResponse>> {
    let b = s.ledger.db().block_by_height(height).map_err(ApiError::internal)?;
    let b = b.ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    Ok(Json(block_response(&b.block_bytes, &b.certificate_bytes)?))
}

async fn latest_block(State(s): State<ApiState>) -> ApiResult<Json<BlockResponse>> {
    let h = s.ledger.last_height().map_err(ApiError::internal)?.unwrap_or(0);
    block_by_height(State(s), Path(h)).await
}

async fn block_by_hash(
    State(s): State<ApiState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<BlockResponse>> {
    let hash = parse_hash(&hash)?;
    let b = s.ledger.db().block_by_hash(&hash.0).map_err(ApiError::internal)?;
    let b = b.ok_or_else(|| ApiError::not_found(format!("no block with hash {hash}")))?;
    Ok(Json(block_response(&b.block_bytes, &b.certificate_bytes)?))
}

#[derive(Deserialize)]
struct ProofQuery {
    key: String,
    height: Option<u64>,
}

async fn state_proof(
    State(s): State<ApiState>,
    Query(q): Query<ProofQuery>,
) -> ApiResult<Json<chorus_db::StateProof>> {
    let key = decode_hex(&q.key)?;
    let db = s.ledger.db();
    let latest = db.latest_height().map_err(ApiError::internal)?.unwrap_or(0);
    let height = q.height.unwrap_or(latest);
    if height > latest {
        return Err(ApiError::not_found(format!("height {height} not committed yet")));
    }
    let proof = db.prove(&key, height).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(proof))
}

/// Equivocation evidence consensus observed that the chain has not acted on yet.
async fn evidence(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    let pending = s.ledger.pending_evidence().map_err(ApiError::internal)?;
    Ok(Json(json!({ "evidence": pending })))
}

async fn validators(State(s): State<ApiState>) -> ApiResult<Json<Value>> {
    let vals = s.ledger.validator_set().map_err(ApiError::internal)?;
    let list: Vec<Value> = vals
        .iter()
        .map(|v| {
            json!({
                "operator": v.operator,
                "consensus_key": format!("0x{}", hex::encode(v.consensus_key)),
                "power": v.power,
            })
        })
        .collect();
    Ok(Json(json!({ "validators": list })))
}

async fn ws(State(s): State<ApiState>, upgrade: WebSocketUpgrade) -> Response {
    let Ok(permit) = s.ws_slots.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            503,
            "too many WebSocket subscriptions; retry later",
        )
        .into_response();
    };
    let rx = s.events.subscribe();
    upgrade.on_upgrade(move |socket| async move {
        stream_events(socket, rx).await;
        drop(permit);
    })
}

async fn stream_events(mut socket: WebSocket, mut rx: broadcast::Receiver<NodeEvent>) {
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let msg = json!({ "type": "lagged", "missed": n }).to_string();
                    if socket.send(Message::Text(msg.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Raw read of a state key at the latest height (for queries that decode it themselves).
pub fn read_state(s: &ApiState, key: &[u8]) -> ApiResult<Option<Vec<u8>>> {
    let snap = s.ledger.db().snapshot().map_err(ApiError::internal)?;
    snap.get(key).map_err(ApiError::internal)
}

/// The OpenAPI 3 document of this API.
pub fn openapi() -> Value {
    let err = json!({"$ref": "#/components/schemas/Error"});
    let path = |summary: &str, params: Value| {
        json!({"get": {"summary": summary, "parameters": params,
            "responses": {"200": {"description": "OK"}, "400": {"description": "bad request", "content": {"application/json": {"schema": err}}}, "404": {"description": "not found", "content": {"application/json": {"schema": err}}}}}})
    };
    let p = |name: &str, inn: &str| json!({"name": name, "in": inn, "required": inn == "path", "schema": {"type": "string"}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Chorus node API", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/health": path("Liveness and latest height", json!([])),
            "/metrics": path("Prometheus metrics (OpenMetrics text)", json!([])),
            "/v1/status": path("Node status", json!([])),
            "/v1/txs": {"post": {"summary": "Submit a signed transaction",
                "requestBody": {"content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object", "properties": {"tx": {"type": "string", "description": "0x-hex of the borsh-encoded SignedTx"}}, "required": ["tx"]}}}},
                "responses": {"200": {"description": "accepted"}, "400": {"description": "rejected", "content": {"application/json": {"schema": err}}},
                    "409": {"description": "duplicate"}, "413": {"description": "too large"}, "429": {"description": "mempool full"}}}},
            "/v1/txs/{hash}": path("Transaction status and receipt", json!([p("hash", "path")])),
            "/v1/accounts/{address}": path("Balance and nonces", json!([p("address", "path")])),
            "/v1/blocks/latest": path("Latest block", json!([])),
            "/v1/blocks/{height}": path("Block by height", json!([p("height", "path")])),
            "/v1/blocks/by-hash/{hash}": path("Block by hash", json!([p("hash", "path")])),
            "/v1/state/proof": path("State proof (inclusion or exclusion) for a raw key", json!([p("key", "query"), p("height", "query")])),
            "/v1/validators": path("Active validator set", json!([])),
            "/v1/evidence": path("Double votes consensus observed and the chain has not acted on (submit with StakingMsg::SubmitEvidence)", json!([])),
            "/v1/ws": path("WebSocket stream of events (new_block, tx_result)", json!([])),
            "/v1/staking/validators": path("Staking validators by operator, paged", json!([p("after", "query"), p("limit", "query")])),
            "/v1/staking/validators/{addr}": path("One validator with liveness and rewards", json!([p("addr", "path")])),
            "/v1/delegator/{addr}/delegations": path("Delegations, unbondings, redelegations", json!([p("addr", "path")])),
            "/v1/delegator/{addr}/rewards": path("Pending delegation rewards", json!([p("addr", "path")])),
            "/v1/gov/proposals": path("Governance proposals by id, paged", json!([p("after", "query"), p("limit", "query")])),
            "/v1/gov/proposals/{id}": path("One governance proposal", json!([p("id", "path")])),
            "/v1/learning/tasks": path("Training tasks by id, paged (next page: x-next-after header)", json!([p("after", "query"), p("limit", "query")])),
            "/v1/learning/tasks/{id}": path("One task", json!([p("id", "path")])),
            "/v1/learning/tasks/{id}/rounds/{round}": path("One round: selection, commits, reveals, scores, outcome", json!([p("id", "path"), p("round", "path")])),
            "/v1/learning/tasks/{id}/versions": path("Model versions of a task", json!([p("id", "path")])),
            "/v1/registry/participants": path("Registered participants and workers by address, paged (next page: x-next-after header)", json!([p("after", "query"), p("limit", "query")])),
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {
            "error": {"type": "string"}, "code": {"type": "integer"}}, "required": ["error", "code"]}}}
    })
}
