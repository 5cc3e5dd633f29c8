//! The bridge between the consensus engine and the ledger: implements
//! `chorus_consensus::Application` by delegating to [`Ledger`].

use std::sync::Arc;

use chorus_consensus::{Application, CommitCertificate, ValidatorInfo as ConsensusValidator};
use chorus_types::CommitInfo;

use crate::ledger::{Ledger, StoredCertificate};

/// The chain as the consensus engine sees it.
pub struct ChainApp {
    ledger: Arc<Ledger>,
    /// Our consensus public key (the proposer field of blocks we build).
    key: [u8; 32],
}

impl ChainApp {
    /// Wraps the ledger for the engine.
    pub fn new(ledger: Arc<Ledger>, key: [u8; 32]) -> ChainApp {
        ChainApp { ledger, key }
    }

    fn validators(&self) -> Vec<ConsensusValidator> {
        match self.ledger.validator_set() {
            Ok(vals) => to_consensus(&vals),
            Err(e) => {
                tracing::error!(target: "node::app", error = %e, "cannot read the validator set");
                Vec::new()
            }
        }
    }
}

fn to_consensus(vals: &[chorus_types::ValidatorInfo]) -> Vec<ConsensusValidator> {
    vals.iter()
        .map(|v| ConsensusValidator { consensus_key: v.consensus_key, power: v.power })
        .collect()
}

/// The chain's view of a certificate: who signed (sorted by key, one signature each), for the
/// next block's `last_commit`.
pub fn commit_info(cert: &CommitCertificate) -> CommitInfo {
    let mut sigs: Vec<([u8; 32], [u8; 64])> = cert.signatures.clone();
    sigs.sort_unstable_by_key(|(k, _)| *k);
    sigs.dedup_by_key(|(k, _)| *k);
    let (signers, signatures) = sigs.into_iter().unzip();
    CommitInfo { height: cert.height, round: cert.round, signers, signatures }
}

impl Application for ChainApp {
    fn consensus_ready(&mut self) -> (u64, Vec<ConsensusValidator>) {
        let next = self.ledger.next_height().unwrap_or(1);
        (next, self.validators())
    }

    fn propose(&mut self, height: u64, round: u32) -> (Vec<u8>, [u8; 32]) {
        match self.ledger.propose(height, round, self.key) {
            Ok((bytes, hash)) => (bytes, hash.0),
            Err(e) => {
                // Building can only fail on storage errors; the node cannot go on safely.
                tracing::error!(target: "node::app", height, round, error = %e, "cannot build a block");
                std::process::abort();
            }
        }
    }

    fn validate(
        &mut self,
        height: u64,
        _round: u32,
        proposer: [u8; 32],
        block: &[u8],
    ) -> Option<[u8; 32]> {
        match self.ledger.validate(height, proposer, block) {
            Ok(hash) => Some(hash.0),
            Err(e) => {
                tracing::warn!(target: "node::app", height, error = %e, "rejecting proposed block");
                None
            }
        }
    }

    fn commit(&mut self, block: &[u8], certificate: &CommitCertificate) -> Vec<ConsensusValidator> {
        let stored =
            StoredCertificate { info: commit_info(certificate), raw: certificate.to_bytes() };
        match self.ledger.commit(block, stored) {
            Ok(vals) => to_consensus(&vals),
            Err(e) => {
                // A decided block that cannot be committed means local corruption: stop rather
                // than diverge; restart recovers from the last committed height.
                tracing::error!(target: "node::app", error = %e, "cannot commit a decided block");
                std::process::abort();
            }
        }
    }

    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate)> {
        let stored = self.ledger.db().block_by_height(height).ok()??;
        let cert: StoredCertificate = borsh::from_slice(&stored.certificate_bytes).ok()?;
        let cert = CommitCertificate::from_bytes(&cert.raw).ok()?;
        Some((stored.block_bytes, cert))
    }

    fn history_min_height(&self) -> u64 {
        1
    }

    fn misbehavior(&mut self, evidence: Vec<chorus_types::staking::DoubleSignEvidence>) {
        tracing::warn!(target: "node::app", pairs = evidence.len(), "consensus reported double votes");
        self.ledger.record_evidence(evidence);
    }
}
