//! Malachite `Context` implementation (all types crate-private).

use std::fmt;

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use sha2::{Digest, Sha256};

use malachitebft_core_types::{
    self as mc, LinearTimeouts, NilOrVal, Round, SignedExtension, SignedMessage, SignedProposal,
    SignedVote, ValidatorProof, VoteExtensionScope, VoteType, VotingPower,
};
use malachitebft_signing::{Error as SignError, Signer, VerificationResult, Verifier};
use malachitebft_signing_ed25519 as ed;

// ---------------------------------------------------------------------------
// Primitive types
// ---------------------------------------------------------------------------

/// 20-byte validator address = sha256(ed25519 pubkey)[..20].
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub(crate) struct Address(pub(crate) [u8; 20]);

impl Address {
    pub(crate) fn from_public_key(pk: &[u8; 32]) -> Self {
        let h = Sha256::digest(pk);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h[..20]);
        Address(a)
    }
}

fn hex(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(f, "{x:02x}")?;
    }
    Ok(())
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0)
    }
}
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}
impl mc::Address for Address {}

#[derive(
    Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub(crate) struct Height(pub(crate) u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Height({})", self.0)
    }
}
impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);
    fn increment_by(&self, n: u64) -> Self {
        Height(self.0 + n)
    }
    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }
    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// The consensus value is the 32-byte block id; the block bytes travel as proposal parts.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub(crate) struct ValueId(pub(crate) [u8; 32]);

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex(f, &self.0[..8])
    }
}
impl fmt::Debug for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueId({self})")
    }
}
impl mc::Value for ValueId {
    type Id = ValueId;
    fn id(&self) -> ValueId {
        *self
    }
}

// ---------------------------------------------------------------------------
// Signing scheme: thin newtypes over arc-malachitebft-signing-ed25519 so that
// the borsh impls of Malachite's generic types can be used (orphan rule).
// ---------------------------------------------------------------------------

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Sig(pub(crate) ed::Signature);

impl BorshSerialize for Sig {
    fn serialize<W: borsh::io::Write>(&self, w: &mut W) -> borsh::io::Result<()> {
        w.write_all(&self.0.to_bytes())
    }
}
impl BorshDeserialize for Sig {
    fn deserialize_reader<R: borsh::io::Read>(r: &mut R) -> borsh::io::Result<Self> {
        let mut b = [0u8; 64];
        r.read_exact(&mut b)?;
        Ok(Sig(ed::Signature::from_bytes(b)))
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct PubKey(pub(crate) ed::PublicKey);

impl PubKey {
    pub(crate) fn from_bytes(b: [u8; 32]) -> Option<Self> {
        ed::PublicKey::from_bytes(b).ok().map(PubKey)
    }
    pub(crate) fn bytes(&self) -> [u8; 32] {
        *self.0.as_bytes()
    }
    pub(crate) fn verify(&self, msg: &[u8], sig: &Sig) -> bool {
        self.0.verify(msg, &sig.0).is_ok()
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scheme;

impl mc::SigningScheme for Scheme {
    type DecodingError = String;
    type Signature = Sig;
    type PublicKey = PubKey;
    type PrivateKey = ed::PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Sig, String> {
        let b: [u8; 64] = bytes.try_into().map_err(|_| "bad signature length".to_string())?;
        Ok(Sig(ed::Signature::from_bytes(b)))
    }
    fn encode_signature(s: &Sig) -> Vec<u8> {
        s.0.to_bytes().to_vec()
    }
    fn decode_public_key(bytes: &[u8]) -> Result<PubKey, String> {
        let b: [u8; 32] = bytes.try_into().map_err(|_| "bad public key length".to_string())?;
        PubKey::from_bytes(b).ok_or_else(|| "invalid public key".to_string())
    }
    fn encode_public_key(pk: &PubKey) -> Vec<u8> {
        pk.bytes().to_vec()
    }
}

// ---------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Validator {
    pub(crate) address: Address,
    pub(crate) public_key: PubKey,
    pub(crate) voting_power: VotingPower,
}

impl mc::Validator<Ctx> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }
    fn public_key(&self) -> &PubKey {
        &self.public_key
    }
    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// Sorted by voting power (descending), then address (ascending), with the proposer schedule
/// derived from the powers (see [`crate::proposer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidatorSet {
    pub(crate) validators: Vec<Validator>,
    schedule: Vec<u32>,
}

impl ValidatorSet {
    pub(crate) fn new(mut validators: Vec<Validator>) -> Self {
        validators.retain(|v| v.voting_power > 0);
        validators
            .sort_by(|a, b| b.voting_power.cmp(&a.voting_power).then(a.address.cmp(&b.address)));
        validators.dedup_by(|a, b| a.address == b.address);
        let powers: Vec<u64> = validators.iter().map(|v| v.voting_power).collect();
        let schedule = crate::proposer::schedule(&powers);
        Self { validators, schedule }
    }

    /// The proposer of `(height, round)`: weighted by voting power ([`crate::proposer`]).
    pub(crate) fn proposer(&self, height: u64, round: u32) -> Option<&Validator> {
        let i = crate::proposer::proposer_at(&self.schedule, height, round)?;
        self.validators.get(i)
    }
}

impl mc::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }
    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }
    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }
    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

// ---------------------------------------------------------------------------
// Votes, proposals, proposal parts
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Vote {
    pub(crate) typ: VoteType,
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: NilOrVal<ValueId>,
    pub(crate) validator_address: Address,
    pub(crate) extension: Option<SignedExtension<Ctx>>,
}

/// Sign bytes of a vote: Chorus's canonical [`chorus_types::staking::Vote::sign_bytes`] —
/// `"chorus/vote/v1" ‖ chain_id u64 LE ‖ borsh(Vote { height, round, type, value, consensus key })`
/// — so a pair of conflicting votes from Malachite is evidence the state machine re-verifies
/// (`StakingMsg::SubmitEvidence`). The extension is not covered (always `()`).
pub(crate) fn vote_sign_bytes(
    chain_id: u64,
    typ: VoteType,
    height: u64,
    round: u32,
    value: Option<&[u8; 32]>,
    key: &[u8; 32],
) -> Vec<u8> {
    canonical_vote(typ, height, round, value, key).sign_bytes(chain_id)
}

/// The vote as the state machine's evidence type.
pub(crate) fn canonical_vote(
    typ: VoteType,
    height: u64,
    round: u32,
    value: Option<&[u8; 32]>,
    key: &[u8; 32],
) -> chorus_types::staking::Vote {
    chorus_types::staking::Vote {
        height,
        round,
        vote_type: match typ {
            VoteType::Prevote => chorus_types::staking::VoteType::Prevote,
            VoteType::Precommit => chorus_types::staking::VoteType::Precommit,
        },
        value_id: value.map(|v| chorus_types::Hash(*v)),
        validator: *key,
    }
}

impl Vote {
    /// Votes are always cast in a concrete round; `Nil` (never signed) maps to `u32::MAX`.
    pub(crate) fn round_u32(&self) -> u32 {
        self.round.as_u32().unwrap_or(u32::MAX)
    }

    pub(crate) fn value_bytes(&self) -> Option<&[u8; 32]> {
        match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(&id.0),
        }
    }

    /// The bytes `key` (the voter's consensus key) signs for this vote on chain `chain_id`.
    pub(crate) fn to_sign_bytes(&self, key: &[u8; 32], chain_id: u64) -> Vec<u8> {
        vote_sign_bytes(
            chain_id,
            self.typ,
            self.height.0,
            self.round_u32(),
            self.value_bytes(),
            key,
        )
    }
}

impl mc::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &NilOrVal<ValueId> {
        &self.value
    }
    fn take_value(self) -> NilOrVal<ValueId> {
        self.value
    }
    fn vote_type(&self) -> VoteType {
        self.typ
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        self.extension.as_ref()
    }
    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        self.extension.take()
    }
    fn extend(self, extension: SignedExtension<Ctx>) -> Self {
        Self { extension: Some(extension), ..self }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Proposal {
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: ValueId,
    pub(crate) pol_round: Round,
    pub(crate) validator_address: Address,
}

impl Proposal {
    pub(crate) fn to_sign_bytes(&self) -> Vec<u8> {
        let mut b = b"chorus/proposal/v1".to_vec();
        // Same bytes as appending `borsh::to_vec(self)`; writing into a `Vec` cannot fail.
        if let Err(e) = self.serialize(&mut b) {
            tracing::error!("borsh encoding of a proposal failed: {e}");
        }
        b
    }
}

impl mc::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }
    fn round(&self) -> Round {
        self.round
    }
    fn value(&self) -> &ValueId {
        &self.value
    }
    fn take_value(self) -> ValueId {
        self.value
    }
    fn pol_round(&self) -> Round {
        self.pol_round
    }
    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
}

/// Streamed proposal parts: `Init`, `Data` chunks (<= 64 KiB), `Fin` (signature of the proposer
/// over sha256 of the borsh encoding of all preceding parts).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum ProposalPart {
    Init { height: Height, round: Round, proposer: Address },
    Data(Vec<u8>),
    Fin(Sig),
}

impl mc::ProposalPart<Ctx> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }
    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// Hash of all non-Fin parts, which the proposer signs in the Fin part.
pub(crate) fn parts_digest(parts: &[ProposalPart]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"chorus/parts/v1");
    for p in parts {
        if !matches!(p, ProposalPart::Fin(_)) {
            // Same bytes as `borsh::to_vec(p)`; writing into a `Vec` cannot fail.
            let mut buf = Vec::new();
            if let Err(e) = p.serialize(&mut buf) {
                tracing::error!("borsh encoding of a proposal part failed: {e}");
            }
            h.update(buf);
        }
    }
    h.finalize().into()
}

// ---------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ctx;

impl mc::Context for Ctx {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = ValueId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Scheme;

    fn select_proposer<'a>(
        &self,
        vs: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        assert!(!vs.validators.is_empty());
        // Malachite only asks for the proposer of a defined round.
        let r = round.as_u32().unwrap_or_else(|| {
            tracing::error!(%height, "select_proposer called for the nil round; using round 0");
            0
        });
        // A set with validators always has a schedule (the largest power gets weight ≥ 1).
        vs.proposer(height.0, r).unwrap_or(&vs.validators[0])
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: ValueId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, validator_address: address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator_address: address,
            extension: None,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator_address: address,
            extension: None,
        }
    }
}

// ---------------------------------------------------------------------------
// Signer / Verifier
// ---------------------------------------------------------------------------

fn ext_scope_bytes(scope: &VoteExtensionScope<Ctx>) -> Vec<u8> {
    let mut b = b"chorus/ext/v1".to_vec();
    b.extend_from_slice(&scope.height.0.to_be_bytes());
    b.extend_from_slice(&scope.round.as_i64().to_be_bytes());
    b.extend_from_slice(&scope.value_id.0);
    b.extend_from_slice(&scope.validator_address.0);
    b
}

pub(crate) struct KeyVerifier {
    pub(crate) chain_id: u64,
}

#[async_trait]
impl Verifier<Ctx> for KeyVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Sig,
        public_key: &PubKey,
    ) -> Result<VerificationResult, SignError> {
        let bytes = vote.to_sign_bytes(&public_key.bytes(), self.chain_id);
        Ok(VerificationResult::from_bool(public_key.verify(&bytes, signature)))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Sig,
        public_key: &PubKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(VerificationResult::from_bool(public_key.verify(&proposal.to_sign_bytes(), signature)))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<Ctx>,
        _extension: &(),
        signature: &Sig,
        public_key: &PubKey,
    ) -> Result<VerificationResult, SignError> {
        Ok(VerificationResult::from_bool(public_key.verify(&ext_scope_bytes(scope), signature)))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<Ctx>,
    ) -> Result<VerificationResult, SignError> {
        let pk = proof
            .decoded_public_key()
            .map_err(|e| SignError::from_source(format!("invalid public key: {e}")))?;
        Ok(VerificationResult::from_bool(pk.verify(&proof.preimage(), &proof.signature)))
    }
}

pub(crate) struct KeySigner {
    pub(crate) key: ed::PrivateKey,
    pub(crate) chain_id: u64,
}

impl KeySigner {
    pub(crate) fn sign(&self, msg: &[u8]) -> Sig {
        Sig(self.key.sign(msg))
    }
}

#[async_trait]
impl Signer<Ctx> for KeySigner {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedVote<Ctx>, SignError> {
        let s = self.sign(&vote.to_sign_bytes(self.key.public_key().as_bytes(), self.chain_id));
        Ok(SignedMessage::new(vote, s))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedProposal<Ctx>, SignError> {
        let s = self.sign(&proposal.to_sign_bytes());
        Ok(SignedMessage::new(proposal, s))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<Ctx>,
        extension: (),
    ) -> Result<SignedExtension<Ctx>, SignError> {
        let s = self.sign(&ext_scope_bytes(&scope));
        Ok(SignedMessage::new(extension, s))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<Ctx>, SignError> {
        let pre = ValidatorProof::<Ctx>::signing_bytes(&public_key, &peer_id);
        let s = self.sign(&pre);
        Ok(ValidatorProof::new(public_key, peer_id, s))
    }
}
