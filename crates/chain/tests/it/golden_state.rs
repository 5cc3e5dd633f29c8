//! Golden pin of the state machine's OUTPUT across versions.
//!
//! `execute_block_is_deterministic` only compares two runs inside one process; nothing there
//! notices when a code change moves consensus bytes (a key layout, an encoding, a rounding, an
//! event attribute, an error message in a receipt). This test runs one fixed script — a genesis
//! with fixed keys, then fixed blocks (heights, times, proposer, randomness, last commits) whose
//! transactions use every [`Msg`] variant at least once successfully, plus some that fail — and
//! pins:
//! - the final state: keccak256 of the borsh encoding of every (key, value) pair in key order,
//!   i.e. exactly the set the host's authenticated tree (`chorus-db`, jmt) commits to, so the
//!   state root moves if and only if this hash moves (for a given jmt);
//! - every block's `receipts_root` (the header field), chained into one hash;
//! - every event (block-level and per receipt), chained into one hash;
//! - every block's change set, chained into one hash.
//!
//! A new message variant does not compile here until it is added to [`variant`] and the script.
//! If a pinned value changes, consensus bytes changed: check that this was intended, then update
//! the constant and give the reason in the commit message.

use std::collections::{BTreeMap, BTreeSet};

use chorus_chain::components::learning::{self, TaskStatus};
use chorus_chain::components::registry;
use chorus_chain::components::staking::{self, gov};
use chorus_chain::state::MemState;
use chorus_chain::{BlockContext, BlockOutcome, VerifiedTx, execute_block, validator_set};
use chorus_crypto::ConsensusKey;
use chorus_types::learning::{
    Capabilities, DeviceFacts, LearningMsg, RegistryMsg, Role, score_commitment, update_commitment,
};
use chorus_types::staking::{
    CommissionRates, Description, DoubleSignEvidence, GovMsg, ParamChange, SignedVote, StakingMsg,
    Vote, VoteOption, VoteType, pop_bytes,
};
use chorus_types::{
    Amount, BankMsg, CommitInfo, Genesis, GenesisValidator, Hash, Msg, keccak256, merkle_root,
};

use crate::learning_support::{BOND, caps, model_of, salt, spec, update_of};
use crate::support::{CHAIN, MIN_FEE, addr, verified};

// If any of these change, consensus bytes changed: update with the reason in the commit message.
/// keccak256(borsh(final state as a sorted map)): what the jmt state root commits to.
const GOLDEN_STATE_HASH: &str =
    "0x6f081d24663b362717ed3fd74b512d90dba6ee024f87ec5f2e8d5710b57eb72d";
/// keccak256(receipts_root(1) ‖ … ‖ receipts_root(n)).
const GOLDEN_RECEIPTS_ROOTS_HASH: &str =
    "0x43857276eee4f145b03454c56977b50b9c3acdbda88ad207f22d354af615c43e";
/// Chained keccak256 over borsh(block events) and borsh(receipt events) of every block.
const GOLDEN_EVENTS_HASH: &str =
    "0xfb4fa62fba1d54344d3951db601889b64392eeb5f0738d2d18f99261480e4c31";
/// Chained keccak256 over borsh(change set) of every block.
const GOLDEN_CHANGES_HASH: &str =
    "0xfae19e740ae6c0adcb930e92d7e0c7a6ee4619d21dcdf392503d15b46dd54225";
/// Blocks executed, transactions, keys in the final state (a cheap first hint when the hashes
/// move).
const GOLDEN_SHAPE: (u64, usize, usize) = (1007, 55, 115);

const T0: u64 = 1_700_000_000_000;
const STAKE: Amount = 1_000_000;
const ALL: &[&str] = &["val0", "val1", "val2"];

fn ckey(name: &str) -> ConsensusKey {
    ConsensusKey::from_seed(name.as_bytes())
}

fn golden_genesis() -> Genesis {
    let mut params = crate::support::test_params(MIN_FEE);
    params.staking.unbonding_time_ms = 10_000;
    params.staking.commission_change_period_ms = 3_000;
    params.slashing.signed_blocks_window = 10;
    params.slashing.downtime_jail_duration_ms = 5_000;
    params.distribution.block_reward = 1_000;
    params.gov.min_deposit = 100;
    params.gov.voting_period_ms = 5_000;
    let mut accounts: Vec<_> = ["alice", "bob", "carol", "p0", "p1", "p2", "val0", "val1", "val2"]
        .iter()
        .map(|n| (addr(n), 1_000_000))
        .collect();
    accounts.push((addr("owner"), 10_000_000));
    Genesis {
        chain_id: CHAIN,
        genesis_time_ms: T0,
        accounts,
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

/// The name of a message variant. Exhaustive on purpose: a new variant must be added here (and
/// to the script, so that it is pinned) before this test compiles again.
fn variant(m: &Msg) -> &'static str {
    match m {
        Msg::Bank(BankMsg::Transfer { .. }) => "bank.transfer",
        Msg::Registry(r) => match r {
            RegistryMsg::Register { .. } => "registry.register",
            RegistryMsg::AddBond { .. } => "registry.add_bond",
            RegistryMsg::UpdateCapabilities { .. } => "registry.update_capabilities",
            RegistryMsg::Deregister => "registry.deregister",
            RegistryMsg::Withdraw => "registry.withdraw",
        },
        Msg::Learning(l) => match l {
            LearningMsg::CreateTask { .. } => "learning.create_task",
            LearningMsg::PauseTask { .. } => "learning.pause_task",
            LearningMsg::ResumeTask { .. } => "learning.resume_task",
            LearningMsg::CancelTask { .. } => "learning.cancel_task",
            LearningMsg::Commit { .. } => "learning.commit",
            LearningMsg::Reveal { .. } => "learning.reveal",
            LearningMsg::ScoreCommit { .. } => "learning.score_commit",
            LearningMsg::ScoreReveal { .. } => "learning.score_reveal",
            LearningMsg::ProposeAggregate { .. } => "learning.propose_aggregate",
            LearningMsg::AttestAggregate { .. } => "learning.attest_aggregate",
            LearningMsg::Rollback { .. } => "learning.rollback",
        },
        Msg::Staking(s) => match s {
            StakingMsg::CreateValidator { .. } => "staking.create_validator",
            StakingMsg::EditValidator { .. } => "staking.edit_validator",
            StakingMsg::Delegate { .. } => "staking.delegate",
            StakingMsg::Undelegate { .. } => "staking.undelegate",
            StakingMsg::CancelUnbonding { .. } => "staking.cancel_unbonding",
            StakingMsg::Redelegate { .. } => "staking.redelegate",
            StakingMsg::WithdrawRewards { .. } => "staking.withdraw_rewards",
            StakingMsg::WithdrawCommission => "staking.withdraw_commission",
            StakingMsg::Unjail => "staking.unjail",
            StakingMsg::SubmitEvidence { .. } => "staking.submit_evidence",
        },
        Msg::Gov(g) => match g {
            GovMsg::SubmitProposal { .. } => "gov.submit_proposal",
            GovMsg::Deposit { .. } => "gov.deposit",
            GovMsg::Vote { .. } => "gov.vote",
        },
    }
}

/// Every variant [`variant`] names: the script must execute each one successfully.
const EVERY_VARIANT: [&str; 30] = [
    "bank.transfer",
    "registry.register",
    "registry.add_bond",
    "registry.update_capabilities",
    "registry.deregister",
    "registry.withdraw",
    "learning.create_task",
    "learning.pause_task",
    "learning.resume_task",
    "learning.cancel_task",
    "learning.commit",
    "learning.reveal",
    "learning.score_commit",
    "learning.score_reveal",
    "learning.propose_aggregate",
    "learning.attest_aggregate",
    "learning.rollback",
    "staking.create_validator",
    "staking.edit_validator",
    "staking.delegate",
    "staking.undelegate",
    "staking.cancel_unbonding",
    "staking.redelegate",
    "staking.withdraw_rewards",
    "staking.withdraw_commission",
    "staking.unjail",
    "staking.submit_evidence",
    "gov.submit_proposal",
    "gov.deposit",
    "gov.vote",
];

/// The scripted chain: executes blocks, checks invariants and expected receipt codes, and folds
/// the outputs into the pinned hashes.
struct Golden {
    s: MemState,
    h: u64,
    nonces: BTreeMap<String, u64>,
    /// Transactions of the block being assembled, with the expected failure code (0 = success).
    pending: Vec<(VerifiedTx, u32)>,
    receipts_roots: Vec<u8>,
    events: [u8; 32],
    changes: [u8; 32],
    txs: usize,
    succeeded: BTreeSet<&'static str>,
}

fn chain(acc: &mut [u8; 32], bytes: &[u8]) {
    let mut b = acc.to_vec();
    b.extend_from_slice(&keccak256(bytes));
    *acc = keccak256(&b);
}

impl Golden {
    fn new() -> Golden {
        let mut s = MemState::new();
        s.apply(&chorus_chain::init_genesis(&golden_genesis()).unwrap());
        chorus_chain::invariants::check(&s).unwrap();
        Golden {
            s,
            h: 0,
            nonces: BTreeMap::new(),
            pending: Vec::new(),
            receipts_roots: Vec::new(),
            events: [0; 32],
            changes: [0; 32],
            txs: 0,
            succeeded: BTreeSet::new(),
        }
    }

    /// Queues a transaction from `from` (next nonce, minimum fee) expecting failure `code`
    /// (0 = success).
    fn tx(&mut self, from: &str, msg: Msg, code: u32) {
        let n = self.nonces.entry(from.to_string()).or_default();
        let t = verified(from, *n, MIN_FEE, vec![msg]);
        *n += 1;
        self.pending.push((t, code));
    }

    fn ok(&mut self, from: &str, msg: Msg) {
        self.tx(from, msg, 0);
    }

    /// Executes the queued transactions as the next block, whose last commit is signed by
    /// `signers`.
    fn block_signed(&mut self, signers: &[&str]) -> BlockOutcome {
        self.h += 1;
        let h = self.h;
        let mut keys: Vec<[u8; 32]> = signers.iter().map(|n| ckey(n).public_key()).collect();
        keys.sort();
        let ctx = BlockContext {
            chain_id: CHAIN,
            height: h,
            time_ms: T0 + h * 1000,
            proposer: ckey(ALL[(h % 2) as usize]).public_key(),
            randomness: Hash(keccak256(format!("golden-randomness-{h}").as_bytes())),
            last_commit: (h > 1).then(|| {
                // Signatures are checked by the host (`verify_last_commit`), not by execution.
                let signatures = vec![[0; 64]; keys.len()];
                CommitInfo { height: h - 1, round: 0, signers: keys, signatures }
            }),
        };
        let (txs, codes): (Vec<VerifiedTx>, Vec<u32>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        let out = execute_block(&self.s, &ctx, &txs).unwrap();
        self.s.apply(&out.changes);
        chorus_chain::invariants::check(&self.s).unwrap();
        for t in learning::tasks(&self.s).unwrap() {
            assert_eq!(t.escrow + t.paid + t.refunded, t.budget, "escrow conservation");
        }
        let got: Vec<u32> =
            out.receipts.iter().map(|r| r.result.as_ref().err().map_or(0, |f| f.code)).collect();
        assert_eq!(got, codes, "receipt codes at height {h}: {:#?}", out.receipts);
        for (t, r) in txs.iter().zip(&out.receipts) {
            if r.result.is_ok() {
                self.succeeded.extend(t.tx().msgs.iter().map(variant));
            }
        }
        self.txs += txs.len();
        let leaves: Vec<Hash> = out.receipts.iter().map(|r| r.hash()).collect();
        self.receipts_roots.extend_from_slice(&merkle_root(&leaves).0);
        chain(&mut self.events, &borsh::to_vec(&out.events).unwrap());
        for r in &out.receipts {
            chain(&mut self.events, &borsh::to_vec(&r.events).unwrap());
        }
        chain(&mut self.changes, &borsh::to_vec(&out.changes).unwrap());
        out
    }

    fn block(&mut self) -> BlockOutcome {
        self.block_signed(ALL)
    }

    fn task_status(&self, task: u64) -> TaskStatus {
        learning::task(&self.s, task).unwrap().unwrap().status
    }

    fn time(&self) -> u64 {
        T0 + self.h * 1000
    }

    /// The selected participants of a round, by name, in selection order.
    fn selected(&self, task: u64, r: u32) -> Vec<&'static str> {
        learning::selection(&self.s, task, r)
            .unwrap()
            .iter()
            .map(|(a, _)| *["p0", "p1", "p2"].iter().find(|n| addr(n) == *a).unwrap())
            .collect()
    }
}

fn smsg(m: StakingMsg) -> Msg {
    Msg::Staking(m)
}

fn gmsg(m: GovMsg) -> Msg {
    Msg::Gov(m)
}

fn lmsg(m: LearningMsg) -> Msg {
    Msg::Learning(m)
}

fn rmsg(m: RegistryMsg) -> Msg {
    Msg::Registry(m)
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

/// Queues the commit of every selected participant of round `r` (their honest update); returns
/// them in selection order.
fn commit_block(g: &mut Golden, task: u64, r: u32) -> Vec<&'static str> {
    let sel = g.selected(task, r);
    for n in &sel {
        let c = update_commitment(&update_of(n, r), 100, &salt(n), &addr(n), task, r);
        g.ok(n, lmsg(LearningMsg::Commit { task, round: r, commitment: c }));
    }
    sel
}

#[test]
fn a_scripted_block_sequence_covering_every_message_type_ends_at_the_pinned_state_root() {
    let mut g = Golden::new();
    let task = 1;

    // Height 1: bank, a new validator, registrations, a learning task.
    g.ok("alice", Msg::Bank(BankMsg::Transfer { to: addr("bob"), amount: 100 }));
    g.tx("bob", Msg::Bank(BankMsg::Transfer { to: addr("alice"), amount: 10_000_000 }), 13);
    let k2 = ckey("val2");
    g.ok(
        "val2",
        smsg(StakingMsg::CreateValidator {
            consensus_key: k2.public_key(),
            pop: k2.sign(&pop_bytes(&addr("val2"), CHAIN)),
            self_delegation: 500_000,
            min_self_delegation: 1,
            commission: CommissionRates {
                rate: "0.1".parse().unwrap(),
                max_rate: "0.2".parse().unwrap(),
                max_change_rate: "0.05".parse().unwrap(),
            },
            description: Description { name: "val2".into(), ..Default::default() },
        }),
    );
    for p in ["p0", "p1", "p2"] {
        g.ok(
            p,
            rmsg(RegistryMsg::Register {
                role: Role::Participant,
                bond: BOND,
                capabilities: caps(),
            }),
        );
    }
    g.ok(
        "carol",
        rmsg(RegistryMsg::Register { role: Role::Worker, bond: 5, capabilities: caps() }),
    );
    let mut s = spec(2, 3, 2);
    s.phases.aggregate = 2;
    g.ok("owner", lmsg(LearningMsg::CreateTask { spec: Box::new(s) }));
    let out = g.block();
    assert!(out.validator_set.iter().any(|v| v.operator == addr("val2")));

    // Height 2: round 0 opens at the block's start; the owner pauses (the open round still runs).
    g.ok("owner", lmsg(LearningMsg::PauseTask { task }));
    g.ok("alice", smsg(StakingMsg::Delegate { validator: addr("val0"), amount: 10_000 }));
    g.ok("carol", rmsg(RegistryMsg::AddBond { amount: 5 }));
    let more = Capabilities {
        device: DeviceFacts { cpu_cores: 8, memory_mib: 16_384, ..DeviceFacts::default() },
        ..caps()
    };
    g.ok("carol", rmsg(RegistryMsg::UpdateCapabilities { capabilities: more }));
    g.ok(
        "alice",
        gmsg(GovMsg::SubmitProposal {
            title: "faster unbonding".into(),
            changes: vec![ParamChange {
                key: "staking.unbonding_time_ms".into(),
                value: "3000".into(),
            }],
            deposit: 60,
        }),
    );
    // Not in its voting period yet (deposit 60 < 100): refused.
    g.tx("bob", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::Yes }), 452);
    g.ok("bob", gmsg(GovMsg::Deposit { proposal: 1, amount: 40 }));
    g.block();

    // Height 3: round 0 commits; governance votes; an undelegation.
    let sel0 = commit_block(&mut g, task, 0);
    assert_eq!(sel0.len(), 3);
    g.ok("val0", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::Yes }));
    g.ok("val1", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::Yes }));
    g.ok("val2", gmsg(GovMsg::Vote { proposal: 1, option: VoteOption::No }));
    g.ok("alice", smsg(StakingMsg::Undelegate { validator: addr("val0"), amount: 4_000 }));
    g.block();
    let unbonding_height = g.h;

    // Height 4: reveals; cancel part of the unbonding (and too much of it).
    for n in &sel0 {
        g.ok(
            n,
            lmsg(LearningMsg::Reveal {
                task,
                round: 0,
                update_id: update_of(n, 0),
                salt: salt(n),
                num_examples: 100,
                norm: 1_000,
            }),
        );
    }
    let cancel = |amount| {
        smsg(StakingMsg::CancelUnbonding {
            validator: addr("val0"),
            amount,
            creation_height: unbonding_height,
        })
    };
    g.ok("alice", cancel(1_000));
    g.tx("alice", cancel(99_999), 408);
    g.block();

    // Height 5: score commits by every round validator; a redelegation.
    let updates = learning::revealed_updates(&g.s, task, 0).unwrap();
    assert_eq!(updates.len(), 3);
    let vectors: Vec<Vec<i64>> =
        (0..3).map(|i| (0..updates.len()).map(|u| 100 + (i * 3 + u) as i64).collect()).collect();
    let vsalt = |i: usize| Hash([i as u8 + 1; 32]);
    for (i, v) in ALL.iter().enumerate() {
        let c = score_commitment(&vectors[i], &vsalt(i), &addr(v), task, 0);
        g.ok(v, lmsg(LearningMsg::ScoreCommit { task, round: 0, commitment: c }));
    }
    g.ok(
        "alice",
        smsg(StakingMsg::Redelegate { src: addr("val0"), dst: addr("val1"), amount: 2_000 }),
    );
    g.block();

    // Height 6: score reveals; the worker deregisters.
    for (i, v) in ALL.iter().enumerate() {
        g.ok(
            v,
            lmsg(LearningMsg::ScoreReveal {
                task,
                round: 0,
                scores: vectors[i].clone(),
                salt: vsalt(i),
            }),
        );
    }
    g.ok("carol", rmsg(RegistryMsg::Deregister));
    g.block();

    // Height 7: the aggregate phase opens with the outcome computed at the block's start.
    g.tx("carol", rmsg(RegistryMsg::Withdraw), 205); // delay not over
    g.block();
    let o = learning::outcome(&g.s, task, 0).unwrap().unwrap();
    assert_eq!(o.accepted.len(), 3);

    // Height 8: propose and attest: the round finalizes; the commission changes.
    let (m, h0) = (model_of(task, 0), o.accepted_set_hash);
    g.ok(
        "val0",
        lmsg(LearningMsg::ProposeAggregate { task, round: 0, model_id: m, accepted_set_hash: h0 }),
    );
    for v in ["val2", "val1"] {
        g.ok(
            v,
            lmsg(LearningMsg::AttestAggregate {
                task,
                round: 0,
                model_id: m,
                accepted_set_hash: h0,
            }),
        );
    }
    g.ok(
        "val2",
        smsg(StakingMsg::EditValidator {
            description: Some(Description {
                name: "val2".into(),
                website: "https://val2.example".into(),
                details: String::new(),
            }),
            commission_rate: Some("0.12".parse().unwrap()),
            min_self_delegation: Some(2),
        }),
    );
    g.block();
    assert_eq!(learning::current_model(&g.s, task).unwrap(), Some(m));

    // Height 9: paused, so no new round; roll back to the initial model and resume; rewards.
    assert_eq!(g.task_status(task), TaskStatus::Paused);
    g.ok("owner", lmsg(LearningMsg::Rollback { task, version: 0 }));
    g.ok("owner", lmsg(LearningMsg::ResumeTask { task }));
    g.ok("alice", smsg(StakingMsg::WithdrawRewards { validator: addr("val0") }));
    g.ok("val0", smsg(StakingMsg::WithdrawCommission));
    g.block();
    assert_eq!(learning::current_model(&g.s, task).unwrap(), Some(Hash([0xAA; 32])));

    // Height 10: round 1 opens; its participants commit. Height 11: the owner cancels.
    g.block();
    commit_block(&mut g, task, 1);
    g.block();
    // Round 1 has commits, so the cancel is deferred (M3): the round runs to its end. Nobody
    // reveals: the next block's hook slashes the three withheld reveals (M4), fails the round
    // and ends the task.
    g.ok("owner", lmsg(LearningMsg::CancelTask { task }));
    g.tx("p0", lmsg(LearningMsg::CancelTask { task }), 302); // not the owner
    g.block();
    assert_eq!(g.task_status(task), TaskStatus::Cancelling);
    g.tx("owner", lmsg(LearningMsg::CancelTask { task }), 303); // ended at this block's start
    g.block();
    assert_eq!(g.task_status(task), TaskStatus::Cancelled);
    assert!(registry::registration(&g.s, &addr("p0")).unwrap().unwrap().faults == 1);
    let p = gov::proposal(&g.s, 1).unwrap().unwrap();
    assert_eq!(p.status, gov::ProposalStatus::Passed);
    assert_eq!(staking::staking_params(&g.s).unwrap().unbonding_time_ms, 3000);

    // Downtime: val2 stops signing until it is jailed, then unjails after the jail period.
    let mut jailed_at = None;
    for _ in 0..30 {
        let out = g.block_signed(&["val0", "val1"]);
        if out.events.iter().any(|e| e.kind == "staking.jail") {
            jailed_at = Some(g.time());
            break;
        }
    }
    let jailed_at = jailed_at.expect("val2 was jailed for downtime");
    assert!(!validator_set(&g.s).unwrap().iter().any(|v| v.operator == addr("val2")));
    g.tx("val2", smsg(StakingMsg::Unjail), 415); // jail period not over
    g.block();
    while g.time() + 1000 < jailed_at + 5_000 {
        g.block();
    }
    g.ok("val2", smsg(StakingMsg::Unjail));
    g.block();
    assert!(validator_set(&g.s).unwrap().iter().any(|v| v.operator == addr("val2")));

    // Double signing by val1 at the previous height: slashed, tombstoned, removed.
    let ev = DoubleSignEvidence { a: vote("val1", g.h, 1), b: vote("val1", g.h, 2) };
    g.ok("bob", smsg(StakingMsg::SubmitEvidence { evidence: ev.clone() }));
    g.block();
    g.tx("bob", smsg(StakingMsg::SubmitEvidence { evidence: ev }), 416); // already tombstoned
    g.block();
    assert!(staking::signing_info(&g.s, &addr("val1")).unwrap().unwrap().tombstoned);

    // The worker's registry unbonding delay passes; it withdraws its bond.
    let delay = registry::params(&g.s).unwrap().unbonding_blocks;
    while g.h < 6 + delay {
        g.block();
    }
    g.ok("carol", rmsg(RegistryMsg::Withdraw));
    g.block();
    assert!(registry::registration(&g.s, &addr("carol")).unwrap().is_none());

    // Every message variant succeeded at least once.
    let missing: Vec<&str> =
        EVERY_VARIANT.iter().copied().filter(|v| !g.succeeded.contains(v)).collect();
    assert!(missing.is_empty(), "never executed successfully: {missing:?}");
    assert_eq!(g.succeeded.len(), EVERY_VARIANT.len());

    let got = (
        Hash(keccak256(&borsh::to_vec(&g.s.0).unwrap())).to_string(),
        Hash(keccak256(&g.receipts_roots)).to_string(),
        Hash(g.events).to_string(),
        Hash(g.changes).to_string(),
        (g.h, g.txs, g.s.0.len()),
    );
    assert_eq!(
        got,
        (
            GOLDEN_STATE_HASH.to_string(),
            GOLDEN_RECEIPTS_ROOTS_HASH.to_string(),
            GOLDEN_EVENTS_HASH.to_string(),
            GOLDEN_CHANGES_HASH.to_string(),
            GOLDEN_SHAPE,
        ),
        "consensus output moved: if intended, update the GOLDEN_* constants and say why in the \
         commit message"
    );
}
