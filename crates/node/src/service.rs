//! Starting a node's services: the ledger over its database, the API server with the blob store
//! mounted at `/store`, the periodic blob GC and mempool gossip ([`start_services`]). Consensus is
//! started on top by [`start_node`]; tests and tools may drive the [`Ledger`] directly instead.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chorus_chain::VerifiedTx;
use chorus_db::Db;
use chorus_types::{Address, Genesis};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::api::{self, ApiState};
use crate::config::{LocalUploads, NodeConfig, UpdatesListing};
use crate::events::NodeEvent;
use crate::ledger::{Ledger, LedgerError};
use crate::mempool::Mempool;
use crate::metrics::Metrics;

/// Namespace for participants' model updates: written by registered participants (signed), read
/// by id by anyone (every validator and auditor fetches them; sealed updates are ciphertext),
/// listed only per [`crate::config::StoreConfig::updates_listable_by`].
pub const UPDATES_NAMESPACE: &str = "updates";
/// Namespace for global models, written by validator operators (signed).
pub const MODELS_NAMESPACE: &str = "models";
/// A general namespace for registered participants and validator operators.
pub const PUBLIC_NAMESPACE: &str = "public";

/// The node's [`chorus_store::WritePolicy`]: who may upload to (and list) its store, judged
/// against the latest committed chain state. No namespace of a node takes anonymous writes
/// (except `models` from loopback clients when [`ChainWritePolicy::local_model_uploads`] is set).
pub struct ChainWritePolicy {
    ledger: Arc<Ledger>,
    /// Who may list `updates`.
    pub updates_listable_by: UpdatesListing,
    /// Accept unsigned uploads to `models` from loopback clients.
    pub local_model_uploads: bool,
}

impl ChainWritePolicy {
    /// A policy over `ledger`'s committed state.
    pub fn new(ledger: Arc<Ledger>, updates_listable_by: UpdatesListing, local: bool) -> Self {
        ChainWritePolicy { ledger, updates_listable_by, local_model_uploads: local }
    }

    fn snapshot(&self) -> Result<chorus_db::Snapshot, String> {
        self.ledger.db().snapshot().map_err(|e| format!("chain state unavailable: {e}"))
    }

    fn is_operator(snap: &chorus_db::Snapshot, a: &Address) -> Result<bool, String> {
        chorus_chain::components::staking::validator(snap, a)
            .map(|v| v.is_some())
            .map_err(|e| format!("reading validators: {e}"))
    }
}

impl chorus_store::WritePolicy for ChainWritePolicy {
    fn may_write(&self, a: &Address, ns: &str) -> Result<(), String> {
        let snap = self.snapshot()?;
        if Self::is_operator(&snap, a)? {
            return Ok(());
        }
        if ns == MODELS_NAMESPACE {
            return Err("only validator operators may upload models".into());
        }
        use chorus_chain::components::registry::{self, RegStatus};
        match registry::registration(&snap, a).map_err(|e| format!("reading registry: {e}"))? {
            Some(r) if r.status == RegStatus::Active => Ok(()),
            Some(_) => Err("the registration is unbonding".into()),
            None => Err("not a registered participant or validator operator".into()),
        }
    }

    fn may_list(&self, a: &Address, ns: &str) -> Result<(), String> {
        if ns != UPDATES_NAMESPACE {
            return self.may_write(a, ns);
        }
        match self.updates_listable_by {
            UpdatesListing::Public => Ok(()),
            UpdatesListing::Nobody => Err("updates are not listable on this node".into()),
            UpdatesListing::Operators => {
                if Self::is_operator(&self.snapshot()?, a)? {
                    Ok(())
                } else {
                    Err("only validator operators may list updates".into())
                }
            }
        }
    }

    fn may_write_unsigned(&self, peer: std::net::IpAddr, ns: &str) -> Result<(), String> {
        if ns == MODELS_NAMESPACE && self.local_model_uploads && peer.is_loopback() {
            return Ok(());
        }
        Err("uploads to a validator node must be signed (EIP-191) by a registered participant \
             or a validator operator"
            .into())
    }
}

/// The store configuration a node mounts: every namespace's writers are decided by
/// [`ChainWritePolicy`] (none is `public_write`), with the node's quotas and limits.
pub fn node_store_config(config: &NodeConfig, data_dir: &Path) -> chorus_store::StoreConfig {
    use chorus_store::{Listable, NamespaceConfig, Quota};
    let s = &config.store;
    let updates_listing = match s.updates_listable_by {
        UpdatesListing::Operators => Listable::Writers,
        UpdatesListing::Public => Listable::Public,
        UpdatesListing::Nobody => Listable::Nobody,
    };
    let quota =
        Quota { max_bytes: s.quota_bytes_per_account, max_objects: s.quota_objects_per_account };
    chorus_store::StoreConfig {
        listen: config.api.listen,
        data_dir: Some(data_dir.join("blobs")),
        max_blob_size: s.max_blob_bytes,
        namespaces: vec![
            NamespaceConfig::policy(UPDATES_NAMESPACE, updates_listing),
            NamespaceConfig::policy(MODELS_NAMESPACE, Listable::Public),
            NamespaceConfig::policy(PUBLIC_NAMESPACE, Listable::Public),
        ],
        // Blobs the ledger refers to are pinned by the GC pass below; others expire.
        ttl_secs: s.blob_ttl_secs,
        quota,
        ip_quota: quota,
        rate_limit: s.rate_per_ip,
        account_rate_limit: s.rate_per_account,
        min_free_bytes: s.min_free_bytes,
        max_uploads: s.max_uploads,
        max_uploads_per_ip: s.max_uploads_per_ip,
        upload_idle_timeout_ms: s.upload_idle_timeout_ms,
        upload_min_bytes_per_sec: s.upload_min_bytes_per_sec,
        upload_grace_ms: s.upload_grace_ms,
        request_timeout_ms: config.api.request_timeout_ms,
        ..chorus_store::StoreConfig::default()
    }
}

/// Why the node could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Ledger or database failure.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Database failure.
    #[error("database: {0}")]
    Db(#[from] chorus_db::Error),
    /// Blob store failure.
    #[error("blob store: {0}")]
    Store(#[from] chorus_store::Error),
    /// I/O failure (binding the API port, creating directories).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// Consensus failed to start or stopped with an error.
    #[error("consensus: {0}")]
    Consensus(String),
    /// Mempool gossip failed to start.
    #[error(transparent)]
    Gossip(#[from] crate::gossip::GossipError),
}

/// Everything a running node shares between its tasks.
#[derive(Clone)]
pub struct NodeServices {
    /// Block production and validation.
    pub ledger: Arc<Ledger>,
    /// API handler state (also used to submit transactions in-process).
    pub api: ApiState,
    /// The embedded blob store.
    pub store: chorus_store::StoreState,
    /// Where the API (and the store, under `/store`) listens.
    pub api_addr: SocketAddr,
    /// Event fan-out.
    pub events: broadcast::Sender<NodeEvent>,
    shutdown: watch::Sender<bool>,
}

impl NodeServices {
    /// Asks every service task to stop.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A receiver that turns `true` when shutdown was requested.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// `http://ADDR` of the API.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }
}

/// Paths of a node's data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("chain.redb")
}

/// Opens the database and starts the API (with the store mounted) and blob GC.
pub async fn start_services(
    config: &NodeConfig,
    genesis: &Genesis,
    data_dir: &Path,
    node_key: [u8; 32],
) -> Result<(NodeServices, Vec<JoinHandle<()>>), NodeError> {
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::Io {
        context: format!("creating {}", data_dir.display()),
        source,
    })?;
    let db = Arc::new(Db::open(db_path(data_dir))?);
    let metrics = Arc::new(Metrics::new());
    let (events, _) = broadcast::channel(4096);
    let mempool: Arc<Mutex<Mempool<VerifiedTx>>> =
        Arc::new(Mutex::new(Mempool::new(config.mempool.clone())));
    let ledger = Arc::new(Ledger::open(
        genesis,
        db,
        mempool.clone(),
        events.clone(),
        metrics.clone(),
        config.consensus.max_block_txs,
    )?);

    let store_config = node_store_config(config, data_dir);
    let backend = chorus_store::FsBackend::open(data_dir.join("blobs"))?;
    let store = chorus_store::StoreState::new(backend, store_config)?;
    let local_models = match config.store.local_model_uploads {
        LocalUploads::On => true,
        LocalUploads::Off => false,
        LocalUploads::Auto => config.api.listen.ip().is_loopback(),
    };
    store.set_policy(Arc::new(ChainWritePolicy::new(
        ledger.clone(),
        config.store.updates_listable_by,
        local_models,
    )));

    let gossip_channel =
        config.gossip.listen.map(|_| crate::gossip::GossipHandle::channel(config.gossip.queue));
    let api_state = ApiState {
        ledger: ledger.clone(),
        mempool,
        events: events.clone(),
        metrics,
        moniker: config.moniker.clone(),
        node_key,
        gossip: gossip_channel.as_ref().map(|(h, _)| h.clone()),
        ws_slots: Arc::new(tokio::sync::Semaphore::new(config.api.max_websockets)),
    };
    let timeout = std::time::Duration::from_millis(config.api.request_timeout_ms);
    let mut app =
        api::with_timeout(api::router(api_state.clone(), config.api.max_body_bytes), timeout);
    if config.store.enabled {
        // The store limits its own requests (uploads by idle timeout and minimum rate, the rest
        // by the same request timeout); the concurrency limit below covers both.
        app = app.nest("/store", chorus_store::router(store.clone()));
    }
    let app = api::with_concurrency_limit(app, config.api.max_concurrent_requests);
    let listener = tokio::net::TcpListener::bind(config.api.listen).await.map_err(|source| {
        NodeError::Io { context: format!("binding API on {}", config.api.listen), source }
    })?;
    let api_addr = listener
        .local_addr()
        .map_err(|source| NodeError::Io { context: "reading the API address".into(), source })?;
    let (shutdown, mut stop) = watch::channel(false);
    let server = tokio::spawn(async move {
        let svc = app.into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, svc)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(target: "node::api", error = %e, "API server stopped");
        }
    });
    tracing::info!(target: "node::api", addr = %api_addr, "API listening");
    let mut tasks = vec![server];
    if let (Some(listen), Some((_, outbound))) = (config.gossip.listen, gossip_channel) {
        let key = crate::gossip::load_or_create_node_key(data_dir)?;
        let task = crate::gossip::start(
            &config.gossip,
            listen,
            key,
            genesis.chain_id,
            api_state.clone(),
            outbound,
            shutdown.subscribe(),
        )?;
        tasks.push(task);
    }
    if config.store.blob_ttl_secs.is_some() {
        let every = std::time::Duration::from_secs(config.store.gc_interval_secs.max(1));
        tasks.push(tokio::spawn(blob_gc_loop(
            ledger.clone(),
            store.clone(),
            every,
            shutdown.subscribe(),
        )));
    }
    let services = NodeServices { ledger, api: api_state, store, api_addr, events, shutdown };
    Ok((services, tasks))
}

/// One blob garbage-collection pass: pins every blob the committed state refers to
/// ([`chorus_chain::components::learning::referenced_blobs`]) and removes unpinned blobs older than
/// the store's TTL (never one being uploaded).
pub fn collect_blob_garbage(
    ledger: &Ledger,
    store: &chorus_store::StoreState,
) -> Result<chorus_store::GcReport, NodeError> {
    let snap = ledger.db().snapshot()?;
    let pins: std::collections::BTreeSet<chorus_store::BlobId> =
        chorus_chain::components::learning::referenced_blobs(&snap)
            .map_err(LedgerError::from)?
            .into_iter()
            .map(|h| chorus_store::BlobId::from_bytes(h.0))
            .collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(store.gc(&pins, now_ms)?)
}

async fn blob_gc_loop(
    ledger: Arc<Ledger>,
    store: chorus_store::StoreState,
    every: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let (l, st) = (ledger.clone(), store.clone());
        match tokio::task::spawn_blocking(move || collect_blob_garbage(&l, &st)).await {
            Ok(Ok(r)) => tracing::info!(
                target: "node::store",
                scanned = r.scanned,
                pinned = r.kept_pinned,
                in_flight = r.kept_in_flight,
                removed = r.removed_metas.len(),
                freed_bytes = r.freed_bytes,
                "blob gc pass"
            ),
            Ok(Err(e)) => tracing::warn!(target: "node::store", error = %e, "blob gc pass failed"),
            Err(e) => tracing::warn!(target: "node::store", error = %e, "blob gc pass panicked"),
        }
    }
}

/// A running node: services plus the consensus engine.
pub struct RunningNode {
    /// Ledger, API, store.
    pub services: NodeServices,
    consensus: chorus_consensus::ConsensusHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningNode {
    /// Waits until consensus stops on its own — the ledger failed a call (its storage broke, a
    /// decided block could not be committed) or the engine died — and says why. A node that
    /// sees it should [`RunningNode::stop`] and exit with the error; a restart resumes from the
    /// last committed height. Cancel-safe, for `select!` beside a shutdown signal.
    pub async fn consensus_stopped(&mut self) -> NodeError {
        match self.consensus.stopped().await {
            Ok(()) => NodeError::Consensus("consensus stopped".into()),
            Err(e) => NodeError::Consensus(e.to_string()),
        }
    }

    /// Stops consensus and the API server and waits for them.
    pub async fn stop(self) {
        self.services.shutdown();
        self.consensus.stop().await;
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts a full validator node: database, API + blob store, and Malachite consensus with
/// `consensus_secret` as its ed25519 key. The WAL lives in `data_dir/consensus`.
pub async fn start_node(
    config: &NodeConfig,
    genesis: &Genesis,
    data_dir: &Path,
    consensus_secret: [u8; 32],
    consensus_public: [u8; 32],
) -> Result<RunningNode, NodeError> {
    let (services, tasks) = start_services(config, genesis, data_dir, consensus_public).await?;
    let app = crate::app::ChainApp::new(services.ledger.clone(), consensus_public);
    let cfg = chorus_consensus::ConsensusConfig {
        home: data_dir.join("consensus"),
        listen: config.consensus.listen,
        peers: config.consensus.peers.clone(),
        block_time: std::time::Duration::from_millis(config.consensus.block_time_ms),
        moniker: config.moniker.clone(),
        chain_id: genesis.chain_id,
        max_value_bytes: crate::ledger::MAX_VALUE_BYTES,
        p2p_key: Some(consensus_p2p_key(data_dir)?),
    };
    let consensus = chorus_consensus::run(consensus_secret, cfg, app)
        .await
        .map_err(|e| NodeError::Consensus(e.to_string()))?;
    Ok(RunningNode { services, consensus, tasks })
}

/// The consensus swarm's network key (`data_dir/consensus_p2p_key`), created on first start;
/// separate from the consensus key (security review L2).
fn consensus_p2p_key(data_dir: &Path) -> Result<[u8; 32], NodeError> {
    let key = crate::gossip::load_or_create_key_file(&data_dir.join("consensus_p2p_key"))?;
    Ok(key)
}
