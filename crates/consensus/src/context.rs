//! Malachite `Context` for Chorus: heights, addresses, validators, values, votes, proposals and
//! proposal parts. Nothing here is visible outside the crate.

use std::fmt;
use std::sync::Arc;

use malachitebft_app_channel::app::types::core::{
    self as mc, LinearTimeouts, NilOrVal, Round, VoteType, VotingPower,
};
use malachitebft_signing_ed25519::{Ed25519, PublicKey, Signature};
use sha2::{Digest, Sha256};

/// Derive the 20-byte consensus address of an ed25519 public key: `sha256(pubkey)[..20]`.
pub(crate) fn address_of(public_key: &[u8; 32]) -> [u8; 20] {
    let digest = Sha256::digest(public_key);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[..20]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Block height (>= 1 for real blocks).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Height(pub(crate) u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// Consensus address: `sha256(ed25519 pubkey)[..20]`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Address(pub(crate) [u8; 20]);

impl Address {
    pub(crate) fn from_public_key(pk: &PublicKey) -> Self {
        Address(address_of(pk.as_bytes()))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl mc::Address for Address {}

/// A block id (the application's 32-byte block hash). The consensus value is only the id: the block
/// bytes travel as proposal parts and are kept by the host (see `store.rs`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BlockId(pub(crate) [u8; 32]);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0[..8]))
    }
}

impl mc::Value for BlockId {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        *self
    }
}

/// A validator: ed25519 key, derived address and voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Validator {
    pub(crate) address: Address,
    pub(crate) public_key: PublicKey,
    pub(crate) power: VotingPower,
}

impl Validator {
    pub(crate) fn new(public_key: PublicKey, power: VotingPower) -> Self {
        Self { address: Address::from_public_key(&public_key), public_key, power }
    }
}

impl mc::Validator<ChorusContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> VotingPower {
        self.power
    }
}

/// Validator set, sorted by address, no duplicates, no zero power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidatorSet {
    pub(crate) validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// Sorts by address, drops zero-power entries and merges duplicate keys (powers added).
    pub(crate) fn new(mut validators: Vec<Validator>) -> Self {
        validators.retain(|v| v.power > 0);
        validators.sort_by(|a, b| a.address.cmp(&b.address));
        let mut merged: Vec<Validator> = Vec::with_capacity(validators.len());
        for v in validators {
            match merged.last_mut() {
                Some(last) if last.address == v.address => {
                    last.power = last.power.saturating_add(v.power)
                }
                _ => merged.push(v),
            }
        }
        Self { validators: Arc::new(merged) }
    }

    pub(crate) fn get(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    pub(crate) fn total_power(&self) -> u64 {
        self.validators.iter().fold(0u64, |acc, v| acc.saturating_add(v.power))
    }

    /// Index of the proposer of (height, round).
    ///
    /// Round 0: a validator picked with probability proportional to its power, from
    /// `sha256("chorus/proposer" || height)` reduced modulo the total power over the
    /// address-sorted cumulative powers. Round r: the validator r positions after it (wrapping), so
    /// consecutive rounds of one height never ask the same validator twice in a row (n > 1).
    pub(crate) fn proposer_index(&self, height: u64, round: u32) -> usize {
        let n = self.validators.len();
        if n <= 1 {
            return 0;
        }
        let total = self.total_power().max(1);
        let mut hasher = Sha256::new();
        hasher.update(b"chorus/proposer");
        hasher.update(height.to_be_bytes());
        let digest = hasher.finalize();
        let mut seed = [0u8; 16];
        seed.copy_from_slice(&digest[..16]);
        let pick = (u128::from_be_bytes(seed) % u128::from(total)) as u64;
        let mut acc = 0u64;
        let mut base = n - 1;
        for (i, v) in self.validators.iter().enumerate() {
            acc = acc.saturating_add(v.power);
            if pick < acc {
                base = i;
                break;
            }
        }
        (base + round as usize % n) % n
    }
}

impl mc::ValidatorSet<ChorusContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.total_power()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.get(address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// Prevote or precommit. Vote extensions are not used (always `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Vote {
    pub(crate) typ: VoteType,
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: NilOrVal<BlockId>,
    pub(crate) address: Address,
}

impl mc::Vote<ChorusContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.typ
    }

    fn validator_address(&self) -> &Address {
        &self.address
    }

    fn extension(&self) -> Option<&mc::SignedExtension<ChorusContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<mc::SignedExtension<ChorusContext>> {
        None
    }

    fn extend(self, _extension: mc::SignedExtension<ChorusContext>) -> Self {
        self
    }
}

/// The signed proposal message (carries only the block id; the block comes as parts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proposal {
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) value: BlockId,
    pub(crate) pol_round: Round,
    pub(crate) address: Address,
}

impl mc::Proposal<ChorusContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockId {
        &self.value
    }

    fn take_value(self) -> BlockId {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.address
    }
}

/// First part of a proposal stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PartInit {
    pub(crate) height: Height,
    pub(crate) round: Round,
    pub(crate) pol_round: Round,
    pub(crate) proposer: Address,
    pub(crate) value_id: BlockId,
    pub(crate) total_len: u64,
}

/// One piece of a proposal: `Init`, then `Data` chunks of the block bytes, then `Fin` carrying the
/// proposer's signature over [`crate::signing::parts_digest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProposalPart {
    Init(PartInit),
    Data(bytes::Bytes),
    Fin(Signature),
}

impl mc::ProposalPart<ChorusContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The Chorus Malachite context.
#[derive(Clone, Debug, Default)]
pub(crate) struct ChorusContext;

impl mc::Context for ChorusContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockId;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let idx = validator_set.proposer_index(height.0, round.as_u32().unwrap_or(0));
        // Malachite never starts a height with an empty set (start_height asserts it); `run`
        // also refuses an empty set, so index 0 exists.
        #[allow(clippy::indexing_slicing)]
        &validator_set.validators[idx]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockId,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal { height, round, value, pol_round, address }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote { typ: VoteType::Prevote, height, round, value: value_id, address }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: Address,
    ) -> Vote {
        Vote { typ: VoteType::Precommit, height, round, value: value_id, address }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            powers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let sk = malachitebft_signing_ed25519::PrivateKey::from([i as u8 + 1; 32]);
                    Validator::new(sk.public_key(), *p)
                })
                .collect(),
        )
    }

    #[test]
    fn proposer_selection_is_deterministic_and_rotates_by_round() {
        let s = set(&[1, 1, 1, 1]);
        for h in 1..50 {
            let p0 = s.proposer_index(h, 0);
            assert_eq!(p0, s.proposer_index(h, 0));
            assert_eq!(s.proposer_index(h, 1), (p0 + 1) % 4);
            assert_eq!(s.proposer_index(h, 4), p0);
        }
    }

    #[test]
    fn proposer_selection_follows_voting_power() {
        let s = set(&[1, 99]);
        let heavy = s.validators.iter().position(|v| v.power == 99).unwrap();
        let hits = (1..1000).filter(|h| s.proposer_index(*h, 0) == heavy).count();
        assert!(hits > 900, "heavy validator proposed {hits}/999");
    }

    #[test]
    fn validator_set_sorts_merges_and_drops_zero_power() {
        let sk = malachitebft_signing_ed25519::PrivateKey::from([7; 32]);
        let s = ValidatorSet::new(vec![
            Validator::new(sk.public_key(), 2),
            Validator::new(sk.public_key(), 3),
            Validator::new(malachitebft_signing_ed25519::PrivateKey::from([8; 32]).public_key(), 0),
        ]);
        assert_eq!(s.validators.len(), 1);
        assert_eq!(s.total_power(), 5);
    }
}
