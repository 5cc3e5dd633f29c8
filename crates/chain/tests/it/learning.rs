//! Learning protocol scenarios driven through `execute_block` with real signed transactions:
//! scripted participants and validators, whole tasks from creation to completion.

use chorus_chain::VerifiedTx;
use chorus_chain::components::learning::{
    self, ESCROW_POOL, Phase, TaskStatus, math::RevealedUpdate,
};
use chorus_chain::components::{bank, registry};
use chorus_types::learning::{
    DataMode, DpSettings, Encryption, LearningMsg, MICRO, PhaseLengths, RegistryMsg, Role,
    score_commitment, update_commitment,
};
use chorus_types::{Address, Amount, Event, Hash, Msg};
use proptest::prelude::*;

use crate::learning_support::{
    BOND, Net, REWARD, Script, caps, code, flat, honest, kinds, model_of, play_round, salt, same,
    spec, update_of,
};
use crate::support::{CHAIN, addr};

#[test]
fn clean_task_finalizes_every_round_pays_rewards_and_refunds_the_rest() {
    let mut net = Net::new(5, 4);
    let owner_before = net.balance("owner");
    let id = net.create(spec(2, 3, 2));
    let budget = 2 * REWARD;
    assert_eq!(net.balance("owner"), owner_before - budget);
    // Round 0 opens at the next block's start.
    net.block(vec![]);
    for r in 0..2 {
        assert_eq!(net.task(id).open_round, Some(r));
        let ev =
            play_round(&mut net, id, &Script { commit: &honest(r), reveal: &same, score: &flat });
        assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1, "round {r}: {ev:#?}");
        let paid: Vec<&Event> = kinds(&ev, "learning.reward");
        // 3 participants + 4 validators.
        assert_eq!(paid.len(), 7);
        let sel = learning::selection(&net.state, id, r).unwrap();
        assert_eq!(sel.len(), 3);
        // 900_000 / 3 each, 100_000 / 4 each.
        for e in paid {
            let amount: Amount = e.attr("amount").unwrap().parse().unwrap();
            match e.attr("role").unwrap() {
                "participant" => assert_eq!(amount, 300_000),
                _ => assert_eq!(amount, 25_000),
            }
        }
        net.block(vec![]); // next round opens (or the task completes)
    }
    let t = net.task(id);
    assert_eq!(t.status, TaskStatus::Completed);
    assert_eq!(t.paid, budget);
    assert_eq!(t.refunded, 0);
    assert_eq!(bank::module_balance(&net.state, ESCROW_POOL).unwrap(), 0);
    let versions = learning::model_versions(&net.state, id).unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2].model_id, model_of(id, 1));
    assert_eq!(learning::current_model(&net.state, id).unwrap(), Some(model_of(id, 1)));
    // Accepted participants gained reputation.
    let reps: i64 = learning::participants(&net.state).unwrap().iter().map(|r| r.reputation).sum();
    assert_eq!(reps, 6 * registry::REP_ACCEPTED);
}

#[test]
fn participant_that_commits_and_never_reveals_gets_nothing_loses_reputation_and_is_slashed() {
    // Security review M4: this test used to pin "not revealing is not slashable" — the
    // withholding option the review describes. Withholding now costs the registry's fault slash.
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let silent = net.name(&learning::selection(&net.state, id, 0).unwrap()[0].0);
    let s2 = silent.clone();
    let reveal = move |n: &str, h: Hash| if n == s2 { None } else { Some(h) };
    let ev =
        play_round(&mut net, id, &Script { commit: &honest(0), reveal: &reveal, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    assert!(
        kinds(&ev, "learning.reward")
            .iter()
            .all(|e| e.attr("to") != Some(&addr(&silent).to_string()))
    );
    let faults = kinds(&ev, "registry.fault");
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].attr("reason"), Some("reveal_withheld"));
    assert_eq!(faults[0].attr("address"), Some(addr(&silent).to_string().as_str()));
    let reg = registry::registration(&net.state, &addr(&silent)).unwrap().unwrap();
    assert_eq!(reg.reputation, registry::REP_NO_REVEAL + registry::REP_FAULT);
    assert_eq!(reg.bond, BOND - BOND / 10, "withholding is slashed like a fault (slash_bps)");
    assert_eq!(reg.faults, 1);
    // The two revealers split the participant pool.
    assert_eq!(
        net.balance("p0") + net.balance("p1") + net.balance("p2"),
        3 * (1_000_000 - BOND) + 900_000
    );
}

#[test]
fn selected_participant_that_never_commits_only_loses_reputation() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let offline = net.name(&learning::selection(&net.state, id, 0).unwrap()[0].0);
    let o2 = offline.clone();
    let commit = move |n: &str| if n == o2 { None } else { Some(update_of(n, 0)) };
    let ev = play_round(&mut net, id, &Script { commit: &commit, reveal: &same, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    assert!(kinds(&ev, "registry.fault").is_empty(), "no commitment, nothing withheld");
    let reg = registry::registration(&net.state, &addr(&offline)).unwrap().unwrap();
    assert_eq!(reg.reputation, registry::REP_NO_REVEAL);
    assert_eq!(reg.bond, BOND);
}

#[test]
fn referenced_blobs_are_the_initial_model_every_version_and_every_revealed_update() {
    let mut net = Net::new(5, 4);
    let id = net.create(spec(2, 3, 2));
    let initial = net.task(id).spec.model.initial_model;
    assert_eq!(
        learning::referenced_blobs(&net.state).unwrap().into_iter().collect::<Vec<_>>(),
        vec![initial]
    );
    net.block(vec![]);
    let mut want = std::collections::BTreeSet::from([initial]);
    for r in 0..2 {
        play_round(&mut net, id, &Script { commit: &honest(r), reveal: &same, score: &flat });
        want.extend(
            learning::revealed_updates(&net.state, id, r).unwrap().iter().map(|u| u.update_id),
        );
        want.insert(model_of(id, r));
        net.block(vec![]);
    }
    let got = learning::referenced_blobs(&net.state).unwrap();
    assert_eq!(got.len(), 1 + 2 * 3 + 2);
    assert_eq!(got, want);
}

#[test]
fn reveal_of_a_different_update_is_slashed_and_excluded() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let cheat = net.name(&learning::selection(&net.state, id, 0).unwrap()[1].0);
    let c2 = cheat.clone();
    let reveal = move |n: &str, h: Hash| if n == c2 { Some(Hash([0xEE; 32])) } else { Some(h) };
    let ev =
        play_round(&mut net, id, &Script { commit: &honest(0), reveal: &reveal, score: &flat });
    let faults = kinds(&ev, "registry.fault");
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].attr("reason"), Some("reveal_mismatch"));
    assert_eq!(faults[0].attr("slashed"), Some("1000"));
    let reg = registry::registration(&net.state, &addr(&cheat)).unwrap().unwrap();
    assert_eq!(reg.bond, BOND - 1_000);
    assert_eq!(reg.faults, 1);
    assert_eq!(registry::faults(&net.state, &addr(&cheat)).unwrap().len(), 1);
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(o.updates.len(), 2);
    assert!(o.updates.iter().all(|u| u.participant != addr(&cheat)));
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
}

#[test]
fn a_copied_update_id_earns_nothing_for_the_copier_whatever_the_commit_order() {
    // Security review H5: duplicates used to go to the first committer, so a copier that got its
    // commit in first (higher fee, or as proposer) took the victim's reward. Now an update id
    // revealed twice is accepted for neither (see `math::accepted_set`).
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let sel: Vec<String> =
        learning::selection(&net.state, id, 0).unwrap().iter().map(|(a, _)| net.name(a)).collect();
    // Selection order = commit tx order in play_round: the copier (sel[0]) commits first, to the
    // update the victim (sel[1]) produced.
    let (copier, victim, other) = (sel[0].clone(), sel[1].clone(), sel[2].clone());
    let (c2, v2) = (copier.clone(), victim.clone());
    let commit = move |n: &str| Some(if n == c2 { update_of(&v2, 0) } else { update_of(n, 0) });
    let ev = play_round(&mut net, id, &Script { commit: &commit, reveal: &same, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(o.updates.len(), 3, "both copies are revealed and scored");
    assert_eq!(o.accepted.len(), 1);
    assert_eq!(o.accepted[0].participant, addr(&other));
    let paid_to = |n: &str| {
        kinds(&ev, "learning.reward")
            .iter()
            .filter(|e| e.attr("to") == Some(&addr(n).to_string()))
            .map(|e| e.attr("amount").unwrap().parse::<Amount>().unwrap())
            .sum::<Amount>()
    };
    assert_eq!(paid_to(&copier), 0, "the copier earns nothing");
    assert_eq!(paid_to(&victim), 0, "nor does the leaked copy");
    assert_eq!(paid_to(&other), 900_000);
}

#[test]
fn outlier_validator_is_clipped_and_paid_less() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    let score = |i: usize, _: &RevealedUpdate| if i == 3 { 10_000 } else { 100 };
    let ev = play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &score });
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    assert!(o.updates.iter().all(|u| u.consensus == 100));
    // Clipped: the outlier's 10 000 counts as 100 in the reward weight (4 × power 1000 × 100).
    assert!(o.updates.iter().all(|u| u.weight == 400_000));
    let v_paid = |n: &str| {
        kinds(&ev, "learning.reward")
            .iter()
            .filter(|e| e.attr("to") == Some(&addr(n).to_string()))
            .map(|e| e.attr("amount").unwrap().parse::<Amount>().unwrap())
            .sum::<Amount>()
    };
    assert!(v_paid("v3") < v_paid("v0"), "{} vs {}", v_paid("v3"), v_paid("v0"));
    // agreement 1 % → 100 000 · 0.01 / 3.01
    assert_eq!(v_paid("v3"), 332);
    assert_eq!(v_paid("v0"), 33_222);
}

#[test]
fn too_few_reveals_fail_the_round_and_keep_the_model() {
    // Four registered participants: the one that withholds in round 0 is slashed below the
    // task's minimum stake, and round 1 still finds three eligible participants.
    let mut net = Net::new(4, 4);
    let id = net.create(spec(2, 3, 3));
    net.block(vec![]);
    let silent = net.name(&learning::selection(&net.state, id, 0).unwrap()[2].0);
    let s2 = silent.clone();
    let reveal = move |n: &str, h: Hash| if n == s2 { None } else { Some(h) };
    let ev =
        play_round(&mut net, id, &Script { commit: &honest(0), reveal: &reveal, score: &flat });
    let failed = kinds(&ev, "learning.round_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attr("reason"), Some("too_few_reveals"));
    assert_eq!(learning::current_model(&net.state, id).unwrap(), Some(Hash([0xAA; 32])));
    assert_eq!(learning::round(&net.state, id, 0).unwrap().unwrap().phase, Phase::Failed);
    // The failed round's reward stays in escrow; round 1 opened and can finalize.
    let t = net.task(id);
    assert_eq!(t.paid, 0);
    assert_eq!(t.open_round, Some(1));
    assert!(
        learning::selection(&net.state, id, 1).unwrap().iter().all(|(a, _)| *a != addr(&silent)),
        "the slashed withholder is below the minimum stake"
    );
    let ev = play_round(&mut net, id, &Script { commit: &honest(1), reveal: &same, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    net.block(vec![]);
    let t = net.task(id);
    assert_eq!(t.status, TaskStatus::Completed);
    assert_eq!(t.refunded, REWARD);
}

#[test]
fn cancelling_mid_round_refunds_the_escrow_exactly() {
    let mut net = Net::new(3, 4);
    let before = net.balance("owner");
    let id = net.create(spec(3, 3, 2));
    net.block(vec![]);
    play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &flat });
    net.block(vec![]); // round 1 opens
    assert_eq!(net.task(id).open_round, Some(1));
    let tx = net.learn("p0", LearningMsg::CancelTask { task: id });
    let out = net.block(vec![tx]);
    assert_eq!(code(&out, 0), 302, "only the owner may cancel");
    let tx = net.learn("owner", LearningMsg::CancelTask { task: id });
    let out = net.block(vec![tx]);
    assert!(out.receipts[0].result.is_ok());
    let t = net.task(id);
    assert_eq!(t.status, TaskStatus::Cancelled);
    assert_eq!(t.refunded, 2 * REWARD);
    assert_eq!(t.paid, REWARD);
    assert_eq!(net.balance("owner"), before - REWARD);
    assert_eq!(learning::round(&net.state, id, 1).unwrap().unwrap().phase, Phase::Failed);
    let tx = net.learn("owner", LearningMsg::CancelTask { task: id });
    let out = net.block(vec![tx]);
    assert_eq!(code(&out, 0), 303);
}

#[test]
fn dp_budget_exhausted_stops_new_rounds_and_refunds() {
    let mut net = Net::new(3, 4);
    let mut s = spec(3, 3, 2);
    let mut dp = DpSettings {
        epsilon_budget_micro: 0,
        delta_atto: 10_000_000_000_000,
        noise_multiplier_micro: MICRO,
        sample_rate_micro: MICRO,
    };
    let one = learning::math::dp_epsilon_micro(&dp, 1);
    let two = learning::math::dp_epsilon_micro(&dp, 2);
    assert!(one < two);
    dp.epsilon_budget_micro = one;
    s.dp = Some(dp);
    let id = net.create(s);
    net.block(vec![]);
    play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &flat });
    assert_eq!(net.task(id).dp_epsilon_spent_micro, one);
    let out = net.block(vec![]);
    let ended = kinds(&out.events, "learning.task_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].attr("status"), Some("dp_budget_exhausted"));
    let t = net.task(id);
    assert_eq!(t.status, TaskStatus::DpBudgetExhausted);
    assert_eq!(t.next_round, 1);
    assert_eq!(t.refunded, 2 * REWARD);
}

#[test]
fn off_phase_unselected_duplicate_and_foreign_submissions_are_refused_with_codes() {
    let mut net = Net::new(4, 4);
    let id = net.create(spec(1, 2, 1));
    net.block(vec![]);
    let sel: Vec<Address> =
        learning::selection(&net.state, id, 0).unwrap().iter().map(|(a, _)| *a).collect();
    let inside = net.name(&sel[0]);
    let outside = (0..4).map(|i| format!("p{i}")).find(|n| !sel.contains(&addr(n))).unwrap();
    let c = update_commitment(&update_of(&inside, 0), 1, &salt(&inside), &addr(&inside), id, 0);
    let txs = vec![
        net.learn(&inside, LearningMsg::Commit { task: id, round: 0, commitment: c }),
        net.learn(&inside, LearningMsg::Commit { task: id, round: 0, commitment: c }),
        net.learn(&inside, LearningMsg::Commit { task: id, round: 0, commitment: Hash([1; 32]) }),
        net.learn(&outside, LearningMsg::Commit { task: id, round: 0, commitment: Hash([1; 32]) }),
        net.learn(&inside, LearningMsg::Commit { task: id, round: 5, commitment: c }),
        net.learn("v0", LearningMsg::ScoreCommit { task: id, round: 0, commitment: c }),
        net.learn(&inside, LearningMsg::Commit { task: 99, round: 0, commitment: c }),
        net.learn(
            &inside,
            LearningMsg::Reveal {
                task: id,
                round: 0,
                update_id: update_of(&inside, 0),
                salt: salt(&inside),
                num_examples: 1,
                norm: 0,
            },
        ),
    ];
    let out = net.block(txs);
    let codes: Vec<u32> = (0..8).map(|i| code(&out, i)).collect();
    assert_eq!(codes, vec![0, 309, 308, 306, 304, 305, 301, 305]);
    // Reveal phase: a non-validator cannot commit scores; zero examples are refused statelessly.
    let txs = vec![net.learn(
        &inside,
        LearningMsg::Reveal {
            task: id,
            round: 0,
            update_id: update_of(&inside, 0),
            salt: salt(&inside),
            num_examples: 1,
            norm: 0,
        },
    )];
    let out = net.block(txs);
    assert!(out.receipts[0].result.is_ok());
    let tx = net.learn(&inside, LearningMsg::ScoreCommit { task: id, round: 0, commitment: c });
    let out = net.block(vec![tx]);
    assert_eq!(code(&out, 0), 307);
    let bad = chorus_chain::check_stateless(
        &crate::support::signed(
            "p0",
            9,
            0,
            vec![Msg::Learning(LearningMsg::Reveal {
                task: id,
                round: 0,
                update_id: Hash::ZERO,
                salt: Hash::ZERO,
                num_examples: 0,
                norm: 0,
            })],
        )
        .encode(),
        CHAIN,
    );
    assert_eq!(bad.unwrap_err().code(), 316);
}

#[test]
fn invalid_specs_are_refused_with_typed_reasons() {
    use chorus_chain::components::learning::{LearningError, validate_spec};
    let mut s = spec(1, 3, 4);
    assert!(matches!(validate_spec(&s), Err(LearningError::InvalidSpec(_))));
    s.min_quorum = 2;
    assert!(validate_spec(&s).is_ok());
    s.data = DataMode::ShardPool { root: Hash::ZERO, shard_count: 5, shards_per_participant: 2 };
    assert!(validate_spec(&s).is_err());
    s.data = DataMode::ShardPool { root: Hash::ZERO, shard_count: 6, shards_per_participant: 2 };
    assert!(validate_spec(&s).is_ok());
    s.data = DataMode::ShardPool {
        root: Hash::ZERO,
        shard_count: u32::MAX,
        shards_per_participant: 40_000,
    };
    assert!(validate_spec(&s).is_err(), "assignment work per round is bounded");
    s.data = DataMode::Private;
    s.phases.reveal = 0;
    assert!(validate_spec(&s).is_err());
    s.phases.reveal = 1;
    s.aggregation.id = "Fed-Avg".into();
    assert!(validate_spec(&s).is_err());
    s.aggregation.id = "fedavg".into();
    s.encryption = Encryption::Committee { keys: vec![] };
    assert!(validate_spec(&s).is_err());
    s.encryption = Encryption::None;
    s.reward_per_round = u128::MAX;
    s.rounds = 2;
    assert!(validate_spec(&s).is_err());
}

/// Every selected participant commits (one block) and reveals (next block) its honest update.
fn commit_and_reveal(net: &mut Net, id: u64, r: u32) {
    let sel: Vec<String> =
        learning::selection(&net.state, id, r).unwrap().iter().map(|(a, _)| net.name(a)).collect();
    let txs: Vec<VerifiedTx> = sel
        .iter()
        .map(|n| {
            let c = update_commitment(&update_of(n, r), 10, &salt(n), &addr(n), id, r);
            net.learn(n, LearningMsg::Commit { task: id, round: r, commitment: c })
        })
        .collect();
    net.block(txs);
    let txs: Vec<VerifiedTx> = sel
        .iter()
        .map(|n| {
            net.learn(
                n,
                LearningMsg::Reveal {
                    task: id,
                    round: r,
                    update_id: update_of(n, r),
                    salt: salt(n),
                    num_examples: 10,
                    norm: 1,
                },
            )
        })
        .collect();
    net.block(txs);
}

#[test]
fn too_few_score_reveals_fail_the_round() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    commit_and_reveal(&mut net, id, 0);
    let scores = vec![50i64; 3];
    let txs: Vec<VerifiedTx> = (0..4)
        .map(|i| {
            let v = format!("v{i}");
            let c = score_commitment(&scores, &Hash::ZERO, &addr(&v), id, 0);
            net.learn(&v, LearningMsg::ScoreCommit { task: id, round: 0, commitment: c })
        })
        .collect();
    net.block(txs);
    // Half of the power reveals (not more than half): no consensus. A wrong-length vector is
    // refused with code 312 and does not count.
    let txs = vec![
        net.learn(
            "v0",
            LearningMsg::ScoreReveal {
                task: id,
                round: 0,
                scores: scores.clone(),
                salt: Hash::ZERO,
            },
        ),
        net.learn(
            "v1",
            LearningMsg::ScoreReveal {
                task: id,
                round: 0,
                scores: scores.clone(),
                salt: Hash::ZERO,
            },
        ),
        net.learn(
            "v2",
            LearningMsg::ScoreReveal { task: id, round: 0, scores: vec![50; 2], salt: Hash::ZERO },
        ),
    ];
    let out = net.block(txs);
    assert_eq!((code(&out, 0), code(&out, 1), code(&out, 2)), (0, 0, 312));
    let out = net.block(vec![]);
    let failed = kinds(&out.events, "learning.round_failed");
    assert_eq!(failed[0].attr("reason"), Some("too_few_scores"));
    // The task is over (1 round), in the same block hook: the whole budget goes back.
    assert_eq!(kinds(&out.events, "learning.task_ended")[0].attr("refunded"), Some("1000000"));
}

#[test]
fn paused_task_opens_no_new_round_until_resumed() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(2, 3, 2));
    // Round 0 opens at this block's start; the pause lands in the same block.
    let tx = net.learn("owner", LearningMsg::PauseTask { task: id });
    let out = net.block(vec![tx]);
    assert!(out.receipts[0].result.is_ok());
    assert_eq!(net.task(id).open_round, Some(0));
    // The open round still runs to its end.
    let ev = play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &flat });
    assert_eq!(kinds(&ev, "learning.aggregate_finalized").len(), 1);
    net.block(vec![]);
    net.block(vec![]);
    assert_eq!(net.task(id).open_round, None);
    assert_eq!(net.task(id).status, TaskStatus::Paused);
    let txs = vec![
        net.learn("owner", LearningMsg::PauseTask { task: id }),
        net.learn("owner", LearningMsg::ResumeTask { task: id }),
    ];
    let out = net.block(txs);
    assert_eq!((code(&out, 0), code(&out, 1)), (309, 0));
    net.block(vec![]);
    assert_eq!(net.task(id).open_round, Some(1));
}

#[test]
fn conflicting_attestation_is_a_recorded_validator_fault() {
    let mut net = Net::new(3, 4);
    let mut s = spec(1, 3, 2);
    s.phases.aggregate = 2;
    let id = net.create(s);
    net.block(vec![]);
    // Commit .. score-reveal by hand, then a two-block aggregate window.
    commit_and_reveal(&mut net, id, 0);
    let scores = vec![50i64; 3];
    let txs: Vec<VerifiedTx> = (0..4)
        .map(|i| {
            let v = format!("v{i}");
            let c = score_commitment(&scores, &Hash::ZERO, &addr(&v), id, 0);
            net.learn(&v, LearningMsg::ScoreCommit { task: id, round: 0, commitment: c })
        })
        .collect();
    net.block(txs);
    // v3 reveals scores that do not match its commitment: fault.
    let mut txs: Vec<VerifiedTx> = (0..3)
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
    txs.push(net.learn(
        "v3",
        LearningMsg::ScoreReveal { task: id, round: 0, scores: vec![1, 2, 3], salt: Hash::ZERO },
    ));
    let out = net.block(txs);
    let f: Vec<&Event> = out
        .receipts
        .iter()
        .flat_map(|r| r.events.iter())
        .filter(|e| e.kind == "registry.fault")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].attr("reason"), Some("score_reveal_mismatch"));
    let set = learning::outcome(&net.state, id, 0).unwrap();
    assert!(set.is_none(), "outcome is computed at the start of the aggregate phase");
    net.block(vec![]);
    let o = learning::outcome(&net.state, id, 0).unwrap().unwrap();
    let h = o.accepted_set_hash;
    let (m1, m2) = (Hash([1; 32]), Hash([2; 32]));
    let txs = vec![
        net.learn(
            "v0",
            LearningMsg::AttestAggregate { task: id, round: 0, model_id: m1, accepted_set_hash: h },
        ),
        net.learn(
            "v0",
            LearningMsg::ProposeAggregate {
                task: id,
                round: 0,
                model_id: m1,
                accepted_set_hash: Hash::ZERO,
            },
        ),
        net.learn(
            "v0",
            LearningMsg::ProposeAggregate {
                task: id,
                round: 0,
                model_id: m1,
                accepted_set_hash: h,
            },
        ),
        net.learn(
            "v0",
            LearningMsg::ProposeAggregate {
                task: id,
                round: 0,
                model_id: m1,
                accepted_set_hash: h,
            },
        ),
        net.learn(
            "v0",
            LearningMsg::ProposeAggregate {
                task: id,
                round: 0,
                model_id: m2,
                accepted_set_hash: h,
            },
        ),
        net.learn(
            "p0",
            LearningMsg::AttestAggregate { task: id, round: 0, model_id: m1, accepted_set_hash: h },
        ),
    ];
    let out = net.block(txs);
    let codes: Vec<u32> = (0..6).map(|i| code(&out, i)).collect();
    assert_eq!(codes, vec![314, 313, 0, 309, 0, 307]);
    assert_eq!(
        registry::faults(&net.state, &addr("v0")).unwrap()[0].reason,
        registry::FaultReason::ConflictingAttestation
    );
    assert_eq!(registry::faults(&net.state, &addr("v3")).unwrap().len(), 1);
    // Only 1 of 4 validators attested: the window ends and the round fails; the model stays.
    let out = net.block(vec![]);
    let failed = kinds(&out.events, "learning.round_failed");
    assert_eq!(failed[0].attr("reason"), Some("no_aggregate"));
    assert_eq!(learning::current_model(&net.state, id).unwrap(), Some(Hash([0xAA; 32])));
}

#[test]
fn registry_bond_unbonding_and_withdraw_follow_the_delay() {
    let mut net = Net::new(1, 1);
    let before = net.balance("p0");
    let tx = net.tx(
        "p0",
        Msg::Registry(RegistryMsg::Register { role: Role::Worker, bond: 5, capabilities: caps() }),
    );
    let tx2 = net.tx("p0", Msg::Registry(RegistryMsg::Withdraw));
    let tx3 = net.tx("p0", Msg::Registry(RegistryMsg::AddBond { amount: 5 }));
    let tx4 = net.tx("p0", Msg::Registry(RegistryMsg::Deregister));
    let tx5 = net.tx("p0", Msg::Registry(RegistryMsg::Withdraw));
    let out = net.block(vec![tx, tx2, tx3, tx4, tx5]);
    let codes: Vec<u32> = (0..5).map(|i| code(&out, i)).collect();
    assert_eq!(codes, vec![200, 204, 0, 0, 205]);
    assert_eq!(net.balance("p0"), before - 5);
    let p = registry::params(&net.state).unwrap();
    for _ in 0..p.unbonding_blocks {
        net.block(vec![]);
    }
    let tx = net.tx("p0", Msg::Registry(RegistryMsg::Withdraw));
    let out = net.block(vec![tx]);
    assert!(out.receipts[0].result.is_ok(), "{:?}", out.receipts[0]);
    assert_eq!(net.balance("p0"), before + BOND);
    assert!(registry::registration(&net.state, &addr("p0")).unwrap().is_none());
    assert_eq!(bank::module_balance(&net.state, registry::REGISTRY_POOL).unwrap(), 0);
}

#[test]
fn owner_can_roll_back_to_an_earlier_version() {
    let mut net = Net::new(3, 4);
    let id = net.create(spec(1, 3, 2));
    net.block(vec![]);
    play_round(&mut net, id, &Script { commit: &honest(0), reveal: &same, score: &flat });
    assert_eq!(learning::current_model(&net.state, id).unwrap(), Some(model_of(id, 0)));
    let txs = vec![
        net.learn("p0", LearningMsg::Rollback { task: id, version: 0 }),
        net.learn("owner", LearningMsg::Rollback { task: id, version: 7 }),
        net.learn("owner", LearningMsg::Rollback { task: id, version: 0 }),
        net.learn("owner", LearningMsg::Rollback { task: id, version: 0 }),
    ];
    let out = net.block(txs);
    let codes: Vec<u32> = (0..4).map(|i| code(&out, i)).collect();
    assert_eq!(codes, vec![302, 315, 0, 309]);
    assert_eq!(learning::current_model(&net.state, id).unwrap(), Some(Hash([0xAA; 32])));
}

#[test]
fn shard_mode_assigns_disjoint_shards_recomputable_from_the_seed() {
    let mut net = Net::new(6, 1);
    let mut s = spec(1, 4, 1);
    s.data =
        DataMode::ShardPool { root: Hash([5; 32]), shard_count: 20, shards_per_participant: 3 };
    let id = net.create(s);
    net.block(vec![]);
    let rd = learning::round(&net.state, id, 0).unwrap().unwrap();
    let sel = learning::selection(&net.state, id, 0).unwrap();
    assert_eq!(sel.len(), 4);
    // Anyone recomputes the selection and the shards from (seed, registry).
    let eligible = learning::eligible_participants(&net.state, &net.task(id).spec).unwrap();
    let again = learning::math::select(&rd.seed, &eligible, 4);
    assert_eq!(again, sel.iter().map(|(a, _)| *a).collect::<Vec<_>>());
    let shards = learning::math::shard_assignment(&rd.seed, 4, 20, 3);
    let mut all = Vec::new();
    for ((_, s), expect) in sel.iter().zip(&shards) {
        assert_eq!(&s.shards, expect);
        all.extend(s.shards.iter().copied());
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 12);
    assert_eq!(rd.seed, learning::math::round_seed(&rd.randomness, id, 0));
}

fn scripted_run(reward_bps: u16, silent_mask: u8, outlier: i64) -> Net {
    let mut net = Net::new(4, 3);
    let mut s = spec(2, 3, 1);
    s.validator_share_bps = reward_bps;
    s.reward_per_round = 999_983;
    let id = net.create(s);
    net.block(vec![]);
    for r in 0..2u32 {
        if net.task(id).open_round.is_none() {
            break;
        }
        let reveal = move |n: &str, h: Hash| {
            let i: u8 = n[1..].parse().unwrap();
            if silent_mask & (1 << i) != 0 { None } else { Some(h) }
        };
        let score = move |i: usize, u: &RevealedUpdate| {
            if i == 2 { outlier } else { 10 + i64::from(u.participant.0[0] % 7) }
        };
        play_round(&mut net, id, &Script { commit: &honest(r), reveal: &reveal, score: &score });
        if net.task(id).open_round.is_none() {
            net.block(vec![]);
        }
    }
    let t = net.task(id);
    assert_eq!(t.escrow + t.paid + t.refunded, t.budget);
    net
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Random reward shares, silent participants and outlier scores: escrow + paid + refunds
    /// equals the budget after every block (checked in `Net::block`), and re-executing the
    /// recorded block sequence from genesis yields the same change sets and state.
    #[test]
    fn escrow_is_conserved_and_replay_is_deterministic(
        bps in 0u16..=10_000,
        silent in 0u8..16,
        outlier in -50i64..5_000,
    ) {
        let net = scripted_run(bps, silent, outlier);
        let (changes, state) = net.replay();
        prop_assert_eq!(&changes, &net.history);
        prop_assert_eq!(&state, &net.state);
        let t = learning::tasks(&net.state).unwrap().pop().unwrap();
        prop_assert!(matches!(t.status, TaskStatus::Completed));
        prop_assert_eq!(bank::module_balance(&net.state, ESCROW_POOL).unwrap(), 0);
    }

    /// Selection and shards are pure functions of (seed, candidates); shards never overlap.
    #[test]
    fn selection_and_shards_are_pure_and_disjoint(
        seed in any::<[u8; 32]>(),
        stakes in proptest::collection::vec(1u128..1_000_000, 1..40),
        k in 1usize..40,
        per in 1u32..4,
    ) {
        let cands: Vec<(Address, Amount)> =
            stakes.iter().enumerate().map(|(i, s)| (Address([i as u8; 20]), *s)).collect();
        let seed = Hash(seed);
        let a = learning::math::select(&seed, &cands, k);
        let mut rev = cands.clone();
        rev.reverse();
        prop_assert_eq!(&a, &learning::math::select(&seed, &rev, k), "input order is irrelevant");
        prop_assert_eq!(a.len(), k.min(cands.len()));
        let count = (a.len() as u32) * per + 5;
        let sh = learning::math::shard_assignment(&seed, a.len(), count, per);
        prop_assert_eq!(&sh, &learning::math::shard_assignment(&seed, a.len(), count, per));
        let mut all: Vec<u32> = sh.iter().flatten().copied().collect();
        prop_assert_eq!(all.len(), a.len() * per as usize);
        all.sort_unstable();
        all.dedup();
        prop_assert_eq!(all.len(), a.len() * per as usize);
        prop_assert!(all.iter().all(|s| *s < count));
    }
}

#[test]
fn windows_close_at_the_first_block_after_everyone_has_acted_but_wait_for_the_missing() {
    let mut long = spec(1, 3, 2);
    long.phases =
        PhaseLengths { commit: 50, reveal: 50, score_commit: 50, score_reveal: 50, aggregate: 50 };
    let mut net = Net::new(3, 4);
    let id = net.create(long.clone());
    net.block(vec![]);
    // Everyone commits in one block and reveals in the next: the commit window closed at the
    // start of the reveal block, the reveal window at the start of the block after.
    commit_and_reveal(&mut net, id, 0);
    net.block(vec![]);
    let rd = learning::round(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(rd.phase, Phase::ScoreCommit);
    assert_eq!(rd.ends[0] - rd.opened_at, 51, "deadlines stay absolute");

    // A second task where one participant never commits: the window runs to its deadline.
    let mut net = Net::new(3, 4);
    let id = net.create(long);
    net.block(vec![]);
    let sel: Vec<String> =
        learning::selection(&net.state, id, 0).unwrap().iter().map(|(a, _)| net.name(a)).collect();
    let txs: Vec<VerifiedTx> = sel[..2]
        .iter()
        .map(|n| {
            let c = update_commitment(&update_of(n, 0), 10, &salt(n), &addr(n), id, 0);
            net.learn(n, LearningMsg::Commit { task: id, round: 0, commitment: c })
        })
        .collect();
    net.block(txs);
    for _ in 0..10 {
        net.block(vec![]);
    }
    let rd = learning::round(&net.state, id, 0).unwrap().unwrap();
    assert_eq!(rd.phase, Phase::Commit, "2 of 3 committed: still waiting");
}
