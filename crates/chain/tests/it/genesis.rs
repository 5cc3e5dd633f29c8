use chorus_chain::components::bank;
use chorus_chain::{GenesisError, init_genesis, validator_set};
use chorus_crypto::ConsensusKey;
use chorus_types::GenesisValidator;

use crate::support::*;

#[test]
fn genesis_mints_balances_and_bonded_stake() {
    let s = genesis_state();
    assert_eq!(balance(&s, "alice"), 1000);
    assert_eq!(bank::module_balance(&s, bank::BONDED_POOL).unwrap(), 1_000_000);
    assert_eq!(bank::supply(&s).unwrap(), 1_001_500);
    assert_eq!(bank::params(&s).unwrap().min_fee, MIN_FEE);
    chorus_chain::invariants::check(&s).unwrap();
    let vs = validator_set(&s).unwrap();
    assert_eq!(vs[0].operator, addr("val0"));
    assert_eq!(vs[0].consensus_key, ConsensusKey::from_seed(b"val0").public_key());
}

#[test]
fn genesis_is_deterministic() {
    assert_eq!(init_genesis(&genesis()).unwrap(), init_genesis(&genesis()).unwrap());
}

#[test]
fn genesis_rejects_bad_documents() {
    let mut g = genesis();
    g.accounts.push((addr("alice"), 1));
    assert_eq!(init_genesis(&g), Err(GenesisError::DuplicateAccount(addr("alice"))));

    let mut g = genesis();
    g.validators.clear();
    assert_eq!(init_genesis(&g), Err(GenesisError::NoValidators));

    let mut g = genesis();
    g.validators.push(g.validators[0].clone());
    assert_eq!(init_genesis(&g), Err(GenesisError::DuplicateValidator(addr("val0"))));

    let mut g = genesis();
    let mut v = g.validators[0].clone();
    v.operator = addr("val1");
    g.validators.push(v);
    assert_eq!(init_genesis(&g), Err(GenesisError::DuplicateConsensusKey(addr("val1"))));

    let mut g = genesis();
    g.validators.push(GenesisValidator {
        operator: addr("val1"),
        consensus_key: ConsensusKey::from_seed(b"val1").public_key(),
        stake: 0,
    });
    assert_eq!(init_genesis(&g), Err(GenesisError::ZeroPower(addr("val1"))));

    let mut g = genesis();
    let mut bad = [0u8; 32];
    bad[0] = 2;
    g.validators[0].consensus_key = bad;
    assert_eq!(init_genesis(&g), Err(GenesisError::InvalidConsensusKey(addr("val0"))));

    let mut g = genesis();
    g.accounts.push((addr("whale"), u128::MAX));
    assert_eq!(init_genesis(&g), Err(GenesisError::Overflow("supply")));

    let mut g = genesis();
    g.chain_id = 0;
    assert_eq!(init_genesis(&g), Err(GenesisError::ZeroChainId));

    let mut g = genesis();
    g.params.validators.power_reduction = 0;
    assert!(matches!(init_genesis(&g), Err(GenesisError::InvalidParams(_))));
}
