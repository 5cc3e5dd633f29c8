//! `verify_last_commit` (security review M1): the signer list liveness accounting trusts must be
//! proven by precommit signatures of the set that signed the parent.

use chorus_chain::state::MemState;
use chorus_chain::{BlockContext, CommitError, execute_block, verify_last_commit};
use chorus_crypto::ConsensusKey;
use chorus_types::staking::{Vote, VoteType};
use chorus_types::{CommitInfo, Genesis, GenesisValidator, Hash};

use crate::support::{CHAIN, addr};

const NAMES: [&str; 4] = ["lc0", "lc1", "lc2", "lc3"];
const PARENT: Hash = Hash([0x42; 32]);

fn ckey(name: &str) -> ConsensusKey {
    ConsensusKey::from_seed(name.as_bytes())
}

/// Four equal validators, after block 1.
fn state() -> MemState {
    let genesis = Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 1_700_000_000_000,
        accounts: NAMES.iter().map(|n| (addr(n), 1_000_000)).collect(),
        validators: NAMES
            .iter()
            .map(|n| GenesisValidator {
                operator: addr(n),
                consensus_key: ckey(n).public_key(),
                stake: 1_000_000,
            })
            .collect(),
        params: crate::support::test_params(0),
    };
    let mut s = MemState::new();
    s.apply(&chorus_chain::init_genesis(&genesis).unwrap());
    let ctx = BlockContext {
        chain_id: CHAIN,
        height: 1,
        time_ms: 1_700_000_001_000,
        proposer: ckey("lc0").public_key(),
        randomness: Hash::ZERO,
        last_commit: None,
    };
    let out = execute_block(&s, &ctx, &[]).unwrap();
    s.apply(&out.changes);
    s
}

fn precommit(name: &str, height: u64, round: u32, value: Hash) -> ([u8; 32], [u8; 64]) {
    let k = ckey(name);
    let vote = Vote {
        height,
        round,
        vote_type: VoteType::Precommit,
        value_id: Some(value),
        validator: k.public_key(),
    };
    (k.public_key(), k.sign(&vote.sign_bytes(CHAIN)))
}

/// A `last_commit` for block 1 (hash [`PARENT`]) signed by `names`.
fn commit(names: &[&str]) -> CommitInfo {
    let mut sigs: Vec<_> = names.iter().map(|n| precommit(n, 1, 0, PARENT)).collect();
    sigs.sort_by_key(|(k, _)| *k);
    let (signers, signatures) = sigs.into_iter().unzip();
    CommitInfo { height: 1, round: 0, signers, signatures }
}

fn check(s: &MemState, lc: &CommitInfo) -> Result<(), CommitError> {
    verify_last_commit(s, CHAIN, 2, &PARENT, Some(lc))
}

#[test]
fn a_last_commit_signed_by_more_than_two_thirds_of_the_parent_set_is_accepted() {
    let s = state();
    check(&s, &commit(&NAMES)).unwrap();
    check(&s, &commit(&NAMES[..3])).unwrap();
}

#[test]
fn a_proposer_that_omits_honest_signers_below_two_thirds_produces_an_invalid_block() {
    let s = state();
    match check(&s, &commit(&NAMES[..2])) {
        Err(CommitError::InsufficientPower { signed, total }) => assert_eq!(signed * 2, total),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_proposer_cannot_list_an_absent_validator_as_signed_or_forge_its_signature() {
    let s = state();
    // Listing lc3 without its real signature (here: lc0's signature in its place).
    let mut lc = commit(&NAMES[..3]);
    let absent = ckey("lc3").public_key();
    let pos = lc.signers.partition_point(|k| *k < absent);
    lc.signers.insert(pos, absent);
    lc.signatures.insert(pos, lc.signatures[0]);
    assert_eq!(check(&s, &lc), Err(CommitError::BadSignature(absent)));
    // A signature over another block, round or chain does not count either.
    for (h, r, v) in [(1, 1, PARENT), (1, 0, Hash([1; 32])), (2, 0, PARENT)] {
        let mut lc = commit(&NAMES[..3]);
        let (k, sig) = precommit("lc0", h, r, v);
        let i = lc.signers.iter().position(|x| *x == k).unwrap();
        lc.signatures[i] = sig;
        assert_eq!(check(&s, &lc), Err(CommitError::BadSignature(k)));
    }
}

#[test]
fn malformed_last_commits_are_refused_with_a_reason_and_never_panic() {
    let s = state();
    let stranger = ckey("stranger");
    let mut lc = commit(&NAMES);
    let (k, sig) = {
        let vote = Vote {
            height: 1,
            round: 0,
            vote_type: VoteType::Precommit,
            value_id: Some(PARENT),
            validator: stranger.public_key(),
        };
        (stranger.public_key(), stranger.sign(&vote.sign_bytes(CHAIN)))
    };
    let pos = lc.signers.partition_point(|x| *x < k);
    lc.signers.insert(pos, k);
    lc.signatures.insert(pos, sig);
    assert_eq!(check(&s, &lc), Err(CommitError::UnknownSigner(k)));

    let mut lc = commit(&NAMES);
    lc.signers.swap(0, 1);
    assert_eq!(check(&s, &lc), Err(CommitError::NotSorted));

    let mut lc = commit(&NAMES);
    lc.signatures.pop();
    assert!(matches!(check(&s, &lc), Err(CommitError::SignatureCount { .. })));

    for bad_height in [0, 2, u64::MAX] {
        let mut lc = commit(&NAMES);
        lc.height = bad_height;
        assert!(matches!(check(&s, &lc), Err(CommitError::WrongHeight { .. })));
    }
    assert_eq!(
        verify_last_commit(&s, CHAIN, 2, &PARENT, None),
        Err(CommitError::Presence("missing"))
    );
    assert!(verify_last_commit(&s, CHAIN, 1, &PARENT, None).is_ok());
    assert!(verify_last_commit(&s, CHAIN, 1, &PARENT, Some(&commit(&NAMES))).is_err());
}
