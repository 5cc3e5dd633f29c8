//! The byte strings consensus takes from peers, decoded exactly as the running node decodes them,
//! behind one public entry point so that fuzz targets (`crates/fuzz-targets`) reach them while
//! every Malachite type stays private.
//!
//! Must not: decode differently from the node (it calls the same codec and the same stream
//! buffer), or expose a Malachite type.

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{PolkaCertificate, ValidatorProof};

use crate::Error;
use crate::codec::BorshCodec;
use crate::streams::{Accepted, CHUNK, Limits, StreamBuffer};
use crate::types::{Ctx, ProposalPart};

/// Which message a byte string is read as (each is a separate channel or file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireKind {
    /// One proposal part (block chunk, `Init` or `Fin`).
    ProposalPart,
    /// A proposal-part stream message (gossip).
    StreamMessage,
    /// A signed vote or proposal (gossip, WAL).
    ConsensusMsg,
    /// A liveness message (round certificates, polka certificates, skip votes).
    LivenessMsg,
    /// A proposed value (WAL).
    ProposedValue,
    /// A polka certificate.
    PolkaCertificate,
    /// A value-sync status.
    Status,
    /// A value-sync request.
    Request,
    /// A value-sync response (decided values with their certificates).
    Response,
    /// A validator proof (the handshake binding a consensus key to a peer id).
    ValidatorProof,
}

impl WireKind {
    /// Every kind, in a fixed order (a fuzz target picks one with its first byte).
    pub const ALL: [WireKind; 10] = [
        WireKind::ProposalPart,
        WireKind::StreamMessage,
        WireKind::ConsensusMsg,
        WireKind::LivenessMsg,
        WireKind::ProposedValue,
        WireKind::PolkaCertificate,
        WireKind::Status,
        WireKind::Request,
        WireKind::Response,
        WireKind::ValidatorProof,
    ];
}

fn decode_as<T>(bytes: &[u8]) -> Result<bool, Error>
where
    BorshCodec: Codec<T>,
    <BorshCodec as Codec<T>>::Error: std::fmt::Display,
{
    let codec = BorshCodec;
    let err = |e: <BorshCodec as Codec<T>>::Error| Error::Decode(e.to_string());
    let value: T = codec.decode(Bytes::copy_from_slice(bytes)).map_err(err)?;
    // Canonical form: what the node re-encodes (to forward or to store) decodes to the same
    // encoding again.
    let once = codec.encode(&value).map_err(err)?;
    let again: T = codec.decode(once.clone()).map_err(err)?;
    let twice = codec.encode(&again).map_err(err)?;
    Ok(once == twice)
}

/// Decodes `bytes` as `kind` with the node's codec. `Ok(true)` when it decodes and its
/// re-encoding is stable (encode ∘ decode is the identity on re-encoded bytes); `Ok(false)` when
/// it decodes but the re-encoding is not stable (a bug); `Err` when it does not decode.
pub fn decode(kind: WireKind, bytes: &[u8]) -> Result<bool, Error> {
    match kind {
        WireKind::ProposalPart => decode_as::<ProposalPart>(bytes),
        WireKind::StreamMessage => decode_as::<StreamMessage<ProposalPart>>(bytes),
        WireKind::ConsensusMsg => decode_as::<SignedConsensusMsg<Ctx>>(bytes),
        WireKind::LivenessMsg => decode_as::<LivenessMsg<Ctx>>(bytes),
        WireKind::ProposedValue => decode_as::<ProposedValue<Ctx>>(bytes),
        WireKind::PolkaCertificate => decode_as::<PolkaCertificate<Ctx>>(bytes),
        WireKind::Status => decode_as::<Status<Ctx>>(bytes),
        WireKind::Request => decode_as::<Request<Ctx>>(bytes),
        WireKind::Response => decode_as::<Response<Ctx>>(bytes),
        WireKind::ValidatorProof => decode_as::<ValidatorProof<Ctx>>(bytes),
    }
}

/// What [`reassemble`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reassembly {
    /// Messages that decoded.
    pub decoded: usize,
    /// Complete part sets for the current height.
    pub complete: usize,
    /// Complete part sets queued for a future height.
    pub queued: usize,
    /// Parts dropped (their stream rejected).
    pub dropped: usize,
    /// The most block bytes the buffer held after any message.
    pub max_bytes_held: usize,
    /// The bound the buffer must stay within.
    pub bound: usize,
}

/// Offers a sequence of stream messages, `(publisher index, encoded stream message)`, to the
/// node's proposal-part buffer (at height 1, blocks of at most `max_value_bytes`, every proposer
/// plausible), as the host does with gossip. Publishers are 0 ..= 255. Messages that do not
/// decode are skipped, as the network layer drops them.
pub fn reassemble(messages: &[(u8, &[u8])], max_value_bytes: usize) -> Reassembly {
    let limits = Limits::for_value_bytes(max_value_bytes);
    let mut buffer = StreamBuffer::new(limits);
    let mut out = Reassembly {
        bound: (limits.max_streams + limits.max_pending) * limits.max_value_bytes,
        ..Reassembly::default()
    };
    let codec = BorshCodec;
    for (publisher, bytes) in messages {
        let decoded: Result<StreamMessage<ProposalPart>, _> =
            codec.decode(Bytes::copy_from_slice(bytes));
        let (Ok(msg), Some(publisher)) = (decoded, peer(*publisher)) else { continue };
        out.decoded += 1;
        match buffer.offer(publisher, msg, 1, |_, _, _| true) {
            Accepted::Complete(_) => out.complete += 1,
            Accepted::Queued => out.queued += 1,
            Accepted::Dropped(_) => out.dropped += 1,
            Accepted::Buffered => {}
        }
        out.max_bytes_held = out.max_bytes_held.max(buffer.bytes());
    }
    out
}

/// A fixed peer id per publisher index (an identity multihash of 32 bytes: always valid).
fn peer(n: u8) -> Option<PeerId> {
    let mut bytes = vec![0u8, 32];
    bytes.extend_from_slice(&[0; 31]);
    bytes.push(n);
    PeerId::from_bytes(&bytes).ok()
}

/// Bytes of block data per proposal part (a fuzz target sizes its blocks with it).
pub const PART_BYTES: usize = CHUNK;

/// One valid encoding per kind that can be built without a running engine (the fuzzers' seeds):
/// proposal parts (`Init`, `Data`, `Fin`), their stream messages, signed votes and proposals,
/// a value-sync status, request and response, and a validator proof.
pub fn examples() -> Vec<(WireKind, Vec<u8>)> {
    use malachitebft_app_channel::app::streaming::{StreamContent, StreamId};
    use malachitebft_app_channel::app::types::sync::RawDecidedValue;
    use malachitebft_core_types::{ExtendedCommitCertificate, NilOrVal, Round, SignedMessage};
    use malachitebft_signing_ed25519 as ed;
    use malachitebft_sync::{ValueRequest, ValueResponse};

    use crate::types::{Address, Height, Proposal, Sig, ValueId, Vote};

    let codec = BorshCodec;
    let mut out = Vec::new();
    let mut push = |kind: WireKind, bytes: Result<Bytes, crate::codec::CodecError>| {
        if let Ok(b) = bytes {
            out.push((kind, b.to_vec()));
        }
    };
    let sig = Sig(ed::Signature::from_bytes([3; 64]));
    let addr = Address([2; 20]);
    let parts = [
        ProposalPart::Init { height: Height(1), round: Round::new(0), proposer: addr },
        ProposalPart::Data(vec![1, 2, 3, 4]),
        ProposalPart::Fin(sig),
    ];
    for p in &parts {
        push(WireKind::ProposalPart, Codec::<ProposalPart>::encode(&codec, p));
    }
    let sid = StreamId::new(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 1]));
    for (seq, p) in parts.iter().enumerate() {
        let m = StreamMessage::new(sid.clone(), seq as u64, StreamContent::Data(p.clone()));
        push(WireKind::StreamMessage, codec.encode(&m));
    }
    let fin: StreamMessage<ProposalPart> = StreamMessage::new(sid, 3, StreamContent::Fin);
    push(WireKind::StreamMessage, codec.encode(&fin));
    let vote = Vote {
        typ: malachitebft_core_types::VoteType::Precommit,
        height: Height(1),
        round: Round::new(0),
        value: NilOrVal::Val(ValueId([5; 32])),
        validator_address: addr,
        extension: None,
    };
    let signed_vote = SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(vote, sig));
    push(WireKind::ConsensusMsg, codec.encode(&signed_vote));
    let proposal = Proposal {
        height: Height(1),
        round: Round::new(0),
        value: ValueId([5; 32]),
        pol_round: Round::Nil,
        validator_address: addr,
    };
    let signed_proposal = SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(proposal, sig));
    push(WireKind::ConsensusMsg, codec.encode(&signed_proposal));
    if let Some(peer_id) = peer(1) {
        let status: Status<Ctx> =
            Status { peer_id, tip_height: Height(5), history_min_height: Height(1) };
        push(WireKind::Status, codec.encode(&status));
    }
    let request: Request<Ctx> = Request::ValueRequest(ValueRequest::new(Height(1)..=Height(2)));
    push(WireKind::Request, codec.encode(&request));
    let certificate = ExtendedCommitCertificate {
        height: Height(1),
        round: Round::new(0),
        value_id: ValueId([5; 32]),
        commit_signatures: vec![malachitebft_core_types::ExtendedCommitSignature::new(
            addr, sig, None,
        )],
    };
    let response: Response<Ctx> = Response::ValueResponse(ValueResponse::new(
        Height(1),
        vec![RawDecidedValue::new(Bytes::from_static(b"block"), certificate)],
    ));
    push(WireKind::Response, codec.encode(&response));
    let proof: ValidatorProof<Ctx> =
        ValidatorProof::new(vec![4; 32], peer(2).map(|p| p.to_bytes()).unwrap_or_default(), sig);
    push(WireKind::ValidatorProof, codec.encode(&proof));
    out
}
