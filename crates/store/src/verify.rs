//! Outboards (bao-tree, pre-order, 16 KiB chunk groups) and verification of data against an id.

use std::io;

use bao_tree::io::outboard::PreOrderMemOutboard;
use bao_tree::io::sync::{ReadAt, encode_ranges_validated};
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges};

use crate::error::Error;
use crate::id::BlobId;

/// log2 of the chunk-group size in 1 KiB BLAKE3 chunks: 4 = 16 KiB groups.
pub const CHUNK_GROUP_LOG: u8 = 4;
/// Bytes per chunk group (16 KiB): the unit of verification.
pub(crate) const GROUP_BYTES: u64 = 1024 << CHUNK_GROUP_LOG;
/// Verified-streaming window: the client verifies (and releases) data in steps of this size.
const WINDOW: usize = 1 << 20;

pub(crate) fn block_size() -> BlockSize {
    BlockSize::from_chunk_log(CHUNK_GROUP_LOG)
}

pub(crate) fn tree(size: u64) -> BaoTree {
    BaoTree::new(size, block_size())
}

/// Size in bytes of the serialized outboard of a blob of `size` bytes (8-byte prefix included).
pub fn outboard_size(size: u64) -> u64 {
    8 + tree(size).outboard_size()
}

/// Computes the id and serialized outboard (`u64` LE size, then pre-order hash pairs) of `data`.
pub fn create_outboard(data: &[u8]) -> (BlobId, Vec<u8>) {
    match create_outboard_from_reader(data, data.len() as u64) {
        Ok(r) => r,
        // reading from a slice of the right length cannot fail
        Err(_) => unreachable!("in-memory outboard creation failed"),
    }
}

/// Like [`create_outboard`], reading `size` bytes from `reader`.
pub(crate) fn create_outboard_from_reader(
    reader: impl io::Read,
    size: u64,
) -> io::Result<(BlobId, Vec<u8>)> {
    let tree = tree(size);
    let len = usize::try_from(tree.outboard_size())
        .map_err(|_| io::Error::other("outboard too large"))?;
    let mut ob =
        PreOrderMemOutboard { root: blake3::Hash::from_bytes([0; 32]), tree, data: vec![0u8; len] };
    let root = bao_tree::io::sync::outboard(reader, tree, &mut ob)?;
    let mut out = Vec::with_capacity(8 + len);
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&ob.data);
    Ok((BlobId::from_hash(root), out))
}

/// Parses a serialized outboard for `id`, checking its length against the size it declares.
pub(crate) fn parse_outboard<'a>(
    id: &BlobId,
    bytes: &'a [u8],
) -> Result<PreOrderMemOutboard<&'a [u8]>, Error> {
    let bad = |reason: &str| Error::Verification { id: *id, reason: reason.to_string() };
    let (prefix, rest) = bytes.split_at_checked(8).ok_or_else(|| bad("outboard too short"))?;
    let mut sz = [0u8; 8];
    sz.copy_from_slice(prefix);
    let size = u64::from_le_bytes(sz);
    let tree = tree(size);
    if rest.len() as u64 != tree.outboard_size() {
        return Err(bad("outboard length does not match declared size"));
    }
    Ok(PreOrderMemOutboard { root: id.to_hash(), tree, data: rest })
}

/// A byte window `[base, base + data.len())` of a blob, addressable by absolute offsets.
pub(crate) struct Window<'a> {
    pub(crate) base: u64,
    pub(crate) data: &'a [u8],
}

impl ReadAt for Window<'_> {
    fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let off = pos
            .checked_sub(self.base)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read before window"))?;
        let off = usize::try_from(off).map_err(io::Error::other)?;
        if off >= self.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(self.data.len() - off);
        buf[..n].copy_from_slice(&self.data[off..off + n]);
        Ok(n)
    }
}

/// Verifies bytes `[start, start + data.len())` of the blob described by `ob` against its root.
/// `start` must be chunk-group aligned; the end must be aligned or the end of the blob.
pub(crate) fn verify_range(
    id: &BlobId,
    ob: &PreOrderMemOutboard<&[u8]>,
    start: u64,
    data: &[u8],
) -> Result<(), Error> {
    let size = ob.tree.size();
    let end = start + data.len() as u64;
    let fail = |reason: String| Error::Verification { id: *id, reason };
    if !start.is_multiple_of(GROUP_BYTES)
        || (!end.is_multiple_of(GROUP_BYTES) && end != size)
        || end > size
    {
        return Err(fail(format!("unaligned verification range {start}..{end} of {size}")));
    }
    if size == 0 {
        return if *id == BlobId::of(b"") { Ok(()) } else { Err(fail("empty blob".into())) };
    }
    if data.is_empty() {
        return Ok(());
    }
    let ranges = ChunkRanges::from(ChunkNum(start / 1024)..ChunkNum(end.div_ceil(1024)));
    encode_ranges_validated(Window { base: start, data }, ob, &ranges, io::sink())
        .map_err(|e| fail(e.to_string()))
}

/// Verifies a whole blob (`data`) against `id` using its serialized `outboard`.
pub fn verify_blob(id: &BlobId, data: &[u8], outboard: &[u8]) -> Result<(), Error> {
    let ob = parse_outboard(id, outboard)?;
    if ob.tree.size() != data.len() as u64 {
        return Err(Error::Verification { id: *id, reason: "length mismatch".into() });
    }
    verify_range(id, &ob, 0, data)
}

/// Incremental verifier for a (possibly ranged) download: push bytes as they arrive; bytes become
/// available only after the chunk groups that contain them verified against the id.
pub struct StreamVerifier {
    id: BlobId,
    outboard: Vec<u8>,
    size: u64,
    /// absolute offset of `buf[0]`
    base: u64,
    /// absolute end of the expected data
    end: u64,
    buf: Vec<u8>,
    /// bytes of `buf` already verified
    verified: usize,
}

impl StreamVerifier {
    /// A verifier for bytes `[start, end)` of blob `id` (`start` chunk-group aligned, `end` aligned
    /// or `None` for the end of the blob). The outboard is checked for length here; its hashes are
    /// checked against the id together with the first data.
    pub fn new(id: BlobId, outboard: Vec<u8>, start: u64, end: Option<u64>) -> Result<Self, Error> {
        let size = parse_outboard(&id, &outboard)?.tree.size();
        let end = end.unwrap_or(size).min(size);
        if !start.is_multiple_of(GROUP_BYTES) || start > end {
            return Err(Error::Invalid(format!("bad verified range {start}..{end}")));
        }
        Ok(Self { id, outboard, size, base: start, end, buf: Vec::new(), verified: 0 })
    }

    /// Size of the whole blob, as the (yet unverified) outboard declares it.
    pub fn blob_size(&self) -> u64 {
        self.size
    }

    /// Pre-allocates room for `n` more bytes.
    pub fn reserve(&mut self, n: usize) {
        self.buf.reserve(n);
    }

    /// Adds received bytes; verifies every complete window. Errors on corruption or excess data.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.base + (self.buf.len() + data.len()) as u64 > self.end {
            return Err(Error::Verification {
                id: self.id,
                reason: "more data than expected".into(),
            });
        }
        self.buf.extend_from_slice(data);
        while self.buf.len() - self.verified >= WINDOW {
            self.verify_upto(self.verified + WINDOW)?;
        }
        Ok(())
    }

    fn verify_upto(&mut self, upto: usize) -> Result<(), Error> {
        let ob = parse_outboard(&self.id, &self.outboard)?;
        let start = self.base + self.verified as u64;
        verify_range(&self.id, &ob, start, &self.buf[self.verified..upto])?;
        self.verified = upto;
        Ok(())
    }

    /// Removes and returns the bytes verified so far (for streaming consumers).
    pub fn take_verified(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.verified);
        let out = std::mem::replace(&mut self.buf, rest);
        self.base += out.len() as u64;
        self.verified = 0;
        out
    }

    /// Ends the stream: checks that all expected bytes arrived, verifies the tail and returns every
    /// byte not yet taken.
    pub fn finish(mut self) -> Result<Vec<u8>, Error> {
        if self.base + self.buf.len() as u64 != self.end {
            return Err(Error::Verification { id: self.id, reason: "truncated data".into() });
        }
        if self.size == 0 || self.verified < self.buf.len() || self.base == self.end {
            let n = self.buf.len();
            self.verify_upto(n)?;
        }
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn outboard_root_equals_plain_blake3() {
        for n in [0, 1, 1024, 16384, 16385, 100_000] {
            let d = data(n);
            let (id, ob) = create_outboard(&d);
            assert_eq!(id, BlobId::of(&d));
            assert_eq!(ob.len() as u64, outboard_size(n as u64));
            verify_blob(&id, &d, &ob).unwrap();
        }
    }

    #[test]
    fn outboard_is_small_for_16k_groups() {
        // 64 pairs of 32-byte hashes per MiB, minus one
        assert_eq!(outboard_size(1 << 20), 8 + 63 * 64);
    }

    #[test]
    fn stream_verifier_detects_a_flipped_byte_anywhere() {
        let d = data(3 * WINDOW + 5000);
        let (id, ob) = create_outboard(&d);
        for pos in [0, 17, WINDOW + 3, d.len() - 1] {
            let mut bad = d.clone();
            bad[pos] ^= 1;
            let mut v = StreamVerifier::new(id, ob.clone(), 0, None).unwrap();
            let r =
                bad.chunks(7000).try_for_each(|c| v.push(c)).and_then(|_| v.finish().map(|_| ()));
            assert!(matches!(r, Err(Error::Verification { .. })), "pos {pos}");
        }
        let mut v = StreamVerifier::new(id, ob, 0, None).unwrap();
        d.chunks(7000).for_each(|c| v.push(c).unwrap());
        assert_eq!(v.finish().unwrap(), d);
    }

    #[test]
    fn stream_verifier_checks_ranges_and_rejects_truncation() {
        let d = data(200_000);
        let (id, ob) = create_outboard(&d);
        let (s, e) = (2 * GROUP_BYTES as usize, 4 * GROUP_BYTES as usize);
        let mut v = StreamVerifier::new(id, ob.clone(), s as u64, Some(e as u64)).unwrap();
        v.push(&d[s..e]).unwrap();
        assert_eq!(v.finish().unwrap(), &d[s..e]);
        let mut v = StreamVerifier::new(id, ob.clone(), 0, None).unwrap();
        v.push(&d[..1000]).unwrap();
        assert!(v.finish().is_err());
        let mut v = StreamVerifier::new(BlobId::of(b"other"), ob, 0, None).unwrap();
        v.push(&d).unwrap();
        assert!(v.finish().is_err());
    }

    #[test]
    fn empty_blob_verifies_only_against_the_empty_id() {
        let (id, ob) = create_outboard(b"");
        StreamVerifier::new(id, ob.clone(), 0, None).unwrap().finish().unwrap();
        assert!(StreamVerifier::new(BlobId::of(b"x"), ob, 0, None).unwrap().finish().is_err());
    }
}
