//! The learning attacks of the security review (H3, H4, H5, M3, M4, L6, L7, L8), each run
//! against the state machine through real signed transactions and shown failing.

use chorus_chain::VerifiedTx;
use chorus_chain::components::learning::{
    self, LearningError, MAX_ACTIVE_TASKS, MIN_REPUTATION, OPEN_RETRY_BLOCKS, Phase, TaskStatus,
    validate_spec,
};
use chorus_chain::components::{registry, staking};
use chorus_types::learning::{
    DataMode, LearningMsg, MAX_EXAMPLES_PER_UPDATE, MAX_SCORES, PhaseLengths, RegistryMsg,
    score_commitment, update_commitment,
};
use chorus_types::{Amount, Event, Hash, Msg};

use crate::learning_support::{
    BOND, Net, REWARD, Script, code, flat, honest, kinds, model_of, play_round, salt, same, spec,
    update_of,
};
use crate::support::{CHAIN, addr};

fn selected(net: &Net, id: u64, r: u32) -> Vec<String> {
    learning::selection(&net.state, id, r).unwrap().iter().map(|(a, _)| net.name(a)).collect()
}

fn commit_tx(net: &mut Net, n: &str, id: u64, r: u32, examples: u64) -> VerifiedTx {
    let c = update_commitment(&update_of(n, r), examples, &salt(n), &addr(n), id, r);
    net.learn(n, LearningMsg::Commit { task: id, round: r, commitment: c })
}

fn reveal_tx(net: &mut Net, n: &str, id: u64, r: u32, examples: u64) -> VerifiedTx {
    net.learn(
        n,
        LearningMsg::Reveal {
            task: id,
            round: r,
            update_id: update_of(n, r),
            salt: salt(n),
            num_examples: examples,
            norm: 1_000,
        },
    )
}

/// Every validator commits and reveals `100` for every revealed update, then `v0` proposes and
/// `attesters` more attest `model_of(id, r)`; returns the events of those blocks.
fn score_and_aggregate(net: &mut Net, id: u64, r: u32, attesters: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let n = learning::revealed_updates(&net.state, id, r).unwrap().len();
    let scores = vec![100i64; n];
    let txs: Vec<VerifiedTx> = (0..net.validators)
        .map(|i| {
            let v = format!("v{i}");
            let c = score_commitment(&scores, &Hash::ZERO, &addr(&v), id, r);
            net.learn(&v, LearningMsg::ScoreCommit { task: id, round: r, commitment: c })
        })
        .collect();
    events.extend(net.block(txs).events);
    let txs: Vec<VerifiedTx> = (0..net.validators)
        .map(|i| {
            net.learn(
                &format!("v{i}"),
                LearningMsg::ScoreReveal {
                    task: id,
                    round: r,
                    scores: scores.clone(),
                    salt: Hash::ZERO,
                },
            )
        })
        .collect();
    events.extend(net.block(txs).events);
    // The outcome is stored at the next block's start; validators compute its hash off-chain
    // from the public reveals and score reveals, exactly as the chain will.
    let updates = learning::revealed_updates(&net.state, id, r).unwrap();
    let rd = learning::round(&net.state, id, r).unwrap().unwrap();
    let votes: Vec<(u64, &[i64])> =
        rd.validators.iter().map(|(_, p)| (*p, scores.as_slice())).collect();
    let c = learning::math::consensus(n, &votes);
    let acc = learning::math::accepted_set(&updates, &c, net.task(id).spec.score_threshold);
    let h = learning::math::accepted_set_hash(id, r, &acc);
    let m = model_of(id, r);
    let mut txs = vec![net.learn(
        "v0",
        LearningMsg::ProposeAggregate { task: id, round: r, model_id: m, accepted_set_hash: h },
    )];
    for i in 1..=attesters {
        txs.push(net.learn(
            &format!("v{i}"),
            LearningMsg::AttestAggregate { task: id, round: r, model_id: m, accepted_set_hash: h },
        ));
    }
    let out = net.block(txs);
    events.extend(out.events);
    for rc in out.receipts {
        events.extend(rc.events);
    }
    events
}

fn paid_to(events: &[Event], n: &str) -> Amount {
    kinds(events, "learning.reward")
        .iter()
        .filter(|e| e.attr("to") == Some(&addr(n).to_string()))
        .map(|e| e.attr("amount").unwrap().parse::<Amount>().unwrap())
        .sum()
}

// ---------------------------------------------------------------------------------------- H4

#[test]
fn a_reveal_claiming_2_pow_40_or_over_cap_examples_is_refused_and_the_round_finalizes_with_the_honest_updates()
 {
    let mut net = Net::new(4, 4);
    let id = net.create(spec(1, 4, 2)); // max_examples 1000
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let (huge, over) = (sel[0].clone(), sel[1].clone());
    let claim = |n: &str| {
        if n == huge {
            1 << 40
        } else if n == over {
            1_001
        } else {
            100
        }
    };
    // Both liars bind their claim in the commitment (H4: it cannot be changed at reveal).
    let txs: Vec<VerifiedTx> =
        sel.iter().map(|n| commit_tx(&mut net, n, id, 0, claim(n))).collect();
    net.block(txs);
    // 2^40 is refused before it can reach a block (stateless check, code 319)…
    let raw = crate::support::signed(
        &huge,
        9,
        0,
        vec![Msg::Learning(LearningMsg::Reveal {
            task: id,
            round: 0,
            update_id: update_of(&huge, 0),
            salt: salt(&huge),
            num_examples: 1 << 40,
            norm: 0,
        })],
    );
    assert_eq!(chorus_chain::check_stateless(&raw.encode(), CHAIN).unwrap_err().code(), 319);
    assert_eq!(
        LearningError::TooManyExamples { got: 1 << 40, max: MAX_EXAMPLES_PER_UPDATE }.to_string(),
        "num_examples 1099511627776 exceeds the cap 1048576"
    );
    // …and the task's cap (1000) refuses 1001 and 2^20 in the block.
    let txs = vec![
        reveal_tx(&mut net, &over, id, 0, 1_001),
        reveal_tx(&mut net, &over, id, 0, MAX_EXAMPLES_PER_UPDATE),
        reveal_tx(&mut net, &sel[2], id, 0, 100),
        reveal_tx(&mut net, &sel[3], id, 0, 100),
    ];
    let out = net.block(txs);
    let codes: Vec<u32> = (0..4).map(|i| code(&out, i)).collect();
    assert_eq!(codes, vec![319, 319, 0, 0], "over-cap reveals are refused with TooManyExamples");
    let ev = score_and_aggregate(&mut net, id, 0, 3);
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(o.accepted.len(), 2);
    assert!(o.accepted.iter().all(|u| u.num_examples == 100));
    assert_eq!(paid_to(&ev, &huge) + paid_to(&ev, &over), 0);
    // Having committed to an unrevealable count, the liars withheld: slashed (M4).
    let withheld: Vec<String> = kinds(&ev, "registry.fault")
        .iter()
        .filter(|e| e.attr("reason") == Some("reveal_withheld"))
        .map(|e| e.attr("address").unwrap().to_string())
        .collect();
    assert_eq!(withheld.len(), 2);
    for n in [&huge, &over] {
        assert!(withheld.contains(&addr(n).to_string()));
        assert_eq!(registry::registration(&net.state, &addr(n)).unwrap().unwrap().faults, 1);
    }
}

#[test]
fn num_examples_is_bound_by_the_commitment_so_changing_it_at_reveal_is_a_slashed_mismatch() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    // sel[0] saw the other reveals and now claims 900 (still under the cap of 1000).
    let txs: Vec<VerifiedTx> = sel
        .iter()
        .enumerate()
        .map(|(i, n)| reveal_tx(&mut net, n, id, 0, if i == 0 { 900 } else { 100 }))
        .collect();
    let out = net.block(txs);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()));
    let f: Vec<&Event> =
        out.receipts[0].events.iter().filter(|e| e.kind == "registry.fault").collect();
    assert_eq!(f[0].attr("reason"), Some("reveal_mismatch"));
    let ups = learning::revealed_updates(&net.state, id, 0).unwrap();
    assert_eq!(ups.len(), 2);
    assert!(ups.iter().all(|u| u.participant != addr(&sel[0])));
}

#[test]
fn in_shard_mode_the_cap_is_examples_per_shard_times_the_assigned_shards() {
    let mut net = Net::new(2, 4);
    let mut s = spec(1, 2, 1);
    s.data =
        DataMode::ShardPool { root: Hash([5; 32]), shard_count: 10, shards_per_participant: 3 };
    s.max_examples = 50; // per shard → 150 per participant
    let id = net.create(s);
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let claims = [151u64, 150];
    let txs: Vec<VerifiedTx> =
        sel.iter().zip(claims).map(|(n, c)| commit_tx(&mut net, n, id, 0, c)).collect();
    net.block(txs);
    let txs: Vec<VerifiedTx> =
        sel.iter().zip(claims).map(|(n, c)| reveal_tx(&mut net, n, id, 0, c)).collect();
    let out = net.block(txs);
    assert_eq!((code(&out, 0), code(&out, 1)), (319, 0));
    // A spec whose per-participant cap would exceed 2^20 is refused at creation.
    let mut s = spec(1, 2, 1);
    s.data = DataMode::ShardPool { root: Hash::ZERO, shard_count: 10, shards_per_participant: 4 };
    s.max_examples = MAX_EXAMPLES_PER_UPDATE / 2;
    assert!(matches!(validate_spec(&s), Err(LearningError::InvalidSpec(_))));
}

// ---------------------------------------------------------------------------------------- M3

#[test]
fn an_owner_that_cancels_mid_round_still_pays_that_round_and_gets_only_the_rest_back() {
    let mut net = Net::new(3, 4);
    let before = net.balance("owner");
    let mut s = spec(3, 3, 2);
    s.phases.score_commit = 3;
    let id = net.create(s);
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| reveal_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    // The accepted set is about to be public; the owner cancels (and tries again).
    let txs = vec![
        net.learn("owner", LearningMsg::CancelTask { task: id }),
        net.learn("owner", LearningMsg::CancelTask { task: id }),
        net.learn("owner", LearningMsg::PauseTask { task: id }),
    ];
    let out = net.block(txs);
    assert_eq!((code(&out, 0), code(&out, 1), code(&out, 2)), (0, 309, 303));
    assert_eq!(net.task(id).status, TaskStatus::Cancelling);
    assert_eq!(net.task(id).open_round, Some(0), "the round keeps running");
    assert_eq!(learning::round(&net.state, id, 0).unwrap().unwrap().phase, Phase::ScoreCommit);
    let ev = score_and_aggregate(&mut net, id, 0, 3);
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    for n in &sel {
        assert_eq!(paid_to(&ev, n), 300_000, "{n} is paid for the cancelled task's round");
    }
    assert_eq!(paid_to(&ev, "v0"), 25_000);
    net.block(vec![]);
    let t = net.task(id);
    assert_eq!(t.status, TaskStatus::Cancelled);
    assert_eq!(t.paid, REWARD);
    assert_eq!(t.refunded, 2 * REWARD);
    assert_eq!(net.balance("owner"), before - REWARD);
    assert_eq!(t.next_round, 1, "no further round opened");
}

#[test]
fn pausing_mid_round_does_not_stop_the_open_round_from_paying() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(2, 3, 2));
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let mut txs: Vec<VerifiedTx> = sel.iter().map(|n| reveal_tx(&mut net, n, id, 0, 100)).collect();
    txs.push(net.learn("owner", LearningMsg::PauseTask { task: id }));
    let out = net.block(txs);
    assert!(out.receipts.iter().all(|r| r.result.is_ok()));
    let ev = score_and_aggregate(&mut net, id, 0, 3);
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    assert!(sel.iter().all(|n| paid_to(&ev, n) == 300_000));
    for _ in 0..3 {
        net.block(vec![]);
    }
    assert_eq!(net.task(id).open_round, None, "paused: no new round");
    assert!(
        learning::queue(&net.state).unwrap().is_empty(),
        "a paused task idle between rounds is off the queue"
    );
}

// ---------------------------------------------------------------------------------------- M4

#[test]
fn a_validator_that_commits_scores_and_withholds_the_reveal_commits_a_staking_fault() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| reveal_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let scores = vec![100i64; 3];
    let txs: Vec<VerifiedTx> = (0..4)
        .map(|i| {
            let v = format!("v{i}");
            let c = score_commitment(&scores, &Hash::ZERO, &addr(&v), id, 0);
            net.learn(&v, LearningMsg::ScoreCommit { task: id, round: 0, commitment: c })
        })
        .collect();
    net.block(txs);
    let tokens_before = staking::validator(&net.state, &addr("v3")).unwrap().unwrap().tokens;
    // v3 waits for the others' reveals and withholds its own.
    let txs: Vec<VerifiedTx> = (0..3)
        .map(|i| {
            net.learn(
                &format!("v{i}"),
                LearningMsg::ScoreReveal {
                    task: id,
                    round: 0,
                    scores: scores.clone(),
                    salt: Hash::ZERO,
                },
            )
        })
        .collect();
    net.block(txs);
    let out = net.block(vec![]); // the score-reveal deadline
    let f = kinds(&out.events, "registry.fault");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].attr("reason"), Some("score_reveal_withheld"));
    assert_eq!(f[0].attr("address"), Some(addr("v3").to_string().as_str()));
    let slashed = kinds(&out.events, "staking.slash");
    assert_eq!(slashed.len(), 1, "{:?}", out.events);
    let tokens_after = staking::validator(&net.state, &addr("v3")).unwrap().unwrap().tokens;
    assert!(tokens_after < tokens_before, "{tokens_after} < {tokens_before}");
    assert_eq!(
        registry::faults(&net.state, &addr("v3")).unwrap()[0].reason,
        registry::FaultReason::ScoreRevealWithheld
    );
    // The round still scores with 3 of 4 and v3 earns nothing from it.
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(o.agreement.len(), 3);
    assert!(o.agreement.iter().all(|(a, _, _)| *a != addr("v3")));
}

#[test]
fn participants_below_the_reputation_floor_are_not_selected() {
    let mut net = Net::new(3, 4);
    let mut s = spec(3, 3, 1);
    s.min_participant_stake = 1; // isolate the reputation rule from the bond rule
    let id = net.create(s);
    net.block(vec![]);
    let withholder = selected(&net, id, 0)[0].clone();
    for r in 0..2 {
        assert!(selected(&net, id, r).contains(&withholder), "round {r}");
        let w = withholder.clone();
        let reveal = move |n: &str, h: Hash| if n == w { None } else { Some(h) };
        play_round(&mut net, id, &Script { commit: &honest(r), reveal: &reveal, score: &flat });
        net.block(vec![]);
    }
    let rep = registry::registration(&net.state, &addr(&withholder)).unwrap().unwrap().reputation;
    assert_eq!(rep, 2 * (registry::REP_NO_REVEAL + registry::REP_FAULT));
    assert!(rep < MIN_REPUTATION);
    assert_eq!(net.task(id).open_round, Some(2));
    let sel = selected(&net, id, 2);
    assert_eq!(sel.len(), 2);
    assert!(!sel.contains(&withholder));
    assert!(
        !learning::eligible_participants(&net.state, &net.task(id).spec)
            .unwrap()
            .iter()
            .any(|(a, _)| *a == addr(&withholder))
    );
}

// ------------------------------------------------------------------------------- L6, L7, L8

#[test]
fn specs_are_bounded_by_max_scores_max_examples_and_a_minimum_budget() {
    let mut s = spec(1, 3, 2);
    s.participants_per_round = MAX_SCORES as u32 + 1;
    assert!(matches!(validate_spec(&s), Err(LearningError::InvalidSpec(_))), "L6");
    s.participants_per_round = MAX_SCORES as u32;
    s.max_examples = 1;
    assert!(validate_spec(&s).is_ok());
    s.max_examples = 0;
    assert!(validate_spec(&s).is_err());
    s.max_examples = MAX_EXAMPLES_PER_UPDATE + 1;
    assert!(validate_spec(&s).is_err());
    s.max_examples = MAX_EXAMPLES_PER_UPDATE;
    assert!(validate_spec(&s).is_ok());
    s.reward_per_round = 999;
    assert!(validate_spec(&s).is_err(), "a 999-unit budget is below the minimum");
    s.rounds = 2;
    assert!(validate_spec(&s).is_ok());
}

#[test]
fn unknown_aggregation_or_score_rules_and_extra_rule_parameters_are_refused_at_creation() {
    use chorus_types::learning::{AGGREGATION_RULES, RuleSpec, SCORE_RULES};
    let base = spec(1, 3, 2);
    let refused = |f: &dyn Fn(&mut chorus_types::learning::TaskSpec)| {
        let mut s = base.clone();
        f(&mut s);
        match validate_spec(&s) {
            Err(LearningError::InvalidSpec(why)) => why.to_string(),
            other => panic!("expected InvalidSpec, got {other:?}"),
        }
    };
    let why = refused(&|s| s.aggregation = RuleSpec { id: "fedsomething".into(), params: vec![] });
    assert!(why.contains("unknown aggregation rule"), "{why}");
    let why = refused(&|s| s.aggregation = RuleSpec { id: "scaffold".into(), params: vec![] });
    assert!(why.contains("unknown aggregation rule"), "{why}");
    let why = refused(&|s| s.aggregation = RuleSpec { id: "krum".into(), params: vec![1, 2] });
    assert!(why.contains("too many parameters"), "{why}");
    let why = refused(&|s| s.score_rule = RuleSpec { id: "accuracy".into(), params: vec![] });
    assert!(why.contains("unknown score rule"), "{why}");
    let why = refused(&|s| s.score_rule = RuleSpec { id: "loo".into(), params: vec![5] });
    assert!(why.contains("take no parameters"), "{why}");
    for (id, max) in AGGREGATION_RULES {
        let mut s = base.clone();
        s.aggregation = RuleSpec { id: (*id).into(), params: vec![0; *max] };
        assert!(validate_spec(&s).is_ok(), "{id} with {max} parameters");
    }
    for id in SCORE_RULES {
        let mut s = base.clone();
        s.score_rule = RuleSpec { id: (*id).into(), params: vec![] };
        assert!(validate_spec(&s).is_ok(), "{id}");
    }
}

#[test]
fn exactly_two_thirds_of_the_power_does_not_finalize_an_aggregate() {
    let mut net = Net::new(3, 3);
    let mut s = spec(1, 3, 2);
    s.phases.aggregate = 3;
    let id = net.create(s);
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| reveal_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    let ev = score_and_aggregate(&mut net, id, 0, 1); // v0 proposes, v1 attests: 2 of 3
    assert!(kinds(&ev, "learning.aggregate_finalized").is_empty(), "2/3 is not > 2/3");
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    let tx = net.learn(
        "v2",
        LearningMsg::AttestAggregate {
            task: id,
            round: 0,
            model_id: model_of(id, 0),
            accepted_set_hash: o.accepted_set_hash,
        },
    );
    let out = net.block(vec![tx]);
    assert_eq!(kinds(&out.receipts[0].events, "learning.aggregate_finalized").len(), 1);
}

#[test]
fn a_selected_participant_cannot_withdraw_its_bond_before_its_round_can_slash_it() {
    let mut net = Net::new(3, 4);
    let delay = registry::params(&net.state).unwrap().unbonding_blocks;
    let mut s = spec(1, 3, 2);
    s.phases = PhaseLengths {
        commit: 2,
        reveal: delay + 50,
        score_commit: 1,
        score_reveal: 1,
        aggregate: 1,
    };
    let id = net.create(s);
    net.block(vec![]);
    let sel = selected(&net, id, 0);
    let cheat = sel[0].clone();
    let txs: Vec<VerifiedTx> = sel.iter().map(|n| commit_tx(&mut net, n, id, 0, 100)).collect();
    net.block(txs);
    // Everyone committed: the reveal window opens; the cheat deregisters to escape.
    let tx = net.tx(&cheat, Msg::Registry(RegistryMsg::Deregister));
    assert!(net.block(vec![tx]).receipts[0].result.is_ok());
    for _ in 0..delay {
        net.block(vec![]);
    }
    let reveal_end = learning::round(&net.state, id, 0).unwrap().unwrap().ends[1];
    assert!(net.height < reveal_end);
    let tx = net.tx(&cheat, Msg::Registry(RegistryMsg::Withdraw));
    let out = net.block(vec![tx]);
    assert_eq!(code(&out, 0), 207, "the unbonding delay is over but the bond is locked");
    // It misreveals: the bond is still there to slash.
    let tx = net.learn(
        &cheat,
        LearningMsg::Reveal {
            task: id,
            round: 0,
            update_id: Hash([0xEE; 32]),
            salt: salt(&cheat),
            num_examples: 100,
            norm: 0,
        },
    );
    let out = net.block(vec![tx]);
    assert_eq!(kinds(&out.receipts[0].events, "registry.fault")[0].attr("slashed"), Some("1000"));
    while net.height < reveal_end {
        net.block(vec![]);
    }
    let before = net.balance(&cheat);
    let tx = net.tx(&cheat, Msg::Registry(RegistryMsg::Withdraw));
    let out = net.block(vec![tx]);
    assert!(out.receipts[0].result.is_ok(), "{:?}", out.receipts[0]);
    assert_eq!(net.balance(&cheat), before + BOND - 1_000);
}

// ---------------------------------------------------------------------------------------- H3

#[test]
fn a_task_without_quorum_is_retried_every_n_blocks_and_idle_blocks_touch_no_learning_state() {
    let mut net = Net::new(2, 1);
    let id = net.create(spec(1, 3, 3)); // needs 3 participants, 2 registered
    let created = net.height;
    assert_eq!(learning::queue(&net.state).unwrap(), vec![(created + 1, id)]);
    net.block(vec![]);
    assert_eq!(net.task(id).open_round, None);
    assert_eq!(learning::queue(&net.state).unwrap(), vec![(created + 1 + OPEN_RETRY_BLOCKS, id)]);
    for _ in 2..OPEN_RETRY_BLOCKS {
        let out = net.block(vec![]);
        let touched: Vec<String> = out
            .changes
            .keys()
            .filter(|k| k.starts_with(b"learning/") || k.starts_with(b"registry/"))
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert!(touched.is_empty(), "height {}: {touched:?}", net.height);
    }
    // A third participant registers; the next retry opens the round.
    let tx = net.tx(
        "v0",
        Msg::Registry(RegistryMsg::Register {
            role: chorus_types::learning::Role::Participant,
            bond: BOND,
            capabilities: crate::learning_support::caps(),
        }),
    );
    net.block(vec![tx]);
    assert_eq!(net.task(id).open_round, None);
    net.block(vec![]);
    assert_eq!(net.height, created + 1 + OPEN_RETRY_BLOCKS);
    assert_eq!(net.task(id).open_round, Some(0), "opened at the retry height");
}

#[test]
fn tasks_in_a_long_phase_cost_the_block_hook_nothing_until_their_deadline() {
    let mut net = Net::new(3, 1);
    let mut s = spec(1, 3, 2);
    s.phases.commit = 100;
    let txs: Vec<VerifiedTx> = (0..20)
        .map(|_| net.learn("owner", LearningMsg::CreateTask { spec: Box::new(s.clone()) }))
        .collect();
    net.block(txs);
    net.block(vec![]); // 20 rounds open
    assert!(learning::tasks(&net.state).unwrap().iter().all(|t| t.open_round == Some(0)));
    for _ in 0..5 {
        let out = net.block(vec![]);
        assert!(out.changes.keys().all(|k| !k.starts_with(b"learning/")));
    }
    assert_eq!(learning::queue(&net.state).unwrap().len(), 20);
}

#[test]
fn the_number_of_live_tasks_is_capped_and_ending_one_frees_a_slot() {
    let mut net = Net::new(1, 1);
    let mut s = spec(1, 1, 1);
    s.reward_per_round = 1_000;
    let txs: Vec<VerifiedTx> = (0..=MAX_ACTIVE_TASKS)
        .map(|_| net.learn("owner", LearningMsg::CreateTask { spec: Box::new(s.clone()) }))
        .collect();
    let out = net.block(txs);
    let last = MAX_ACTIVE_TASKS as usize;
    assert!((0..last).all(|i| code(&out, i) == 0));
    assert_eq!(code(&out, last), 320);
    let tx = net.learn("owner", LearningMsg::CancelTask { task: 1 });
    let tx2 = net.learn("owner", LearningMsg::CreateTask { spec: Box::new(s.clone()) });
    let out = net.block(vec![tx, tx2]);
    assert_eq!((code(&out, 0), code(&out, 1)), (0, 0));
    let live = learning::tasks(&net.state)
        .unwrap()
        .iter()
        .filter(|t| !matches!(t.status, TaskStatus::Cancelled | TaskStatus::Completed))
        .count();
    assert_eq!(live as u64, MAX_ACTIVE_TASKS);
}

#[test]
fn an_early_close_still_happens_the_block_after_everyone_has_acted() {
    // The queue must not delay early window closes: commit → reveal → score phases advance one
    // block after the last awaited message even with 50-block windows (play_round relies on it).
    let mut net = Net::new(3, 4);
    let mut s = spec(1, 3, 2);
    s.phases =
        PhaseLengths { commit: 50, reveal: 50, score_commit: 50, score_reveal: 50, aggregate: 50 };
    let id = net.create(s);
    net.block(vec![]);
    let ev = play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
}
