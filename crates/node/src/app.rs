//! The bridge between the consensus engine and the ledger: implements
//! `chorus_consensus::Application` by delegating to [`Ledger`].

use std::sync::Arc;

use chorus_consensus::{
    AppError, Application, CommitCertificate, ValidatorInfo as ConsensusValidator,
};
use chorus_types::CommitInfo;

use crate::ledger::{Ledger, LedgerError, StoredCertificate};

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
}

/// A ledger failure the engine must stop on (never an invalid block).
fn failed(e: LedgerError) -> AppError {
    AppError::new(e)
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
    fn consensus_ready(&mut self) -> Result<(u64, Vec<ConsensusValidator>), AppError> {
        let next = self.ledger.next_height().map_err(failed)?;
        let validators = self.ledger.validator_set().map_err(failed)?;
        Ok((next, to_consensus(&validators)))
    }

    fn propose(&mut self, height: u64, round: u32) -> Result<(Vec<u8>, [u8; 32]), AppError> {
        // Building can only fail on storage errors: the host stops, the node exits, and a
        // restart resumes from the last committed height.
        let (bytes, hash) = self.ledger.propose(height, round, self.key).map_err(failed)?;
        Ok((bytes, hash.0))
    }

    fn validate(
        &mut self,
        height: u64,
        _round: u32,
        proposer: [u8; 32],
        block: &[u8],
    ) -> Result<Option<[u8; 32]>, AppError> {
        match self.ledger.validate(height, proposer, block) {
            Ok(hash) => Ok(Some(hash.0)),
            Err(e) if e.is_local_failure() => Err(failed(e)),
            Err(e) => {
                tracing::warn!(target: "node::app", height, error = %e, "rejecting proposed block");
                Ok(None)
            }
        }
    }

    fn commit(
        &mut self,
        block: &[u8],
        certificate: &CommitCertificate,
    ) -> Result<Vec<ConsensusValidator>, AppError> {
        let stored =
            StoredCertificate { info: commit_info(certificate), raw: certificate.to_bytes() };
        // A decided block that cannot be committed means local failure or corruption: stop
        // rather than diverge; restart recovers from the last committed height.
        let vals = self.ledger.commit(block, stored).map_err(failed)?;
        Ok(to_consensus(&vals))
    }

    fn decided(&self, height: u64) -> Result<Option<(Vec<u8>, CommitCertificate)>, AppError> {
        let Some(stored) =
            self.ledger.db().block_by_height(height).map_err(|e| failed(e.into()))?
        else {
            return Ok(None);
        };
        let cert: StoredCertificate = borsh::from_slice(&stored.certificate_bytes)
            .map_err(|e| failed(LedgerError::Corrupt(format!("certificate {height}: {e}"))))?;
        let cert = CommitCertificate::from_bytes(&cert.raw)
            .map_err(|e| failed(LedgerError::Corrupt(format!("certificate {height}: {e}"))))?;
        Ok(Some((stored.block_bytes, cert)))
    }

    fn history_min_height(&self) -> u64 {
        1
    }

    fn misbehavior(&mut self, evidence: Vec<chorus_types::staking::DoubleSignEvidence>) {
        tracing::warn!(target: "node::app", pairs = evidence.len(), "consensus reported double votes");
        self.ledger.record_evidence(evidence);
    }
}
