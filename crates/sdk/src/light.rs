//! A light client: trust nothing a node says that the chain's signatures and state roots do not
//! prove.
//!
//! [`LightClient`] starts from a genesis the caller trusts (its chain id and first validator
//! set; block 1 must name `keccak256(borsh(genesis))` as its parent) and walks the headers from
//! height 1. For every block `h` it checks that
//! - the block decodes, names height `h` and the genesis chain id, and links to the verified
//!   block `h - 1` by `prev_hash`;
//! - its transactions and `last_commit` give the header's `tx_root` and `last_commit_hash`;
//! - its commit certificate (the signers and precommit signatures the node stores for it) is
//!   signed over its hash by more than 2/3 of the power of the set that signed `h`
//!   ([`chorus_chain::verify_commit`]).
//!
//! The set that signs `h` is the genesis set for `h = 1`, and otherwise the validator set in the
//! state after `h - 1` (`state_key::VALIDATOR_SET`, written by end-block), read with a state proof
//! against the verified `state_root` of block `h - 1` — never from an unproven endpoint. So set
//! changes (new validators, jailing, unbonding) are followed block by block.
//!
//! [`VerifiedLedger`] is a read-only [`LedgerSource`] over a light client pinned at one verified
//! height: every learning record it returns was read with a state proof against that height's
//! state root, every block is a verified one, and every receipt belongs to a block whose
//! `receipts_root` it reproduces. The audit runs over it unchanged. Whatever the node serves that
//! does not verify fails with [`Error::Forged`], naming the header (height) or the record (and its
//! key).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use borsh::BorshDeserialize;
use chorus_chain::components::learning::Round;
use chorus_chain::state::{MemState, StateRead};
use chorus_chain::state_key;
use chorus_types::learning::{LearningMsg, RegistryMsg, RoundNo, TaskId};
use chorus_types::{
    Address, Block, BlockHeader, CommitInfo, Genesis, Hash, Height, Msg, Receipt, SignedTx,
    ValidatorInfo, merkle_root,
};
use serde::Deserialize;

use crate::client::NodeClient;
use crate::ledger::LedgerSource;
use crate::views::{self, RegistrationView, RoundView, TaskView, VersionView};
use crate::{Error, Result};

/// How many blocks (and validator-set proofs) are fetched at once while walking headers.
const FETCH_BATCH: usize = 32;

/// The hash block 1 names as its parent: keccak256 of the borsh encoding of the genesis (the
/// node's `chorus_node::ledger::genesis_hash`).
pub fn genesis_hash(genesis: &Genesis) -> Result<Hash> {
    let bytes = borsh::to_vec(genesis).map_err(|e| Error::Decode(format!("genesis: {e}")))?;
    Ok(Hash::keccak(&bytes))
}

/// The validator set that signs block 1: the one `init_genesis` writes.
pub fn genesis_validator_set(genesis: &Genesis) -> Result<Vec<ValidatorInfo>> {
    let changes = chorus_chain::init_genesis(genesis)
        .map_err(|e| Error::Inconsistent(format!("genesis: {e}")))?;
    let mut state = MemState::new();
    state.apply(&changes);
    Ok(chorus_chain::validator_set(&state)?)
}

/// Human name of a state key, for error messages: the record it holds and the raw key in hex.
pub fn describe_key(key: &[u8]) -> String {
    fn u64_at(b: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
    }
    fn u32_at(b: &[u8]) -> Option<u32> {
        Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
    }
    fn addr_at(b: &[u8]) -> Option<Address> {
        Some(Address(b.get(..20)?.try_into().ok()?))
    }
    let hex_key = format!("key 0x{}", hex::encode(key));
    let name = if key == state_key::VALIDATOR_SET {
        Some("validator set".to_string())
    } else if key == state_key::LEARNING_NEXT_TASK {
        Some("task counter".to_string())
    } else if let Some(rest) = key.strip_prefix(state_key::TASK_PREFIX) {
        u64_at(rest).map(|t| format!("task {t}"))
    } else if let Some(rest) = key.strip_prefix(state_key::REGISTRATION_PREFIX) {
        addr_at(rest).map(|a| format!("registration of {a}"))
    } else if let Some(rest) = key.strip_prefix(state_key::LEARNING_PREFIX) {
        let slash = rest.iter().position(|b| *b == b'/');
        slash.and_then(|i| {
            let kind = std::str::from_utf8(&rest[..i]).ok()?;
            let rest = &rest[i + 1..];
            let task = u64_at(rest)?;
            let n = u32_at(&rest[8..])?;
            let who = addr_at(rest.get(12..).unwrap_or_default());
            Some(match (kind, who) {
                ("version", _) => format!("model version {n} of task {task}"),
                ("commit", Some(a)) => {
                    format!("commitment (and reveal) of participant {a} in task {task} round {n}")
                }
                ("sel", Some(a)) => {
                    format!("selection of participant {a} in task {task} round {n}")
                }
                ("score", Some(a)) => {
                    format!("score record of validator {a} in task {task} round {n}")
                }
                ("round", _) => format!("round {n} of task {task}"),
                ("outcome", _) => {
                    format!("outcome (accepted set, aggregate tallies) of task {task} round {n}")
                }
                (k, Some(a)) => format!("learning/{k} record of {a} in task {task} round {n}"),
                (k, None) => format!("learning/{k} record of task {task} round {n}"),
            })
        })
    } else {
        None
    };
    match name {
        Some(n) => format!("{n} ({hex_key})"),
        None => format!("state record {:?} ({hex_key})", String::from_utf8_lossy(key)),
    }
}

fn forged(what: impl Into<String>, detail: impl Into<String>) -> Error {
    Error::Forged { what: what.into(), detail: detail.into() }
}

fn header_at(h: Height) -> String {
    format!("header at height {h}")
}

#[derive(Deserialize)]
struct BlockJson {
    raw: String,
    commit: CommitInfo,
}

/// What the walk checked so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LightStats {
    /// Highest verified height.
    pub height: Height,
    /// Heights at which the signing set differed from the previous block's.
    pub set_changes: Vec<Height>,
    /// State proofs checked (validator sets and records).
    pub proofs: u64,
}

/// Verified headers from genesis up to [`LightClient::height`]; see the module docs.
pub struct LightClient {
    client: NodeClient,
    chain_id: u64,
    genesis_hash: Hash,
    genesis_set: Vec<ValidatorInfo>,
    /// `blocks[i]` is the verified block at height `i + 1`.
    blocks: Vec<Block>,
    /// The set that signed the last verified block.
    last_set: Vec<ValidatorInfo>,
    stats: Mutex<LightStats>,
}

impl std::fmt::Debug for LightClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightClient")
            .field("chain_id", &self.chain_id)
            .field("height", &self.height())
            .finish()
    }
}

impl LightClient {
    /// A light client of the chain started by `genesis`, reading from `client`; nothing is
    /// verified yet (height 0).
    pub fn new(client: NodeClient, genesis: &Genesis) -> Result<LightClient> {
        let genesis_set = genesis_validator_set(genesis)?;
        if genesis_set.is_empty() {
            return Err(Error::Inconsistent("genesis has no validators".into()));
        }
        Ok(LightClient {
            client,
            chain_id: genesis.chain_id,
            genesis_hash: genesis_hash(genesis)?,
            last_set: genesis_set.clone(),
            genesis_set,
            blocks: Vec::new(),
            stats: Mutex::new(LightStats::default()),
        })
    }

    /// The node it reads from.
    pub fn client(&self) -> &NodeClient {
        &self.client
    }

    /// Chain id of the genesis.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Hash of the trusted genesis.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// Highest verified height (0: none yet).
    pub fn height(&self) -> Height {
        self.blocks.len() as Height
    }

    /// A verified block.
    pub fn block(&self, h: Height) -> Option<&Block> {
        h.checked_sub(1).and_then(|i| self.blocks.get(i as usize))
    }

    /// A verified header.
    pub fn header(&self, h: Height) -> Option<&BlockHeader> {
        self.block(h).map(|b| &b.header)
    }

    /// Every verified block, height 1 first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// What was checked so far.
    pub fn stats(&self) -> LightStats {
        let mut s = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        s.height = self.height();
        s
    }

    fn count_proof(&self) {
        if let Ok(mut s) = self.stats.lock() {
            s.proofs += 1;
        }
    }

    /// Verifies headers up to the node's latest height; returns it.
    pub async fn sync_latest(&mut self) -> Result<Height> {
        let latest = self.client.status().await?.height;
        self.sync_to(latest).await?;
        Ok(latest)
    }

    /// Verifies every header up to `target` (a no-op for heights already verified).
    pub async fn sync_to(&mut self, target: Height) -> Result<()> {
        while self.height() < target {
            let from = self.height() + 1;
            let to = target.min(from + FETCH_BATCH as u64 - 1);
            let fetched = futures_util::future::try_join_all(
                (from..=to).map(|h| fetch_height(&self.client, h)),
            )
            .await?;
            for (h, (raw, commit, set_proof)) in (from..=to).zip(fetched) {
                self.verify_next(h, &raw, &commit, set_proof)?;
            }
        }
        Ok(())
    }

    fn verify_next(
        &mut self,
        h: Height,
        raw: &[u8],
        commit: &CommitInfo,
        set_proof: Option<chorus_db::StateProof>,
    ) -> Result<()> {
        let block = Block::try_from_slice(raw)
            .map_err(|e| forged(header_at(h), format!("the block does not decode: {e}")))?;
        let hdr = &block.header;
        if hdr.height != h {
            return Err(forged(header_at(h), format!("the block says height {}", hdr.height)));
        }
        if hdr.chain_id != self.chain_id {
            return Err(forged(
                header_at(h),
                format!("chain id {} is not the genesis chain id {}", hdr.chain_id, self.chain_id),
            ));
        }
        let parent = match self.block(h - 1) {
            Some(p) => p.hash(),
            None => self.genesis_hash,
        };
        if hdr.prev_hash != parent {
            let of = if h == 1 {
                "the trusted genesis".to_string()
            } else {
                format!("verified block {}", h - 1)
            };
            return Err(forged(
                header_at(h),
                format!("prev_hash {} is not the hash {parent} of {of}", hdr.prev_hash),
            ));
        }
        if block.compute_tx_root() != hdr.tx_root {
            return Err(forged(header_at(h), "its transactions do not give the header's tx_root"));
        }
        if block.compute_last_commit_hash() != hdr.last_commit_hash {
            return Err(forged(header_at(h), "its last_commit does not give last_commit_hash"));
        }
        let set = match (h, set_proof) {
            (1, _) => self.genesis_set.clone(),
            (_, Some(p)) => self.verified_set(h - 1, &p)?,
            (_, None) => {
                return Err(Error::Inconsistent(format!("no validator-set proof for {h}")));
            }
        };
        if commit.height != h {
            return Err(forged(
                header_at(h),
                format!("its commit certificate is for height {}", commit.height),
            ));
        }
        chorus_chain::verify_commit(&set, self.chain_id, &block.hash(), commit).map_err(|e| {
            forged(
                header_at(h),
                format!(
                    "commit certificate does not certify block hash {} by the validator set: {}",
                    block.hash(),
                    e.to_string().trim_start_matches("last_commit ")
                ),
            )
        })?;
        if set != self.last_set
            && let Ok(mut s) = self.stats.lock()
        {
            s.set_changes.push(h);
        }
        self.last_set = set;
        self.blocks.push(block);
        Ok(())
    }

    /// The validator set in the state after verified block `at` (the set that signs `at + 1`).
    fn verified_set(&self, at: Height, p: &chorus_db::StateProof) -> Result<Vec<ValidatorInfo>> {
        let key = state_key::VALIDATOR_SET;
        let value = self.check_proof(key, at, p)?;
        let what = || format!("{} at height {at}", describe_key(key));
        let Some(v) = value else {
            return Err(forged(what(), "proven absent: no validator set"));
        };
        borsh::from_slice::<Vec<ValidatorInfo>>(&v)
            .map_err(|e| forged(what(), format!("proven value does not decode: {e}")))
    }

    fn check_proof(
        &self,
        key: &[u8],
        height: Height,
        p: &chorus_db::StateProof,
    ) -> Result<Option<Vec<u8>>> {
        let what = || format!("{} at height {height}", describe_key(key));
        let header = self
            .header(height)
            .ok_or_else(|| Error::Inconsistent(format!("height {height} is not verified")))?;
        if p.key != key {
            return Err(forged(what(), "the node served a proof for another key"));
        }
        if p.height != height {
            return Err(forged(what(), format!("the node served a proof for height {}", p.height)));
        }
        chorus_db::verify_proof(p, &header.state_root.0).map_err(|e| {
            forged(
                what(),
                format!(
                    "state proof does not verify against the state root {} of verified block {height}: {e}",
                    header.state_root
                ),
            )
        })?;
        self.count_proof();
        Ok(p.value.clone())
    }

    /// The value of `key` in the state after verified block `height` (`None`: proven absent).
    pub async fn prove(&self, key: &[u8], height: Height) -> Result<Option<Vec<u8>>> {
        if self.header(height).is_none() {
            return Err(Error::Inconsistent(format!("height {height} is not verified")));
        }
        let p = fetch_proof(&self.client, key, height).await?;
        self.check_proof(key, height, &p)
    }
}

async fn fetch_proof(
    client: &NodeClient,
    key: &[u8],
    height: Height,
) -> Result<chorus_db::StateProof> {
    let path = format!("/v1/state/proof?key=0x{}&height={height}", hex::encode(key));
    client.get_json(&path).await?.ok_or_else(|| Error::Api {
        status: 404,
        message: format!("no state proof of {} at height {height}", describe_key(key)),
    })
}

type Fetched = (Vec<u8>, CommitInfo, Option<chorus_db::StateProof>);

async fn fetch_height(client: &NodeClient, h: Height) -> Result<Fetched> {
    let b: BlockJson = client.get_json(&format!("/v1/blocks/{h}")).await?.ok_or_else(|| {
        Error::Api { status: 404, message: format!("the node has no block at height {h}") }
    })?;
    let raw = hex::decode(b.raw.trim_start_matches("0x"))
        .map_err(|e| forged(header_at(h), format!("block bytes are not hex: {e}")))?;
    let set_proof = if h > 1 {
        Some(fetch_proof(client, state_key::VALIDATOR_SET, h - 1).await?)
    } else {
        None
    };
    Ok((raw, b.commit, set_proof))
}

// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct TxIndex {
    tx_height: BTreeMap<Hash, Height>,
    committers: BTreeMap<(TaskId, RoundNo), BTreeSet<Address>>,
    scorers: BTreeMap<(TaskId, RoundNo), BTreeSet<Address>>,
    registrants: BTreeSet<Address>,
}

impl TxIndex {
    fn of(blocks: &[Block]) -> TxIndex {
        let mut ix = TxIndex::default();
        for b in blocks {
            for stx in &b.txs {
                ix.tx_height.insert(stx.hash(), b.header.height);
                let Ok(sender) = chorus_crypto::recover_tx_sender(stx) else { continue };
                for m in &stx.tx.msgs {
                    match m {
                        Msg::Learning(LearningMsg::Commit { task, round, .. }) => {
                            ix.committers.entry((*task, *round)).or_default().insert(sender);
                        }
                        Msg::Learning(LearningMsg::ScoreCommit { task, round, .. }) => {
                            ix.scorers.entry((*task, *round)).or_default().insert(sender);
                        }
                        Msg::Registry(RegistryMsg::Register { .. }) => {
                            ix.registrants.insert(sender);
                        }
                        _ => {}
                    }
                }
            }
        }
        ix
    }
}

#[derive(Default)]
struct Proven {
    /// Every proven present key with its value (views are computed over it).
    state: MemState,
    /// Every key proven so far (present or absent).
    keys: BTreeSet<Vec<u8>>,
    /// Verified receipts by height.
    receipts: BTreeMap<Height, Vec<Receipt>>,
}

/// A read-only [`LedgerSource`] whose every answer is proven; see the module docs.
pub struct VerifiedLedger {
    light: LightClient,
    height: Height,
    index: TxIndex,
    proven: Mutex<Proven>,
}

impl std::fmt::Debug for VerifiedLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedLedger").field("height", &self.height).finish()
    }
}

fn read_only() -> Error {
    Error::Unsupported("the verified ledger is read-only".into())
}

impl VerifiedLedger {
    /// Verifies the headers up to `height` (default: the node's latest) and pins the reads there.
    pub async fn open(mut light: LightClient, height: Option<Height>) -> Result<VerifiedLedger> {
        let height = match height {
            Some(h) => {
                light.sync_to(h).await?;
                h
            }
            None => light.sync_latest().await?,
        };
        if height == 0 {
            return Err(Error::Inconsistent("the chain has no blocks yet".into()));
        }
        let index = TxIndex::of(light.blocks());
        Ok(VerifiedLedger { light, height, index, proven: Mutex::new(Proven::default()) })
    }

    /// The light client.
    pub fn light(&self) -> &LightClient {
        &self.light
    }

    /// The verified height every read is pinned at.
    pub fn verified_height(&self) -> Height {
        self.height
    }

    /// The state root every record is proven against.
    pub fn state_root(&self) -> Hash {
        self.light.header(self.height).map_or(Hash::ZERO, |h| h.state_root)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Proven>> {
        self.proven.lock().map_err(|_| Error::Inconsistent("verified ledger poisoned".into()))
    }

    /// Proves `key` at the pinned height (once) and keeps it for the views.
    async fn load(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>> {
        {
            let g = self.lock()?;
            if g.keys.contains(&key) {
                return g.state.get(&key).map_err(|e| Error::Inconsistent(e.to_string()));
            }
        }
        let value = self.light.prove(&key, self.height).await?;
        let mut g = self.lock()?;
        if let Some(v) = &value {
            g.state.0.insert(key.clone(), v.clone());
        }
        g.keys.insert(key);
        Ok(value)
    }

    async fn load_decoded<T: BorshDeserialize>(&self, key: Vec<u8>) -> Result<Option<T>> {
        let what = format!("{} at height {}", describe_key(&key), self.height);
        match self.load(key).await? {
            None => Ok(None),
            Some(v) => borsh::from_slice(&v)
                .map(Some)
                .map_err(|e| forged(what, format!("proven value does not decode: {e}"))),
        }
    }

    fn view<T>(&self, f: impl FnOnce(&MemState) -> Result<T, chorus_chain::TxError>) -> Result<T> {
        Ok(f(&self.lock()?.state)?)
    }

    async fn load_task(&self, id: TaskId) -> Result<bool> {
        let Some(t) = self
            .load_decoded::<chorus_chain::components::learning::Task>(state_key::task(id))
            .await?
        else {
            return Ok(false);
        };
        for v in 0..=t.latest_version.max(t.current_version) {
            self.load(state_key::learning("version", id, Some(v))).await?;
        }
        Ok(true)
    }

    async fn load_round(&self, task: TaskId, r: RoundNo) -> Result<bool> {
        let Some(rd) =
            self.load_decoded::<Round>(state_key::learning("round", task, Some(r))).await?
        else {
            return Ok(false);
        };
        self.load(state_key::learning("version", task, Some(rd.base_version))).await?;
        self.load(state_key::learning("outcome", task, Some(r))).await?;
        let none = BTreeSet::new();
        let committers = self.index.committers.get(&(task, r)).unwrap_or(&none);
        let scorers = self.index.scorers.get(&(task, r)).unwrap_or(&none);
        // Every commitment comes from a Commit transaction of its participant, every score
        // record from a ScoreCommit of its validator, every selection from a registered
        // participant: the verified blocks name every key there can be.
        for a in committers {
            self.load(state_key::learning_addr("commit", task, r, a)).await?;
        }
        let snapshot: BTreeSet<Address> = rd.validators.iter().map(|(a, _)| *a).collect();
        for a in scorers.union(&snapshot) {
            self.load(state_key::learning_addr("score", task, r, a)).await?;
        }
        for a in self.index.registrants.union(committers) {
            self.load(state_key::learning_addr("sel", task, r, a)).await?;
        }
        let g = self.lock()?;
        let count = |kind: &str| {
            g.state.scan_prefix(&state_key::learning(kind, task, Some(r))).map(|v| v.len())
        };
        let (commits, selected) = (
            count("commit").map_err(|e| Error::Inconsistent(e.to_string()))?,
            count("sel").map_err(|e| Error::Inconsistent(e.to_string()))?,
        );
        if commits != rd.commits as usize || selected != rd.selected as usize {
            return Err(Error::Inconsistent(format!(
                "task {task} round {r}: the proven round counts {} commitments and {} selected, \
                 the verified blocks lead to {commits} and {selected}",
                rd.commits, rd.selected
            )));
        }
        Ok(true)
    }

    /// Receipts of verified block `h`, checked against its `receipts_root`.
    async fn block_receipts(&self, h: Height) -> Result<Vec<Receipt>> {
        if let Some(r) = self.lock()?.receipts.get(&h) {
            return Ok(r.clone());
        }
        let block = self
            .light
            .block(h)
            .ok_or_else(|| Error::Inconsistent(format!("block {h} is not verified")))?;
        let what = format!("receipts of block {h}");
        let mut out = Vec::with_capacity(block.txs.len());
        for stx in &block.txs {
            let hash = stx.hash();
            let Some(Some(r)) = self.light.client().tx_status(&hash).await? else {
                return Err(forged(
                    what,
                    format!("the node has no receipt for transaction {hash}"),
                ));
            };
            if r.tx_hash != hash || r.height != h {
                return Err(forged(what, format!("the receipt served for {hash} is another's")));
            }
            out.push(r);
        }
        let root = merkle_root(&out.iter().map(Receipt::hash).collect::<Vec<_>>());
        if root != block.header.receipts_root {
            return Err(forged(
                what,
                format!(
                    "they give receipts_root {root}, the verified header has {}",
                    block.header.receipts_root
                ),
            ));
        }
        self.lock()?.receipts.insert(h, out.clone());
        Ok(out)
    }
}

impl LedgerSource for VerifiedLedger {
    async fn chain_id(&self) -> Result<u64> {
        Ok(self.light.chain_id())
    }
    async fn height(&self) -> Result<u64> {
        Ok(self.height)
    }
    async fn pending_nonce(&self, _addr: &Address) -> Result<u64> {
        Err(read_only())
    }
    async fn submit(&self, _stx: &SignedTx) -> Result<Hash> {
        Err(read_only())
    }
    async fn receipt(&self, hash: &Hash) -> Result<Option<Receipt>> {
        let Some(&h) = self.index.tx_height.get(hash) else { return Ok(None) };
        Ok(self.block_receipts(h).await?.into_iter().find(|r| r.tx_hash == *hash))
    }
    async fn tasks(&self) -> Result<Vec<TaskView>> {
        let next: u64 =
            self.load_decoded(state_key::LEARNING_NEXT_TASK.to_vec()).await?.unwrap_or(1);
        let mut out = Vec::new();
        for id in 1..next {
            if let Some(t) = self.task(id).await? {
                out.push(t);
            }
        }
        Ok(out)
    }
    async fn task(&self, id: TaskId) -> Result<Option<TaskView>> {
        if !self.load_task(id).await? {
            return Ok(None);
        }
        self.view(|s| views::task_view(s, id))
    }
    async fn round(&self, id: TaskId, r: RoundNo) -> Result<Option<RoundView>> {
        if !self.load_round(id, r).await? {
            return Ok(None);
        }
        self.view(|s| views::round_view(s, id, r))
    }
    async fn versions(&self, id: TaskId) -> Result<Vec<VersionView>> {
        if !self.load_task(id).await? {
            return Ok(Vec::new());
        }
        self.view(|s| views::version_views(s, id))
    }
    async fn registrations(&self) -> Result<Vec<RegistrationView>> {
        for a in &self.index.registrants {
            self.load(state_key::registration(a)).await?;
        }
        self.view(|s| views::registration_views(s))
    }
    async fn block(&self, height: u64) -> Result<Option<Block>> {
        if height > self.height {
            return Ok(None);
        }
        Ok(self.light.block(height).cloned())
    }
}
