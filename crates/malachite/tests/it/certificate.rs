//! `CommitCertificate` encoding and verification, including the ways a certificate is rejected.

use chorus_consensus::{CommitCertificate, Error, ValidatorInfo, public_key};
use ed25519_consensus::SigningKey;

use crate::common::validators;

const KEYS: [[u8; 32]; 4] = [[60; 32], [61; 32], [62; 32], [63; 32]];
const CHAIN: u64 = 7;

fn unsigned(value_id: [u8; 32]) -> CommitCertificate {
    CommitCertificate { height: 7, round: 1, value_id, signatures: vec![] }
}

/// Adds the precommit signature of `sk` over `cert`'s value.
fn sign(cert: &mut CommitCertificate, sk: &[u8; 32]) {
    let pk = public_key(sk);
    let sig = SigningKey::from(*sk).sign(&cert.precommit_sign_bytes(&pk, CHAIN));
    cert.signatures.push((pk, sig.to_bytes()));
}

fn signed_by(keys: &[[u8; 32]]) -> CommitCertificate {
    let mut cert = unsigned([9; 32]);
    for sk in keys {
        sign(&mut cert, sk);
    }
    cert
}

fn assert_rejected(result: Result<(), Error>, reason: &str) {
    match result {
        Err(Error::Certificate(msg)) => assert_eq!(msg, reason),
        other => panic!("expected certificate error {reason:?}, got {other:?}"),
    }
}

#[test]
fn public_key_matches_the_ed25519_key_of_the_seed() {
    for sk in &KEYS {
        assert_eq!(public_key(sk), SigningKey::from(*sk).verification_key().to_bytes());
    }
}

#[test]
fn certificate_with_more_than_two_thirds_of_the_power_verifies() {
    let vals = validators(&KEYS, 10);
    signed_by(&KEYS[..3]).verify(&vals, CHAIN).unwrap();
    signed_by(&KEYS).verify(&vals, CHAIN).unwrap();
}

#[test]
fn certificate_with_exactly_two_thirds_of_the_power_is_rejected() {
    let vals = validators(&KEYS[..3], 1);
    assert_rejected(signed_by(&KEYS[..2]).verify(&vals, CHAIN), "insufficient voting power");
}

#[test]
fn certificate_counts_a_repeated_signer_once() {
    let vals = validators(&KEYS, 10);
    let mut cert = signed_by(&KEYS[..2]);
    let dup = cert.signatures[0];
    cert.signatures.push(dup);
    cert.signatures.push(dup);
    assert_rejected(cert.verify(&vals, CHAIN), "insufficient voting power");
}

#[test]
fn certificate_weighs_signers_by_voting_power() {
    let mut vals = validators(&KEYS, 1);
    vals[0].power = 100;
    signed_by(&KEYS[..1]).verify(&vals, CHAIN).unwrap();
    assert_rejected(signed_by(&KEYS[1..]).verify(&vals, CHAIN), "insufficient voting power");
}

#[test]
fn certificate_signed_by_a_non_validator_is_rejected() {
    let vals = validators(&KEYS[..3], 10);
    assert_rejected(signed_by(&KEYS).verify(&vals, CHAIN), "signer is not a validator");
}

#[test]
fn certificate_for_a_different_value_is_rejected() {
    let vals = validators(&KEYS, 10);
    let mut cert = signed_by(&KEYS);
    cert.value_id = [8; 32];
    assert_rejected(cert.verify(&vals, CHAIN), "invalid signature");
}

#[test]
fn signature_moved_to_another_validator_is_rejected() {
    let vals = validators(&KEYS, 10);
    let mut cert = signed_by(&KEYS);
    cert.signatures[0].1 = cert.signatures[1].1;
    assert_rejected(cert.verify(&vals, CHAIN), "invalid signature");
}

#[test]
fn certificate_with_no_signatures_is_rejected() {
    assert_rejected(
        unsigned([9; 32]).verify(&validators(&KEYS, 10), CHAIN),
        "insufficient voting power",
    );
}

#[test]
fn certificate_with_an_empty_validator_set_is_rejected() {
    let no_validators: Vec<ValidatorInfo> = vec![];
    assert_rejected(unsigned([9; 32]).verify(&no_validators, CHAIN), "insufficient voting power");
}

#[test]
fn precommit_sign_bytes_differ_per_validator() {
    let cert = unsigned([9; 32]);
    let a = cert.precommit_sign_bytes(&public_key(&KEYS[0]), CHAIN);
    let b = cert.precommit_sign_bytes(&public_key(&KEYS[1]), CHAIN);
    assert_ne!(a, b);
}

#[test]
fn certificate_round_trips_through_bytes() {
    let cert = signed_by(&KEYS[..3]);
    assert_eq!(CommitCertificate::from_bytes(&cert.to_bytes()).unwrap(), cert);
}

#[test]
fn truncated_certificate_bytes_do_not_decode() {
    let bytes = signed_by(&KEYS[..3]).to_bytes();
    let err = CommitCertificate::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "got {err:?}");
    let err = CommitCertificate::from_bytes(&[bytes.as_slice(), &[0]].concat()).unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "got {err:?}");
}

#[test]
fn a_certificate_signed_for_another_chain_is_rejected() {
    let vals = validators(&KEYS, 10);
    assert_rejected(signed_by(&KEYS).verify(&vals, CHAIN + 1), "invalid signature");
}

#[test]
fn precommit_sign_bytes_are_the_chains_canonical_vote_sign_bytes() {
    // The state machine re-verifies double-sign evidence with `Vote::sign_bytes`; consensus must
    // sign exactly those bytes.
    let cert = unsigned([9; 32]);
    let pk = public_key(&KEYS[2]);
    let vote = chorus_types::staking::Vote {
        height: 7,
        round: 1,
        vote_type: chorus_types::staking::VoteType::Precommit,
        value_id: Some(chorus_types::Hash([9; 32])),
        validator: pk,
    };
    assert_eq!(cert.precommit_sign_bytes(&pk, CHAIN), vote.sign_bytes(CHAIN));
}
