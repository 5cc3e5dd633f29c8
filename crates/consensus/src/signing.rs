//! Canonical sign bytes and the ed25519 signer/verifier handed to Malachite.
//!
//! Every signed message starts with a domain tag and the chain id, so a signature can be replayed
//! neither across message kinds nor across chains.

use std::sync::Arc;

use async_trait::async_trait;
use malachitebft_app_channel::app::types::core::{
    NilOrVal, Round, SignedMessage, ValidatorProof, VoteExtensionScope, VoteType,
};
use malachitebft_signing::{Error as SignError, Signer, VerificationResult, Verifier};
use malachitebft_signing_ed25519::{PrivateKey, PublicKey, Signature};
use sha2::{Digest, Sha256};

use crate::context::{Address, BlockId, ChorusContext, PartInit, Proposal, Vote};

const VOTE_TAG: &[u8] = b"chorus/consensus/vote/v1";
const PROPOSAL_TAG: &[u8] = b"chorus/consensus/proposal/v1";
const PARTS_TAG: &[u8] = b"chorus/consensus/parts/v1";
const EXT_TAG: &[u8] = b"chorus/consensus/ext/v1";

fn put_chain(out: &mut Vec<u8>, tag: &[u8], chain_id: &str) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    out.extend_from_slice(chain_id.as_bytes());
}

fn round_i64(round: Round) -> [u8; 8] {
    round.as_i64().to_be_bytes()
}

/// Canonical bytes signed by a vote.
pub(crate) fn vote_sign_bytes(
    chain_id: &str,
    typ: VoteType,
    height: u64,
    round: Round,
    value: &NilOrVal<BlockId>,
    address: &Address,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(VOTE_TAG.len() + chain_id.len() + 80);
    put_chain(&mut out, VOTE_TAG, chain_id);
    out.push(match typ {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    });
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round_i64(round));
    match value {
        NilOrVal::Nil => out.push(0),
        NilOrVal::Val(id) => {
            out.push(1);
            out.extend_from_slice(&id.0);
        }
    }
    out.extend_from_slice(&address.0);
    out
}

pub(crate) fn vote_bytes(chain_id: &str, vote: &Vote) -> Vec<u8> {
    vote_sign_bytes(chain_id, vote.typ, vote.height.0, vote.round, &vote.value, &vote.address)
}

pub(crate) fn proposal_bytes(chain_id: &str, p: &Proposal) -> Vec<u8> {
    let mut out = Vec::with_capacity(PROPOSAL_TAG.len() + chain_id.len() + 80);
    put_chain(&mut out, PROPOSAL_TAG, chain_id);
    out.extend_from_slice(&p.height.0.to_be_bytes());
    out.extend_from_slice(&round_i64(p.round));
    out.extend_from_slice(&p.value.0);
    out.extend_from_slice(&round_i64(p.pol_round));
    out.extend_from_slice(&p.address.0);
    out
}

/// Digest signed by the `Fin` part: every `Init` field and the whole block.
pub(crate) fn parts_digest(chain_id: &str, init: &PartInit, block: &[u8]) -> [u8; 32] {
    let mut prefix = Vec::with_capacity(PARTS_TAG.len() + chain_id.len() + 100);
    put_chain(&mut prefix, PARTS_TAG, chain_id);
    prefix.extend_from_slice(&init.height.0.to_be_bytes());
    prefix.extend_from_slice(&round_i64(init.round));
    prefix.extend_from_slice(&round_i64(init.pol_round));
    prefix.extend_from_slice(&init.proposer.0);
    prefix.extend_from_slice(&init.value_id.0);
    prefix.extend_from_slice(&init.total_len.to_be_bytes());
    let mut hasher = Sha256::new();
    hasher.update(&prefix);
    hasher.update(block);
    hasher.finalize().into()
}

fn ext_bytes(chain_id: &str, scope: &VoteExtensionScope<ChorusContext>) -> Vec<u8> {
    let mut out = Vec::new();
    put_chain(&mut out, EXT_TAG, chain_id);
    out.extend_from_slice(&scope.height.0.to_be_bytes());
    out.extend_from_slice(&round_i64(scope.round));
    out.extend_from_slice(&scope.value_id.0);
    out.extend_from_slice(&scope.validator_address.0);
    out
}

/// Verifies signatures for Malachite (stateless apart from the chain id).
#[derive(Clone, Debug)]
pub(crate) struct ChorusVerifier {
    pub(crate) chain_id: Arc<str>,
}

fn check(pk: &PublicKey, msg: &[u8], sig: &Signature) -> VerificationResult {
    VerificationResult::from_bool(pk.verify(msg, sig).is_ok())
}

#[async_trait]
impl Verifier<ChorusContext> for ChorusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(check(public_key, &vote_bytes(&self.chain_id, vote), signature))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(check(public_key, &proposal_bytes(&self.chain_id, proposal), signature))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<ChorusContext>,
        _extension: &(),
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(check(public_key, &ext_bytes(&self.chain_id, scope), signature))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<ChorusContext>,
    ) -> Result<VerificationResult, SignError> {
        let pk = proof.decoded_public_key().map_err(|e| {
            SignError::from_source(format!("invalid public key in validator proof: {e}"))
        })?;
        Ok(check(&pk, &proof.preimage(), &proof.signature))
    }
}

/// Signs with the local validator key.
#[derive(Clone)]
pub(crate) struct ChorusSigner {
    pub(crate) key: PrivateKey,
    pub(crate) chain_id: Arc<str>,
}

impl ChorusSigner {
    pub(crate) fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

#[async_trait]
impl Signer<ChorusContext> for ChorusSigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<ChorusContext, Vote>, SignError> {
        let sig = self.sign(&vote_bytes(&self.chain_id, &vote));
        Ok(SignedMessage::new(vote, sig))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<ChorusContext, Proposal>, SignError> {
        let sig = self.sign(&proposal_bytes(&self.chain_id, &proposal));
        Ok(SignedMessage::new(proposal, sig))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<ChorusContext>,
        extension: (),
    ) -> Result<SignedMessage<ChorusContext, ()>, SignError> {
        let sig = self.sign(&ext_bytes(&self.chain_id, &scope));
        Ok(SignedMessage::new(extension, sig))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<ChorusContext>, SignError> {
        let preimage = ValidatorProof::<ChorusContext>::signing_bytes(&public_key, &peer_id);
        Ok(ValidatorProof::new(public_key, peer_id, self.sign(&preimage)))
    }
}
