//! On-chain objects cost something and block hooks stay bounded (security review C1, H3, M8,
//! L9): the minimum self-delegation for a seat and for staying in the active set, the cap on
//! stored validators, minimum governance deposits and the cap on open proposals, deletion of
//! expired proposals, the registry bond floor, non-zero default fees, and the cross-checks
//! between parameters at submission and at execution. Every block checks the invariants (which
//! include the power index, the validator queue and the proposal counter).

use chorus_chain::components::staking::{self, BondStatus, gov};
use chorus_chain::components::{bank, registry};
use chorus_chain::state::{MemState, StateDelta};
use chorus_chain::{BlockContext, BlockOutcome, TxError, VerifiedTx, check_stateful};
use chorus_chain::{GenesisError, execute_block, init_genesis, validator_set};
use chorus_crypto::ConsensusKey;
use chorus_types::learning::{RegistryMsg, Role};
use chorus_types::staking::{
    CommissionRates, Description, GovMsg, ParamChange, StakingMsg, VoteOption, pop_bytes,
};
use chorus_types::{Amount, Genesis, GenesisValidator, Hash, Msg, Params, TxFailure};

use crate::learning_support::caps;
use chorus_chain::check_stateless;

use crate::support::{CHAIN, addr, signed, test_params};

const T0: u64 = 1_700_000_000_000;

fn ckey(name: &str) -> ConsensusKey {
    ConsensusKey::from_seed(name.as_bytes())
}

/// A chain with `validators` (name, stake) and every other named account funded with `funds`.
struct Net {
    s: MemState,
    h: u64,
    /// Time added to every block from now on (jumps over long periods without running blocks).
    skew: u64,
    fee: Amount,
    nonces: std::collections::BTreeMap<String, u64>,
}

impl Net {
    fn new(params: Params, validators: &[(&str, Amount)], accounts: &[&str], funds: Amount) -> Net {
        let fee = params.bank.min_fee;
        let g = Genesis {
            chain_id: CHAIN,
            genesis_time_ms: T0,
            accounts: validators
                .iter()
                .map(|(n, _)| *n)
                .chain(accounts.iter().copied())
                .map(|n| (addr(n), funds))
                .collect(),
            validators: validators
                .iter()
                .map(|(n, stake)| GenesisValidator {
                    operator: addr(n),
                    consensus_key: ckey(n).public_key(),
                    stake: *stake,
                })
                .collect(),
            params,
        };
        let mut s = MemState::new();
        s.apply(&init_genesis(&g).unwrap());
        chorus_chain::invariants::check(&s).unwrap();
        Net { s, h: 0, skew: 0, fee, nonces: Default::default() }
    }

    fn tx(&mut self, from: &str, msg: Msg) -> VerifiedTx {
        let n = self.nonces.entry(from.to_string()).or_default();
        let t = check_stateless(&signed(from, *n, self.fee, vec![msg]).encode(), CHAIN).unwrap();
        *n += 1;
        t
    }

    fn time(&self) -> u64 {
        T0 + self.h * 1000 + self.skew
    }

    /// Executes a block at `T0 + h·1000 + skew` (no `last_commit`, so no liveness jailing).
    fn block(&mut self, txs: &[VerifiedTx]) -> BlockOutcome {
        self.h += 1;
        let ctx = BlockContext {
            chain_id: CHAIN,
            height: self.h,
            time_ms: self.time(),
            proposer: [0; 32],
            randomness: Hash([self.h as u8; 32]),
            last_commit: None,
        };
        let out = execute_block(&self.s, &ctx, txs).unwrap();
        self.s.apply(&out.changes);
        chorus_chain::invariants::check(&self.s).unwrap();
        out
    }

    fn send(&mut self, from: &str, msg: Msg) -> Result<(), TxFailure> {
        let t = self.tx(from, msg);
        self.block(&[t]).receipts[0].result.clone()
    }

    fn ok(&mut self, from: &str, msg: Msg) {
        self.send(from, msg).unwrap();
    }

    fn until(&mut self, time_ms: u64) {
        while self.time() < time_ms {
            self.block(&[]);
        }
    }

    fn in_set(&self, name: &str) -> bool {
        validator_set(&self.s).unwrap().iter().any(|v| v.operator == addr(name))
    }

    fn status(&self, name: &str) -> BondStatus {
        staking::validator(&self.s, &addr(name)).unwrap().unwrap().status
    }

    fn balance(&self, name: &str) -> Amount {
        bank::balance(&self.s, &addr(name)).unwrap()
    }
}

fn code(r: &Result<(), TxFailure>) -> u32 {
    r.as_ref().unwrap_err().code
}

fn create_validator(name: &str, self_delegation: Amount) -> Msg {
    let k = ckey(name);
    Msg::Staking(StakingMsg::CreateValidator {
        consensus_key: k.public_key(),
        pop: k.sign(&pop_bytes(&addr(name), CHAIN)),
        self_delegation,
        min_self_delegation: 1,
        commission: CommissionRates {
            rate: "0.1".parse().unwrap(),
            max_rate: "0.2".parse().unwrap(),
            max_change_rate: "0.01".parse().unwrap(),
        },
        description: Description { name: name.into(), ..Default::default() },
    })
}

fn smsg(m: StakingMsg) -> Msg {
    Msg::Staking(m)
}

fn propose(changes: &[(&str, &str)], deposit: Amount) -> Msg {
    Msg::Gov(GovMsg::SubmitProposal {
        title: "t".into(),
        changes: changes
            .iter()
            .map(|(k, v)| ParamChange { key: (*k).into(), value: (*v).into() })
            .collect(),
        deposit,
    })
}

fn vote(id: u64) -> Msg {
    Msg::Gov(GovMsg::Vote { proposal: id, option: VoteOption::Yes })
}

/// The `chorus init` shape: four validators with 10^12 each, under the real defaults.
fn init_like_net(accounts: &[&str]) -> Net {
    let vals: Vec<(&str, Amount)> =
        ["v0", "v1", "v2", "v3"].iter().map(|n| (*n, 1_000_000_000_000)).collect();
    Net::new(Params::default(), &vals, accounts, 1_000_000_000_000)
}

#[test]
fn default_parameters_put_a_price_on_fees_seats_proposals_and_bonds_and_validate() {
    let p = Params::default();
    assert_eq!(p.bank.min_fee, 1_000);
    assert_eq!(p.staking.min_self_delegation, 1_000_000_000);
    assert_eq!(p.staking.max_candidates, 1_000);
    assert_eq!(p.gov.min_deposit, 1_000_000_000);
    assert_eq!(gov::min_initial_deposit(&p.gov), 250_000_000);
    assert_eq!(p.gov.max_active_proposals, 100);
    assert_eq!(p.registry.min_bond, 1_000);
    staking::validate_params(&p).unwrap();
    // A genesis that leaves `registry` out gets the same floor.
    let g: Params = serde_json::from_str(r#"{"bank": {"min_fee": "5"}}"#).unwrap();
    assert_eq!(g.registry.min_bond, 1_000);
    assert_eq!(g.bank.min_fee, 5);
    // The parameters are in the state from genesis on.
    let net = init_like_net(&[]);
    assert_eq!(gov::current_params(&net.s).unwrap(), p);
}

#[test]
fn a_flood_of_one_unit_create_validators_is_refused_and_buys_no_seat() {
    let attackers: Vec<String> = (0..40).map(|i| format!("attacker{i}")).collect();
    let names: Vec<&str> = attackers.iter().map(String::as_str).collect();
    let mut net = init_like_net(&names);
    let before = validator_set(&net.s).unwrap();
    let txs: Vec<VerifiedTx> = names.iter().map(|n| net.tx(n, create_validator(n, 1))).collect();
    // The mempool check refuses every one of them …
    for t in &txs {
        assert!(matches!(
            check_stateful(&net.s, t),
            Err(TxError::Staking(staking::StakingError::SelfDelegationTooLow {
                min: 1_000_000_000,
                have: 1
            }))
        ));
    }
    // … and a proposer that includes them anyway gets failed receipts that still pay the fee.
    let out = net.block(&txs);
    assert!(out.receipts.iter().all(|r| code(&r.result) == 417), "{:?}", out.receipts[0]);
    assert_eq!(validator_set(&net.s).unwrap(), before);
    assert_eq!(staking::validators(&net.s).unwrap().len(), 4);
    assert_eq!(net.balance("attacker0"), 1_000_000_000_000 - 1_000);
    // Just below the minimum is refused too; the minimum itself buys a seat.
    assert_eq!(code(&net.send("attacker0", create_validator("attacker0", 999_999_999))), 417);
    net.ok("attacker1", create_validator("attacker1", 1_000_000_000));
    assert!(net.in_set("attacker1"));
}

#[test]
fn a_validator_whose_self_delegation_falls_below_the_minimum_leaves_the_active_set() {
    let mut p = test_params(10);
    p.staking.min_self_delegation = 1_000;
    let mut net =
        Net::new(p, &[("val0", 1_000_000), ("val1", 1_000_000)], &["val2", "alice"], 10_000_000);
    assert_eq!(code(&net.send("val2", create_validator("val2", 999))), 417);
    net.ok("val2", create_validator("val2", 1_000));
    assert!(net.in_set("val2"));
    // Delegators make it the strongest validator …
    net.ok("alice", smsg(StakingMsg::Delegate { validator: addr("val2"), amount: 5_000_000 }));
    assert_eq!(validator_set(&net.s).unwrap()[0].operator, addr("val2"));
    // … but once its operator's own stake is below the minimum it is out, without being jailed
    // (its own minimum is 1).
    net.ok("val2", smsg(StakingMsg::Undelegate { validator: addr("val2"), amount: 1 }));
    assert!(!net.in_set("val2"));
    let v = staking::validator(&net.s, &addr("val2")).unwrap().unwrap();
    assert!(!v.jailed);
    assert_eq!(v.status, BondStatus::Unbonding);
    assert_eq!(v.tokens, 5_000_999);
    // Topping its own stake up again brings it back.
    net.ok("val2", smsg(StakingMsg::Delegate { validator: addr("val2"), amount: 1 }));
    assert!(net.in_set("val2"));
    assert_eq!(net.status("val2"), BondStatus::Bonded);
    // A slash (objective fault, 1 %) that takes the operator's stake below the minimum: out.
    let mut d = StateDelta::new(&net.s);
    let burnt = staking::handle_fault(&mut d, net.h, &addr("val2"), "test", &mut Vec::new());
    assert!(burnt.unwrap() > 0);
    let changes = d.into_changes();
    net.s.apply(&changes);
    net.block(&[]);
    assert!(!net.in_set("val2"));
    assert!(!staking::validator(&net.s, &addr("val2")).unwrap().unwrap().jailed);
    assert_eq!(validator_set(&net.s).unwrap().len(), 2);
}

#[test]
fn create_validator_is_refused_at_the_candidate_cap_until_a_validator_is_removed() {
    let mut p = test_params(10);
    p.staking.max_validators = 3;
    p.staking.max_candidates = 3;
    p.staking.unbonding_time_ms = 5_000;
    let mut net =
        Net::new(p, &[("val0", 1_000_000), ("val1", 1_000_000)], &["val2", "val3"], 10_000_000);
    net.ok("val2", create_validator("val2", 1_000));
    let t = net.tx("val3", create_validator("val3", 1_000));
    assert!(matches!(
        check_stateful(&net.s, &t),
        Err(TxError::Staking(staking::StakingError::TooManyValidators(3)))
    ));
    assert_eq!(code(&net.block(&[t]).receipts[0].result), 423);
    assert!(staking::validator(&net.s, &addr("val3")).unwrap().is_none());
    // val2 leaves: it unbonds through the validator queue and, empty, is removed when its
    // unbonding time is reached — which frees a place.
    net.ok("val2", smsg(StakingMsg::Undelegate { validator: addr("val2"), amount: 1_000 }));
    assert_eq!(net.status("val2"), BondStatus::Unbonding);
    let done = staking::validator(&net.s, &addr("val2")).unwrap().unwrap().unbonding_time_ms;
    assert_eq!(code(&net.send("val3", create_validator("val3", 1_000))), 423);
    net.until(done - 1_000);
    assert!(staking::validator(&net.s, &addr("val2")).unwrap().is_some());
    let out = net.block(&[]);
    assert!(out.events.iter().any(|e| e.kind == "staking.remove_validator"));
    assert!(staking::validator(&net.s, &addr("val2")).unwrap().is_none());
    net.ok("val3", create_validator("val3", 1_000));
    assert!(net.in_set("val3"));
}

#[test]
fn genesis_refuses_validators_below_the_minimum_and_invalid_parameter_combinations() {
    let g = |params: Params, stake: Amount| Genesis {
        chain_id: CHAIN,
        genesis_time_ms: T0,
        accounts: vec![],
        validators: vec![GenesisValidator {
            operator: addr("val0"),
            consensus_key: ckey("val0").public_key(),
            stake,
        }],
        params,
    };
    assert_eq!(
        init_genesis(&g(Params::default(), 999_999_999)),
        Err(GenesisError::StakeBelowMinimum(addr("val0")))
    );
    assert!(init_genesis(&g(Params::default(), 1_000_000_000)).is_ok());
    let mut p = Params::default();
    p.staking.unbonding_time_ms = 50_000;
    p.slashing.max_evidence_age_blocks = 100_000;
    assert!(matches!(
        init_genesis(&g(p, 1_000_000_000)),
        Err(GenesisError::InvalidParams(m)) if m.contains("max_evidence_age_blocks")
    ));
}

fn gov_params() -> Params {
    let mut p = test_params(10);
    p.gov.min_deposit = 1_000;
    p.gov.max_active_proposals = 2;
    p.gov.voting_period_ms = 5_000;
    p.gov.max_deposit_period_ms = 10_000;
    p
}

fn gov_net() -> Net {
    Net::new(
        gov_params(),
        &[("val0", 1_000_000), ("val1", 1_000_000)],
        &["alice", "bob"],
        1_000_000,
    )
}

#[test]
fn a_proposal_needs_the_minimum_initial_deposit_and_a_deposit_of_zero_is_refused() {
    let mut net = gov_net();
    let change = [("distribution.block_reward", "7")];
    // Zero is refused before any state is read.
    let zero = signed("alice", 0, 10, vec![propose(&change, 0)]);
    assert_eq!(check_stateless(&zero.encode(), CHAIN).unwrap_err(), TxError::ZeroAmount);
    let zero = signed("alice", 0, 10, vec![Msg::Gov(GovMsg::Deposit { proposal: 1, amount: 0 })]);
    assert_eq!(check_stateless(&zero.encode(), CHAIN).unwrap_err(), TxError::ZeroAmount);
    // 0.25 × 1000 = 250.
    let r = net.send("alice", propose(&change, 249));
    assert_eq!(code(&r), 454);
    assert!(r.unwrap_err().message.contains("deposit 249 below the minimum 250"));
    assert!(gov::proposal(&net.s, 1).unwrap().is_none());
    net.ok("alice", propose(&change, 250));
    let p = gov::proposal(&net.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::DepositPeriod);
    // Later deposits: at least 250, or what is missing if that is less.
    assert_eq!(code(&net.send("bob", Msg::Gov(GovMsg::Deposit { proposal: 1, amount: 249 }))), 454);
    net.ok("bob", Msg::Gov(GovMsg::Deposit { proposal: 1, amount: 500 }));
    assert_eq!(code(&net.send("bob", Msg::Gov(GovMsg::Deposit { proposal: 1, amount: 249 }))), 454);
    net.ok("bob", Msg::Gov(GovMsg::Deposit { proposal: 1, amount: 250 }));
    let p = gov::proposal(&net.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::VotingPeriod);
    assert_eq!(p.total_deposit, 1_000);
}

#[test]
fn open_proposals_are_capped_and_an_expired_one_is_deleted_with_its_deposit_refunded() {
    let mut net = gov_net();
    let before = net.balance("alice");
    let a = net.tx("alice", propose(&[("distribution.block_reward", "1")], 300));
    let b = net.tx("alice", propose(&[("distribution.block_reward", "2")], 300));
    assert!(net.block(&[a, b]).receipts.iter().all(|r| r.result.is_ok()));
    assert_eq!(gov::active_proposals(&net.s).unwrap(), 2);
    let t = net.tx("bob", propose(&[("distribution.block_reward", "3")], 300));
    assert!(matches!(
        check_stateful(&net.s, &t),
        Err(TxError::Staking(staking::StakingError::TooManyProposals(2)))
    ));
    assert_eq!(code(&net.block(&[t]).receipts[0].result), 455);
    // Nobody completes the deposits: both expire at the end of the deposit period, are deleted,
    // and refunded.
    let end = gov::proposal(&net.s, 2).unwrap().unwrap().deposit_end_ms;
    net.until(end - 1_000);
    assert_eq!(gov::active_proposals(&net.s).unwrap(), 2);
    let out = net.block(&[]);
    let expired = out
        .events
        .iter()
        .filter(|e| e.kind == "gov.proposal_result" && e.attr("status") == Some("expired"))
        .count();
    assert_eq!(expired, 2);
    assert!(gov::proposals(&net.s).unwrap().is_empty());
    assert_eq!(gov::active_proposals(&net.s).unwrap(), 0);
    assert_eq!(bank::module_balance(&net.s, gov::GOV_POOL).unwrap(), 0);
    assert_eq!(net.balance("alice"), before - 2 * 10);
    // A place is free again.
    net.ok("bob", propose(&[("distribution.block_reward", "3")], 300));
    assert_eq!(gov::active_proposals(&net.s).unwrap(), 1);
}

#[test]
fn a_parameter_change_that_breaks_a_cross_constraint_is_refused_at_submission() {
    let mut net = gov_net();
    // The evidence window is 1000 blocks, i.e. at least 1000 ms: unbonding must be longer.
    let r = net.send("alice", propose(&[("staking.unbonding_time_ms", "1000")], 1_000));
    assert_eq!(code(&r), 451);
    assert!(r.unwrap_err().message.contains("max_evidence_age_blocks"));
    for (k, v) in [
        ("staking.max_candidates", "99"), // below max_validators (100)
        ("staking.min_self_delegation", "0"),
        ("gov.min_initial_deposit_ratio", "0"),
        ("gov.max_active_proposals", "0"),
        ("gov.threshold", "0"),
        ("registry.min_bond", "0"),
        ("registry.slash_bps", "10001"),
    ] {
        assert_eq!(code(&net.send("alice", propose(&[(k, v)], 1_000))), 451, "{k}={v}");
    }
    // Together with a longer unbonding period the same evidence window is fine.
    net.ok(
        "alice",
        propose(
            &[("slashing.max_evidence_age_blocks", "5000"), ("staking.unbonding_time_ms", "6000")],
            1_000,
        ),
    );
    assert!(gov::proposals(&net.s).unwrap().len() == 1);
}

#[test]
fn a_passed_change_that_no_longer_fits_the_parameters_in_force_fails_at_execution() {
    let mut net = gov_net();
    // Both valid on their own at submission; executed in order, the second no longer is.
    let a = net.tx("alice", propose(&[("slashing.max_evidence_age_blocks", "5000")], 1_000));
    let b = net.tx("bob", propose(&[("staking.unbonding_time_ms", "3000")], 1_000));
    net.block(&[a, b]);
    let v0 = net.tx("val0", vote(1));
    let v1 = net.tx("val0", vote(2));
    let v2 = net.tx("val1", vote(1));
    let v3 = net.tx("val1", vote(2));
    net.block(&[v0, v1, v2, v3]);
    let end = gov::proposal(&net.s, 2).unwrap().unwrap().voting_end_ms;
    net.until(end);
    let p1 = gov::proposal(&net.s, 1).unwrap().unwrap();
    let p2 = gov::proposal(&net.s, 2).unwrap().unwrap();
    assert_eq!(p1.status, gov::ProposalStatus::Passed);
    assert_eq!(p2.status, gov::ProposalStatus::Failed);
    assert_eq!(staking::slashing_params(&net.s).unwrap().max_evidence_age_blocks, 5_000);
    assert_eq!(staking::staking_params(&net.s).unwrap().unbonding_time_ms, 21 * 86_400_000);
    assert_eq!(gov::active_proposals(&net.s).unwrap(), 0);
}

#[test]
fn participants_must_bond_at_least_the_default_floor_and_governance_can_raise_it() {
    let mut net = init_like_net(&["p0", "p1"]);
    let reg = |bond| {
        Msg::Registry(RegistryMsg::Register { role: Role::Participant, bond, capabilities: caps() })
    };
    let r = net.send("p0", reg(999));
    assert_eq!(code(&r), 202);
    assert!(registry::registration(&net.s, &addr("p0")).unwrap().is_none());
    net.ok("p0", reg(1_000));
    // `registry.*` is a governance key like any other.
    let mut p = gov::current_params(&net.s).unwrap();
    gov::apply_changes(
        &mut p,
        &[ParamChange { key: "registry.min_bond".into(), value: "50000".into() }],
    )
    .unwrap();
    assert_eq!(p.registry.min_bond, 50_000);
    net.ok("v0", propose(&[("registry.min_bond", "50000")], 1_000_000_000));
    assert_eq!(
        gov::proposal(&net.s, 1).unwrap().unwrap().status,
        gov::ProposalStatus::VotingPeriod
    );
    for v in ["v0", "v1", "v2"] {
        net.ok(v, vote(1));
    }
    let end = gov::proposal(&net.s, 1).unwrap().unwrap().voting_end_ms;
    net.skew = end - net.time() - 1_000; // jump to the end of the voting period
    net.block(&[]);
    assert_eq!(net.time(), end);
    assert_eq!(gov::proposal(&net.s, 1).unwrap().unwrap().status, gov::ProposalStatus::Passed);
    assert_eq!(registry::params(&net.s).unwrap().min_bond, 50_000);
    assert_eq!(code(&net.send("p1", reg(49_999))), 202);
    net.ok("p1", reg(50_000));
}

#[test]
fn transactions_below_the_default_minimum_fee_are_refused() {
    let mut net = init_like_net(&["alice"]);
    let cheap = check_stateless(
        &signed("alice", 0, 999, vec![crate::support::transfer("v0", 1)]).encode(),
        CHAIN,
    )
    .unwrap();
    assert_eq!(
        check_stateful(&net.s, &cheap),
        Err(TxError::InsufficientFee { min: 1_000, got: 999 })
    );
    let out = net.block(&[cheap]);
    assert_eq!(
        out.receipts[0].result.as_ref().unwrap_err().code,
        TxError::InsufficientFee { min: 0, got: 0 }.code()
    );
    net.ok("alice", crate::support::transfer("v0", 1));
    assert_eq!(net.balance("alice"), 1_000_000_000_000 - 1_000 - 1);
}
