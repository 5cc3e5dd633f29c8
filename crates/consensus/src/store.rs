//! Undecided proposals (own and received), one small file each under `home/proposals/`.
//!
//! Needed for crash recovery: after a restart Malachite replays its WAL, asks for the values it had
//! seen via `StartedRound`, may ask us to re-stream a proposal, and `Decided` needs the block bytes
//! of the decided id. Files are written to a temp name, fsynced and renamed, so a crash leaves either
//! the whole record or nothing. Records at or below the last committed height are deleted.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use borsh::{BorshDeserialize, BorshSerialize};

use crate::api::Error;

/// A proposal we built or received (complete and signature-checked).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct ProposalRecord {
    pub(crate) height: u64,
    pub(crate) round: u32,
    /// -1 = nil.
    pub(crate) pol_round: i64,
    pub(crate) proposer: [u8; 20],
    pub(crate) value_id: [u8; 32],
    pub(crate) valid: bool,
    /// Block bytes (empty for invalid proposals).
    pub(crate) block: Vec<u8>,
    /// Proposer's `Fin` signature; `None` for values learnt through sync (cannot be re-streamed).
    pub(crate) signature: Option<[u8; 64]>,
}

type Key = (u64, u32, [u8; 20], [u8; 32]);

pub(crate) struct ProposalStore {
    dir: PathBuf,
    index: BTreeMap<Key, PathBuf>,
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse_name(name: &str) -> Option<Key> {
    let stem = name.strip_suffix(".prop")?;
    let mut it = stem.split('-');
    let h = it.next()?.parse().ok()?;
    let r = it.next()?.parse().ok()?;
    let p = unhex::<20>(it.next()?)?;
    let v = unhex::<32>(it.next()?)?;
    Some((h, r, p, v))
}

impl ProposalStore {
    pub(crate) fn open(dir: PathBuf) -> Result<Self, Error> {
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let mut index = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(key) = parse_name(name) {
                index.insert(key, entry.path());
            } else if name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(Self { dir, index })
    }

    pub(crate) fn put(&mut self, rec: &ProposalRecord) -> Result<(), Error> {
        let key = (rec.height, rec.round, rec.proposer, rec.value_id);
        if self.index.contains_key(&key) {
            return Ok(());
        }
        let name =
            format!("{:020}-{:010}-{}-{}.prop", rec.height, rec.round, hex(&rec.proposer), hex(&rec.value_id));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let bytes = borsh::to_vec(rec).map_err(|e| io(&tmp, e))?;
        {
            let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.index.insert(key, path);
        Ok(())
    }

    fn load(&self, path: &Path) -> Option<ProposalRecord> {
        let bytes = fs::read(path).ok()?;
        borsh::from_slice(&bytes).ok()
    }

    /// All records of (height, round).
    pub(crate) fn at_round(&self, height: u64, round: u32) -> Vec<ProposalRecord> {
        self.index
            .range((height, round, [0; 20], [0; 32])..=(height, round, [0xff; 20], [0xff; 32]))
            .filter_map(|(_, p)| self.load(p))
            .collect()
    }

    /// The record of `value_id` at `height` (any round), preferring a valid one with a signature.
    pub(crate) fn find(&self, height: u64, value_id: &[u8; 32]) -> Option<ProposalRecord> {
        let mut best: Option<ProposalRecord> = None;
        for (k, p) in self.index.range((height, 0, [0; 20], [0; 32])..=(height, u32::MAX, [0xff; 20], [0xff; 32])) {
            if &k.3 != value_id {
                continue;
            }
            let Some(rec) = self.load(p) else { continue };
            let score = |r: &ProposalRecord| (r.valid as u8) * 2 + r.signature.is_some() as u8;
            if best.as_ref().is_none_or(|b| score(&rec) > score(b)) {
                best = Some(rec);
            }
        }
        best
    }

    /// Delete every record at or below `height`.
    pub(crate) fn prune_through(&mut self, height: u64) {
        let keep = self.index.split_off(&(height.saturating_add(1), 0, [0; 20], [0; 32]));
        for p in self.index.values() {
            let _ = fs::remove_file(p);
        }
        self.index = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(h: u64, r: u32, v: u8) -> ProposalRecord {
        ProposalRecord {
            height: h,
            round: r,
            pol_round: -1,
            proposer: [1; 20],
            value_id: [v; 32],
            valid: true,
            block: vec![v; 10],
            signature: Some([2; 64]),
        }
    }

    #[test]
    fn records_survive_reopen_and_are_pruned_by_height() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProposalStore::open(dir.path().to_path_buf()).unwrap();
        s.put(&rec(5, 0, 1)).unwrap();
        s.put(&rec(5, 1, 2)).unwrap();
        s.put(&rec(6, 0, 3)).unwrap();
        drop(s);
        let mut s = ProposalStore::open(dir.path().to_path_buf()).unwrap();
        assert_eq!(s.at_round(5, 1), vec![rec(5, 1, 2)]);
        assert_eq!(s.find(5, &[1; 32]), Some(rec(5, 0, 1)));
        assert_eq!(s.find(5, &[3; 32]), None);
        s.prune_through(5);
        assert!(s.at_round(5, 0).is_empty());
        assert_eq!(s.at_round(6, 0).len(), 1);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
