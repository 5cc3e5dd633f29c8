//! A small deterministic test application.
//!
//! Block = borsh `(height, round, proposer key, counters)`, where `counters` extends the previous
//! block's counters by one entry `height * 10 + round`; id = sha256(block). Decided blocks are files
//! `blocks/<height>.bin` (written atomically: this is the commit point); `commits.log` has one
//! `height hash` line per committed height, derived from those files.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_consensus::{Application, CommitCertificate, DoubleSign, ValidatorInfo};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Block {
    pub(crate) height: u64,
    pub(crate) round: u32,
    pub(crate) proposer: [u8; 32],
    pub(crate) counters: Vec<u64>,
}

pub(crate) fn block_id(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Deterministic consensus secret key of validator `i`.
pub(crate) fn secret(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

pub(crate) fn validators(n: usize) -> Vec<ValidatorInfo> {
    (0..n)
        .map(|i| ValidatorInfo { consensus_key: chorus_consensus::public_key(&secret(i)), power: 10 })
        .collect()
}

/// What the test observes from the outside (in-process tests).
#[derive(Default, Debug)]
pub(crate) struct Observed {
    pub(crate) commits: Vec<(u64, [u8; 32], CommitCertificate)>,
    pub(crate) errors: Vec<String>,
    pub(crate) misbehavior: Vec<DoubleSign>,
}

pub(crate) struct TestApp {
    dir: PathBuf,
    me: [u8; 32],
    vals: Vec<ValidatorInfo>,
    last: u64,
    counters: Vec<u64>,
    proposed: BTreeMap<(u64, u32), Vec<u8>>,
    pub(crate) observed: Arc<Mutex<Observed>>,
}

fn block_path(dir: &Path, h: u64) -> PathBuf {
    dir.join("blocks").join(format!("{h:012}.bin"))
}

pub(crate) fn read_commits(dir: &Path) -> Vec<(u64, String)> {
    fs::read_to_string(dir.join("commits.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (h, id) = l.split_once(' ')?;
            Some((h.parse().ok()?, id.to_string()))
        })
        .collect()
}

impl TestApp {
    /// `secret`: our consensus secret key (the proposer field of our blocks is its public key).
    pub(crate) fn open(dir: &Path, secret: [u8; 32], vals: Vec<ValidatorInfo>) -> Self {
        fs::create_dir_all(dir.join("blocks")).unwrap();
        let mut last = 0;
        let mut counters = Vec::new();
        while let Ok(bytes) = fs::read(block_path(dir, last + 1)) {
            let (block, _cert): (Vec<u8>, Vec<u8>) = borsh::from_slice(&bytes).unwrap();
            counters = Block::try_from_slice(&block).unwrap().counters;
            last += 1;
        }
        // make commits.log match the block files (a crash may have lost the last line)
        let logged = read_commits(dir).last().map_or(0, |(h, _)| *h);
        for h in logged + 1..=last {
            let (block, _): (Vec<u8>, Vec<u8>) =
                borsh::from_slice(&fs::read(block_path(dir, h)).unwrap()).unwrap();
            Self::log_line(dir, h, &block_id(&block));
        }
        Self {
            dir: dir.to_path_buf(),
            me: chorus_consensus::public_key(&secret),
            vals,
            last,
            counters,
            proposed: BTreeMap::new(),
            observed: Arc::default(),
        }
    }

    fn log_line(dir: &Path, h: u64, id: &[u8; 32]) {
        let mut f =
            fs::OpenOptions::new().create(true).append(true).open(dir.join("commits.log")).unwrap();
        writeln!(f, "{h} {}", hex(id)).unwrap();
        f.sync_all().unwrap();
    }

    fn error(&self, e: String) {
        let mut f =
            fs::OpenOptions::new().create(true).append(true).open(self.dir.join("errors.log")).unwrap();
        writeln!(f, "{e}").unwrap();
        self.observed.lock().unwrap().errors.push(e);
    }

    fn check(&self, height: u64, block: &Block) -> bool {
        let mut expected = self.counters.clone();
        expected.push(block.height * 10 + u64::from(block.round));
        block.height == height && height == self.last + 1 && block.counters == expected
    }
}

impl Application for TestApp {
    fn consensus_ready(&mut self) -> (u64, Vec<ValidatorInfo>) {
        (self.last + 1, self.vals.clone())
    }

    fn propose(&mut self, height: u64, round: u32) -> (Vec<u8>, [u8; 32]) {
        let bytes = self
            .proposed
            .entry((height, round))
            .or_insert_with(|| {
                let mut counters = self.counters.clone();
                counters.push(height * 10 + u64::from(round));
                borsh::to_vec(&Block { height, round, proposer: self.me, counters }).unwrap()
            })
            .clone();
        let id = block_id(&bytes);
        (bytes, id)
    }

    fn validate(&mut self, height: u64, round: u32, proposer: [u8; 32], block: &[u8]) -> Option<[u8; 32]> {
        let b = Block::try_from_slice(block).ok()?;
        (b.round == round && b.proposer == proposer && self.check(height, &b)).then(|| block_id(block))
    }

    fn commit(&mut self, block: &[u8], cert: &CommitCertificate) -> Vec<ValidatorInfo> {
        let b = Block::try_from_slice(block).unwrap();
        if cert.height != self.last + 1 || !self.check(cert.height, &b) {
            self.error(format!("bad commit at {} (last {})", cert.height, self.last));
        }
        if let Err(e) = cert.verify("chorus-test", &self.vals) {
            self.error(format!("certificate {} does not verify: {e}", cert.height));
        }
        let path = block_path(&self.dir, cert.height);
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp).unwrap();
        f.write_all(&borsh::to_vec(&(block.to_vec(), cert.to_bytes())).unwrap()).unwrap();
        f.sync_all().unwrap();
        fs::rename(&tmp, &path).unwrap();
        let id = block_id(block);
        Self::log_line(&self.dir, cert.height, &id);
        self.last = cert.height;
        self.counters = b.counters;
        self.proposed.retain(|(h, _), _| *h > cert.height);
        self.observed.lock().unwrap().commits.push((cert.height, id, cert.clone()));
        self.vals.clone()
    }

    fn decided(&self, height: u64) -> Option<(Vec<u8>, CommitCertificate)> {
        let (block, cert): (Vec<u8>, Vec<u8>) =
            borsh::from_slice(&fs::read(block_path(&self.dir, height)).ok()?).ok()?;
        Some((block, CommitCertificate::from_bytes(&cert).ok()?))
    }

    fn history_min_height(&self) -> u64 {
        1
    }

    fn misbehavior(&mut self, _height: u64, evidence: Vec<DoubleSign>) {
        self.observed.lock().unwrap().misbehavior.extend(evidence);
    }
}
