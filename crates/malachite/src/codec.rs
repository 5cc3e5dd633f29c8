//! One borsh codec for WAL, consensus gossip and sync.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;

use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedExtension,
    ValidatorProof,
};
use malachitebft_sync::ValueResponse;

use crate::types::{Address, Ctx, Height, ProposalPart, Sig, ValueId};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BorshCodec;

#[derive(Debug, thiserror::Error)]
#[error("codec error: {0}")]
pub(crate) struct CodecError(pub(crate) String);

impl From<std::io::Error> for CodecError {
    fn from(e: std::io::Error) -> Self {
        CodecError(e.to_string())
    }
}

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for BorshCodec {
            type Error = CodecError;
            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                Ok(borsh::from_slice(&bytes)?)
            }
            fn encode(&self, msg: &$t) -> Result<Bytes, CodecError> {
                Ok(Bytes::from(borsh::to_vec(msg)?))
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<Ctx>,
    LivenessMsg<Ctx>,
    StreamMessage<ProposalPart>,
    ProposedValue<Ctx>,
    PolkaCertificate<Ctx>,
    Status<Ctx>,
    Request<Ctx>,
);

// --- ValidatorProof (no upstream borsh impl) ---

#[derive(BorshSerialize, BorshDeserialize)]
struct RawProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Sig,
}

impl Codec<ValidatorProof<Ctx>> for BorshCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Ctx>, CodecError> {
        let r: RawProof = borsh::from_slice(&bytes)?;
        Ok(ValidatorProof::new(r.public_key, r.peer_id, r.signature))
    }
    fn encode(&self, p: &ValidatorProof<Ctx>) -> Result<Bytes, CodecError> {
        let r = RawProof {
            public_key: p.public_key.clone(),
            peer_id: p.peer_id.clone(),
            signature: p.signature,
        };
        Ok(Bytes::from(borsh::to_vec(&r)?))
    }
}

// --- sync::Response (ExtendedCommitCertificate has no upstream borsh impl) ---

#[derive(BorshSerialize, BorshDeserialize)]
struct RawSig {
    address: Address,
    signature: Sig,
    extension: Option<SignedExtension<Ctx>>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct RawDecided {
    value_bytes: Vec<u8>,
    height: Height,
    round: Round,
    value_id: ValueId,
    sigs: Vec<RawSig>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct RawResponse {
    start_height: Height,
    values: Vec<RawDecided>,
}

fn to_raw(r: &Response<Ctx>) -> RawResponse {
    let Response::ValueResponse(vr) = r;
    RawResponse {
        start_height: vr.start_height,
        values: vr
            .values
            .iter()
            .map(|v| RawDecided {
                value_bytes: v.value_bytes.to_vec(),
                height: v.certificate.height,
                round: v.certificate.round,
                value_id: v.certificate.value_id,
                sigs: v
                    .certificate
                    .commit_signatures
                    .iter()
                    .map(|s| RawSig {
                        address: s.address,
                        signature: s.signature,
                        extension: s.extension.clone(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

impl Codec<Response<Ctx>> for BorshCodec {
    type Error = CodecError;
    fn decode(&self, bytes: Bytes) -> Result<Response<Ctx>, CodecError> {
        let r: RawResponse = borsh::from_slice(&bytes)?;
        let values = r
            .values
            .into_iter()
            .map(|v| {
                RawDecidedValue::new(
                    Bytes::from(v.value_bytes),
                    ExtendedCommitCertificate {
                        height: v.height,
                        round: v.round,
                        value_id: v.value_id,
                        commit_signatures: v
                            .sigs
                            .into_iter()
                            .map(|s| {
                                ExtendedCommitSignature::new(s.address, s.signature, s.extension)
                            })
                            .collect(),
                    },
                )
            })
            .collect();
        Ok(Response::ValueResponse(ValueResponse::new(r.start_height, values)))
    }
    fn encode(&self, r: &Response<Ctx>) -> Result<Bytes, CodecError> {
        Ok(Bytes::from(borsh::to_vec(&to_raw(r))?))
    }
}

impl HasEncodedLen<Response<Ctx>> for BorshCodec {
    fn encoded_len(&self, r: &Response<Ctx>) -> Result<usize, CodecError> {
        Ok(borsh::object_length(&to_raw(r))?)
    }
}
