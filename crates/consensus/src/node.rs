//! Starting the Malachite engine and the host loop.

use std::sync::{Arc, Mutex};

use malachitebft_app_channel::app::config::{
    ConsensusConfig as MConsensusConfig, NodeConfig, P2pConfig, PubSubProtocol, ValuePayload,
    ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::LinearTimeouts;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, EngineHandle, NetworkContext, NetworkIdentity,
    RequestContext, Signer as _, SyncContext, WalContext,
};
use malachitebft_signing_ed25519::PrivateKey;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{Application, ConsensusConfig, Error};
use crate::codec::ChorusCodec;
use crate::context::{Address, ChorusContext};
use crate::host::{to_valset, Host, Stats};
use crate::signing::{ChorusSigner, ChorusVerifier};
use crate::store::ProposalStore;
use crate::streaming::Streams;

#[derive(Clone, Debug)]
struct NodeCfg {
    moniker: String,
    consensus: MConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for NodeCfg {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &MConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut MConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

fn multiaddr(a: &std::net::SocketAddr) -> Result<Multiaddr, Error> {
    let s = match a {
        std::net::SocketAddr::V4(v) => format!("/ip4/{}/tcp/{}", v.ip(), v.port()),
        std::net::SocketAddr::V6(v) => format!("/ip6/{}/tcp/{}", v.ip(), v.port()),
    };
    s.parse().map_err(|e| Error::Config(format!("address {a}: {e}")))
}

/// A running consensus instance. Dropping it does not stop consensus; call [`ConsensusHandle::stop`].
pub struct ConsensusHandle {
    engine: EngineHandle,
    host: JoinHandle<Result<(), Error>>,
    stats: Arc<Mutex<Stats>>,
    address: [u8; 20],
    peer_id: String,
}

impl ConsensusHandle {
    /// Our consensus address (`sha256(pubkey)[..20]`).
    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// Our libp2p peer id (derived from the consensus key; stable across restarts).
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Commit / latency counters.
    pub fn stats(&self) -> Stats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the host loop has ended (engine failure or stop).
    pub fn is_finished(&self) -> bool {
        self.host.is_finished()
    }

    /// Stop the engine (network, WAL, consensus actors) and the host loop.
    pub async fn stop(self) {
        let _ = self.engine.actor.kill_and_wait(None).await;
        self.engine.handle.abort();
        self.host.abort();
        let _ = self.host.await;
    }

    /// Wait until the host loop ends; returns why.
    pub async fn wait(self) -> Result<(), Error> {
        match self.host.await {
            Ok(r) => r,
            Err(e) => Err(Error::Engine(format!("host task: {e}"))),
        }
    }
}

/// Start consensus: the Malachite engine (libp2p on `config.listen`, WAL under `config.home/wal`)
/// plus the host loop that drives `app`. `key` is the 32-byte ed25519 consensus secret key.
///
/// Must be called inside a multi-threaded tokio runtime.
pub async fn run<A: Application>(
    key: [u8; 32],
    config: ConsensusConfig,
    mut app: A,
) -> Result<ConsensusHandle, Error> {
    let private_key = PrivateKey::from(key);
    let public_key = private_key.public_key();
    let address = Address::from_public_key(&public_key);
    let chain_id: Arc<str> = Arc::from(config.chain_id.as_str());
    if config.chain_id.is_empty() {
        return Err(Error::Config("empty chain id".into()));
    }

    let (start, vals) = app.consensus_ready();
    let valset = to_valset(start.max(1), &vals)?;
    // A lone validator with no peers uses the broadcast pubsub: gossipsub would log an error for
    // every message published with nobody subscribed.
    let solo = config.peers.is_empty()
        && valset.validators.len() == 1
        && valset.validators.first().is_some_and(|v| v.address == address);

    let home = config.home.clone();
    let wal_dir = home.join("wal");
    std::fs::create_dir_all(&wal_dir).map_err(|source| Error::Io { path: wal_dir.clone(), source })?;
    let store = ProposalStore::open(home.join("proposals"))?;

    let mut p2p = P2pConfig {
        listen_addr: multiaddr(&config.listen)?,
        persistent_peers: config.peers.iter().map(multiaddr).collect::<Result<_, _>>()?,
        rpc_max_size: byte_size((config.max_block_bytes as u64).saturating_mul(2).max(10 << 20)),
        ..Default::default()
    };
    if solo {
        p2p.protocol = PubSubProtocol::Broadcast;
    }
    let node_cfg = NodeCfg {
        moniker: config.moniker.clone(),
        consensus: MConsensusConfig {
            enabled: true,
            p2p,
            value_payload: ValuePayload::ProposalAndParts,
            ..Default::default()
        },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: config.sync_status_interval,
            request_timeout: std::time::Duration::from_secs(5),
            max_response_size: byte_size((config.max_block_bytes as u64).saturating_mul(2).max(10 << 20)),
            ..Default::default()
        },
    };

    // Network identity: a libp2p key derived from the consensus key (stable peer id).
    let mut net_secret: [u8; 32] = Sha256::new()
        .chain_update(b"chorus/consensus/p2p-key/v1")
        .chain_update(key)
        .finalize()
        .into();
    let keypair = Keypair::ed25519_from_bytes(&mut net_secret)
        .map_err(|e| Error::InvalidKey(format!("p2p key: {e}")))?;
    let peer_id = keypair.public().to_peer_id();

    let signer = ChorusSigner { key: private_key.clone(), chain_id: chain_id.clone() };
    let verifier = ChorusVerifier { chain_id: chain_id.clone() };
    let proof = signer
        .sign_validator_proof(public_key.as_bytes().to_vec(), peer_id.to_bytes())
        .await
        .map_err(|e| Error::Engine(format!("validator proof: {e}")))?;
    let proof_bytes = ChorusCodec.encode(&proof).map_err(|e| Error::Engine(e.to_string()))?;
    let identity = NetworkIdentity::new_validator(
        config.moniker.clone(),
        keypair,
        address.to_string(),
        proof_bytes,
    );

    let span = tracing::info_span!("consensus", moniker = %config.moniker);
    let (channels, engine) = EngineBuilder::new(ChorusContext, node_cfg)
        .with_default_wal(WalContext::new(wal_dir.join("consensus.wal"), ChorusCodec))
        .with_default_network(NetworkContext::new(identity, ChorusCodec))
        .with_default_consensus(ConsensusContext::new_validator(
            address,
            Box::new(verifier),
            Box::new(signer.clone()),
        ))
        .with_default_sync(SyncContext::new(ChorusCodec))
        .with_default_request(RequestContext::new(100))
        .build()
        .instrument(span.clone())
        .await
        .map_err(|e| Error::Engine(format!("{e:#}")))?;

    let t = config.timeouts;
    let timeouts = LinearTimeouts {
        propose: t.propose,
        propose_delta: t.delta,
        prevote: t.prevote,
        prevote_delta: t.delta,
        precommit: t.precommit,
        precommit_delta: t.delta,
        rebroadcast: t.propose + t.prevote + t.precommit,
        max_timeout: std::time::Duration::from_secs(60).max(t.propose * 4),
    };
    let stats = Arc::new(Mutex::new(Stats::default()));
    let host = Host {
        app,
        chain_id,
        signer,
        address,
        store,
        streams: Streams::new(config.max_block_bytes),
        timeouts,
        target_time: (!config.block_time.is_zero()).then_some(config.block_time),
        next_height: start.max(1),
        valset,
        prev_valset: None,
        pending: Vec::new(),
        commit_failed: None,
        round0_started: None,
        stats: stats.clone(),
        stream_nonce: 0,
    };
    let host = tokio::spawn(
        async move {
            let r = host.run(channels).await;
            if let Err(e) = &r {
                tracing::error!("consensus host loop stopped: {e}");
            }
            r
        }
        .instrument(span),
    );
    Ok(ConsensusHandle {
        engine,
        host,
        stats,
        address: address.0,
        peer_id: peer_id.to_base58(),
    })
}

fn byte_size(n: u64) -> bytesize::ByteSize {
    bytesize::ByteSize::b(n)
}
