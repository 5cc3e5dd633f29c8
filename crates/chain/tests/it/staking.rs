//! Staking, slashing, distribution and governance scenarios plus a property test over random
//! operation sequences (`docs/staking.md`). Every block checks `invariants::check`.

use chorus_chain::components::bank;
use chorus_chain::components::registry::{self, FaultReason};
use chorus_chain::components::staking::{self, BondStatus, gov};
use chorus_chain::state::{MemState, StateDelta};
use chorus_chain::{BlockContext, BlockOutcome, VerifiedTx, execute_block, validator_set};
use chorus_crypto::ConsensusKey;
use chorus_types::staking::{
    CommissionRates, Dec, Description, DoubleSignEvidence, GovMsg, ParamChange, SignedVote,
    StakingMsg, Vote, VoteOption, VoteType, pop_bytes,
};
use chorus_types::{Amount, BankMsg, CommitInfo, Genesis, GenesisValidator, Hash, Msg, Params};
use proptest::prelude::*;

use crate::support::*;

const T0: u64 = 1_700_000_000_000;
const STAKE: Amount = 1_000_000;

fn ckey(name: &str) -> ConsensusKey {
    ConsensusKey::from_seed(name.as_bytes())
}

fn sgenesis() -> Genesis {
    let mut params = test_params(MIN_FEE);
    params.staking.unbonding_time_ms = 10_000;
    params.staking.commission_change_period_ms = 20_000;
    params.slashing.signed_blocks_window = 10;
    params.slashing.downtime_jail_duration_ms = 5_000;
    params.distribution.block_reward = 1_000;
    params.gov.min_deposit = 100;
    params.gov.voting_period_ms = 5_000;
    Genesis {
        chain_id: CHAIN,
        genesis_time_ms: T0,
        accounts: ["alice", "bob", "carol", "val0", "val1", "val2"]
            .iter()
            .map(|n| (addr(n), 1_000_000))
            .collect(),
        validators: ["val0", "val1"]
            .iter()
            .map(|n| GenesisValidator {
                operator: addr(n),
                consensus_key: ckey(n).public_key(),
                stake: STAKE,
            })
            .collect(),
        params,
    }
}

fn sstate() -> MemState {
    let mut s = MemState::new();
    s.apply(&chorus_chain::init_genesis(&sgenesis()).unwrap());
    chorus_chain::invariants::check(&s).unwrap();
    s
}

/// Block `h` at time `T0 + h·1000` whose last commit is signed by `signers`.
fn bctx(h: u64, signers: &[&str]) -> BlockContext {
    let mut keys: Vec<[u8; 32]> = signers.iter().map(|n| ckey(n).public_key()).collect();
    keys.sort();
    BlockContext {
        chain_id: CHAIN,
        height: h,
        time_ms: T0 + h * 1000,
        proposer: ckey("val0").public_key(),
        randomness: Hash([h as u8; 32]),
        last_commit: (h > 1).then(|| {
            let signatures = vec![[0; 64]; keys.len()];
            CommitInfo { height: h - 1, round: 0, signers: keys, signatures }
        }),
    }
}

struct Chain {
    s: MemState,
    h: u64,
    /// Extra time added to every block (jumps without running blocks).
    skew: u64,
    nonces: std::collections::BTreeMap<String, u64>,
}

impl Chain {
    fn new() -> Chain {
        Chain { s: sstate(), h: 0, skew: 0, nonces: Default::default() }
    }
    fn tx(&mut self, from: &str, msgs: Vec<Msg>) -> VerifiedTx {
        let n = self.nonces.entry(from.to_string()).or_default();
        let t = verified(from, *n, MIN_FEE, msgs);
        *n += 1;
        t
    }
    fn block_signed(&mut self, signers: &[&str], txs: &[VerifiedTx]) -> BlockOutcome {
        self.h += 1;
        let mut ctx = bctx(self.h, signers);
        ctx.time_ms += self.skew;
        let out = execute_block(&self.s, &ctx, txs).unwrap();
        self.s.apply(&out.changes);
        chorus_chain::invariants::check(&self.s).unwrap();
        out
    }
    fn block(&mut self, txs: &[VerifiedTx]) -> BlockOutcome {
        self.block_signed(&["val0", "val1", "val2"], txs)
    }
    /// One transaction in its own block; returns its result.
    fn send(
        &mut self,
        from: &str,
        msg: Msg,
    ) -> (Result<(), chorus_types::TxFailure>, BlockOutcome) {
        let t = self.tx(from, vec![msg]);
        let out = self.block(&[t]);
        (out.receipts[0].result.clone(), out)
    }
    fn ok(&mut self, from: &str, msg: Msg) -> BlockOutcome {
        let (r, out) = self.send(from, msg);
        r.unwrap();
        out
    }
    fn until(&mut self, time_ms: u64) {
        while self.time() + 1000 < time_ms {
            self.block(&[]);
        }
    }
    fn time(&self) -> u64 {
        T0 + self.h * 1000 + self.skew
    }
    fn delegated(&self, del: &str, val: &str) -> Amount {
        let v = staking::validator(&self.s, &addr(val)).unwrap().unwrap();
        staking::delegation(&self.s, &addr(del), &addr(val))
            .unwrap()
            .map_or(0, |d| v.tokens_from_shares(d.shares))
    }
}

fn smsg(m: StakingMsg) -> Msg {
    Msg::Staking(m)
}

fn delegate(val: &str, amount: Amount) -> Msg {
    smsg(StakingMsg::Delegate { validator: addr(val), amount })
}

fn undelegate(val: &str, amount: Amount) -> Msg {
    smsg(StakingMsg::Undelegate { validator: addr(val), amount })
}

fn redelegate(src: &str, dst: &str, amount: Amount) -> Msg {
    smsg(StakingMsg::Redelegate { src: addr(src), dst: addr(dst), amount })
}

fn create_validator(name: &str, stake: Amount, rate: &str, max: &str, change: &str) -> Msg {
    let k = ckey(name);
    smsg(StakingMsg::CreateValidator {
        consensus_key: k.public_key(),
        pop: k.sign(&pop_bytes(&addr(name), CHAIN)),
        self_delegation: stake,
        min_self_delegation: 1,
        commission: CommissionRates {
            rate: rate.parse().unwrap(),
            max_rate: max.parse().unwrap(),
            max_change_rate: change.parse().unwrap(),
        },
        description: Description { name: name.into(), ..Default::default() },
    })
}

fn code(r: &Result<(), chorus_types::TxFailure>) -> u32 {
    r.as_ref().unwrap_err().code
}

fn in_set(s: &MemState, name: &str) -> bool {
    validator_set(s).unwrap().iter().any(|v| v.operator == addr(name))
}

#[test]
fn genesis_validators_are_bonded_with_self_delegation() {
    let c = Chain::new();
    let set = validator_set(&c.s).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(set[0].power, 1_000_000);
    assert_eq!(c.delegated("val0", "val0"), STAKE);
    assert_eq!(bank::module_balance(&c.s, bank::BONDED_POOL).unwrap(), 2 * STAKE);
    let v = staking::validator(&c.s, &addr("val0")).unwrap().unwrap();
    assert_eq!(v.status, BondStatus::Bonded);
}

#[test]
fn create_validator_bonds_at_end_block_and_rejects_bad_pop() {
    let mut c = Chain::new();
    let mut bad = create_validator("val2", 500_000, "0.1", "0.2", "0.01");
    if let Msg::Staking(StakingMsg::CreateValidator { pop, .. }) = &mut bad {
        pop[0] ^= 1;
    }
    let (r, _) = c.send("val2", bad);
    assert_eq!(code(&r), 403);
    let out = c.ok("val2", create_validator("val2", 500_000, "0.1", "0.2", "0.01"));
    assert!(out.validator_set.iter().any(|v| v.operator == addr("val2") && v.power == 500_000));
    let (r, _) = c.send("val2", create_validator("val2", 1, "0.1", "0.2", "0.01"));
    assert_eq!(code(&r), 400);
    // max_validators = 2 drops the smallest one.
    let mut c = Chain::new();
    c.s.0.insert(b"params/staking".to_vec(), {
        let mut p = sgenesis().params.staking;
        p.max_validators = 2;
        borsh::to_vec(&p).unwrap()
    });
    c.ok("val2", create_validator("val2", 500_000, "0.1", "0.2", "0.01"));
    assert!(!in_set(&c.s, "val2"));
    let v = staking::validator(&c.s, &addr("val2")).unwrap().unwrap();
    assert_eq!(v.status, BondStatus::Unbonded);
}

#[test]
fn unbonding_completes_exactly_after_the_period() {
    let mut c = Chain::new();
    c.ok("alice", delegate("val0", 1_000));
    let before = balance(&c.s, "alice");
    c.ok("alice", undelegate("val0", 400));
    let done_at = c.time() + 10_000;
    assert_eq!(staking::unbondings_of(&c.s, &addr("alice")).unwrap()[0].1[0].balance, 400);
    c.until(done_at);
    // The block just before completion: not paid yet.
    assert_eq!(balance(&c.s, "alice"), before - MIN_FEE);
    let out = c.block(&[]);
    assert_eq!(c.time(), done_at);
    assert!(out.events.iter().any(|e| e.kind == "staking.unbonding_complete"));
    assert_eq!(balance(&c.s, "alice"), before - MIN_FEE + 400);
    assert!(staking::unbondings_of(&c.s, &addr("alice")).unwrap().is_empty());
    assert_eq!(c.delegated("alice", "val0"), 600);
    // Undelegating more than delegated is refused.
    let (r, _) = c.send("alice", undelegate("val0", 601));
    assert_eq!(code(&r), 408);
}

#[test]
fn cancel_unbonding_puts_stake_back() {
    let mut c = Chain::new();
    c.ok("alice", delegate("val0", 1_000));
    c.ok("alice", undelegate("val0", 400));
    let h = c.h;
    let (r, _) = c.send(
        "alice",
        smsg(StakingMsg::CancelUnbonding {
            validator: addr("val0"),
            amount: 500,
            creation_height: h,
        }),
    );
    assert_eq!(code(&r), 408);
    c.ok(
        "alice",
        smsg(StakingMsg::CancelUnbonding {
            validator: addr("val0"),
            amount: 150,
            creation_height: h,
        }),
    );
    assert_eq!(c.delegated("alice", "val0"), 750);
    assert_eq!(staking::unbondings_of(&c.s, &addr("alice")).unwrap()[0].1[0].balance, 250);
}

#[test]
fn redelegation_hopping_is_refused_with_a_clear_error() {
    let mut c = Chain::new();
    c.ok("val2", create_validator("val2", 500_000, "0.1", "0.2", "0.01"));
    c.ok("alice", delegate("val0", 1_000));
    c.ok("alice", redelegate("val0", "val1", 600));
    assert_eq!(c.delegated("alice", "val1"), 600);
    let (r, _) = c.send("alice", redelegate("val1", "val2", 100));
    assert_eq!(code(&r), 411);
    assert!(r.unwrap_err().message.contains("no hopping"));
    // Max entries (7) per pair.
    for _ in 0..6 {
        c.ok("alice", redelegate("val0", "val1", 10));
    }
    let (r, _) = c.send("alice", redelegate("val0", "val1", 10));
    assert_eq!(code(&r), 410);
    // After maturity the stake may move on.
    let t = c.time() + 10_000;
    c.until(t + 1000);
    c.ok("alice", redelegate("val1", "val2", 100));
    assert_eq!(c.delegated("alice", "val2"), 100);
}

#[test]
fn commission_change_rules_are_enforced() {
    let mut c = Chain::new();
    // Rate above max rate: refused before the mempool.
    let t =
        signed("val2", 0, MIN_FEE, vec![create_validator("val2", 500_000, "0.3", "0.2", "0.01")]);
    let e = chorus_chain::check_stateless(&t.encode(), CHAIN).unwrap_err();
    assert_eq!(e.code(), 404);
    c.ok("val2", create_validator("val2", 500_000, "0.10", "0.20", "0.01"));
    let edit = |rate: &str| {
        smsg(StakingMsg::EditValidator {
            description: None,
            commission_rate: Some(rate.parse().unwrap()),
            min_self_delegation: None,
        })
    };
    let (r, _) = c.send("val2", edit("0.105"));
    assert_eq!(code(&r), 405, "less than a day since creation");
    c.until(c.time() + 20_000);
    let (r, _) = c.send("val2", edit("0.12"));
    assert_eq!(code(&r), 404, "change above max change rate");
    let (r, _) = c.send("val2", edit("0.11"));
    r.unwrap();
    let v = staking::validator(&c.s, &addr("val2")).unwrap().unwrap();
    assert_eq!(v.commission.rate, "0.11".parse::<Dec>().unwrap());
    let (r, _) = c.send("val2", edit("0.10"));
    assert_eq!(code(&r), 405, "second change within a day");
}

#[test]
fn delegators_earn_rewards_and_validators_commission() {
    let mut c = Chain::new();
    c.ok("val2", create_validator("val2", 900_000, "0.1", "0.2", "0.01"));
    c.ok("alice", delegate("val2", 500_000));
    for _ in 0..10 {
        c.block(&[]);
    }
    let pending = staking::pending_rewards(&c.s, &addr("alice"), &addr("val2")).unwrap();
    // val2 holds 1.4/3.4 of the power: 1000 × 0.98 × 14/34 per block, 90 % to delegators, 5/14
    // of that to alice: ≈ 130 per block.
    assert!((1_250..=1_450).contains(&pending), "{pending}");
    let before = balance(&c.s, "alice");
    c.ok("alice", smsg(StakingMsg::WithdrawRewards { validator: addr("val2") }));
    let got = balance(&c.s, "alice") + MIN_FEE - before;
    assert!(got >= pending && got <= pending + 130, "{got} vs {pending}");
    let out = c.ok("val2", smsg(StakingMsg::WithdrawCommission));
    let com: Amount = out.receipts[0]
        .events
        .iter()
        .find(|e| e.kind == "distribution.withdraw_commission")
        .unwrap()
        .attr("amount")
        .unwrap()
        .parse()
        .unwrap();
    assert!(com > 400, "{com}");
    assert!(staking::community_pool(&c.s).unwrap() >= 20 * 12);
}

#[test]
fn transaction_fees_are_distributed_to_the_validators_with_the_next_block() {
    let mut c = Chain::new();
    let supply = bank::supply(&c.s).unwrap();
    let fee = 100_000;
    let t = verified(
        "alice",
        0,
        fee,
        vec![Msg::Bank(BankMsg::Transfer { to: addr("bob"), amount: 1 })],
    );
    let out = c.block(&[t]);
    assert_eq!(out.receipts[0].fee_paid, fee);
    // Collected, not burnt.
    assert_eq!(bank::module_balance(&c.s, bank::FEE_COLLECTOR).unwrap(), fee);
    assert_eq!(bank::supply(&c.s).unwrap(), supply + 1_000);
    let out = c.block(&[]);
    let ev = out.events.iter().find(|e| e.kind == "distribution.rewards").unwrap();
    assert_eq!(ev.attr("fees"), Some(fee.to_string().as_str()));
    assert_eq!(bank::module_balance(&c.s, bank::FEE_COLLECTOR).unwrap(), 0);
    // Block reward 1,000 + fees, 2 % community tax, split over two equal validators, 10 %
    // commission (genesis default) — each validator's outstanding rewards grew by about half.
    let given: Amount = ev.attr("validators").unwrap().parse().unwrap();
    assert_eq!(given, (fee + 1_000) - (fee + 1_000) / 50);
    assert_eq!(staking::reward_totals(&c.s).unwrap().fees, fee);
}

#[test]
fn downtime_jails_drops_from_set_then_unjail_returns() {
    let mut c = Chain::new();
    c.ok("val2", create_validator("val2", 500_000, "0.1", "0.2", "0.01"));
    // val2 never signs from now on.
    let mut jailed_at = None;
    for _ in 0..30 {
        let out = c.block_signed(&["val0", "val1"], &[]);
        if out.events.iter().any(|e| e.kind == "staking.jail") {
            let slash = out.events.iter().find(|e| e.kind == "staking.slash").unwrap();
            assert_eq!(slash.attr("reason"), Some("downtime"));
            assert_eq!(slash.attr("amount"), Some("5000"));
            jailed_at = Some(c.time());
            assert!(!out.validator_set.iter().any(|v| v.operator == addr("val2")));
            break;
        }
    }
    let jailed_at = jailed_at.expect("val2 was jailed");
    assert!(!in_set(&c.s, "val2"));
    assert_eq!(c.delegated("val2", "val2"), 495_000);
    let (r, _) = c.send("val2", smsg(StakingMsg::Unjail));
    assert_eq!(code(&r), 415);
    c.until(jailed_at + 5_000);
    c.ok("val2", smsg(StakingMsg::Unjail));
    assert!(in_set(&c.s, "val2"));
    let (r, _) = c.send("val2", smsg(StakingMsg::Unjail));
    assert_eq!(code(&r), 414);
}

fn vote(name: &str, h: u64, value: u8) -> SignedVote {
    let v = Vote {
        height: h,
        round: 0,
        vote_type: VoteType::Precommit,
        value_id: Some(Hash([value; 32])),
        validator: ckey(name).public_key(),
    };
    SignedVote { signature: ckey(name).sign(&v.sign_bytes(CHAIN)), vote: v }
}

#[test]
fn double_sign_evidence_slashes_tombstones_and_removes() {
    let mut c = Chain::new();
    c.ok("alice", delegate("val1", 100_000));
    c.block(&[]);
    // Invalid: same value, bad signature.
    let same = DoubleSignEvidence { a: vote("val1", 2, 1), b: vote("val1", 2, 1) };
    let (r, _) = c.send("bob", smsg(StakingMsg::SubmitEvidence { evidence: same }));
    assert_eq!(code(&r), 418);
    let mut forged = DoubleSignEvidence { a: vote("val1", 2, 1), b: vote("val1", 2, 2) };
    forged.b.signature[0] ^= 1;
    let (r, _) = c.send("bob", smsg(StakingMsg::SubmitEvidence { evidence: forged }));
    assert_eq!(code(&r), 418);
    // Alice starts unbonding after the infraction: the entry is slashed too.
    c.ok("alice", undelegate("val1", 10_000));
    let ev = DoubleSignEvidence { a: vote("val1", 2, 1), b: vote("val1", 2, 2) };
    let out = c.ok("bob", smsg(StakingMsg::SubmitEvidence { evidence: ev.clone() }));
    let slash = out.receipts[0].events.iter().find(|e| e.kind == "staking.slash").unwrap();
    assert_eq!(slash.attr("reason"), Some("double_sign"));
    assert!(out.receipts[0].events.iter().any(|e| e.kind == "staking.tombstone"));
    assert!(!out.validator_set.iter().any(|v| v.operator == addr("val1")));
    // 5 % of the current stake (1 090 000 → 54 500): alice's unbonding entry created after the
    // infraction loses 5 % (10 000 → 9 500), the other 54 000 come from the validator's tokens
    // (≈ 4.95 %), which every delegation shares.
    assert_eq!(slash.attr("amount"), Some("54500"));
    assert_eq!(staking::unbondings_of(&c.s, &addr("alice")).unwrap()[0].1[0].balance, 9_500);
    assert_eq!(c.delegated("alice", "val1"), 85_541);
    assert_eq!(c.delegated("val1", "val1"), 950_458);
    assert!(staking::signing_info(&c.s, &addr("val1")).unwrap().unwrap().tombstoned);
    // Once only; no unjail.
    let (r, _) = c.send("bob", smsg(StakingMsg::SubmitEvidence { evidence: ev }));
    assert_eq!(code(&r), 416);
    c.skew += 100_000_000;
    let (r, _) = c.send("val1", smsg(StakingMsg::Unjail));
    assert_eq!(code(&r), 416);
    // The consensus key cannot be reused.
    let k = ckey("val1");
    let reuse = smsg(StakingMsg::CreateValidator {
        consensus_key: k.public_key(),
        pop: k.sign(&pop_bytes(&addr("carol"), CHAIN)),
        self_delegation: 10,
        min_self_delegation: 1,
        commission: CommissionRates {
            rate: Dec::ZERO,
            max_rate: Dec::ONE,
            max_change_rate: Dec::ONE,
        },
        description: Description::default(),
    });
    let (r, _) = c.send("carol", reuse);
    assert_eq!(code(&r), 401);
}

#[test]
fn objective_fault_hook_slashes_with_reason() {
    let s = sstate();
    let mut d = StateDelta::new(&s);
    let mut events = Vec::new();
    registry::validator_fault(
        &mut d,
        1,
        &addr("val0"),
        FaultReason::ConflictingAttestation,
        3,
        4,
        &mut events,
    )
    .unwrap();
    let e = events.iter().find(|e| e.kind == "staking.slash").unwrap();
    assert_eq!(e.attr("reason"), Some("conflicting_attestation"));
    assert_eq!(e.attr("amount"), Some("10000"));
    let mut s2 = s.clone();
    s2.apply(&d.into_changes());
    chorus_chain::invariants::check(&s2).unwrap();
    assert_eq!(staking::validator(&s2, &addr("val0")).unwrap().unwrap().tokens, 990_000);
}

fn gmsg(m: GovMsg) -> Msg {
    Msg::Gov(m)
}

#[test]
fn governance_proposal_changes_unbonding_period_and_next_block_uses_it() {
    let mut c = Chain::new();
    let change =
        vec![ParamChange { key: "staking.unbonding_time_ms".into(), value: "3000".into() }];
    let (r, _) = c.send(
        "alice",
        gmsg(GovMsg::SubmitProposal {
            title: "bad".into(),
            changes: vec![ParamChange { key: "staking.max_validators".into(), value: "0".into() }],
            deposit: 100,
        }),
    );
    assert_eq!(code(&r), 451);
    c.ok(
        "alice",
        gmsg(GovMsg::SubmitProposal {
            title: "faster unbonding".into(),
            changes: change,
            deposit: 100,
        }),
    );
    let p = gov::proposal(&c.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::VotingPeriod);
    c.ok("val0", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::Yes }));
    c.ok("val1", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::No }));
    // val0's delegator bob (200 000) overrides nothing; alice's stake votes with val1 unless she votes.
    c.ok("bob", delegate("val0", 200_000));
    let end = p.voting_end_ms;
    let alice_before = balance(&c.s, "alice");
    while c.time() < end {
        c.block(&[]);
    }
    let p = gov::proposal(&c.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::Passed);
    assert_eq!(p.tally.yes, 1_200_000);
    assert_eq!(balance(&c.s, "alice"), alice_before + 100, "deposit refunded");
    assert_eq!(staking::staking_params(&c.s).unwrap().unbonding_time_ms, 3000);
    // The very next block uses the new period.
    let out = c.ok("bob", undelegate("val0", 1_000));
    let e = out.receipts[0].events.iter().find(|e| e.kind == "staking.undelegate").unwrap();
    assert_eq!(e.attr("completion_time_ms"), Some((c.time() + 3000).to_string().as_str()));
}

#[test]
fn governance_without_quorum_rejects() {
    let mut c = Chain::new();
    let change = vec![ParamChange { key: "gov.quorum".into(), value: "0.5".into() }];
    c.ok(
        "alice",
        gmsg(GovMsg::SubmitProposal { title: "q".into(), changes: change, deposit: 150 }),
    );
    c.ok("alice", delegate("val0", 10));
    c.ok("alice", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::Yes }));
    c.until(c.time() + 6_000);
    let p = gov::proposal(&c.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::Rejected);
    assert_eq!(gov::params(&c.s).unwrap().quorum, Params::default().gov.quorum);
}

#[derive(Clone, Debug)]
enum Op {
    Delegate(usize, usize, Amount),
    Undelegate(usize, usize, Amount),
    Redelegate(usize, usize, usize, Amount),
    Withdraw(usize, usize),
    Fault(usize),
    Miss(usize),
    Wait(u64),
}

const DELS: [&str; 3] = ["alice", "bob", "carol"];
const VALS: [&str; 3] = ["val0", "val1", "val2"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..3usize, 1u128..50_000).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        (0..3usize, 0..3usize, 1u128..60_000).prop_map(|(d, v, a)| Op::Undelegate(d, v, a)),
        (0..3usize, 0..3usize, 1..3usize, 1u128..60_000).prop_map(|(d, s, t, a)| Op::Redelegate(
            d,
            s,
            (s + t) % 3,
            a
        )),
        (0..3usize, 0..3usize).prop_map(|(d, v)| Op::Withdraw(d, v)),
        (0..3usize).prop_map(Op::Fault),
        (0..3usize).prop_map(Op::Miss),
        (1u64..8).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random delegate / undelegate / redelegate / withdraw / fault slash / missed blocks / time
    /// sequences keep every invariant (pools, shares, rewards, supply) after every block, and a
    /// full withdrawal of everything never needs more than the distribution pool holds.
    #[test]
    fn random_staking_sequences_hold_every_invariant(ops in proptest::collection::vec(op(), 1..24)) {
        let mut c = Chain::new();
        c.ok("val2", create_validator("val2", 300_000, "0.05", "0.5", "0.1"));
        let mut missing: Option<usize> = None;
        for o in ops {
            let mut signers: Vec<&str> = VALS.to_vec();
            if let Some(m) = missing { signers.remove(m); }
            match o {
                Op::Delegate(d, v, a) => { let t = c.tx(DELS[d], vec![delegate(VALS[v], a)]); c.block_signed(&signers, &[t]); }
                Op::Undelegate(d, v, a) => { let t = c.tx(DELS[d], vec![undelegate(VALS[v], a)]); c.block_signed(&signers, &[t]); }
                Op::Redelegate(d, s, t2, a) => { let t = c.tx(DELS[d], vec![redelegate(VALS[s], VALS[t2], a)]); c.block_signed(&signers, &[t]); }
                Op::Withdraw(d, v) => { let t = c.tx(DELS[d], vec![smsg(StakingMsg::WithdrawRewards { validator: addr(VALS[v]) })]); c.block_signed(&signers, &[t]); }
                Op::Fault(v) => {
                    let mut d = StateDelta::new(&c.s);
                    let mut ev = Vec::new();
                    staking::handle_fault(&mut d, c.h, &addr(VALS[v]), "test_fault", &mut ev).unwrap();
                    let ch = d.into_changes();
                    c.s.apply(&ch);
                    chorus_chain::invariants::check(&c.s).unwrap();
                }
                Op::Miss(v) => missing = Some(v),
                Op::Wait(n) => { for _ in 0..n { c.block_signed(&signers, &[]); } missing = None; }
            }
        }
        // Everybody withdraws everything: all succeed and the invariants still hold.
        let mut txs = Vec::new();
        for d in DELS { for v in VALS {
            if staking::delegation(&c.s, &addr(d), &addr(v)).unwrap().is_some() {
                txs.push(c.tx(d, vec![smsg(StakingMsg::WithdrawRewards { validator: addr(v) })]));
            }
        }}
        let out = c.block(&txs);
        for r in &out.receipts { prop_assert!(r.result.is_ok(), "{:?}", r.result); }
        let t = staking::reward_totals(&c.s).unwrap();
        prop_assert_eq!(t.minted + t.fees, t.paid + bank::module_balance(&c.s, staking::DISTRIBUTION_POOL).unwrap());
    }
}
