//! The public, Malachite-free interface of the crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app_channel::app::types::core::{NilOrVal, Round, VoteType};
use malachitebft_signing_ed25519::{PublicKey, Signature};

use crate::context::{Address, BlockId};
use crate::signing::vote_sign_bytes;

/// One validator as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorInfo {
    /// Ed25519 consensus public key.
    pub consensus_key: [u8; 32],
    /// Voting power (> 0; zero-power entries are ignored).
    pub power: u64,
}

/// The consensus address of an ed25519 consensus key: `sha256(pubkey)[..20]`.
pub fn consensus_address(consensus_key: &[u8; 32]) -> [u8; 20] {
    crate::context::address_of(consensus_key)
}

/// Proof that a block was decided: precommits of more than 2/3 of the voting power for
/// `value_id` at (`height`, `round`). Serializable (`to_bytes`/`from_bytes`, borsh) so the node can
/// store it next to the block and embed it as the next block's `last_commit`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CommitCertificate {
    /// Decided height.
    pub height: u64,
    /// Round in which the value was decided.
    pub round: u32,
    /// Id of the decided block (as returned by [`Application::propose`] / `validate`).
    pub value_id: [u8; 32],
    /// Precommit signatures `(ed25519 consensus key, 64-byte ed25519 signature over the precommit
    /// sign bytes)`, sorted by consensus address (see `docs/consensus.md`).
    pub signatures: Vec<([u8; 32], Vec<u8>)>,
}

/// Why a [`CommitCertificate`] (or a [`DoubleSign`]) did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// A signer is not in the validator set.
    #[error("signer {0:02x?} is not a validator")]
    UnknownSigner([u8; 32]),
    /// The same signer appears twice.
    #[error("signer {0:02x?} appears twice")]
    DuplicateSigner([u8; 32]),
    /// A signature does not verify.
    #[error("bad signature from {0:02x?}")]
    BadSignature([u8; 32]),
    /// Not more than 2/3 of the voting power signed.
    #[error("signed power {signed} of {total} is not more than 2/3")]
    NotEnoughPower {
        /// Power that signed.
        signed: u64,
        /// Total power of the set.
        total: u64,
    },
    /// The bytes do not decode.
    #[error("certificate bytes do not decode: {0}")]
    Decode(String),
    /// The two messages of a double-sign report do not conflict.
    #[error("messages do not conflict")]
    NotConflicting,
}

impl CommitCertificate {
    /// Canonical borsh encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decode [`CommitCertificate::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CertificateError> {
        borsh::from_slice(bytes).map_err(|e| CertificateError::Decode(e.to_string()))
    }

    /// Consensus keys of the signers.
    pub fn signers(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.signatures.iter().map(|(k, _)| k)
    }

    /// Check every signature against `validators` (the set of `height`) for chain `chain_id`, and
    /// that the signers hold more than 2/3 of the total power. Returns the signed power.
    pub fn verify(
        &self,
        chain_id: &str,
        validators: &[ValidatorInfo],
    ) -> Result<u64, CertificateError> {
        let total = validators.iter().fold(0u64, |a, v| a.saturating_add(v.power));
        let mut seen = std::collections::BTreeSet::new();
        let mut signed = 0u64;
        for (key, sig) in &self.signatures {
            let v = validators
                .iter()
                .find(|v| v.consensus_key == *key && v.power > 0)
                .ok_or(CertificateError::UnknownSigner(*key))?;
            if !seen.insert(*key) {
                return Err(CertificateError::DuplicateSigner(*key));
            }
            let msg = vote_sign_bytes(
                chain_id,
                VoteType::Precommit,
                self.height,
                Round::new(self.round),
                &NilOrVal::Val(BlockId(self.value_id)),
                &Address(consensus_address(key)),
            );
            let Ok(sig) = <[u8; 64]>::try_from(sig.as_slice()) else {
                return Err(CertificateError::BadSignature(*key));
            };
            if !verify_sig(key, &msg, &sig) {
                return Err(CertificateError::BadSignature(*key));
            }
            signed = signed.saturating_add(v.power);
        }
        // signed > 2/3 total  <=>  3 * signed > 2 * total (u128: no overflow)
        if u128::from(signed) * 3 > u128::from(total) * 2 {
            Ok(signed)
        } else {
            Err(CertificateError::NotEnoughPower { signed, total })
        }
    }
}

pub(crate) fn verify_sig(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    match PublicKey::from_bytes(*key) {
        Ok(pk) => pk.verify(msg, &Signature::from_bytes(*sig)).is_ok(),
        Err(_) => false,
    }
}

/// What a validator signed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum DoubleSignKind {
    /// Two different prevotes in one round.
    Prevote,
    /// Two different precommits in one round.
    Precommit,
    /// Two different proposals in one round.
    Proposal,
}

/// One of the two conflicting signed messages of a [`DoubleSign`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedMessageRef {
    /// Block id voted/proposed (`None` = a nil vote).
    pub value_id: Option<[u8; 32]>,
    /// Proposal's proof-of-lock round (`None` for votes and for nil pol rounds).
    pub pol_round: Option<u32>,
    /// Ed25519 signature.
    pub signature: [u8; 64],
}

/// Equivocation evidence collected by consensus, verifiable on its own with [`DoubleSign::verify`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DoubleSign {
    /// Offender's consensus key.
    pub consensus_key: [u8; 32],
    /// What was signed twice.
    pub kind: DoubleSignKind,
    /// Height of both messages.
    pub height: u64,
    /// Round of both messages.
    pub round: u32,
    /// First message.
    pub first: SignedMessageRef,
    /// Conflicting message.
    pub second: SignedMessageRef,
}

impl DoubleSign {
    /// Check that both signatures are the offender's on chain `chain_id` and that the messages
    /// really conflict.
    pub fn verify(&self, chain_id: &str) -> Result<(), CertificateError> {
        if self.first == self.second
            || (self.first.value_id == self.second.value_id
                && self.first.pol_round == self.second.pol_round)
        {
            return Err(CertificateError::NotConflicting);
        }
        let address = Address(consensus_address(&self.consensus_key));
        for m in [&self.first, &self.second] {
            let bytes = match self.kind {
                DoubleSignKind::Prevote | DoubleSignKind::Precommit => {
                    let typ = if self.kind == DoubleSignKind::Prevote {
                        VoteType::Prevote
                    } else {
                        VoteType::Precommit
                    };
                    let value = m.value_id.map_or(NilOrVal::Nil, |v| NilOrVal::Val(BlockId(v)));
                    vote_sign_bytes(chain_id, typ, self.height, Round::new(self.round), &value, &address)
                }
                DoubleSignKind::Proposal => {
                    let Some(value) = m.value_id else {
                        return Err(CertificateError::NotConflicting);
                    };
                    crate::signing::proposal_bytes(
                        chain_id,
                        &crate::context::Proposal {
                            height: crate::context::Height(self.height),
                            round: Round::new(self.round),
                            value: BlockId(value),
                            pol_round: m.pol_round.map_or(Round::Nil, Round::new),
                            address,
                        },
                    )
                }
            };
            if !verify_sig(&self.consensus_key, &bytes, &m.signature) {
                return Err(CertificateError::BadSignature(self.consensus_key));
            }
        }
        Ok(())
    }
}

/// The state machine side of consensus, implemented by the node.
///
/// All methods are called from one task, one at a time, in consensus order. They should be quick
/// (execution of one block); they block the consensus host loop while they run.
pub trait Application: Send + 'static {
    /// Height to start at (last committed + 1; 1 on a fresh chain) and the validator set for it.
    /// Called once at start-up.
    fn consensus_ready(&mut self) -> (u64, Vec<ValidatorInfo>);

    /// Build a block for (`height`, `round`): its bytes and its id (block hash). Must return the same
    /// block if asked again for the same (height, round) — the crate also persists its own proposals,
    /// so this only matters if it crashes between building and persisting.
    fn propose(&mut self, height: u64, round: u32) -> (Vec<u8>, [u8; 32]);

    /// Validate a block proposed by `proposer` (ed25519 key), e.g. by executing it on a scratch copy of
    /// the state at `height - 1`. Return its id if valid, `None` if invalid. Called only for the next
    /// height to commit (blocks for later heights are buffered until then).
    fn validate(
        &mut self,
        height: u64,
        round: u32,
        proposer: [u8; 32],
        block: &[u8],
    ) -> Option<[u8; 32]>;

    /// Commit a decided block atomically (block, certificate and resulting state) and return the
    /// validator set for `height + 1`. A process crash here is recovered by `consensus_ready` on the
    /// next start; an application that cannot commit should abort the process.
    fn commit(&mut self, block: &[u8], certificate: &CommitCertificate) -> Vec<ValidatorInfo>;

    /// A decided block and its certificate, to serve peers that are catching up.
    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate)>;

    /// Lowest height `decided` can serve.
    fn history_min_height(&self) -> u64;

    /// Equivocation evidence collected while deciding `height` (reported after the height is final).
    fn misbehavior(&mut self, _height: u64, _evidence: Vec<DoubleSign>) {}
}

/// Consensus timeouts (Tendermint's; each grows by `delta` per round).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for a proposal.
    pub propose: Duration,
    /// Wait for more prevotes after a 2/3 prevote for anything.
    pub prevote: Duration,
    /// Wait for more precommits after a 2/3 precommit for anything.
    pub precommit: Duration,
    /// Added to each timeout per round.
    pub delta: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            propose: Duration::from_secs(3),
            prevote: Duration::from_secs(1),
            precommit: Duration::from_secs(1),
            delta: Duration::from_millis(500),
        }
    }
}

/// Where and how to run consensus.
#[derive(Clone, Debug)]
pub struct ConsensusConfig {
    /// Chain id, part of every signed message (votes, proposals, parts).
    pub chain_id: String,
    /// Directory for the consensus WAL (`wal/`) and pending proposals (`proposals/`).
    pub home: PathBuf,
    /// TCP address to listen on for consensus p2p (e.g. `127.0.0.1:27000`).
    pub listen: SocketAddr,
    /// Peers to keep connections to (their `listen` addresses).
    pub peers: Vec<SocketAddr>,
    /// Minimum interval between the starts of consecutive heights (Malachite `target_time`).
    /// `Duration::ZERO` = no pacing (decide as fast as possible).
    pub block_time: Duration,
    /// Round timeouts.
    pub timeouts: Timeouts,
    /// Human readable node name (logs, p2p identify).
    pub moniker: String,
    /// Largest block accepted from the network, in bytes.
    pub max_block_bytes: usize,
    /// How often peers exchange their tip height for catch-up (value sync).
    pub sync_status_interval: Duration,
}

impl ConsensusConfig {
    /// Defaults: 1 s blocks, default timeouts, 16 MiB blocks, 1 s sync status interval.
    pub fn new(chain_id: impl Into<String>, home: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            chain_id: chain_id.into(),
            home: home.into(),
            listen,
            peers: Vec::new(),
            block_time: Duration::from_secs(1),
            timeouts: Timeouts::default(),
            moniker: "chorus".to_string(),
            max_block_bytes: 16 << 20,
            sync_status_interval: Duration::from_secs(1),
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The consensus key is unusable.
    #[error("invalid consensus key: {0}")]
    InvalidKey(String),
    /// The application returned an empty validator set.
    #[error("empty validator set at height {0}")]
    EmptyValidatorSet(u64),
    /// Bad configuration.
    #[error("invalid consensus config: {0}")]
    Config(String),
    /// Filesystem error under `home`.
    #[error("consensus storage {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Malachite failed to start or stopped.
    #[error("consensus engine: {0}")]
    Engine(String),
}
