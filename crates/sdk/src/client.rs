//! [`NodeClient`]: the node's REST API over HTTP/1 (hyper, the same client stack as
//! `chorus-store`) and its WebSocket event stream with automatic reconnection; [`TxSender`]:
//! nonce tracking, signing and safe (idempotent) submission for one account.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_crypto::AccountKey;
use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Address, Amount, Block, Hash, Msg, Receipt, SignedTx, Tx};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, mpsc};

use crate::ledger::LedgerSource;
use crate::views::{RegistrationView, RoundView, TaskView, VersionView};
use crate::{Error, Result};

/// A chain event from `GET /v1/ws`.
#[derive(Clone, Debug, PartialEq)]
pub enum ChainEvent {
    /// A block was committed.
    NewBlock {
        /// Height.
        height: u64,
        /// Block-level and transaction events: `(kind, attributes)`.
        events: Vec<(String, Vec<(String, String)>)>,
    },
    /// A transaction receipt (raw JSON).
    TxResult(serde_json::Value),
    /// The stream was (re)connected; events in between may have been missed.
    Connected,
}

#[derive(Deserialize)]
struct WsEvent {
    kind: String,
    #[serde(default)]
    attributes: Vec<(String, String)>,
}

fn parse_event(text: &str) -> Option<ChainEvent> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    match v.get("type")?.as_str()? {
        "new_block" => {
            let height = v.get("height")?.as_u64()?;
            let events: Vec<WsEvent> = v
                .get("events")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            Some(ChainEvent::NewBlock {
                height,
                events: events.into_iter().map(|e| (e.kind, e.attributes)).collect(),
            })
        }
        "tx_result" => Some(ChainEvent::TxResult(v)),
        _ => None,
    }
}

/// Waits until the next step of a runtime loop is due: shutdown requested, `poll` elapsed, or
/// a chain event arrived (then every other queued event is dropped, so one step covers every
/// block that arrived meanwhile).
pub async fn wait_for_next_step(
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    mut events: Option<&mut mpsc::Receiver<ChainEvent>>,
    poll: Duration,
) {
    tokio::select! {
        _ = shutdown.changed() => {}
        _ = tokio::time::sleep(poll) => {}
        _ = async {
            match events.as_deref_mut() {
                Some(rx) => { rx.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
    if let Some(rx) = events {
        while rx.try_recv().is_ok() {}
    }
}

/// `GET /v1/accounts/{addr}` reply.
#[derive(Clone, Debug, Deserialize)]
pub struct AccountInfo {
    /// Address.
    pub address: Address,
    /// Balance (decimal).
    pub balance: String,
    /// Committed nonce.
    pub nonce: u64,
    /// Next nonce counting pending txs.
    pub pending_nonce: u64,
    /// Height of the read.
    pub height: u64,
}

/// `GET /v1/status` reply (the fields the SDK uses).
#[derive(Clone, Debug, Deserialize)]
pub struct NodeStatus {
    /// Chain id.
    pub chain_id: u64,
    /// Latest height.
    pub height: u64,
    /// The chain's minimum fee (`bank.min_fee`); 0 from nodes that do not report it.
    #[serde(default, with = "chorus_types::amount_serde")]
    pub min_fee: Amount,
}

#[derive(Deserialize)]
struct TxStatus {
    status: String,
    receipt: Option<Receipt>,
}

#[derive(Deserialize)]
struct BlockJson {
    raw: String,
}

/// HTTP client of one node (`http://host:port`).
#[derive(Clone)]
pub struct NodeClient {
    base: Arc<str>,
    http: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient").field("base", &self.base).finish()
    }
}

impl NodeClient {
    /// A client for `base` (e.g. `http://127.0.0.1:26657`), 30 s per request.
    pub fn new(base: impl Into<String>) -> NodeClient {
        let mut c = HttpConnector::new();
        c.set_connect_timeout(Some(Duration::from_secs(5)));
        let base: String = base.into();
        NodeClient {
            base: base.trim_end_matches('/').into(),
            http: Client::builder(TokioExecutor::new()).build(c),
            timeout: Duration::from_secs(30),
        }
    }

    /// The blob store endpoint mounted by the node (`{base}/store`).
    pub fn store_endpoint(&self) -> String {
        format!("{}/store", self.base)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut b = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if body.is_some() {
            b = b.header("content-type", "application/octet-stream");
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Transport(e.to_string()))?;
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| Error::Transport(e.to_string()))?;
            let status = resp.status();
            let body =
                resp.into_body().collect().await.map_err(|e| Error::Transport(e.to_string()))?;
            Ok::<_, Error>((status, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| Error::Transport(format!("timeout on {path}")))?
    }

    /// Every item of a paged list endpoint (`?after=&limit=`, next page in `x-next-after`).
    async fn get_all_pages<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let p = match &after {
                Some(a) => format!("{path}?limit=1000&after={a}"),
                None => format!("{path}?limit=1000"),
            };
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!("{}{p}", self.base))
                .body(Full::new(Bytes::new()))
                .map_err(|e| Error::Transport(e.to_string()))?;
            let fut = async {
                let resp =
                    self.http.request(req).await.map_err(|e| Error::Transport(e.to_string()))?;
                let status = resp.status();
                let next = resp
                    .headers()
                    .get("x-next-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| Error::Transport(e.to_string()))?;
                Ok::<_, Error>((status, next, body.to_bytes()))
            };
            let (status, next, body) = tokio::time::timeout(self.timeout, fut)
                .await
                .map_err(|_| Error::Transport(format!("timeout on {p}")))??;
            if status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            if !status.is_success() {
                return Err(api_error(status, &body));
            }
            let page: Vec<T> =
                serde_json::from_slice(&body).map_err(|e| Error::Decode(format!("{p}: {e}")))?;
            out.extend(page);
            match next {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>> {
        let (status, body) = self.request(Method::GET, path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        serde_json::from_slice(&body).map(Some).map_err(|e| Error::Decode(format!("{path}: {e}")))
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<NodeStatus> {
        self.get_json("/v1/status").await?.ok_or_else(|| Error::Transport("no status".into()))
    }

    /// `GET /v1/accounts/{addr}`.
    pub async fn account(&self, addr: &Address) -> Result<AccountInfo> {
        self.get_json(&format!("/v1/accounts/{addr}"))
            .await?
            .ok_or_else(|| Error::Transport("no account reply".into()))
    }

    /// Submits signed bytes once (`POST /v1/txs`).
    pub async fn submit_raw(&self, stx: &SignedTx) -> Result<Hash> {
        let raw = borsh::to_vec(stx).map_err(|e| Error::Decode(e.to_string()))?;
        let (status, body) = self.request(Method::POST, "/v1/txs", Some(raw)).await?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        Ok(stx.hash())
    }

    /// `GET /v1/txs/{hash}`: `Ok(Some(None))` pending, `Ok(Some(Some(r)))` committed,
    /// `Ok(None)` unknown.
    pub async fn tx_status(&self, hash: &Hash) -> Result<Option<Option<Receipt>>> {
        let s: Option<TxStatus> = self.get_json(&format!("/v1/txs/{hash}")).await?;
        Ok(s.map(|s| if s.status == "committed" { s.receipt } else { None }))
    }

    /// Polls until `hash` is committed (every 200 ms, at most `timeout`); a failed tx is an error.
    pub async fn wait_receipt(&self, hash: &Hash, timeout: Duration) -> Result<Receipt> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(Some(r)) = self.tx_status(hash).await? {
                return receipt_ok(r);
            }
            if tokio::time::Instant::now() >= end {
                return Err(Error::Timeout(format!("receipt of {hash}")));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Subscribes to `GET /v1/ws`. A background task reconnects with exponential backoff
    /// (100 ms doubling to 5 s) and sends [`ChainEvent::Connected`] after each (re)connection;
    /// it ends when the receiver is dropped.
    pub fn subscribe(&self) -> mpsc::Receiver<ChainEvent> {
        let (tx, rx) = mpsc::channel(256);
        let url = format!("{}/v1/ws", self.base.replacen("http", "ws", 1));
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match tokio_tungstenite::connect_async(url.as_str()).await {
                    Ok((mut ws, _)) => {
                        backoff = Duration::from_millis(100);
                        if tx.send(ChainEvent::Connected).await.is_err() {
                            return;
                        }
                        while let Some(msg) = ws.next().await {
                            let Ok(msg) = msg else { break };
                            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg
                                && let Some(ev) = parse_event(t.as_str())
                                && tx.send(ev).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::debug!("ws connect to {url} failed: {e}"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        rx
    }
}

fn api_error(status: StatusCode, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Error::Api { status: status.as_u16(), message }
}

fn receipt_ok(r: Receipt) -> Result<Receipt> {
    match &r.result {
        Ok(()) => Ok(r),
        Err(f) => {
            Err(Error::TxFailed { hash: r.tx_hash, code: f.code, message: f.message.clone() })
        }
    }
}

impl LedgerSource for NodeClient {
    async fn chain_id(&self) -> Result<u64> {
        Ok(self.status().await?.chain_id)
    }
    async fn height(&self) -> Result<u64> {
        Ok(self.status().await?.height)
    }
    async fn min_fee(&self) -> Result<Amount> {
        Ok(self.status().await?.min_fee)
    }
    async fn pending_nonce(&self, addr: &Address) -> Result<u64> {
        Ok(self.account(addr).await?.pending_nonce)
    }
    async fn submit(&self, stx: &SignedTx) -> Result<Hash> {
        let hash = stx.hash();
        let mut delay = Duration::from_millis(100);
        for attempt in 0..5 {
            match self.submit_raw(stx).await {
                Ok(h) => return Ok(h),
                Err(e) => {
                    // Resubmitting is idempotent: if the node already has it (pending or
                    // committed), the earlier submission counts.
                    if let Ok(Some(_)) = self.tx_status(&hash).await {
                        return Ok(hash);
                    }
                    let retry = matches!(&e, Error::Transport(_))
                        || matches!(&e, Error::Api { status, .. } if *status >= 500 || *status == 429);
                    if !retry || attempt == 4 {
                        return Err(e);
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(Error::Timeout(format!("submitting {hash}")))
    }
    async fn receipt(&self, hash: &Hash) -> Result<Option<Receipt>> {
        Ok(self.tx_status(hash).await?.flatten())
    }
    async fn tasks(&self) -> Result<Vec<TaskView>> {
        self.get_all_pages("/v1/learning/tasks").await
    }
    async fn task(&self, id: TaskId) -> Result<Option<TaskView>> {
        self.get_json(&format!("/v1/learning/tasks/{id}")).await
    }
    async fn round(&self, id: TaskId, r: RoundNo) -> Result<Option<RoundView>> {
        self.get_json(&format!("/v1/learning/tasks/{id}/rounds/{r}")).await
    }
    async fn versions(&self, id: TaskId) -> Result<Vec<VersionView>> {
        Ok(self.get_json(&format!("/v1/learning/tasks/{id}/versions")).await?.unwrap_or_default())
    }
    async fn registrations(&self) -> Result<Vec<RegistrationView>> {
        self.get_all_pages("/v1/registry/participants").await
    }
    async fn block(&self, height: u64) -> Result<Option<Block>> {
        let Some(b) = self.get_json::<BlockJson>(&format!("/v1/blocks/{height}")).await? else {
            return Ok(None);
        };
        let raw = hex::decode(b.raw.trim_start_matches("0x"))
            .map_err(|e| Error::Decode(e.to_string()))?;
        borsh::from_slice(&raw).map(Some).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// One account's transaction pipeline: tracks the next nonce (initialised from the ledger's
/// pending nonce), signs, submits. Submission of the same signed bytes is idempotent, so a caller
/// that persisted a [`SignedTx`] re-sends it after a restart with [`TxSender::resubmit`].
///
/// Fee: the larger of the configured fee and the chain's `min_fee`
/// ([`LedgerSource::min_fee`], `/v1/status` for a node), read with the first signature and again
/// after every rejection (governance may have raised it). A configured fee of 0 thus means "the
/// chain's minimum".
pub struct TxSender<L> {
    ledger: Arc<L>,
    key: AccountKey,
    fee: Amount,
    chain_id: Mutex<Option<u64>>,
    pinned_chain_id: Option<u64>,
    min_fee: Mutex<Option<Amount>>,
    next_nonce: Mutex<Option<u64>>,
}

impl<L: LedgerSource> TxSender<L> {
    /// A sender for `key` paying at least `fee` per transaction (and at least the chain's
    /// minimum fee).
    pub fn new(ledger: Arc<L>, key: AccountKey, fee: Amount) -> Self {
        TxSender {
            ledger,
            key,
            fee,
            chain_id: Mutex::new(None),
            pinned_chain_id: None,
            min_fee: Mutex::new(None),
            next_nonce: Mutex::new(None),
        }
    }

    /// Pins the chain id this sender signs for (`None` leaves it unpinned). A pinned sender
    /// signs nothing until the ledger reports the same chain id, and then fails with
    /// [`Error::WrongChain`]: a node cannot make it sign a transaction that replays on another
    /// network (security review L3). Unpinned, the ledger's chain id is trusted.
    pub fn pinned(mut self, chain_id: Option<u64>) -> Self {
        self.pinned_chain_id = chain_id;
        self
    }

    /// The fee the next transaction pays: `max(configured fee, chain min_fee)`.
    pub async fn fee(&self) -> Result<Amount> {
        let mut m = self.min_fee.lock().await;
        let min = match *m {
            Some(x) => x,
            None => {
                let x = self.ledger.min_fee().await?;
                *m = Some(x);
                x
            }
        };
        Ok(self.fee.max(min))
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The key.
    pub fn key(&self) -> &AccountKey {
        &self.key
    }

    /// Forgets the cached nonce and minimum fee (after a rejection); the next `sign` asks the
    /// ledger.
    pub async fn resync(&self) {
        *self.next_nonce.lock().await = None;
        *self.min_fee.lock().await = None;
    }

    /// Signs `msgs` with the next nonce (does not submit).
    pub async fn sign(&self, msgs: Vec<Msg>) -> Result<SignedTx> {
        let chain_id = {
            let mut c = self.chain_id.lock().await;
            match *c {
                Some(id) => id,
                None => {
                    let id = self.ledger.chain_id().await?;
                    if let Some(pinned) = self.pinned_chain_id
                        && pinned != id
                    {
                        return Err(Error::WrongChain { pinned, reported: id });
                    }
                    *c = Some(id);
                    id
                }
            }
        };
        let fee = self.fee().await?;
        let mut n = self.next_nonce.lock().await;
        let nonce = match *n {
            Some(x) => x,
            None => self.ledger.pending_nonce(&self.key.address()).await?,
        };
        *n = Some(nonce + 1);
        Ok(chorus_crypto::sign_tx(&self.key, Tx { chain_id, nonce, fee, msgs }))
    }

    /// Submits already-signed bytes (idempotent); a rejection resyncs the nonce.
    pub async fn resubmit(&self, stx: &SignedTx) -> Result<Hash> {
        match self.ledger.submit(stx).await {
            Ok(h) => Ok(h),
            Err(e) => {
                self.resync().await;
                Err(e)
            }
        }
    }

    /// Signs and submits.
    pub async fn send(&self, msgs: Vec<Msg>) -> Result<Hash> {
        let stx = self.sign(msgs).await?;
        self.resubmit(&stx).await
    }
}
