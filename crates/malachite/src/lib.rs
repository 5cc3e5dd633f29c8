//! `chorus-consensus`: a small adapter that runs Malachite BFT (arc-malachitebft 0.8.2)
//! for an application implementing [`Application`]. All Malachite types stay private.
//!
//! It must not know anything about blocks or state: values are opaque bytes with a 32-byte id
//! chosen by the application. Design notes: `docs/consensus.md`.

mod codec;
mod host;
mod proposer;
mod streams;
mod types;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use malachitebft_app_channel::app::config::{
    ConsensusConfig as MConsensusConfig, NodeConfig, P2pConfig, PubSubProtocol, ValueSyncConfig,
};
use malachitebft_app_channel::app::net::Multiaddr;
use malachitebft_app_channel::app::types::Keypair;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::{
    ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, RequestContext, Signer,
    SyncContext, WalContext,
};
use malachitebft_core_types::{self as mc, Round, VoteType};
use malachitebft_signing_ed25519 as ed;

use crate::codec::BorshCodec;
use crate::types::{Address, Ctx, KeySigner, KeyVerifier, PubKey, Sig};

/// A validator as seen by the application.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorInfo {
    /// ed25519 public key
    pub consensus_key: [u8; 32],
    /// Voting power.
    pub power: u64,
}

/// Commit certificate: the precommit signatures (by consensus public key) for `value_id`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitCertificate {
    /// Decided height.
    pub height: u64,
    /// Round of the decision.
    pub round: u32,
    /// Id of the decided value.
    pub value_id: [u8; 32],
    /// `(ed25519 public key, signature over the precommit sign-bytes)`
    pub signatures: Vec<([u8; 32], [u8; 64])>,
}

impl CommitCertificate {
    /// Canonical (borsh) encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes [`CommitCertificate::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        borsh::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))
    }

    /// Bytes each validator signed on chain `chain_id`: the sign-bytes of its precommit for
    /// `value_id` (they include the signer's key, so they differ per validator).
    pub fn precommit_sign_bytes(&self, consensus_key: &[u8; 32], chain_id: u64) -> Vec<u8> {
        types::vote_sign_bytes(
            chain_id,
            VoteType::Precommit,
            self.height,
            self.round,
            Some(&self.value_id),
            consensus_key,
        )
    }

    /// Verify every signature and that the signers hold > 2/3 of the voting power of `validators`.
    pub fn verify(&self, validators: &[ValidatorInfo], chain_id: u64) -> Result<(), Error> {
        let total: u128 = validators.iter().map(|v| v.power as u128).sum();
        let mut signed: u128 = 0;
        let mut seen = std::collections::HashSet::new();
        for (pk, sig) in &self.signatures {
            let v = validators
                .iter()
                .find(|v| &v.consensus_key == pk)
                .ok_or_else(|| Error::Certificate("signer is not a validator".into()))?;
            let key = PubKey::from_bytes(*pk)
                .ok_or_else(|| Error::Certificate("invalid public key".into()))?;
            let bytes = self.precommit_sign_bytes(pk, chain_id);
            if !key.verify(&bytes, &Sig(ed::Signature::from_bytes(*sig))) {
                return Err(Error::Certificate("invalid signature".into()));
            }
            if seen.insert(*pk) {
                signed += v.power as u128;
            }
        }
        if !chorus_types::exceeds_two_thirds(signed, total) {
            return Err(Error::Certificate("insufficient voting power".into()));
        }
        Ok(())
    }

    /// Conversion back to Malachite's certificate (used to serve value sync).
    pub(crate) fn to_malachite(&self) -> mc::CommitCertificate<Ctx> {
        mc::CommitCertificate {
            height: types::Height(self.height),
            round: Round::new(self.round),
            value_id: types::ValueId(self.value_id),
            commit_signatures: self
                .signatures
                .iter()
                .map(|(pk, sig)| {
                    mc::CommitSignature::new(
                        Address::from_public_key(pk),
                        Sig(ed::Signature::from_bytes(*sig)),
                    )
                })
                .collect(),
        }
    }
}

/// The application could not answer a consensus call for a reason of its own (its storage
/// failed, a decided block cannot be committed). Never used for an invalid block, which is a
/// normal answer (`Ok(None)` from [`Application::validate`]).
///
/// The host stops at the first one instead of going on with a state it cannot vouch for:
/// [`ConsensusHandle::stopped`] and [`ConsensusHandle::wait`] return it as
/// [`Error::Application`], and the process can exit cleanly; restarting resumes from the last
/// committed height.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AppError(Box<dyn std::error::Error + Send + Sync>);

impl AppError {
    /// Wraps the application's own error.
    pub fn new(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError(cause.into())
    }
}

/// The application driven by consensus. All calls happen on the consensus host task. A call
/// that returns [`AppError`] stops the host (see there).
pub trait Application: Send + 'static {
    /// Returns (start height = last committed + 1, validator set for that height).
    fn consensus_ready(&mut self) -> Result<(u64, Vec<ValidatorInfo>), AppError>;
    /// Build a block; must return the same value if asked twice for the same (height, round).
    fn propose(&mut self, height: u64, round: u32) -> Result<(Vec<u8>, [u8; 32]), AppError>;
    /// Validate a block proposed by `proposer` (ed25519 key): `Ok(Some(id))` if valid,
    /// `Ok(None)` if the block is invalid, `Err` only if the application itself failed.
    fn validate(
        &mut self,
        height: u64,
        round: u32,
        proposer: [u8; 32],
        block: &[u8],
    ) -> Result<Option<[u8; 32]>, AppError>;
    /// Commit a decided block. Returns the validator set for the next height.
    fn commit(
        &mut self,
        block: &[u8],
        certificate: &CommitCertificate,
    ) -> Result<Vec<ValidatorInfo>, AppError>;
    /// A previously committed block + certificate (used to serve sync to peers); `Ok(None)` if
    /// this node does not have it.
    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, AppError>;
    /// Lowest height for which `decided` can answer.
    fn history_min_height(&self) -> u64;
    /// Conflicting votes Malachite observed while deciding a height, as on-chain evidence (each
    /// vote's signature is over `chorus_types::staking::Vote::sign_bytes(chain_id)`). Default:
    /// ignore.
    fn misbehavior(&mut self, evidence: Vec<chorus_types::staking::DoubleSignEvidence>) {
        let _ = evidence;
    }
}

/// Default [`ConsensusConfig::max_value_bytes`]: 9 MiB.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 9 * 1024 * 1024;

/// Where and how to run consensus.
#[derive(Clone, Debug)]
pub struct ConsensusConfig {
    /// Home directory (WAL under `home/wal`, own proposals under `home/own_proposals.bin`).
    pub home: PathBuf,
    /// P2P listen address (127.0.0.1:port).
    pub listen: SocketAddr,
    /// Persistent peers.
    pub peers: Vec<SocketAddr>,
    /// Minimum time between heights (Malachite `target_time`). Zero disables pacing.
    pub block_time: Duration,
    /// Node name for logs.
    pub moniker: String,
    /// Chain id, covered by every vote signature (votes cannot be replayed across chains).
    pub chain_id: u64,
    /// Largest value (block) in bytes: proposal streams beyond it are dropped while they
    /// arrive, which bounds what a peer can make a validator buffer.
    pub max_value_bytes: usize,
    /// ed25519 secret of the libp2p identity (the peer id), kept apart from the consensus key
    /// so the key that signs votes is used for nothing else. The consensus key signs a proof
    /// binding this peer id to the validator. `None`: derive a stable one from the consensus
    /// key (tests and examples).
    pub p2p_key: Option<[u8; 32]>,
}

impl ConsensusConfig {
    /// Defaults (1 s blocks, no peers) for `home` and `listen`.
    pub fn new(home: PathBuf, listen: SocketAddr) -> Self {
        Self {
            home,
            listen,
            peers: vec![],
            block_time: Duration::from_secs(1),
            moniker: "node".into(),
            chain_id: 0,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            p2p_key: None,
        }
    }
}

/// Why consensus could not start or a certificate is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Malachite engine failed.
    #[error("engine error: {0}")]
    Engine(String),
    /// Files under `home`.
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// Bytes that do not decode.
    #[error("decode error: {0}")]
    Decode(String),
    /// A certificate that does not verify.
    #[error("invalid certificate: {0}")]
    Certificate(String),
    /// The application failed a call and the host stopped (see [`AppError`]).
    #[error("the application failed: {0}")]
    Application(#[from] AppError),
}

/// Handle on a running consensus instance.
pub struct ConsensusHandle {
    engine: EngineHandle,
    /// `None` once [`ConsensusHandle::stopped`] has reported the host's end.
    host: Option<JoinHandle<Result<(), Error>>>,
}

impl ConsensusHandle {
    /// Stop the engine (actors are killed and awaited) and the host loop.
    pub async fn stop(self) {
        let _ = self.engine.actor.kill_and_wait(Some(Duration::from_secs(5))).await;
        self.engine.handle.abort();
        let _ = self.engine.handle.await;
        if let Some(host) = self.host {
            host.abort();
            let _ = host.await;
        }
    }

    /// Abort without waiting.
    pub fn abort(&self) {
        self.engine.actor.kill();
        if let Some(host) = &self.host {
            host.abort();
        }
        self.engine.handle.abort();
    }

    /// Waits until the host loop ends (the application failed, or the engine died), stops the
    /// engine, and says why. Cancel-safe: use it in `select!` beside a shutdown signal. After
    /// it returned once, it returns `Ok(())` at once.
    pub async fn stopped(&mut self) -> Result<(), Error> {
        let Some(host) = self.host.as_mut() else { return Ok(()) };
        let joined = host.await;
        self.host = None;
        self.engine.actor.kill();
        match joined {
            Ok(result) => result,
            Err(e) => Err(Error::Engine(e.to_string())),
        }
    }

    /// Wait until the host loop terminates (e.g. the engine died or the application failed).
    pub async fn wait(mut self) -> Result<(), Error> {
        self.stopped().await
    }

    /// Whether the host loop has terminated (stopped, aborted or the engine died).
    pub fn is_finished(&self) -> bool {
        self.host.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// ed25519 public key of a 32-byte secret (seed).
pub fn public_key(secret_key: &[u8; 32]) -> [u8; 32] {
    *ed::PrivateKey::from(*secret_key).public_key().as_bytes()
}

/// 20-byte consensus address of a public key: sha256(pubkey)[..20].
pub fn address(consensus_key: &[u8; 32]) -> [u8; 20] {
    Address::from_public_key(consensus_key).0
}

#[derive(Clone)]
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

fn multiaddr(a: &SocketAddr) -> Result<Multiaddr, Error> {
    let s = match a {
        SocketAddr::V4(v) => format!("/ip4/{}/tcp/{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("/ip6/{}/tcp/{}", v.ip(), v.port()),
    };
    s.parse().map_err(|e| Error::Engine(format!("bad address {a}: {e}")))
}

/// Start the Malachite engine and the host loop driving `app`.
pub async fn run(
    secret_key: [u8; 32],
    config: ConsensusConfig,
    app: impl Application,
) -> Result<ConsensusHandle, Error> {
    let private_key = ed::PrivateKey::from(secret_key);
    let pk_bytes = *private_key.public_key().as_bytes();
    let address = Address::from_public_key(&pk_bytes);

    std::fs::create_dir_all(config.home.join("wal"))?;

    // A separate network identity (security review L2); without one, a key derived from the
    // consensus secret under a domain tag, never the consensus key itself.
    let p2p_secret = config.p2p_key.unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(b"chorus/p2p-key/v1");
        h.update(secret_key);
        h.finalize().into()
    });
    let keypair = Keypair::ed25519_from_bytes(p2p_secret)
        .map_err(|e| Error::Engine(format!("keypair: {e}")))?;
    let signer = KeySigner { key: private_key.clone(), chain_id: config.chain_id };
    let peer_id_bytes = keypair.public().to_peer_id().to_bytes();
    let proof = signer
        .sign_validator_proof(pk_bytes.to_vec(), peer_id_bytes)
        .await
        .map_err(|e| Error::Engine(format!("validator proof: {e:?}")))?;
    let proof_bytes = BorshCodec.encode(&proof).map_err(|e| Error::Engine(e.to_string()))?;
    let identity = NetworkIdentity::new_validator(
        config.moniker.clone(),
        keypair,
        address.to_string(),
        proof_bytes,
    );

    let mut p2p = P2pConfig {
        listen_addr: multiaddr(&config.listen)?,
        persistent_peers: config
            .peers
            .iter()
            .filter(|p| **p != config.listen)
            .map(multiaddr)
            .collect::<Result<_, _>>()?,
        ..Default::default()
    };
    p2p.discovery.enabled = false;
    // Default: plain broadcast (libp2p-scatter) to all connected peers. On a small validator
    // set over loopback it decides ~10x faster than gossipsub in our measurements, and it does
    // not log `NoPeersSubscribedToTopic` on every publish for a single validator.
    // `CHORUS_PUBSUB=gossipsub` switches to gossipsub.
    let broadcast = !matches!(std::env::var("CHORUS_PUBSUB").as_deref(), Ok("gossipsub"));
    if broadcast {
        p2p.protocol = PubSubProtocol::Broadcast;
    }

    let node_cfg = NodeCfg {
        moniker: config.moniker.clone(),
        consensus: MConsensusConfig { p2p, ..Default::default() },
        value_sync: ValueSyncConfig {
            enabled: true,
            status_update_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            ..Default::default()
        },
    };

    let (channels, engine) = malachitebft_app_channel::start_engine(
        Ctx,
        node_cfg,
        WalContext::new(config.home.join("wal").join("consensus.wal"), BorshCodec),
        NetworkContext::new(identity, BorshCodec),
        ConsensusContext::new_validator(
            address,
            Box::new(KeyVerifier { chain_id: config.chain_id }),
            Box::new(signer),
        ),
        SyncContext::new(BorshCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| Error::Engine(format!("{e:#}")))?;

    let host_state = host::Host::new(
        app,
        address,
        KeySigner { key: private_key, chain_id: config.chain_id },
        config.home.clone(),
        config.block_time,
        config.max_value_bytes,
    );
    let span = tracing::info_span!("chorus", moniker = %config.moniker);
    let host = tokio::spawn(tracing::Instrument::instrument(
        async move {
            let result = host_state.run(channels).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, "consensus host stopped");
            }
            result
        },
        span,
    ));

    Ok(ConsensusHandle { engine, host: Some(host) })
}
