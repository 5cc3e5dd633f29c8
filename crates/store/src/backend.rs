//! Storage backends: where blob bytes, outboards and metadata live.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chorus_types::Address;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::id::{BlobId, validate_namespace};
use crate::verify::create_outboard_from_reader;

/// Metadata stored next to every blob.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlobMeta {
    /// The blob id.
    pub id: BlobId,
    /// Length in bytes.
    pub size: u64,
    /// When the blob became visible (unix milliseconds); the TTL counts from here.
    pub created_ms: u64,
    /// The signed account that uploaded it (quota is charged to it), if any.
    pub owner: Option<Address>,
}

/// The bytes of a stored blob, as the backend can best hand them out.
pub enum BlobData {
    /// In memory (cheap to slice).
    Bytes(Bytes),
    /// An open file positioned anywhere (readers seek/read at offsets).
    File(File),
}

/// An upload in progress. Nothing is visible until [`BlobWriter::commit`]; dropping the writer
/// without committing discards everything it wrote (the temp file is removed).
pub trait BlobWriter: Send {
    /// Appends bytes (and feeds them to the running BLAKE3 hasher).
    fn write(&mut self, data: &[u8]) -> Result<(), Error>;
    /// Bytes written so far.
    fn written(&self) -> u64;
    /// Ends the upload: flushes and fsyncs the staged bytes, returns their id. Still not visible.
    fn finish(&mut self) -> Result<BlobId, Error>;
    /// Makes the finished blob visible: builds the outboard from the staged bytes (checking it
    /// against the id), fsyncs it and renames atomically. Returns false when the blob already existed.
    fn commit(self: Box<Self>, meta: &BlobMeta) -> Result<bool, Error>;
}

/// A place to keep blobs. Implementations are synchronous; the server calls them from blocking
/// tasks. An S3 (`object_store`) backend can implement the same trait.
pub trait BlobBackend: Send + Sync + 'static {
    /// Starts an upload into namespace `ns`.
    fn begin_write(&self, ns: &str) -> Result<Box<dyn BlobWriter>, Error>;
    /// Metadata of a visible blob.
    fn stat(&self, ns: &str, id: &BlobId) -> Result<Option<BlobMeta>, Error>;
    /// The bytes of a visible blob.
    fn open(&self, ns: &str, id: &BlobId) -> Result<Option<BlobData>, Error>;
    /// The serialized outboard of a visible blob.
    fn outboard(&self, ns: &str, id: &BlobId) -> Result<Option<Vec<u8>>, Error>;
    /// All visible blobs of a namespace, sorted by id.
    fn list(&self, ns: &str) -> Result<Vec<BlobMeta>, Error>;
    /// Up to `limit` visible blobs of a namespace with ids greater than `after`, sorted by id
    /// (one page of [`BlobBackend::list`]; backends should avoid reading every blob's metadata).
    fn list_page(
        &self,
        ns: &str,
        after: Option<&BlobId>,
        limit: usize,
    ) -> Result<Vec<BlobMeta>, Error> {
        Ok(self
            .list(ns)?
            .into_iter()
            .filter(|m| after.is_none_or(|a| m.id > *a))
            .take(limit)
            .collect())
    }
    /// All namespaces that hold at least one blob, sorted.
    fn namespaces(&self) -> Result<Vec<String>, Error>;
    /// Bytes still available to new blobs on the backend's volume; `None` when unknown or
    /// unbounded (memory).
    fn available_space(&self) -> Result<Option<u64>, Error> {
        Ok(None)
    }
    /// Removes a blob; false if it was not there.
    fn delete(&self, ns: &str, id: &BlobId) -> Result<bool, Error>;
}

// ---------------------------------------------------------------------------------------------
// Filesystem

/// Local-filesystem backend.
///
/// Layout under `root`: `tmp/` (uploads in progress; emptied on open), `ns/<ns>/<hex>` (data),
/// `ns/<ns>/<hex>.obao` (outboard), `ns/<ns>/<hex>.meta` (JSON [`BlobMeta`]). The data file is
/// renamed into place last, so a blob is visible exactly when its data file exists.
#[derive(Clone, Debug)]
pub struct FsBackend {
    root: Arc<PathBuf>,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FsBackend {
    /// Opens (creating if needed) a store directory; removes leftover temp files and orphaned
    /// outboard/meta files of blobs that never became visible.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(root.join("tmp"))?;
        fs::create_dir_all(root.join("ns"))?;
        for e in fs::read_dir(root.join("tmp"))? {
            let e = e?;
            tracing::info!(path = %e.path().display(), "removing leftover temp file");
            fs::remove_file(e.path())?;
        }
        for ns in fs::read_dir(root.join("ns"))? {
            let ns = ns?;
            for e in fs::read_dir(ns.path())? {
                let p = e?.path();
                if let Some(ext) = p.extension()
                    && (ext == "obao" || ext == "meta")
                    && !p.with_extension("").exists()
                {
                    fs::remove_file(&p)?;
                }
            }
        }
        Ok(Self { root: Arc::new(root) })
    }

    /// The directory holding uploads in progress.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Path of a blob's data file (for operators and tests).
    pub fn data_path(&self, ns: &str, id: &BlobId) -> PathBuf {
        self.root.join("ns").join(ns).join(id.to_hex())
    }

    fn tmp_path(&self) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}-{n}.part", std::process::id()))
    }
}

struct FsWriter {
    backend: FsBackend,
    ns: String,
    tmp: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    written: u64,
    id: Option<BlobId>,
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // not committed (or commit failed): discard the staged bytes
        self.file = None;
        if let Err(e) = fs::remove_file(&self.tmp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.tmp.display(), error = %e, "could not remove temp file");
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl BlobWriter for FsWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let f = self.file.as_mut().ok_or_else(|| Error::Invalid("writer finished".into()))?;
        f.write_all(data)?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn finish(&mut self) -> Result<BlobId, Error> {
        if let Some(id) = self.id {
            return Ok(id);
        }
        let f = self.file.as_mut().ok_or_else(|| Error::Invalid("writer finished".into()))?;
        f.sync_all()?;
        let id = BlobId::from_hash(self.hasher.finalize());
        self.id = Some(id);
        Ok(id)
    }

    fn commit(mut self: Box<Self>, meta: &BlobMeta) -> Result<bool, Error> {
        let id = self.finish()?;
        if meta.id != id {
            return Err(Error::Invalid("commit meta id differs from data".into()));
        }
        let dir = self.backend.root.join("ns").join(&self.ns);
        let data_path = dir.join(id.to_hex());
        if data_path.exists() {
            return Ok(false);
        }
        fs::create_dir_all(&dir)?;
        // Build the outboard from the bytes as they are on disk: catches corruption since hashing.
        let reader = BufReader::with_capacity(1 << 20, File::open(&self.tmp)?);
        let (root, ob) = create_outboard_from_reader(reader, self.written)?;
        if root != id {
            return Err(Error::Verification { id, reason: "staged file changed on disk".into() });
        }
        let ob_tmp = self.backend.tmp_path();
        let meta_tmp = self.backend.tmp_path();
        let res = (|| -> Result<(), Error> {
            write_synced(&ob_tmp, &ob)?;
            let meta_json = serde_json::to_vec(meta).map_err(|e| Error::Invalid(e.to_string()))?;
            write_synced(&meta_tmp, &meta_json)?;
            fs::rename(&ob_tmp, data_path.with_extension("obao"))?;
            fs::rename(&meta_tmp, data_path.with_extension("meta"))?;
            self.file = None;
            fs::rename(&self.tmp, &data_path)?;
            File::open(&dir)?.sync_all()?;
            Ok(())
        })();
        let _ = fs::remove_file(&ob_tmp);
        let _ = fs::remove_file(&meta_tmp);
        res.map(|()| true)
    }
}

/// Bytes available to unprivileged writers on the volume holding `path`.
#[cfg(unix)]
fn available_space(path: &Path) -> Result<u64, Error> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| Error::Io(io::Error::from(e)))?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

#[cfg(not(unix))]
fn available_space(_path: &Path) -> Result<u64, Error> {
    Ok(u64::MAX)
}

fn parse_hex_name(name: &str) -> Option<BlobId> {
    if name.len() == 64 { format!("b3{name}").parse().ok() } else { None }
}

impl BlobBackend for FsBackend {
    fn begin_write(&self, ns: &str) -> Result<Box<dyn BlobWriter>, Error> {
        validate_namespace(ns)?;
        let tmp = self.tmp_path();
        let file = File::create(&tmp)?;
        Ok(Box::new(FsWriter {
            backend: self.clone(),
            ns: ns.to_string(),
            tmp,
            file: Some(file),
            hasher: blake3::Hasher::new(),
            written: 0,
            id: None,
        }))
    }

    fn stat(&self, ns: &str, id: &BlobId) -> Result<Option<BlobMeta>, Error> {
        validate_namespace(ns)?;
        let p = self.data_path(ns, id);
        if !p.exists() {
            return Ok(None);
        }
        match fs::read(p.with_extension("meta")) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Invalid(format!("corrupt meta for {id}: {e}"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn open(&self, ns: &str, id: &BlobId) -> Result<Option<BlobData>, Error> {
        validate_namespace(ns)?;
        match File::open(self.data_path(ns, id)) {
            Ok(f) => Ok(Some(BlobData::File(f))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn outboard(&self, ns: &str, id: &BlobId) -> Result<Option<Vec<u8>>, Error> {
        validate_namespace(ns)?;
        match fs::read(self.data_path(ns, id).with_extension("obao")) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn list(&self, ns: &str) -> Result<Vec<BlobMeta>, Error> {
        validate_namespace(ns)?;
        let dir = self.root.join("ns").join(ns);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for e in rd {
            let name = e?.file_name();
            if let Some(id) = name.to_str().and_then(parse_hex_name)
                && let Some(m) = self.stat(ns, &id)?
            {
                out.push(m);
            }
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    fn list_page(
        &self,
        ns: &str,
        after: Option<&BlobId>,
        limit: usize,
    ) -> Result<Vec<BlobMeta>, Error> {
        validate_namespace(ns)?;
        let dir = self.root.join("ns").join(ns);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        // Names only (no metadata reads) to find the page, then stat just the page.
        let mut ids = Vec::new();
        for e in rd {
            if let Some(id) = e?.file_name().to_str().and_then(parse_hex_name)
                && after.is_none_or(|a| id > *a)
            {
                ids.push(id);
            }
        }
        ids.sort();
        let mut out = Vec::with_capacity(limit.min(ids.len()));
        for id in ids {
            if out.len() >= limit {
                break;
            }
            if let Some(m) = self.stat(ns, &id)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    fn available_space(&self) -> Result<Option<u64>, Error> {
        available_space(&self.root).map(Some)
    }

    fn namespaces(&self) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for e in fs::read_dir(self.root.join("ns"))? {
            if let Some(n) = e?.file_name().to_str()
                && validate_namespace(n).is_ok()
            {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, ns: &str, id: &BlobId) -> Result<bool, Error> {
        validate_namespace(ns)?;
        let p = self.data_path(ns, id);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let _ = fs::remove_file(p.with_extension("obao"));
        let _ = fs::remove_file(p.with_extension("meta"));
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// Memory

struct MemEntry {
    data: Bytes,
    outboard: Vec<u8>,
    meta: BlobMeta,
}

type MemMap = BTreeMap<(String, BlobId), MemEntry>;

/// In-memory backend (tests, devnets, benchmarks). Cloning shares the same store.
#[derive(Clone, Default)]
pub struct MemBackend {
    inner: Arc<Mutex<MemMap>>,
}

impl MemBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Flips one bit of a stored blob (to test corruption detection).
    pub fn corrupt(&self, ns: &str, id: &BlobId, pos: usize) -> bool {
        let mut m = self.lock();
        match m.get_mut(&(ns.to_string(), *id)) {
            Some(e) if pos < e.data.len() => {
                let mut v = e.data.to_vec();
                v[pos] ^= 1;
                e.data = v.into();
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemMap> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct MemWriter {
    backend: MemBackend,
    ns: String,
    buf: Vec<u8>,
    id: Option<BlobId>,
}

impl BlobWriter for MemWriter {
    fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.id.is_some() {
            return Err(Error::Invalid("writer finished".into()));
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }
    fn written(&self) -> u64 {
        self.buf.len() as u64
    }
    fn finish(&mut self) -> Result<BlobId, Error> {
        let id = *self.id.get_or_insert_with(|| BlobId::of(&self.buf));
        Ok(id)
    }
    fn commit(mut self: Box<Self>, meta: &BlobMeta) -> Result<bool, Error> {
        let id = self.finish()?;
        if meta.id != id {
            return Err(Error::Invalid("commit meta id differs from data".into()));
        }
        let key = (self.ns.clone(), id);
        if self.backend.lock().contains_key(&key) {
            return Ok(false);
        }
        let data = std::mem::take(&mut self.buf);
        let (_, outboard) = crate::verify::create_outboard(&data);
        let entry = MemEntry { data: data.into(), outboard, meta: meta.clone() };
        let mut m = self.backend.lock();
        if m.contains_key(&key) {
            return Ok(false);
        }
        m.insert(key, entry);
        Ok(true)
    }
}

impl BlobBackend for MemBackend {
    fn begin_write(&self, ns: &str) -> Result<Box<dyn BlobWriter>, Error> {
        validate_namespace(ns)?;
        Ok(Box::new(MemWriter {
            backend: self.clone(),
            ns: ns.to_string(),
            buf: Vec::new(),
            id: None,
        }))
    }
    fn stat(&self, ns: &str, id: &BlobId) -> Result<Option<BlobMeta>, Error> {
        Ok(self.lock().get(&(ns.to_string(), *id)).map(|e| e.meta.clone()))
    }
    fn open(&self, ns: &str, id: &BlobId) -> Result<Option<BlobData>, Error> {
        Ok(self.lock().get(&(ns.to_string(), *id)).map(|e| BlobData::Bytes(e.data.clone())))
    }
    fn outboard(&self, ns: &str, id: &BlobId) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().get(&(ns.to_string(), *id)).map(|e| e.outboard.clone()))
    }
    fn list(&self, ns: &str) -> Result<Vec<BlobMeta>, Error> {
        Ok(self.lock().iter().filter(|((n, _), _)| n == ns).map(|(_, e)| e.meta.clone()).collect())
    }
    fn namespaces(&self) -> Result<Vec<String>, Error> {
        let mut v: Vec<String> = self.lock().keys().map(|(n, _)| n.clone()).collect();
        v.dedup();
        Ok(v)
    }
    fn delete(&self, ns: &str, id: &BlobId) -> Result<bool, Error> {
        Ok(self.lock().remove(&(ns.to_string(), *id)).is_some())
    }
}
