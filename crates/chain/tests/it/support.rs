use chorus_chain::state::{MemState, StateRead};
use chorus_chain::{BlockContext, BlockOutcome, VerifiedTx, check_stateless, execute_block};
use chorus_crypto::{AccountKey, ConsensusKey, sign_tx};
use chorus_types::{
    Address, Amount, BankMsg, Genesis, GenesisValidator, Hash, Msg, Params, SignedTx, Tx,
};

pub(crate) const CHAIN: u64 = 7;
pub(crate) const MIN_FEE: Amount = 10;

pub(crate) fn key(name: &str) -> AccountKey {
    AccountKey::from_seed(name.as_bytes())
}

pub(crate) fn addr(name: &str) -> Address {
    key(name).address()
}

/// `Params::default()` scaled down to these tests' amounts (stakes of 10^3–10^6, bonds of 5 and
/// more), with `min_fee`: the minimum self-delegation and the registry bond floor at 1, and an
/// evidence window of 1 000 blocks so that short unbonding periods (a few seconds) pass the
/// parameter cross-checks. The real defaults are exercised by the tests that use them directly.
pub(crate) fn test_params(min_fee: Amount) -> Params {
    let mut params = Params::default();
    params.bank.min_fee = min_fee;
    params.staking.min_self_delegation = 1;
    params.registry.min_bond = 1;
    params.slashing.max_evidence_age_blocks = 1_000;
    params
}

pub(crate) fn genesis() -> Genesis {
    let params = test_params(MIN_FEE);
    Genesis {
        chain_id: CHAIN,
        genesis_time_ms: 1_700_000_000_000,
        accounts: vec![(addr("alice"), 1_000), (addr("bob"), 500)],
        validators: vec![GenesisValidator {
            operator: addr("val0"),
            consensus_key: ConsensusKey::from_seed(b"val0").public_key(),
            stake: 1_000_000,
        }],
        params,
    }
}

pub(crate) fn genesis_state() -> MemState {
    let mut s = MemState::new();
    s.apply(&chorus_chain::init_genesis(&genesis()).unwrap());
    s
}

pub(crate) fn transfer(to: &str, amount: Amount) -> Msg {
    Msg::Bank(BankMsg::Transfer { to: addr(to), amount })
}

pub(crate) fn signed(from: &str, nonce: u64, fee: Amount, msgs: Vec<Msg>) -> SignedTx {
    sign_tx(&key(from), Tx { chain_id: CHAIN, nonce, fee, msgs })
}

pub(crate) fn verified(from: &str, nonce: u64, fee: Amount, msgs: Vec<Msg>) -> VerifiedTx {
    check_stateless(&signed(from, nonce, fee, msgs).encode(), CHAIN).unwrap()
}

pub(crate) fn ctx(height: u64) -> BlockContext {
    BlockContext {
        chain_id: CHAIN,
        height,
        time_ms: 1_700_000_000_000 + height * 1000,
        proposer: ConsensusKey::from_seed(b"val0").public_key(),
        randomness: Hash([height as u8; 32]),
        last_commit: None,
    }
}

pub(crate) fn run(state: &MemState, height: u64, txs: &[VerifiedTx]) -> (MemState, BlockOutcome) {
    let out = execute_block(state, &ctx(height), txs).unwrap();
    let mut next = state.clone();
    next.apply(&out.changes);
    chorus_chain::invariants::check(&next).unwrap();
    (next, out)
}

pub(crate) fn balance(s: &dyn StateRead, name: &str) -> Amount {
    chorus_chain::components::bank::balance(s, &addr(name)).unwrap()
}

pub(crate) fn nonce(s: &dyn StateRead, name: &str) -> u64 {
    chorus_chain::account_nonce(s, &addr(name)).unwrap()
}

/// State without the per-block bookkeeping keys (`chain/height`, `chain/time_ms`), to compare
/// "nothing changed" across a block.
/// The state without what every block changes on its own: the height and time, and the
/// begin-block distribution of the fees collected by earlier blocks (fee collector → distribution
/// pool → validator rewards).
pub(crate) fn user_state(s: &MemState) -> MemState {
    let mut c = s.clone();
    c.0.remove(chorus_chain::state_key::LAST_HEIGHT);
    c.0.remove(chorus_chain::state_key::LAST_TIME_MS);
    c.0.retain(|k, _| {
        !k.starts_with(b"dist/")
            && k.as_slice() != b"bank/module/fee_collector"
            && k.as_slice() != b"bank/module/distribution"
    });
    c
}
