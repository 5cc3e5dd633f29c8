//! Retention: pins and garbage collection.

use crate::backend::{BlobBackend, BlobMeta};
use crate::error::Error;
use crate::id::BlobId;

/// The set of blobs that must be kept (implemented by the node from ledger state).
pub trait PinSet {
    /// True when `id` is referenced and must never be collected.
    fn is_pinned(&self, id: &BlobId) -> bool;
}

/// Pins nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPins;

impl PinSet for NoPins {
    fn is_pinned(&self, _id: &BlobId) -> bool {
        false
    }
}

impl PinSet for std::collections::BTreeSet<BlobId> {
    fn is_pinned(&self, id: &BlobId) -> bool {
        self.contains(id)
    }
}

impl PinSet for std::collections::HashSet<BlobId> {
    fn is_pinned(&self, id: &BlobId) -> bool {
        self.contains(id)
    }
}

/// What a GC pass did.
#[derive(Clone, Debug, Default)]
pub struct GcReport {
    /// Blobs looked at.
    pub scanned: u64,
    /// Blobs kept because they are pinned.
    pub kept_pinned: u64,
    /// Blobs kept because an upload/commit of them is in flight.
    pub kept_in_flight: u64,
    /// Removed blobs (namespace, meta).
    pub removed_metas: Vec<BlobMeta>,
    /// Bytes freed.
    pub freed_bytes: u64,
}

/// One GC pass: removes every blob older than `ttl_ms` (by `created_ms`) that is neither pinned
/// nor in flight (`skip(ns, id)`). Blobs still being uploaded are temp files and never visible here.
pub fn gc(
    backend: &dyn BlobBackend,
    pins: &dyn PinSet,
    ttl_ms: u64,
    now_ms: u64,
    skip: &dyn Fn(&str, &BlobId) -> bool,
) -> Result<GcReport, Error> {
    let mut r = GcReport::default();
    for ns in backend.namespaces()? {
        for m in backend.list(&ns)? {
            r.scanned += 1;
            if pins.is_pinned(&m.id) {
                r.kept_pinned += 1;
                continue;
            }
            if now_ms.saturating_sub(m.created_ms) < ttl_ms {
                continue;
            }
            if skip(&ns, &m.id) {
                r.kept_in_flight += 1;
                continue;
            }
            if backend.delete(&ns, &m.id)? {
                tracing::debug!(ns = %ns, id = %m.id, "gc removed blob");
                r.freed_bytes += m.size;
                r.removed_metas.push(m);
            }
        }
    }
    Ok(r)
}
