//! Proposal streaming: split a block into parts and put received parts back together.
//!
//! A stream is `Data(Init)`, `Data(Data chunk)`…, `Data(Fin(signature))`, then Malachite's end-of-
//! stream marker, with sequence numbers 0, 1, 2, …. Parts may arrive in any order and through
//! different neighbours; they are grouped by (publisher, stream id). A stream is complete once the
//! end marker and every sequence number before it are in.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_signing_ed25519::Signature;

use crate::context::{PartInit, ProposalPart};

/// Size of a `Data` chunk.
pub(crate) const CHUNK: usize = 64 * 1024;
/// Incomplete streams kept at most (oldest evicted).
const MAX_STREAMS: usize = 256;

/// Stream id: height, round we stream for, and our address prefix (unique per publisher anyway).
pub(crate) fn stream_id(height: u64, round: u32, nonce: u32) -> StreamId {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    b.extend_from_slice(&nonce.to_be_bytes());
    StreamId::new(Bytes::from(b))
}

/// The messages that stream `block` with the given `Init` and `Fin` signature.
pub(crate) fn split(
    id: StreamId,
    init: PartInit,
    block: &[u8],
    signature: Signature,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut parts = vec![ProposalPart::Init(init)];
    parts.extend(block.chunks(CHUNK).map(|c| ProposalPart::Data(Bytes::copy_from_slice(c))));
    parts.push(ProposalPart::Fin(signature));
    let n = parts.len() as u64;
    let mut msgs: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    msgs.push(StreamMessage::new(id, n, StreamContent::Fin));
    msgs
}

/// A complete, structurally valid stream (signature not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assembled {
    pub(crate) init: PartInit,
    pub(crate) block: Vec<u8>,
    pub(crate) signature: Signature,
}

#[derive(Default)]
struct Partial {
    parts: BTreeMap<u64, ProposalPart>,
    end: Option<u64>,
    bytes: usize,
    height: Option<u64>,
    born: u64,
}

/// Reassembly buffer.
pub(crate) struct Streams {
    streams: HashMap<(PeerId, StreamId), Partial>,
    max_block_bytes: usize,
    clock: u64,
}

impl Streams {
    pub(crate) fn new(max_block_bytes: usize) -> Self {
        Self { streams: HashMap::new(), max_block_bytes, clock: 0 }
    }

    /// Most sequence numbers a legal stream can have.
    fn max_seq(&self) -> u64 {
        (self.max_block_bytes / CHUNK) as u64 + 4
    }

    /// Add one message; returns the whole proposal once complete. Malformed or oversized streams
    /// are dropped.
    pub(crate) fn insert(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<Assembled> {
        if msg.sequence > self.max_seq() {
            return None;
        }
        let key = (publisher, msg.stream_id.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            // evict the oldest incomplete stream
            if let Some(old) = self.streams.iter().min_by_key(|(_, p)| p.born).map(|(k, _)| k.clone())
            {
                self.streams.remove(&old);
            }
        }
        self.clock += 1;
        let born = self.clock;
        let entry = self.streams.entry(key.clone()).or_insert_with(|| Partial { born, ..Default::default() });
        match msg.content {
            StreamContent::Fin => entry.end = Some(msg.sequence),
            StreamContent::Data(part) => {
                let size = match &part {
                    ProposalPart::Data(d) => d.len(),
                    _ => 64,
                };
                if let ProposalPart::Init(init) = &part {
                    entry.height = Some(init.height.0);
                }
                if entry.parts.insert(msg.sequence, part).is_none() {
                    entry.bytes += size;
                }
            }
        }
        if entry.bytes > self.max_block_bytes + 4096 {
            self.streams.remove(&key);
            return None;
        }
        let end = entry.end?;
        if entry.parts.keys().next_back().is_some_and(|k| *k >= end) {
            // data after the end marker: malformed
            self.streams.remove(&key);
            return None;
        }
        if entry.parts.len() as u64 != end {
            return None; // keys are unique and < end, so len == end means 0..end are all in
        }
        let partial = self.streams.remove(&key)?;
        assemble(partial.parts.into_values().collect())
    }

    /// Forget incomplete streams for heights below `height`.
    pub(crate) fn prune_below(&mut self, height: u64) {
        self.streams.retain(|_, p| p.height.is_none_or(|h| h >= height));
    }
}

fn assemble(parts: Vec<ProposalPart>) -> Option<Assembled> {
    let mut it = parts.into_iter();
    let ProposalPart::Init(init) = it.next()? else { return None };
    let mut block = Vec::with_capacity(usize::try_from(init.total_len).ok()?.min(64 << 20));
    let mut signature = None;
    for p in it {
        match p {
            ProposalPart::Data(d) if signature.is_none() => block.extend_from_slice(&d),
            ProposalPart::Fin(s) if signature.is_none() => signature = Some(s),
            _ => return None,
        }
    }
    if block.len() as u64 != init.total_len {
        return None;
    }
    Some(Assembled { init, block, signature: signature? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Address, BlockId, Height};
    use malachitebft_app_channel::app::types::core::Round;
    use malachitebft_signing_ed25519::PrivateKey;

    fn test_peer() -> PeerId {
        let kp = malachitebft_app_channel::app::types::Keypair::ed25519_from_bytes([9u8; 32]).unwrap();
        PeerId::from_bytes(&kp.public().to_peer_id().to_bytes()).unwrap()
    }

    fn init(len: usize) -> PartInit {
        PartInit {
            height: Height(3),
            round: Round::new(1),
            pol_round: Round::Nil,
            proposer: Address([4; 20]),
            value_id: BlockId([5; 32]),
            total_len: len as u64,
        }
    }

    #[test]
    fn out_of_order_parts_reassemble_to_the_block() {
        let block: Vec<u8> = (0..(CHUNK * 2 + 100)).map(|i| i as u8).collect();
        let sig = PrivateKey::from([1; 32]).sign(b"m");
        let mut msgs = split(stream_id(3, 1, 0), init(block.len()), &block, sig);
        assert_eq!(msgs.len(), 1 + 3 + 1 + 1);
        msgs.reverse();
        let mut s = Streams::new(1 << 20);
        let peer = test_peer();
        let mut out = None;
        for m in msgs {
            assert!(out.is_none());
            out = s.insert(peer, m);
        }
        let a = out.unwrap();
        assert_eq!(a.block, block);
        assert_eq!(a.init, init(block.len()));
        assert_eq!(a.signature, sig);
        assert!(s.streams.is_empty());
    }

    #[test]
    fn oversized_or_truncated_streams_are_dropped() {
        let sig = PrivateKey::from([1; 32]).sign(b"m");
        let block = vec![7u8; CHUNK * 3];
        let mut s = Streams::new(CHUNK);
        let peer = test_peer();
        assert!(split(stream_id(3, 1, 0), init(block.len()), &block, sig)
            .into_iter()
            .all(|m| s.insert(peer, m).is_none()));

        // declared length does not match the data
        let mut s = Streams::new(1 << 20);
        let msgs = split(stream_id(3, 1, 0), init(10), &[1, 2, 3], sig);
        assert!(msgs.into_iter().all(|m| s.insert(peer, m).is_none()));
    }
}
