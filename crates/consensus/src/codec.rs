//! One borsh codec for everything Malachite writes to the network, the sync protocol and the WAL.
//!
//! Malachite's generic types are mapped to small private `W*` wire structs (stable field order,
//! fixed-size arrays for keys, ids and signatures), so the on-wire and on-disk format belongs to
//! Chorus and does not move when Malachite's internal types do.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal,
    PolkaCertificate, PolkaSignature, Round, RoundCertificate, RoundCertificateType,
    RoundSignature, SignedMessage, ValidatorProof, Validity, VoteType,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_sync::{ValueRequest, ValueResponse};
use malachitebft_signing_ed25519::Signature;

use crate::context::{
    Address, BlockId, ChorusContext, Height, PartInit, Proposal, ProposalPart, Vote,
};

type Ctx = ChorusContext;

/// A message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[error("consensus codec: {0}")]
pub(crate) struct CodecError(String);

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError(e.to_string())
}

/// The codec handed to Malachite for WAL, network and sync.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct ChorusCodec;

// ---------- wire structs ----------

#[derive(BorshSerialize, BorshDeserialize)]
struct WVote {
    typ: u8,
    height: u64,
    round: i64,
    value: Option<[u8; 32]>,
    address: [u8; 20],
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WSignedVote {
    vote: WVote,
    sig: [u8; 64],
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WProposal {
    height: u64,
    round: i64,
    value: [u8; 32],
    pol_round: i64,
    address: [u8; 20],
}

#[derive(BorshSerialize, BorshDeserialize)]
enum WConsensusMsg {
    Vote(WSignedVote),
    Proposal(WProposal, [u8; 64]),
}

#[derive(BorshSerialize, BorshDeserialize)]
enum WPart {
    Init {
        height: u64,
        round: i64,
        pol_round: i64,
        proposer: [u8; 20],
        value_id: [u8; 32],
        total_len: u64,
    },
    Data(Vec<u8>),
    Fin([u8; 64]),
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WStream {
    stream_id: Vec<u8>,
    sequence: u64,
    /// `None` = end of stream.
    content: Option<WPart>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WPolka {
    height: u64,
    round: i64,
    value_id: [u8; 32],
    sigs: Vec<([u8; 20], [u8; 64])>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WRoundSig {
    vote_type: u8,
    value: Option<[u8; 32]>,
    address: [u8; 20],
    sig: [u8; 64],
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WRoundCert {
    height: u64,
    round: i64,
    precommit: bool,
    sigs: Vec<WRoundSig>,
}

#[derive(BorshSerialize, BorshDeserialize)]
enum WLiveness {
    Vote(WSignedVote),
    Polka(WPolka),
    Skip(WRoundCert),
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    sig: [u8; 64],
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WStatus {
    peer_id: Vec<u8>,
    tip_height: u64,
    history_min_height: u64,
}

#[derive(BorshSerialize, BorshDeserialize)]
enum WRequest {
    Values { start: u64, end: u64 },
}

#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct WCommitSig {
    pub(crate) address: [u8; 20],
    pub(crate) sig: [u8; 64],
    /// Signature of the (empty) vote extension, if any.
    pub(crate) ext_sig: Option<[u8; 64]>,
}

#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct WCommitCert {
    pub(crate) height: u64,
    pub(crate) round: i64,
    pub(crate) value_id: [u8; 32],
    pub(crate) sigs: Vec<WCommitSig>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WRawDecided {
    value_bytes: Vec<u8>,
    cert: WCommitCert,
}

#[derive(BorshSerialize, BorshDeserialize)]
enum WResponse {
    Values { start_height: u64, values: Vec<WRawDecided> },
}

#[derive(BorshSerialize, BorshDeserialize)]
struct WProposedValue {
    height: u64,
    round: i64,
    valid_round: i64,
    proposer: [u8; 20],
    value: [u8; 32],
    valid: bool,
}

// ---------- conversions ----------

pub(crate) fn round_to_wire(r: Round) -> i64 {
    r.as_i64()
}

pub(crate) fn round_from_wire(r: i64) -> Result<Round, CodecError> {
    if r == -1 {
        Ok(Round::Nil)
    } else {
        u32::try_from(r).map(Round::new).map_err(|_| err(format!("bad round {r}")))
    }
}

fn vote_type_to_wire(t: VoteType) -> u8 {
    match t {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    }
}

fn vote_type_from_wire(t: u8) -> Result<VoteType, CodecError> {
    match t {
        1 => Ok(VoteType::Prevote),
        2 => Ok(VoteType::Precommit),
        _ => Err(err(format!("bad vote type {t}"))),
    }
}

fn nil_or_val_to_wire(v: &NilOrVal<BlockId>) -> Option<[u8; 32]> {
    match v {
        NilOrVal::Nil => None,
        NilOrVal::Val(id) => Some(id.0),
    }
}

fn nil_or_val_from_wire(v: Option<[u8; 32]>) -> NilOrVal<BlockId> {
    v.map_or(NilOrVal::Nil, |id| NilOrVal::Val(BlockId(id)))
}

fn signed_vote_to_wire(v: &SignedMessage<Ctx, Vote>) -> WSignedVote {
    WSignedVote {
        vote: WVote {
            typ: vote_type_to_wire(v.message.typ),
            height: v.message.height.0,
            round: round_to_wire(v.message.round),
            value: nil_or_val_to_wire(&v.message.value),
            address: v.message.address.0,
        },
        sig: v.signature.to_bytes(),
    }
}

fn signed_vote_from_wire(w: WSignedVote) -> Result<SignedMessage<Ctx, Vote>, CodecError> {
    let vote = Vote {
        typ: vote_type_from_wire(w.vote.typ)?,
        height: Height(w.vote.height),
        round: round_from_wire(w.vote.round)?,
        value: nil_or_val_from_wire(w.vote.value),
        address: Address(w.vote.address),
    };
    Ok(SignedMessage::new(vote, Signature::from_bytes(w.sig)))
}

fn part_to_wire(p: &ProposalPart) -> WPart {
    match p {
        ProposalPart::Init(i) => WPart::Init {
            height: i.height.0,
            round: round_to_wire(i.round),
            pol_round: round_to_wire(i.pol_round),
            proposer: i.proposer.0,
            value_id: i.value_id.0,
            total_len: i.total_len,
        },
        ProposalPart::Data(d) => WPart::Data(d.to_vec()),
        ProposalPart::Fin(s) => WPart::Fin(s.to_bytes()),
    }
}

fn part_from_wire(w: WPart) -> Result<ProposalPart, CodecError> {
    Ok(match w {
        WPart::Init { height, round, pol_round, proposer, value_id, total_len } => {
            ProposalPart::Init(PartInit {
                height: Height(height),
                round: round_from_wire(round)?,
                pol_round: round_from_wire(pol_round)?,
                proposer: Address(proposer),
                value_id: BlockId(value_id),
                total_len,
            })
        }
        WPart::Data(d) => ProposalPart::Data(Bytes::from(d)),
        WPart::Fin(s) => ProposalPart::Fin(Signature::from_bytes(s)),
    })
}

fn polka_to_wire(c: &PolkaCertificate<Ctx>) -> WPolka {
    WPolka {
        height: c.height.0,
        round: round_to_wire(c.round),
        value_id: c.value_id.0,
        sigs: c.polka_signatures.iter().map(|s| (s.address.0, s.signature.to_bytes())).collect(),
    }
}

fn polka_from_wire(w: WPolka) -> Result<PolkaCertificate<Ctx>, CodecError> {
    Ok(PolkaCertificate {
        height: Height(w.height),
        round: round_from_wire(w.round)?,
        value_id: BlockId(w.value_id),
        polka_signatures: w
            .sigs
            .into_iter()
            .map(|(a, s)| PolkaSignature::new(Address(a), Signature::from_bytes(s)))
            .collect(),
    })
}

pub(crate) fn commit_cert_to_wire(c: &ExtendedCommitCertificate<Ctx>) -> WCommitCert {
    WCommitCert {
        height: c.height.0,
        round: round_to_wire(c.round),
        value_id: c.value_id.0,
        sigs: c
            .commit_signatures
            .iter()
            .map(|s| WCommitSig {
                address: s.address.0,
                sig: s.signature.to_bytes(),
                ext_sig: s.extension.as_ref().map(|e| e.signature.to_bytes()),
            })
            .collect(),
    }
}

pub(crate) fn commit_cert_from_wire(
    w: WCommitCert,
) -> Result<ExtendedCommitCertificate<Ctx>, CodecError> {
    Ok(ExtendedCommitCertificate {
        height: Height(w.height),
        round: round_from_wire(w.round)?,
        value_id: BlockId(w.value_id),
        commit_signatures: w
            .sigs
            .into_iter()
            .map(|s| {
                ExtendedCommitSignature::new(
                    Address(s.address),
                    Signature::from_bytes(s.sig),
                    s.ext_sig.map(|e| SignedMessage::new((), Signature::from_bytes(e))),
                )
            })
            .collect(),
    })
}

fn enc<T: BorshSerialize>(w: &T) -> Result<Bytes, CodecError> {
    borsh::to_vec(w).map(Bytes::from).map_err(err)
}

fn dec<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    borsh::from_slice(bytes).map_err(err)
}

// ---------- Codec impls ----------

impl Codec<ProposalPart> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposalPart, CodecError> {
        part_from_wire(dec(&bytes)?)
    }

    fn encode(&self, msg: &ProposalPart) -> Result<Bytes, CodecError> {
        enc(&part_to_wire(msg))
    }
}

impl Codec<SignedConsensusMsg<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<Ctx>, CodecError> {
        Ok(match dec::<WConsensusMsg>(&bytes)? {
            WConsensusMsg::Vote(v) => SignedConsensusMsg::Vote(signed_vote_from_wire(v)?),
            WConsensusMsg::Proposal(p, sig) => SignedConsensusMsg::Proposal(SignedMessage::new(
                Proposal {
                    height: Height(p.height),
                    round: round_from_wire(p.round)?,
                    value: BlockId(p.value),
                    pol_round: round_from_wire(p.pol_round)?,
                    address: Address(p.address),
                },
                Signature::from_bytes(sig),
            )),
        })
    }

    fn encode(&self, msg: &SignedConsensusMsg<Ctx>) -> Result<Bytes, CodecError> {
        enc(&match msg {
            SignedConsensusMsg::Vote(v) => WConsensusMsg::Vote(signed_vote_to_wire(v)),
            SignedConsensusMsg::Proposal(p) => WConsensusMsg::Proposal(
                WProposal {
                    height: p.message.height.0,
                    round: round_to_wire(p.message.round),
                    value: p.message.value.0,
                    pol_round: round_to_wire(p.message.pol_round),
                    address: p.message.address.0,
                },
                p.signature.to_bytes(),
            ),
        })
    }
}

impl Codec<LivenessMsg<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg<Ctx>, CodecError> {
        Ok(match dec::<WLiveness>(&bytes)? {
            WLiveness::Vote(v) => LivenessMsg::Vote(signed_vote_from_wire(v)?),
            WLiveness::Polka(p) => LivenessMsg::PolkaCertificate(polka_from_wire(p)?),
            WLiveness::Skip(c) => LivenessMsg::SkipRoundCertificate(RoundCertificate {
                height: Height(c.height),
                round: round_from_wire(c.round)?,
                cert_type: if c.precommit {
                    RoundCertificateType::Precommit
                } else {
                    RoundCertificateType::Skip
                },
                round_signatures: c
                    .sigs
                    .into_iter()
                    .map(|s| {
                        Ok(RoundSignature::new(
                            vote_type_from_wire(s.vote_type)?,
                            nil_or_val_from_wire(s.value),
                            Address(s.address),
                            Signature::from_bytes(s.sig),
                        ))
                    })
                    .collect::<Result<_, CodecError>>()?,
            }),
        })
    }

    fn encode(&self, msg: &LivenessMsg<Ctx>) -> Result<Bytes, CodecError> {
        enc(&match msg {
            LivenessMsg::Vote(v) => WLiveness::Vote(signed_vote_to_wire(v)),
            LivenessMsg::PolkaCertificate(p) => WLiveness::Polka(polka_to_wire(p)),
            LivenessMsg::SkipRoundCertificate(c) => WLiveness::Skip(WRoundCert {
                height: c.height.0,
                round: round_to_wire(c.round),
                precommit: matches!(c.cert_type, RoundCertificateType::Precommit),
                sigs: c
                    .round_signatures
                    .iter()
                    .map(|s| WRoundSig {
                        vote_type: vote_type_to_wire(s.vote_type),
                        value: nil_or_val_to_wire(&s.value_id),
                        address: s.address.0,
                        sig: s.signature.to_bytes(),
                    })
                    .collect(),
            }),
        })
    }
}

impl Codec<StreamMessage<ProposalPart>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<StreamMessage<ProposalPart>, CodecError> {
        let w: WStream = dec(&bytes)?;
        let content = match w.content {
            Some(p) => StreamContent::Data(part_from_wire(p)?),
            None => StreamContent::Fin,
        };
        Ok(StreamMessage::new(StreamId::new(Bytes::from(w.stream_id)), w.sequence, content))
    }

    fn encode(&self, msg: &StreamMessage<ProposalPart>) -> Result<Bytes, CodecError> {
        enc(&WStream {
            stream_id: msg.stream_id.to_bytes().to_vec(),
            sequence: msg.sequence,
            content: match &msg.content {
                StreamContent::Data(p) => Some(part_to_wire(p)),
                StreamContent::Fin => None,
            },
        })
    }
}

impl Codec<ValidatorProof<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Ctx>, CodecError> {
        let w: WProof = dec(&bytes)?;
        Ok(ValidatorProof::new(w.public_key, w.peer_id, Signature::from_bytes(w.sig)))
    }

    fn encode(&self, msg: &ValidatorProof<Ctx>) -> Result<Bytes, CodecError> {
        enc(&WProof {
            public_key: msg.public_key.clone(),
            peer_id: msg.peer_id.clone(),
            sig: msg.signature.to_bytes(),
        })
    }
}

impl Codec<Status<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Status<Ctx>, CodecError> {
        let w: WStatus = dec(&bytes)?;
        Ok(Status {
            peer_id: PeerId::from_bytes(&w.peer_id).map_err(err)?,
            tip_height: Height(w.tip_height),
            history_min_height: Height(w.history_min_height),
        })
    }

    fn encode(&self, msg: &Status<Ctx>) -> Result<Bytes, CodecError> {
        enc(&WStatus {
            peer_id: msg.peer_id.to_bytes(),
            tip_height: msg.tip_height.0,
            history_min_height: msg.history_min_height.0,
        })
    }
}

impl Codec<Request<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Request<Ctx>, CodecError> {
        let WRequest::Values { start, end } = dec(&bytes)?;
        Ok(Request::ValueRequest(ValueRequest::new(
            Height(start)..=Height(end),
        )))
    }

    fn encode(&self, msg: &Request<Ctx>) -> Result<Bytes, CodecError> {
        let Request::ValueRequest(r) = msg;
        enc(&WRequest::Values { start: r.range.start().0, end: r.range.end().0 })
    }
}

fn response_to_wire(msg: &Response<Ctx>) -> WResponse {
    let Response::ValueResponse(r) = msg;
    WResponse::Values {
        start_height: r.start_height.0,
        values: r
            .values
            .iter()
            .map(|v| WRawDecided {
                value_bytes: v.value_bytes.to_vec(),
                cert: commit_cert_to_wire(&v.certificate),
            })
            .collect(),
    }
}

impl Codec<Response<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<Ctx>, CodecError> {
        let WResponse::Values { start_height, values } = dec(&bytes)?;
        let values = values
            .into_iter()
            .map(|v| {
                Ok(RawDecidedValue::new(
                    Bytes::from(v.value_bytes),
                    commit_cert_from_wire(v.cert)?,
                ))
            })
            .collect::<Result<Vec<_>, CodecError>>()?;
        Ok(Response::ValueResponse(
            ValueResponse::new(Height(start_height), values),
        ))
    }

    fn encode(&self, msg: &Response<Ctx>) -> Result<Bytes, CodecError> {
        enc(&response_to_wire(msg))
    }
}

impl HasEncodedLen<Response<Ctx>> for ChorusCodec {
    fn encoded_len(&self, msg: &Response<Ctx>) -> Result<usize, CodecError> {
        borsh::object_length(&response_to_wire(msg)).map_err(err)
    }
}

impl Codec<ProposedValue<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ProposedValue<Ctx>, CodecError> {
        let w: WProposedValue = dec(&bytes)?;
        Ok(ProposedValue {
            height: Height(w.height),
            round: round_from_wire(w.round)?,
            valid_round: round_from_wire(w.valid_round)?,
            proposer: Address(w.proposer),
            value: BlockId(w.value),
            validity: Validity::from_bool(w.valid),
        })
    }

    fn encode(&self, msg: &ProposedValue<Ctx>) -> Result<Bytes, CodecError> {
        enc(&WProposedValue {
            height: msg.height.0,
            round: round_to_wire(msg.round),
            valid_round: round_to_wire(msg.valid_round),
            proposer: msg.proposer.0,
            value: msg.value.0,
            valid: msg.validity.is_valid(),
        })
    }
}

impl Codec<PolkaCertificate<Ctx>> for ChorusCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<PolkaCertificate<Ctx>, CodecError> {
        polka_from_wire(dec(&bytes)?)
    }

    fn encode(&self, msg: &PolkaCertificate<Ctx>) -> Result<Bytes, CodecError> {
        enc(&polka_to_wire(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use malachitebft_signing_ed25519::PrivateKey;

    fn sig(b: u8) -> Signature {
        PrivateKey::from([b; 32]).sign(b"x")
    }

    #[test]
    fn consensus_messages_roundtrip() {
        let vote = Vote {
            typ: VoteType::Precommit,
            height: Height(7),
            round: Round::new(2),
            value: NilOrVal::Val(BlockId([9; 32])),
            address: Address([1; 20]),
        };
        let m = SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(vote, sig(1)));
        let b = Codec::<SignedConsensusMsg<Ctx>>::encode(&ChorusCodec, &m).unwrap();
        assert_eq!(Codec::<SignedConsensusMsg<Ctx>>::decode(&ChorusCodec, b).unwrap(), m);

        let p = SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(
            Proposal {
                height: Height(1),
                round: Round::new(0),
                value: BlockId([3; 32]),
                pol_round: Round::Nil,
                address: Address([2; 20]),
            },
            sig(2),
        ));
        let b = Codec::<SignedConsensusMsg<Ctx>>::encode(&ChorusCodec, &p).unwrap();
        assert_eq!(Codec::<SignedConsensusMsg<Ctx>>::decode(&ChorusCodec, b).unwrap(), p);
    }

    #[test]
    fn stream_messages_roundtrip_and_garbage_is_rejected() {
        let m = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"id")),
            3,
            StreamContent::Data(ProposalPart::Data(Bytes::from_static(b"block"))),
        );
        let b = Codec::<StreamMessage<ProposalPart>>::encode(&ChorusCodec, &m).unwrap();
        assert_eq!(Codec::<StreamMessage<ProposalPart>>::decode(&ChorusCodec, b).unwrap(), m);
        assert!(
            Codec::<StreamMessage<ProposalPart>>::decode(&ChorusCodec, Bytes::from_static(b"\xff"))
                .is_err()
        );
        assert!(round_from_wire(-2).is_err());
    }
}
