//! Mempool gossip: a libp2p swarm owned by the node, separate from consensus's, that spreads
//! admitted transactions to every validator so whichever validator proposes next can include
//! them (Malachite 0.8.2's network carries only consensus messages and proposal parts).
//!
//! - Its own port ([`GossipConfig::listen`]) and its own node key (`gossip_node_key` in the data
//!   directory, not the consensus key), TCP + Noise + Yamux, one gossipsub topic per chain id.
//! - Gossipsub runs in strict validation mode and forwards a transaction only after this node
//!   admitted it (stateless and stateful checks, mempool insert). A transaction that fails the
//!   stateless checks (undecodable, bad signature, wrong chain) is *rejected*, which lowers the
//!   sending peer's score until gossipsub stops talking to it; one that is merely stale or a
//!   duplicate is *ignored*.
//! - Queues are bounded: outbound publications ([`GossipConfig::queue`]; when full, new ones
//!   are not published and stay in this node's mempool only), admissions in flight
//!   ([`GossipConfig::max_inflight`]; beyond it inbound messages are ignored), and gossipsub's
//!   own per-connection queue.
//!
//! Must not: decide anything about transactions itself (admission is the API's
//! [`crate::api::admit_verified`]), or block the swarm task on admission.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identity, noise, tcp, yamux};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::ApiState;

/// Mempool gossip settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipConfig {
    /// Listen address of the gossip swarm; `None` turns gossip off (a single validator needs
    /// none).
    pub listen: Option<SocketAddr>,
    /// Gossip addresses of other validators to dial (and redial).
    pub peers: Vec<SocketAddr>,
    /// Most transactions waiting to be published.
    pub queue: usize,
    /// Most inbound transactions being admitted at once.
    pub max_inflight: usize,
}

impl Default for GossipConfig {
    fn default() -> Self {
        GossipConfig { listen: None, peers: Vec::new(), queue: 16_384, max_inflight: 256 }
    }
}

/// Why gossip could not start.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The node key file.
    #[error("node key {path}: {source}")]
    NodeKey {
        /// The key file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// libp2p refused the setup.
    #[error("gossip swarm: {0}")]
    Swarm(String),
}

/// Handle for publishing admitted transactions.
#[derive(Clone, Debug)]
pub struct GossipHandle {
    outbound: mpsc::Sender<Vec<u8>>,
}

impl GossipHandle {
    /// A handle and the receiving end the swarm task drains.
    pub fn channel(queue: usize) -> (GossipHandle, mpsc::Receiver<Vec<u8>>) {
        let (outbound, rx) = mpsc::channel(queue.max(1));
        (GossipHandle { outbound }, rx)
    }

    /// Queues raw transaction bytes for publication; returns false when the queue is full (the
    /// transaction stays in this node's mempool either way).
    pub fn publish(&self, raw: Vec<u8>) -> bool {
        self.outbound.try_send(raw).is_ok()
    }
}

/// Loads the gossip node key from `dir/gossip_node_key`, creating it on first start.
pub fn load_or_create_node_key(dir: &Path) -> Result<identity::Keypair, GossipError> {
    let secret = load_or_create_key_file(&dir.join("gossip_node_key"))?;
    let path = dir.join("gossip_node_key").display().to_string();
    identity::Keypair::ed25519_from_bytes(secret)
        .map_err(|e| GossipError::NodeKey { path, source: std::io::Error::other(e.to_string()) })
}

/// A 32-byte ed25519 secret kept in `path` (mode 0600), generated on first use.
pub fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], GossipError> {
    let err = |source| GossipError::NodeKey { path: path.display().to_string(), source };
    match std::fs::read(path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| err(std::io::Error::other("expected 32 bytes"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = identity::ed25519::Keypair::generate();
            let mut secret = [0u8; 32];
            secret.copy_from_slice(key.secret().as_ref());
            write_private(path, &secret).map_err(err)?;
            Ok(secret)
        }
        Err(e) => Err(err(e)),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

fn multiaddr(a: &SocketAddr) -> Multiaddr {
    let ip = match a {
        SocketAddr::V4(v) => Protocol::Ip4(*v.ip()),
        SocketAddr::V6(v) => Protocol::Ip6(*v.ip()),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(a.port()))
}

/// Content address of a gossiped transaction: the same bytes are one message however many
/// peers send them.
fn message_id(m: &gossipsub::Message) -> MessageId {
    MessageId::from(chorus_types::Hash::keccak(&m.data).0.to_vec())
}

fn behaviour(key: &identity::Keypair, topic: &IdentTopic) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(chorus_types::MAX_TX_BYTES + 1024)
        .heartbeat_interval(Duration::from_millis(500))
        .connection_handler_queue_len(5_000)
        .build()
        .map_err(|e| e.to_string())?;
    let mut gs =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)?;
    // Score peers on what matters here: invalid transactions (heavily), useful first
    // deliveries (a little). Quiet peers are not penalised: a quiet chain is normal.
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.5,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams::default();
    params.topics.insert(topic.hash(), topic_params);
    gs.with_peer_score(params, gossipsub::PeerScoreThresholds::default())?;
    gs.subscribe(topic).map_err(|e| e.to_string())?;
    Ok(gs)
}

/// Starts the gossip swarm. Transactions received from peers are admitted through `api`;
/// transactions queued on the [`GossipHandle`] whose receiver is `outbound` are published.
pub fn start(
    config: &GossipConfig,
    listen: SocketAddr,
    key: identity::Keypair,
    chain_id: u64,
    api: ApiState,
    outbound: mpsc::Receiver<Vec<u8>>,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, GossipError> {
    let topic = IdentTopic::new(format!("/chorus/{chain_id}/txs/1"));
    let t = topic.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| GossipError::Swarm(e.to_string()))?
        .with_behaviour(move |key| {
            behaviour(key, &t).map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| GossipError::Swarm(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    swarm.listen_on(multiaddr(&listen)).map_err(|e| GossipError::Swarm(e.to_string()))?;
    let peers: Vec<SocketAddr> = config.peers.iter().copied().filter(|p| *p != listen).collect();
    let inflight = Arc::new(Semaphore::new(config.max_inflight.max(1)));
    Ok(tokio::spawn(run(swarm, topic, peers, api, outbound, inflight, stop)))
}

type Verdict = (MessageId, PeerId, MessageAcceptance);

async fn run(
    mut swarm: libp2p::Swarm<gossipsub::Behaviour>,
    topic: IdentTopic,
    peers: Vec<SocketAddr>,
    api: ApiState,
    mut outbound: mpsc::Receiver<Vec<u8>>,
    inflight: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let (verdict_tx, mut verdicts) = mpsc::unbounded_channel::<Verdict>();
    let mut connected: BTreeSet<Multiaddr> = BTreeSet::new();
    let mut redial = tokio::time::interval(Duration::from_secs(3));
    redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let targets: Vec<Multiaddr> = peers.iter().map(multiaddr).collect();
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = redial.tick() => {
                for addr in targets.iter().filter(|a| !connected.contains(*a)) {
                    if let Err(e) = swarm.dial(addr.clone()) {
                        tracing::debug!(target: "node::gossip", %addr, error = %e, "dial failed");
                    }
                }
            }
            Some(raw) = outbound.recv() => {
                match swarm.behaviour_mut().publish(topic.clone(), raw) {
                    Ok(_) => {
                        api.metrics.gossip_published.inc();
                    }
                    // No peer yet (or the same bytes again): the mempool still has it.
                    Err(e) => tracing::debug!(target: "node::gossip", error = %e, "not published"),
                };
            }
            Some((id, peer, verdict)) = verdicts.recv() => {
                swarm.behaviour_mut().report_message_validation_result(&id, &peer, verdict);
            }
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { address, .. } => {
                    tracing::info!(target: "node::gossip", %address, "gossip listening");
                }
                SwarmEvent::ConnectionEstablished { endpoint, .. } if endpoint.is_dialer() => {
                    connected.insert(endpoint.get_remote_address().clone());
                }
                SwarmEvent::ConnectionClosed { endpoint, num_established: 0, .. } => {
                    connected.remove(endpoint.get_remote_address());
                }
                SwarmEvent::Behaviour(gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                }) => {
                    let Ok(permit) = inflight.clone().try_acquire_owned() else {
                        api.metrics.gossip_received.get_or_create(&label("overloaded")).inc();
                        swarm.behaviour_mut().report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                        continue;
                    };
                    let (api, verdicts) = (api.clone(), verdict_tx.clone());
                    tokio::task::spawn_blocking(move || {
                        let verdict = admit_gossiped(&api, &message.data);
                        let _ = verdicts.send((message_id, propagation_source, verdict));
                        drop(permit);
                    });
                }
                _ => {}
            },
        }
    }
}

fn label(result: &str) -> crate::metrics::GossipLabels {
    crate::metrics::GossipLabels { result: result.to_string() }
}

/// Admits a transaction received from a peer: rejected (the peer is penalised) when it fails
/// the stateless checks, ignored when this node cannot take it now, accepted (and forwarded)
/// when it entered the mempool.
fn admit_gossiped(api: &ApiState, raw: &[u8]) -> MessageAcceptance {
    let Ok(vtx) = chorus_chain::check_stateless(raw, api.ledger.chain_id()) else {
        api.metrics.gossip_received.get_or_create(&label("rejected")).inc();
        return MessageAcceptance::Reject;
    };
    match crate::api::admit_verified(api, vtx) {
        Ok(_) => {
            api.metrics.gossip_received.get_or_create(&label("accepted")).inc();
            MessageAcceptance::Accept
        }
        Err(_) => {
            api.metrics.gossip_received.get_or_create(&label("ignored")).inc();
            MessageAcceptance::Ignore
        }
    }
}
