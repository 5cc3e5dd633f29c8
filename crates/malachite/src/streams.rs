//! Bounded reassembly of proposal-part streams.
//!
//! Malachite forwards every proposal part any peer publishes, before anyone checked who sent it.
//! This buffer is the only place those parts wait, so it is where memory is bounded: by parts and
//! bytes per stream, streams per publisher, streams and bytes in total, and the heights a stream
//! may name. A stream is judged as soon as its `Init` part arrives: a height outside
//! `current ..= current + FUTURE_HEIGHTS`, or a proposer that cannot be the proposer of that
//! height and round (the host's predicate), rejects the whole stream, and its later parts are
//! dropped without being stored. Complete part sets for a future height wait in a small queue
//! (bounded by count and bytes) until the host reaches that height.
//!
//! Must not: verify signatures or decode blocks (the host does that), or grow without bound on
//! any input.

use std::collections::{BTreeMap, HashMap, HashSet};

use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;
use malachitebft_core_types::Round;

use crate::types::{Address, ProposalPart};

/// Bytes of block data per `Data` part.
pub(crate) const CHUNK: usize = 64 * 1024;

/// How far ahead of the current height a stream may be buffered.
pub(crate) const FUTURE_HEIGHTS: u64 = 2;

/// The buffer's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest block (value) in bytes.
    pub(crate) max_value_bytes: usize,
    /// Most streams in flight per publisher.
    pub(crate) streams_per_peer: usize,
    /// Most streams in flight in total.
    pub(crate) max_streams: usize,
    /// Most complete part sets waiting for a future height.
    pub(crate) max_pending: usize,
    /// Most parts a stream may hold before its `Init` part arrived.
    pub(crate) parts_before_init: usize,
}

impl Limits {
    /// Bounds for blocks of at most `max_value_bytes`.
    pub(crate) fn for_value_bytes(max_value_bytes: usize) -> Self {
        Limits {
            max_value_bytes,
            streams_per_peer: 4,
            max_streams: 32,
            max_pending: 8,
            parts_before_init: 4,
        }
    }

    /// Most parts of one stream: `Init`, the data chunks, `Fin` and the end-of-stream marker.
    pub(crate) fn max_parts(&self) -> u64 {
        (self.max_value_bytes.div_ceil(CHUNK) + 3) as u64
    }

    /// Most bytes the buffer may ever hold (streams in flight plus pending sets).
    #[cfg(test)]
    pub(crate) fn max_total_bytes(&self) -> usize {
        (self.max_streams + self.max_pending) * self.max_value_bytes
    }
}

/// What happened to a part.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// Stored; the stream is not complete yet.
    Buffered,
    /// The stream is complete: its parts in sequence order (for the current height).
    Complete(Vec<ProposalPart>),
    /// The stream is complete but for a future height: queued until [`StreamBuffer::take_pending`].
    Queued,
    /// Dropped, with the reason (the whole stream is rejected).
    Dropped(&'static str),
}

#[derive(Debug)]
struct Stream {
    parts: BTreeMap<u64, ProposalPart>,
    fin_seq: Option<u64>,
    bytes: usize,
    height: Option<u64>,
    created: u64,
}

type Key = (PeerId, StreamId);

/// Streams being reassembled and complete sets waiting for their height.
#[derive(Debug)]
pub(crate) struct StreamBuffer {
    limits: Limits,
    streams: HashMap<Key, Stream>,
    /// Streams judged bad: later parts are dropped. Cleared when it grows past a bound.
    rejected: HashSet<Key>,
    /// Complete part sets by (height, arrival), for heights above the current one.
    pending: BTreeMap<(u64, u64), (Vec<ProposalPart>, usize)>,
    next_seq: u64,
}

fn part_bytes(p: &ProposalPart) -> usize {
    match p {
        ProposalPart::Data(d) => d.len(),
        _ => 0,
    }
}

impl StreamBuffer {
    pub(crate) fn new(limits: Limits) -> Self {
        StreamBuffer {
            limits,
            streams: HashMap::new(),
            rejected: HashSet::new(),
            pending: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Bytes of block data held (streams in flight and pending sets).
    pub(crate) fn bytes(&self) -> usize {
        self.streams.values().map(|s| s.bytes).sum::<usize>()
            + self.pending.values().map(|(_, b)| b).sum::<usize>()
    }

    /// Streams in flight.
    pub(crate) fn streams(&self) -> usize {
        self.streams.len()
    }

    /// Complete part sets waiting for a future height.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    fn reject(&mut self, key: Key, why: &'static str) -> Accepted {
        self.streams.remove(&key);
        if self.rejected.len() >= 4096 {
            self.rejected.clear();
        }
        self.rejected.insert(key);
        Accepted::Dropped(why)
    }

    /// Makes room for a new stream from `peer`: evicts that peer's oldest stream when it has
    /// too many, then the oldest stream overall when the buffer is full.
    fn make_room(&mut self, peer: &PeerId) {
        let own: Vec<(u64, Key)> = self
            .streams
            .iter()
            .filter(|((p, _), _)| p == peer)
            .map(|(k, s)| (s.created, k.clone()))
            .collect();
        if own.len() >= self.limits.streams_per_peer
            && let Some((_, k)) = own.into_iter().min_by_key(|(c, _)| *c)
        {
            self.streams.remove(&k);
        }
        if self.streams.len() >= self.limits.max_streams
            && let Some(k) =
                self.streams.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone())
        {
            self.streams.remove(&k);
        }
    }

    /// Offers one message published by `peer`. `current` is the height consensus is at;
    /// `plausible(height, round, proposer)` says whether `proposer` may propose there.
    pub(crate) fn offer(
        &mut self,
        peer: PeerId,
        msg: StreamMessage<ProposalPart>,
        current: u64,
        plausible: impl Fn(u64, Round, &Address) -> bool,
    ) -> Accepted {
        let key = (peer, msg.stream_id.clone());
        if self.rejected.contains(&key) {
            return Accepted::Dropped("stream already rejected");
        }
        if msg.sequence >= self.limits.max_parts() {
            return self.reject(key, "sequence number beyond the largest block");
        }
        if !self.streams.contains_key(&key) {
            self.make_room(&key.0);
            let created = self.next_seq;
            self.next_seq += 1;
            self.streams.insert(
                key.clone(),
                Stream { parts: BTreeMap::new(), fin_seq: None, bytes: 0, height: None, created },
            );
        }
        let limits = self.limits;
        let Some(s) = self.streams.get_mut(&key) else {
            return Accepted::Dropped("stream evicted");
        };
        match msg.content {
            StreamContent::Fin => s.fin_seq = Some(msg.sequence),
            StreamContent::Data(part) => {
                if let ProposalPart::Init { height, round, proposer } = &part {
                    if msg.sequence != 0 {
                        return self.reject(key, "Init part out of place");
                    }
                    let h = height.0;
                    if h < current || h > current.saturating_add(FUTURE_HEIGHTS) {
                        return self.reject(key, "height outside the buffering window");
                    }
                    if !plausible(h, *round, proposer) {
                        return self.reject(key, "not the proposer of that height and round");
                    }
                    s.height = Some(h);
                } else if msg.sequence == 0 {
                    return self.reject(key, "stream does not start with Init");
                }
                let n = part_bytes(&part);
                if n > CHUNK {
                    return self.reject(key, "oversized part");
                }
                if s.bytes + n > limits.max_value_bytes {
                    return self.reject(key, "stream larger than the largest block");
                }
                if s.height.is_none() && s.parts.len() >= limits.parts_before_init {
                    return self.reject(key, "too many parts before Init");
                }
                if let Some(old) = s.parts.insert(msg.sequence, part) {
                    s.bytes -= part_bytes(&old);
                }
                s.bytes += n;
            }
        }
        let Some(fin) = s.fin_seq else { return Accepted::Buffered };
        if s.parts.len() as u64 != fin || s.height.is_none() {
            return Accepted::Buffered;
        }
        let Some(s) = self.streams.remove(&key) else { return Accepted::Buffered };
        let height = s.height.unwrap_or(current);
        let parts: Vec<ProposalPart> = s.parts.into_values().collect();
        if height == current {
            return Accepted::Complete(parts);
        }
        while self.pending.len() >= limits.max_pending {
            // Keep the nearest heights: drop the farthest (then newest) set.
            let Some(&far) = self.pending.keys().next_back() else { break };
            if far.0 < height {
                return Accepted::Dropped("future-height queue full of nearer heights");
            }
            self.pending.remove(&far);
        }
        self.pending.insert((height, s.created), (parts, s.bytes));
        Accepted::Queued
    }

    /// The queued complete sets for `height` (in arrival order), removed from the queue.
    pub(crate) fn take_pending(&mut self, height: u64) -> Vec<Vec<ProposalPart>> {
        let keys: Vec<(u64, u64)> =
            self.pending.range((height, 0)..=(height, u64::MAX)).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|k| self.pending.remove(&k)).map(|(p, _)| p).collect()
    }

    /// Forgets everything for heights up to `height` (decided).
    pub(crate) fn prune(&mut self, height: u64) {
        self.pending.retain(|(h, _), _| *h > height);
        self.streams.retain(|_, s| s.height.is_none_or(|h| h > height));
        self.rejected.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Height;
    use bytes::Bytes;

    const MAX: usize = 4 * CHUNK;

    /// A fresh peer id (identity multihash over a counter).
    fn new_peer() -> PeerId {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut bytes = vec![0u8, 32];
        bytes.extend_from_slice(&[0; 24]);
        bytes.extend_from_slice(&n.to_be_bytes());
        PeerId::from_bytes(&bytes).unwrap()
    }

    fn buffer() -> StreamBuffer {
        StreamBuffer::new(Limits::for_value_bytes(MAX))
    }

    fn sid(n: u64) -> StreamId {
        StreamId::new(Bytes::from(n.to_be_bytes().to_vec()))
    }

    fn init(height: u64, proposer: u8) -> ProposalPart {
        ProposalPart::Init {
            height: Height(height),
            round: Round::new(0),
            proposer: Address([proposer; 20]),
        }
    }

    fn data(len: usize) -> ProposalPart {
        ProposalPart::Data(vec![7; len])
    }

    fn msg(stream: u64, seq: u64, part: Option<ProposalPart>) -> StreamMessage<ProposalPart> {
        let content = match part {
            Some(p) => StreamContent::Data(p),
            None => StreamContent::Fin,
        };
        StreamMessage::new(sid(stream), seq, content)
    }

    /// Proposer 1 is the only plausible one.
    fn only_one(_: u64, _: Round, p: &Address) -> bool {
        *p == Address([1; 20])
    }

    fn send_stream(
        b: &mut StreamBuffer,
        peer: PeerId,
        stream: u64,
        height: u64,
        proposer: u8,
        chunks: usize,
    ) -> Accepted {
        let mut last = b.offer(peer, msg(stream, 0, Some(init(height, proposer))), 10, only_one);
        let mut seq = 1;
        for _ in 0..chunks {
            last = b.offer(peer, msg(stream, seq, Some(data(CHUNK))), 10, only_one);
            seq += 1;
        }
        let fin = ProposalPart::Fin(crate::types::Sig(
            malachitebft_signing_ed25519::Signature::from_bytes([0; 64]),
        ));
        b.offer(peer, msg(stream, seq, Some(fin)), 10, only_one);
        let _ = last;
        b.offer(peer, msg(stream, seq + 1, None), 10, only_one)
    }

    #[test]
    fn an_honest_stream_for_the_current_height_completes_in_order() {
        let mut b = buffer();
        let peer = new_peer();
        match send_stream(&mut b, peer, 1, 10, 1, 3) {
            Accepted::Complete(parts) => {
                assert_eq!(parts.len(), 5);
                assert!(matches!(parts[0], ProposalPart::Init { .. }));
                assert!(matches!(parts[4], ProposalPart::Fin(_)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((b.streams(), b.pending(), b.bytes()), (0, 0, 0));
    }

    #[test]
    fn far_future_and_wrong_proposer_streams_are_dropped_before_buffering() {
        let mut b = buffer();
        let peer = new_peer();
        assert_eq!(
            b.offer(peer, msg(1, 0, Some(init(u64::MAX, 1))), 10, only_one),
            Accepted::Dropped("height outside the buffering window")
        );
        assert_eq!(
            b.offer(peer, msg(2, 0, Some(init(10, 9))), 10, only_one),
            Accepted::Dropped("not the proposer of that height and round")
        );
        // Later parts of a rejected stream are not stored.
        for seq in 1..50 {
            let r = b.offer(peer, msg(1, seq, Some(data(CHUNK))), 10, only_one);
            assert!(matches!(r, Accepted::Dropped(_)));
        }
        assert_eq!((b.streams(), b.bytes()), (0, 0));
    }

    #[test]
    fn oversized_parts_streams_and_sequence_numbers_are_refused() {
        let mut b = buffer();
        let peer = new_peer();
        b.offer(peer, msg(1, 0, Some(init(10, 1))), 10, only_one);
        assert_eq!(
            b.offer(peer, msg(1, 1, Some(data(CHUNK + 1))), 10, only_one),
            Accepted::Dropped("oversized part")
        );
        b.offer(peer, msg(2, 0, Some(init(10, 1))), 10, only_one);
        let mut last = Accepted::Buffered;
        for seq in 1..=5 {
            last = b.offer(peer, msg(2, seq, Some(data(CHUNK))), 10, only_one);
        }
        assert_eq!(last, Accepted::Dropped("stream larger than the largest block"));
        assert_eq!(
            b.offer(peer, msg(3, 1_000_000, Some(data(1))), 10, only_one),
            Accepted::Dropped("sequence number beyond the largest block")
        );
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn a_flood_of_streams_from_many_peers_stays_within_the_byte_bound() {
        let mut b = buffer();
        let limits = Limits::for_value_bytes(MAX);
        // 200 peers each open 10 streams that never finish, each as large as allowed, plus
        // complete streams for future heights.
        for p in 0..200u64 {
            let peer = new_peer();
            for s in 0..10u64 {
                let stream = p * 100 + s;
                b.offer(peer, msg(stream, 0, Some(init(10 + s % 3, 1))), 10, only_one);
                for seq in 1..=4 {
                    b.offer(peer, msg(stream, seq, Some(data(CHUNK))), 10, only_one);
                }
                assert!(b.bytes() <= limits.max_total_bytes());
                assert!(b.streams() <= limits.max_streams);
            }
            send_stream(&mut b, peer, p * 100 + 99, 12, 1, 4);
            assert!(b.pending() <= limits.max_pending);
        }
        // An honest proposal for the current height still completes afterwards.
        assert!(matches!(send_stream(&mut b, new_peer(), 1, 10, 1, 2), Accepted::Complete(_)));
    }

    #[test]
    fn queued_future_sets_are_released_at_their_height_and_pruned_after() {
        let mut b = buffer();
        let peer = new_peer();
        assert_eq!(send_stream(&mut b, peer, 1, 11, 1, 1), Accepted::Queued);
        assert_eq!(send_stream(&mut b, peer, 2, 12, 1, 1), Accepted::Queued);
        assert_eq!(b.take_pending(11).len(), 1);
        assert!(b.take_pending(11).is_empty());
        b.prune(12);
        assert_eq!((b.pending(), b.bytes()), (0, 0));
    }
}
