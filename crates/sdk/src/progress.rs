//! Restart-safe progress files: one small JSON document per runtime, written atomically
//! (temp file in the same directory, fsync, rename) **before** the transaction it records is
//! sent. A runtime that restarts reloads it and re-submits the very same signed bytes (which the
//! node treats idempotently) instead of signing anything new.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chorus_types::learning::{RoundNo, TaskId};
use chorus_types::{Hash, SignedTx};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A signed transaction kept in a progress file: its hash and borsh bytes (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTx {
    /// Transaction hash.
    pub hash: Hash,
    /// `0x` + hex of the borsh `SignedTx`.
    pub raw: String,
}

impl StoredTx {
    /// Records a signed transaction.
    pub fn new(stx: &SignedTx) -> Result<StoredTx> {
        let raw = borsh::to_vec(stx).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(StoredTx { hash: stx.hash(), raw: format!("0x{}", hex::encode(raw)) })
    }
    /// The signed transaction back.
    pub fn signed(&self) -> Result<SignedTx> {
        let b = hex::decode(self.raw.trim_start_matches("0x"))
            .map_err(|e| Error::Decode(e.to_string()))?;
        borsh::from_slice(&b).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// A participant's progress in one round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRound {
    /// Uploaded update blob.
    pub update_id: Option<Hash>,
    /// Commitment salt.
    pub salt: Option<Hash>,
    /// Training examples behind the update.
    pub num_examples: u64,
    /// Fixed-point norm of the update.
    pub norm: u64,
    /// The signed `Commit`.
    pub commit_tx: Option<StoredTx>,
    /// The signed `Reveal`.
    pub reveal_tx: Option<StoredTx>,
    /// Why this round was given up (e.g. the commit was refused).
    pub abandoned: Option<String>,
}

/// A validator's progress in one round.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRound {
    /// Score vector (canonical reveal order).
    pub scores: Option<Vec<i64>>,
    /// Score salt.
    pub salt: Option<Hash>,
    /// The signed `ScoreCommit`.
    pub score_commit_tx: Option<StoredTx>,
    /// The signed `ScoreReveal`.
    pub score_reveal_tx: Option<StoredTx>,
    /// Model this validator computed.
    pub model_id: Option<Hash>,
    /// Accepted-set hash it used.
    pub accepted_set_hash: Option<Hash>,
    /// Rule state after this round (JSON of `chorus_fl::ServerState`).
    pub rule_state: Option<chorus_fl::ServerState>,
    /// The signed `ProposeAggregate` / `AttestAggregate`.
    pub aggregate_tx: Option<StoredTx>,
    /// The finalized model was evaluated and reported.
    pub evaluated: bool,
    /// Why this round was given up.
    pub abandoned: Option<String>,
}

/// Progress keyed by `"task/round"` (JSON object keys must be strings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "R: Serialize + DeserializeOwned")]
pub struct Progress<R> {
    /// Format version (1).
    pub version: u32,
    /// Per-round progress.
    pub rounds: BTreeMap<String, R>,
}

impl<R> Default for Progress<R> {
    fn default() -> Self {
        Progress { version: 1, rounds: BTreeMap::new() }
    }
}

/// The map key of a round.
pub fn key(task: TaskId, round: RoundNo) -> String {
    format!("{task}/{round}")
}

/// A progress document bound to a file.
#[derive(Debug)]
pub struct ProgressFile<R> {
    path: Option<PathBuf>,
    /// The current contents.
    pub data: Progress<R>,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.display().to_string(), source }
}

impl<R: Serialize + DeserializeOwned + Default + Clone> ProgressFile<R> {
    /// Loads `path` (empty progress if it does not exist); `None` keeps progress in memory only.
    pub fn open(path: Option<PathBuf>) -> Result<Self> {
        let data = match &path {
            Some(p) if p.exists() => {
                let b = std::fs::read(p).map_err(|e| io(p, e))?;
                serde_json::from_slice(&b)
                    .map_err(|e| Error::Decode(format!("{}: {e}", p.display())))?
            }
            _ => Progress::default(),
        };
        Ok(ProgressFile { path, data })
    }

    /// The record of a round (default if none).
    pub fn get(&self, task: TaskId, round: RoundNo) -> R {
        self.data.rounds.get(&key(task, round)).cloned().unwrap_or_default()
    }

    /// Replaces the record of a round and writes the file atomically.
    pub fn set(&mut self, task: TaskId, round: RoundNo, rec: R) -> Result<()> {
        self.data.rounds.insert(key(task, round), rec);
        self.save()
    }

    /// Writes the file atomically: `<file>.tmp`, fsync, rename.
    pub fn save(&self) -> Result<()> {
        let Some(p) = &self.path else { return Ok(()) };
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let json =
            serde_json::to_vec_pretty(&self.data).map_err(|e| Error::Decode(e.to_string()))?;
        let tmp = p.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&json).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, p).map_err(|e| io(p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_restart_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let mut f = ProgressFile::<ParticipantRound>::open(Some(path.clone())).unwrap();
        assert_eq!(f.get(1, 0), ParticipantRound::default());
        let rec = ParticipantRound {
            update_id: Some(Hash([1; 32])),
            num_examples: 7,
            ..Default::default()
        };
        f.set(1, 0, rec.clone()).unwrap();
        let g = ProgressFile::<ParticipantRound>::open(Some(path.clone())).unwrap();
        assert_eq!(g.get(1, 0), rec);
        assert_eq!(g.get(1, 1), ParticipantRound::default());
        assert!(!path.with_extension("json.tmp").exists());
    }

    #[test]
    fn a_corrupt_progress_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, b"{not json").unwrap();
        assert!(ProgressFile::<ParticipantRound>::open(Some(path)).is_err());
    }

    #[test]
    fn stored_txs_round_trip_to_the_same_signed_bytes() {
        let key = chorus_crypto::AccountKey::from_seed(b"p");
        let tx = chorus_types::Tx { chain_id: 1, nonce: 3, fee: 0, msgs: vec![] };
        let stx = chorus_crypto::sign_tx(&key, tx);
        let s = StoredTx::new(&stx).unwrap();
        assert_eq!(s.hash, stx.hash());
        assert_eq!(s.signed().unwrap(), stx);
        let bad = StoredTx { raw: "0xzz".into(), ..s };
        assert!(bad.signed().is_err());
    }
}
