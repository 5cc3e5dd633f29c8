//! The database: opening, two-step block commit, reads and pruning.

use std::path::Path;

use chorus_chain::state::ChangeSet;
use jmt::storage::{NodeKey, TreeUpdateBatch};
use jmt::{KeyHash, Sha256Jmt};
use redb::{Database, Durability, ReadTransaction, ReadableTable, WriteTransaction};
use sha2::Sha256;

use crate::error::{Error, tree_err};
use crate::proof::StateProof;
use crate::snapshot::Snapshot;
use crate::tables::{
    self, BLOCK_HASHES, BLOCKS, BlockRow, JMT_NODES, JMT_STALE, JMT_VALUES, META, META_HISTORY_MIN,
    META_LATEST, META_SCHEMA, ROOTS, SCHEMA_VERSION, STATE, TXS, TxRow,
};
use crate::tree::TreeView;

/// The root of the empty tree (jmt's placeholder hash, `b"SPARSE_MERKLE_PLACEHOLDER_HASH"`
/// right-padded with zeros): the state root before genesis.
pub const EMPTY_ROOT: [u8; 32] = *b"SPARSE_MERKLE_PLACEHOLDER_HASH__";

/// Tunables for [`Db::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbOptions {
    /// Keep the state tree of only the most recent `n` heights (`n >= 1`); proofs for older
    /// heights fail with [`Error::Pruned`]. `None` (the default) keeps every version forever.
    /// Blocks, certificates, receipts and per-height roots are never pruned.
    pub keep_recent: Option<u64>,
    /// Page-cache size handed to redb, in bytes (`None`: redb's default).
    pub cache_size: Option<usize>,
    /// `false` commits without fsync (redb `Durability::None`): a crash may lose the most recent
    /// blocks (never half of one). For benchmarks and throw-away devnets only. Default `true`.
    pub durable: bool,
}

impl Default for DbOptions {
    fn default() -> DbOptions {
        DbOptions { keep_recent: None, cache_size: None, durable: true }
    }
}

/// A block to store with its state changes, see [`Db::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// Block height; must equal the height of the [`Prepared`] it is committed with.
    pub height: u64,
    /// Block hash (the header hash, as computed by the caller).
    pub hash: [u8; 32],
    /// The canonical block encoding.
    pub block_bytes: Vec<u8>,
    /// The commit certificate that decided the block (encoding chosen by the consensus adapter).
    pub certificate_bytes: Vec<u8>,
    /// The block's transactions, for the tx-hash index.
    pub txs: Vec<TxRecord>,
}

/// A transaction entry of a [`BlockRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// Transaction hash.
    pub hash: [u8; 32],
    /// Position in the block.
    pub index: u32,
    /// The canonical receipt encoding.
    pub receipt_bytes: Vec<u8>,
}

/// A block as stored, returned by the block reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    /// Block height.
    pub height: u64,
    /// Block hash.
    pub hash: [u8; 32],
    /// The canonical block encoding.
    pub block_bytes: Vec<u8>,
    /// The commit certificate.
    pub certificate_bytes: Vec<u8>,
}

/// A transaction as found by [`Db::tx`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    /// Height of the block that includes it.
    pub height: u64,
    /// Hash, position and receipt.
    pub tx: TxRecord,
}

/// New state computed by [`Db::prepare`] but not yet persisted. Consumed by [`Db::commit`];
/// dropping it discards it. Several may exist for the same height.
#[derive(Debug)]
pub struct Prepared {
    /// The state root after applying the changes: what the block header must carry.
    pub state_root: [u8; 32],
    /// The height (= JMT version) the changes were prepared for.
    pub height: u64,
    /// The latest committed height this was computed on (`None`: empty database).
    base_height: Option<u64>,
    /// The root this was computed on.
    base_root: [u8; 32],
    changes: ChangeSet,
    batch: TreeUpdateBatch,
}

impl Prepared {
    /// The state changes this will write.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }
}

/// Authenticated state and block storage over one redb file. Share it as `Arc<Db>`: reads,
/// prepares and snapshots run concurrently; commits are serialized by redb's single writer.
pub struct Db {
    db: Database,
    opts: DbOptions,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("opts", &self.opts).finish_non_exhaustive()
    }
}

/// The latest committed `(height, root)`, read inside `rtx`.
pub(crate) fn read_latest(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Option<(u64, [u8; 32])>, Error> {
    match meta.get(META_LATEST)? {
        Some(v) => Ok(Some(tables::decode_latest(v.value())?)),
        None => Ok(None),
    }
}

fn read_history_min(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64, Error> {
    match meta.get(META_HISTORY_MIN)? {
        Some(v) => tables::decode_u64("meta", v.value()),
        None => Ok(0),
    }
}

fn next_height(latest: Option<(u64, [u8; 32])>) -> u64 {
    latest.map_or(0, |(h, _)| h + 1)
}

fn key_hash(key: &[u8]) -> KeyHash {
    KeyHash::with::<Sha256>(key)
}

impl Db {
    /// Opens the database at `path`, creating it if it does not exist, with default options.
    /// The latest committed height and root are whatever the last successful commit wrote.
    pub fn open(path: impl AsRef<Path>) -> Result<Db, Error> {
        Db::open_with(path, DbOptions::default())
    }

    /// [`Db::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, opts: DbOptions) -> Result<Db, Error> {
        let mut builder = Database::builder();
        if let Some(bytes) = opts.cache_size {
            builder.set_cache_size(bytes);
        }
        let db = builder.create(path)?;
        Db::init(db, opts)
    }

    /// A fresh database in memory (redb's in-memory backend): tests and throw-away devnets.
    pub fn open_in_memory() -> Result<Db, Error> {
        Db::open_in_memory_with(DbOptions::default())
    }

    /// [`Db::open_in_memory`] with explicit options.
    pub fn open_in_memory_with(opts: DbOptions) -> Result<Db, Error> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Db::init(db, opts)
    }

    fn init(db: Database, opts: DbOptions) -> Result<Db, Error> {
        let wtx = db.begin_write()?;
        {
            // Creating tables is idempotent; readers need them to exist.
            wtx.open_table(STATE)?;
            wtx.open_table(JMT_NODES)?;
            wtx.open_table(JMT_VALUES)?;
            wtx.open_table(JMT_STALE)?;
            wtx.open_table(ROOTS)?;
            wtx.open_table(BLOCKS)?;
            wtx.open_table(BLOCK_HASHES)?;
            wtx.open_table(TXS)?;
            let mut meta = wtx.open_table(META)?;
            let found = match meta.get(META_SCHEMA)? {
                Some(v) => {
                    let b: [u8; 4] = v
                        .value()
                        .try_into()
                        .map_err(|_| tables::corrupt("meta", "schema is not 4 bytes"))?;
                    Some(u32::from_be_bytes(b))
                }
                None => None,
            };
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(found) => return Err(Error::Schema { expected: SCHEMA_VERSION, found }),
                None => {
                    meta.insert(META_SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
                }
            }
        }
        wtx.commit()?;
        Ok(Db { db, opts })
    }

    fn begin_read(&self) -> Result<ReadTransaction, Error> {
        Ok(self.db.begin_read()?)
    }

    /// The latest committed height, `None` on a fresh database (nothing, not even genesis).
    pub fn latest_height(&self) -> Result<Option<u64>, Error> {
        Ok(self.latest()?.map(|(h, _)| h))
    }

    /// The latest committed `(height, state root)`, `None` on a fresh database.
    pub fn latest(&self) -> Result<Option<(u64, [u8; 32])>, Error> {
        let rtx = self.begin_read()?;
        read_latest(&rtx.open_table(META)?)
    }

    /// The only height [`Db::prepare`] accepts now: latest + 1, or 0 on a fresh database.
    pub fn next_height(&self) -> Result<u64, Error> {
        Ok(next_height(self.latest()?))
    }

    /// The state root committed at `height`, `None` if that height is not committed. Roots are
    /// kept for every height, also pruned ones.
    pub fn state_root(&self, height: u64) -> Result<Option<[u8; 32]>, Error> {
        let rtx = self.begin_read()?;
        let roots = rtx.open_table(ROOTS)?;
        match roots.get(height)? {
            Some(v) => Ok(Some(tables::decode_hash("roots", v.value())?)),
            None => Ok(None),
        }
    }

    /// The oldest height whose state can still be read and proven (0 unless pruning is on).
    pub fn history_min_height(&self) -> Result<u64, Error> {
        let rtx = self.begin_read()?;
        read_history_min(&rtx.open_table(META)?)
    }

    /// A consistent read view of the latest committed state (implements
    /// [`chorus_chain::state::StateRead`]). It keeps seeing that state while later blocks commit;
    /// drop it promptly, an open snapshot keeps the pages it sees alive.
    pub fn snapshot(&self) -> Result<Snapshot, Error> {
        let rtx = self.begin_read()?;
        let latest = read_latest(&rtx.open_table(META)?)?;
        Snapshot::new(&rtx, latest)
    }

    /// Computes the state root of `changes` applied on top of the latest committed state, as
    /// version `height`, without persisting anything. `height` must be [`Db::next_height`].
    /// Several prepares (e.g. competing proposals) may run and coexist; at most one of them can
    /// be committed.
    pub fn prepare(&self, height: u64, changes: &ChangeSet) -> Result<Prepared, Error> {
        let rtx = self.begin_read()?;
        let latest = read_latest(&rtx.open_table(META)?)?;
        let expected = next_height(latest);
        if height != expected {
            return Err(Error::WrongHeight { expected, got: height });
        }
        let view = TreeView::open(&rtx)?;
        let tree = Sha256Jmt::new(&view);
        let value_set = changes.iter().map(|(k, v)| (key_hash(k), v.clone()));
        let (root, mut batch) = tree.put_value_set(value_set, height).map_err(tree_err)?;
        mark_unchanged_root_stale(&mut batch, height);
        Ok(Prepared {
            state_root: root.0,
            height,
            base_height: latest.map(|(h, _)| h),
            base_root: latest.map_or(EMPTY_ROOT, |(_, r)| r),
            changes: changes.clone(),
            batch,
        })
    }

    /// Persists a prepared state change together with its block, certificate and indices in one
    /// redb write transaction: after a crash either all of it is there or none of it.
    ///
    /// Fails without writing anything if `block.height != prepared.height` or if another block
    /// was committed since `prepared` was computed ([`Error::StaleBase`]).
    pub fn commit(&self, prepared: Prepared, block: BlockRecord) -> Result<(), Error> {
        if block.height != prepared.height {
            return Err(Error::BlockHeightMismatch {
                prepared: prepared.height,
                block: block.height,
            });
        }
        self.commit_inner(prepared, Some(block))
    }

    /// Writes the genesis state (height 0) without a block record: prepare + commit in one call.
    /// Only valid on a fresh database. Returns the genesis state root.
    pub fn commit_genesis(&self, changes: &ChangeSet) -> Result<[u8; 32], Error> {
        let prepared = self.prepare(0, changes)?;
        let root = prepared.state_root;
        self.commit_inner(prepared, None)?;
        Ok(root)
    }

    fn commit_inner(&self, prepared: Prepared, block: Option<BlockRecord>) -> Result<(), Error> {
        let mut wtx = self.db.begin_write()?;
        if !self.opts.durable {
            wtx.set_durability(Durability::None);
        }
        // Any early return drops `wtx`, which aborts it: nothing is written.
        self.write_block(&wtx, &prepared, block.as_ref())?;
        wtx.commit()?;
        Ok(())
    }

    fn write_block(
        &self,
        wtx: &WriteTransaction,
        prepared: &Prepared,
        block: Option<&BlockRecord>,
    ) -> Result<(), Error> {
        let height = prepared.height;
        let mut meta = wtx.open_table(META)?;
        let latest = read_latest(&meta)?;
        if latest.map(|(h, _)| h) != prepared.base_height
            || latest.map_or(EMPTY_ROOT, |(_, r)| r) != prepared.base_root
        {
            return Err(Error::StaleBase {
                prepared_on: prepared.base_height,
                latest: latest.map(|(h, _)| h),
            });
        }
        let expected = next_height(latest);
        if height != expected {
            return Err(Error::WrongHeight { expected, got: height });
        }

        let mut kbuf = Vec::with_capacity(128);
        let mut vbuf = Vec::with_capacity(256);
        {
            let mut nodes = wtx.open_table(JMT_NODES)?;
            for (nk, node) in prepared.batch.node_batch.nodes() {
                kbuf.clear();
                tables::push_node_key(&mut kbuf, nk)?;
                vbuf.clear();
                borsh::to_writer(&mut vbuf, node).map_err(tree_err)?;
                nodes.insert(kbuf.as_slice(), vbuf.as_slice())?;
            }
        }
        {
            let mut values = wtx.open_table(JMT_VALUES)?;
            for ((version, kh), v) in prepared.batch.node_batch.values() {
                tables::value_key(&mut kbuf, &kh.0, *version);
                tables::encode_opt_value(&mut vbuf, v.as_deref());
                values.insert(kbuf.as_slice(), vbuf.as_slice())?;
            }
        }
        {
            let mut stale = wtx.open_table(JMT_STALE)?;
            for s in &prepared.batch.stale_node_index_batch {
                kbuf.clear();
                kbuf.extend_from_slice(&s.stale_since_version.to_be_bytes());
                tables::push_node_key(&mut kbuf, &s.node_key)?;
                stale.insert(kbuf.as_slice(), [].as_slice())?;
            }
        }
        {
            let mut state = wtx.open_table(STATE)?;
            for (k, v) in &prepared.changes {
                match v {
                    Some(v) => {
                        state.insert(k.as_slice(), v.as_slice())?;
                    }
                    None => {
                        state.remove(k.as_slice())?;
                    }
                }
            }
        }
        wtx.open_table(ROOTS)?.insert(height, prepared.state_root.as_slice())?;

        if let Some(block) = block {
            let row = BlockRow {
                hash: block.hash,
                block_bytes: block.block_bytes.clone(),
                certificate_bytes: block.certificate_bytes.clone(),
            };
            let bytes = borsh::to_vec(&row).map_err(tree_err)?;
            wtx.open_table(BLOCKS)?.insert(height, bytes.as_slice())?;
            wtx.open_table(BLOCK_HASHES)?.insert(block.hash.as_slice(), height)?;
            let mut txs = wtx.open_table(TXS)?;
            for tx in &block.txs {
                let row =
                    TxRow { height, index: tx.index, receipt_bytes: tx.receipt_bytes.clone() };
                vbuf.clear();
                borsh::to_writer(&mut vbuf, &row).map_err(tree_err)?;
                txs.insert(tx.hash.as_slice(), vbuf.as_slice())?;
            }
        }

        meta.insert(META_LATEST, tables::encode_latest(height, &prepared.state_root).as_slice())?;

        if let Some(keep) = self.opts.keep_recent {
            // Versions >= cutoff stay provable.
            let cutoff = (height + 1).saturating_sub(keep.max(1));
            let min = read_history_min(&meta)?;
            if cutoff > min {
                prune(wtx, cutoff)?;
                meta.insert(META_HISTORY_MIN, cutoff.to_be_bytes().as_slice())?;
            }
        }
        Ok(())
    }

    /// The block at `height`.
    pub fn block_by_height(&self, height: u64) -> Result<Option<StoredBlock>, Error> {
        let rtx = self.begin_read()?;
        let blocks = rtx.open_table(BLOCKS)?;
        match blocks.get(height)? {
            Some(v) => Ok(Some(stored_block(height, v.value())?)),
            None => Ok(None),
        }
    }

    /// The block with hash `hash`.
    pub fn block_by_hash(&self, hash: &[u8; 32]) -> Result<Option<StoredBlock>, Error> {
        let rtx = self.begin_read()?;
        let Some(height) = rtx.open_table(BLOCK_HASHES)?.get(hash.as_slice())?.map(|v| v.value())
        else {
            return Ok(None);
        };
        match rtx.open_table(BLOCKS)?.get(height)? {
            Some(v) => Ok(Some(stored_block(height, v.value())?)),
            None => {
                Err(tables::corrupt("blocks", format!("hash index points at missing {height}")))
            }
        }
    }

    /// Stored blocks with `from <= height <= to`, ascending (heights without a block record, such
    /// as genesis, are skipped), for consensus catch-up. Read through one snapshot.
    pub fn blocks_range(&self, from: u64, to: u64) -> Result<Vec<StoredBlock>, Error> {
        if from > to {
            return Ok(Vec::new());
        }
        let rtx = self.begin_read()?;
        let blocks = rtx.open_table(BLOCKS)?;
        let mut out = Vec::new();
        for entry in blocks.range(from..=to)? {
            let (k, v) = entry?;
            out.push(stored_block(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// The transaction with hash `hash`: its height, index and receipt.
    pub fn tx(&self, hash: &[u8; 32]) -> Result<Option<StoredTx>, Error> {
        let rtx = self.begin_read()?;
        let txs = rtx.open_table(TXS)?;
        match txs.get(hash.as_slice())? {
            Some(v) => {
                let row: TxRow = tables::decode_row("txs", v.value())?;
                Ok(Some(StoredTx {
                    height: row.height,
                    tx: TxRecord {
                        hash: *hash,
                        index: row.index,
                        receipt_bytes: row.receipt_bytes,
                    },
                }))
            }
            None => Ok(None),
        }
    }

    /// The value of `key` at `height` (or its absence) with a Merkle proof against the state root
    /// of that height. Fails for heights not committed or pruned.
    pub fn prove(&self, key: &[u8], height: u64) -> Result<StateProof, Error> {
        let rtx = self.begin_read()?;
        let meta = rtx.open_table(META)?;
        let latest = read_latest(&meta)?;
        match latest {
            Some((h, _)) if height <= h => {}
            _ => return Err(Error::NotCommitted { height, latest: latest.map(|(h, _)| h) }),
        }
        let min = read_history_min(&meta)?;
        if height < min {
            return Err(Error::Pruned { height, min });
        }
        let root = match rtx.open_table(ROOTS)?.get(height)? {
            Some(v) => tables::decode_hash("roots", v.value())?,
            None => return Err(tables::corrupt("roots", format!("no root for {height}"))),
        };
        let view = TreeView::open(&rtx)?;
        let tree = Sha256Jmt::new(&view);
        let (value, proof) = tree.get_with_proof(key_hash(key), height).map_err(tree_err)?;
        let proof_bytes = borsh::to_vec(&proof).map_err(tree_err)?;
        Ok(StateProof { key: key.to_vec(), value, root, height, proof_bytes })
    }

    /// Runs redb's integrity check (requires exclusive access). `Ok(true)`: the file was clean.
    pub fn check_integrity(&mut self) -> Result<bool, Error> {
        Ok(self.db.check_integrity()?)
    }
}

fn stored_block(height: u64, bytes: &[u8]) -> Result<StoredBlock, Error> {
    let row: BlockRow = tables::decode_row("blocks", bytes)?;
    Ok(StoredBlock {
        height,
        hash: row.hash,
        block_bytes: row.block_bytes,
        certificate_bytes: row.certificate_bytes,
    })
}

/// jmt copies the root to the new version when a version changes nothing, without marking the old
/// root stale; mark it so that pruning can reclaim it.
fn mark_unchanged_root_stale(batch: &mut TreeUpdateBatch, height: u64) {
    if height == 0 || !batch.stale_node_index_batch.is_empty() {
        return;
    }
    let new_root = batch
        .node_batch
        .nodes()
        .keys()
        .find(|k| k.version() == height && k.nibble_path().num_nibbles() == 0)
        .cloned();
    if let Some(new_root) = new_root {
        let old_root = NodeKey::new(height - 1, new_root.nibble_path().clone());
        batch.stale_node_index_batch.insert(jmt::storage::StaleNodeIndex {
            stale_since_version: height,
            node_key: old_root,
        });
    }
}

/// Deletes JMT nodes that no version `>= cutoff` references, and values superseded before
/// `cutoff`.
fn prune(wtx: &WriteTransaction, cutoff: u64) -> Result<(), Error> {
    let mut stale = wtx.open_table(JMT_STALE)?;
    let mut nodes = wtx.open_table(JMT_NODES)?;
    let mut values = wtx.open_table(JMT_VALUES)?;
    let end = (cutoff + 1).to_be_bytes();
    let mut stale_keys: Vec<Vec<u8>> = Vec::new();
    for entry in stale.range(..end.as_slice())? {
        let (k, _) = entry?;
        stale_keys.push(k.value().to_vec());
    }
    let mut leaf_key_hashes = std::collections::BTreeSet::new();
    for sk in &stale_keys {
        let node_key = sk.get(8..).ok_or_else(|| tables::corrupt("jmt_stale", "short key"))?;
        if let Some(old) = nodes.remove(node_key)? {
            let node: jmt::storage::Node = tables::decode_row("jmt_nodes", old.value())?;
            if let jmt::storage::Node::Leaf(leaf) = node {
                leaf_key_hashes.insert(leaf.key_hash().0);
            }
        }
        stale.remove(sk.as_slice())?;
    }
    // For each key whose leaf went stale: keep its newest value at or below `cutoff` (what
    // version `cutoff` reads) and everything newer; drop the older ones.
    let mut lo = Vec::with_capacity(40);
    let mut hi = Vec::with_capacity(40);
    for kh in leaf_key_hashes {
        tables::value_key(&mut lo, &kh, 0);
        tables::value_key(&mut hi, &kh, cutoff);
        let mut old: Vec<Vec<u8>> = Vec::new();
        for entry in values.range(lo.as_slice()..=hi.as_slice())? {
            let (k, _) = entry?;
            old.push(k.value().to_vec());
        }
        old.pop(); // the newest at or below cutoff stays
        for k in old {
            let _ = tables::value_key_version(&k)?;
            values.remove(k.as_slice())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_len(db: &Db, def: redb::TableDefinition<'_, &[u8], &[u8]>) -> u64 {
        use redb::ReadableTableMetadata;
        db.db.begin_read().unwrap().open_table(def).unwrap().len().unwrap()
    }

    fn one(k: &str, v: Option<&str>) -> ChangeSet {
        [(k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()))].into_iter().collect()
    }

    fn commit(db: &Db, c: &ChangeSet) {
        let h = db.next_height().unwrap();
        let p = db.prepare(h, c).unwrap();
        db.commit_inner(p, None).unwrap();
    }

    #[test]
    fn empty_blocks_mark_the_previous_root_stale() {
        let db = Db::open_in_memory().unwrap();
        commit(&db, &one("a", Some("1")));
        let p = db.prepare(1, &ChangeSet::new()).unwrap();
        let stale: Vec<_> = p.batch.stale_node_index_batch.iter().collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].stale_since_version, 1);
        assert_eq!(stale[0].node_key.version(), 0);
        assert_eq!(stale[0].node_key.nibble_path().num_nibbles(), 0);
    }

    #[test]
    fn pruning_bounds_the_node_and_value_tables() {
        let db =
            Db::open_in_memory_with(DbOptions { keep_recent: Some(2), ..DbOptions::default() })
                .unwrap();
        commit(&db, &ChangeSet::new());
        for i in 0..50 {
            // The same two keys rewritten every block, plus empty blocks.
            let mut c = one("a", Some(&format!("{i}")));
            c.extend(one("b", Some(&format!("{i}"))));
            commit(&db, &c);
            commit(&db, &ChangeSet::new());
        }
        // Two live leaves and their parent per kept version, not 100 versions' worth.
        let nodes = table_len(&db, JMT_NODES);
        let values = table_len(&db, JMT_VALUES);
        assert!(nodes <= 12, "nodes {nodes}");
        assert!(values <= 6, "values {values}");
        assert!(table_len(&db, JMT_STALE) <= 6);
        let latest = db.latest_height().unwrap().unwrap();
        assert_eq!(db.history_min_height().unwrap(), latest - 1);
        assert_eq!(db.prove(b"a", latest - 1).unwrap().value, Some(b"49".to_vec()));
    }

    #[test]
    fn keeping_everything_is_the_default() {
        let db = Db::open_in_memory().unwrap();
        commit(&db, &ChangeSet::new());
        for i in 0..10 {
            commit(&db, &one("a", Some(&format!("{i}"))));
        }
        assert_eq!(db.history_min_height().unwrap(), 0);
        assert_eq!(table_len(&db, JMT_VALUES), 10);
        assert_eq!(db.prove(b"a", 1).unwrap().value, Some(b"0".to_vec()));
    }

    #[test]
    fn value_records_round_trip() {
        let mut buf = Vec::new();
        tables::encode_opt_value(&mut buf, None);
        assert_eq!(tables::decode_opt_value(&buf).unwrap(), None);
        tables::encode_opt_value(&mut buf, Some(b""));
        assert_eq!(tables::decode_opt_value(&buf).unwrap(), Some(vec![]));
        tables::encode_opt_value(&mut buf, Some(b"xyz"));
        assert_eq!(tables::decode_opt_value(&buf).unwrap(), Some(b"xyz".to_vec()));
        assert!(tables::decode_opt_value(&[2]).is_err());
        assert!(tables::decode_opt_value(&[0, 1]).is_err());
        assert!(tables::decode_opt_value(&[]).is_err());
        tables::value_key(&mut buf, &[7; 32], 0x0102);
        assert_eq!(tables::value_key_version(&buf).unwrap(), 0x0102);
        let (h, r) = tables::decode_latest(&tables::encode_latest(9, &[3; 32])).unwrap();
        assert_eq!((h, r), (9, [3; 32]));
    }

    #[test]
    fn a_file_from_another_schema_version_is_refused() {
        let db = Db::open_in_memory().unwrap();
        let wtx = db.db.begin_write().unwrap();
        wtx.open_table(META).unwrap().insert(META_SCHEMA, 99u32.to_be_bytes().as_slice()).unwrap();
        wtx.commit().unwrap();
        let err = Db::init(db.db, DbOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Schema { expected: 1, found: 99 }), "{err}");
    }
}
