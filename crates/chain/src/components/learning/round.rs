//! Rounds driven by block height: [`begin_block`] ticks the tasks due at this height in the
//! deadline-indexed queue (`queue.rs`), closing phases at their deadlines (or as soon as everyone
//! awaited has acted) — tallying reveals and penalising withheld ones, then computing consensus
//! scores and the accepted set and penalising withheld score reveals — and opening the next round
//! (seed, participant selection with the reputation floor, shards, bond locks, validator
//! snapshot) or ending the task when it is done, cancelled or out of DP budget. Also the advisory
//! [`designated_aggregator`] and the selection candidates [`eligible_participants`].

use std::collections::BTreeSet;

use chorus_types::learning::{DataMode, Role, TaskSpec};
use chorus_types::{Address, Amount, Event, Hash, Height};

use super::finalize::{end_task, fail_round};
use super::math::{AcceptedUpdate, accepted_set, accepted_set_hash, consensus};
use super::queue::{self, reschedule};
use super::spec::{MIN_REPUTATION, OPEN_RETRY_BLOCKS};
use super::{
    Outcome, Phase, Res, Round, Selection, Task, TaskStatus, UpdateScore, ev, load_task, math,
    power_of, put_round, put_task, records, revealed_updates, scores, selection,
};
use crate::codec::{read, write};
use crate::components::registry::{self, FaultReason, RegStatus};
use crate::components::validators;
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};
use crate::{TxError, state_key};

/// The validator expected to propose the aggregate: stake-weighted selection of one validator
/// with the round seed. Advisory only: the chain accepts a proposal from any round validator.
pub fn designated_aggregator(seed: &Hash, validators: &[(Address, u64)]) -> Option<Address> {
    let c: Vec<(Address, Amount)> = validators.iter().map(|(a, p)| (*a, u128::from(*p))).collect();
    math::select(seed, &c, 1).first().copied()
}

/// The candidates of a round of a task with `spec`: registered participants that are active,
/// bond at least `min_participant_stake` (and non-zero) and have a reputation of at least
/// [`MIN_REPUTATION`] (security review M4: withholders and cheats stop being selected);
/// `(address, bond)` by address. Anyone recomputes a round's selection with
/// `math::select(seed, &eligible_participants(..), participants_per_round)`.
pub fn eligible_participants(
    state: &dyn StateRead,
    spec: &TaskSpec,
) -> Res<Vec<(Address, Amount)>> {
    Ok(registry::registrations(state)?
        .into_iter()
        .filter(|r| {
            r.role == Role::Participant
                && r.status == RegStatus::Active
                && r.bond >= spec.min_participant_stake
                && r.bond > 0
                && r.reputation >= MIN_REPUTATION
        })
        .map(|r| (r.address, r.bond))
        .collect())
}

/// Opens the task's next round; `false` if too few participants are eligible for its quorum.
fn open_new_round(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    t: &mut Task,
    events: &mut Vec<Event>,
) -> Res<bool> {
    let spec = &t.spec;
    let eligible = eligible_participants(delta, spec)?;
    if eligible.len() < spec.min_quorum as usize {
        // Not enough eligible participants to reach quorum: retry later (the caller schedules).
        return Ok(false);
    }
    let r = t.next_round;
    let seed = math::round_seed(&ctx.randomness, t.id, r);
    let chosen = math::select(&seed, &eligible, spec.participants_per_round as usize);
    let shards = match spec.data {
        DataMode::ShardPool { shard_count, shards_per_participant, .. } => {
            math::shard_assignment(&seed, chosen.len(), shard_count, shards_per_participant)
        }
        DataMode::Private => vec![Vec::new(); chosen.len()],
    };
    let p = &spec.phases;
    let h = ctx.height;
    // Participants learn the selection from this block, so the commit window is the
    // `commit` blocks after it (commits in the opening block itself are accepted too).
    let e0 = h.saturating_add(1).saturating_add(p.commit);
    let e1 = e0.saturating_add(p.reveal);
    let e2 = e1.saturating_add(p.score_commit);
    let e3 = e2.saturating_add(p.score_reveal);
    let e4 = e3.saturating_add(p.aggregate);
    for (rank, (a, sh)) in chosen.iter().zip(shards).enumerate() {
        write(
            delta,
            state_key::learning_addr("sel", t.id, r, a),
            &Selection { rank: rank as u32, shards: sh },
        );
        // L8: the bond stays put until the reveal window (the last one that can slash a
        // participant: mismatched or withheld reveals) has closed.
        registry::lock_bond(delta, a, e1)?;
    }
    let mut vals: Vec<(Address, u64)> =
        validators::validator_set(delta)?.into_iter().map(|v| (v.operator, v.power)).collect();
    vals.sort();
    let total_power = vals.iter().fold(0u64, |a, (_, p)| a.saturating_add(*p));
    let rd = Round {
        task: t.id,
        round: r,
        phase: Phase::Commit,
        seed,
        randomness: ctx.randomness,
        opened_at: h,
        ends: [e0, e1, e2, e3, e4],
        base_version: t.current_version,
        validators: vals,
        total_power,
        selected: chosen.len() as u32,
        commits: 0,
        reveals: 0,
        faults: 0,
        failure: None,
        model_id: None,
    };
    put_round(delta, &rd);
    t.next_round += 1;
    t.open_round = Some(r);
    put_task(delta, t);
    let list: Vec<String> = chosen.iter().map(Address::to_string).collect();
    events.push(ev(
        "round_opened",
        t.id,
        Some(r),
        vec![
            ("seed", seed.to_string()),
            ("base_version", rd.base_version.to_string()),
            ("commit_end", e0.to_string()),
            ("aggregate_end", e4.to_string()),
            ("selected", list.join(",")),
        ],
    ));
    Ok(true)
}

/// Reveal window closed: non-revealers lose reputation; a participant that committed and did not
/// reveal is also slashed (security review M4: withholding after seeing the others' reveals is
/// not free); too few reveals fail the round.
fn close_reveals(
    delta: &mut StateDelta<'_>,
    height: Height,
    t: &mut Task,
    rd: &mut Round,
    events: &mut Vec<Event>,
) -> Res<bool> {
    let revealed: BTreeSet<Address> =
        revealed_updates(delta, t.id, rd.round)?.into_iter().map(|u| u.participant).collect();
    for (a, _) in selection(delta, t.id, rd.round)? {
        if !revealed.contains(&a) {
            // spec §3.3: no reveal → no reward, reputation drops.
            registry::adjust_reputation(delta, &a, registry::REP_NO_REVEAL)?;
        }
    }
    for (a, c) in records::commits(delta, t.id, rd.round)? {
        if c.reveal.is_none() && !c.faulted {
            // spec §3.3: withholding costs stake — the registry's objective-fault slash.
            registry::slash(
                delta,
                height,
                &a,
                FaultReason::RevealWithheld,
                t.id,
                rd.round,
                events,
            )?;
        }
    }
    if rd.reveals < t.spec.min_quorum {
        fail_round(delta, t, rd, "too_few_reveals", events)?;
        return Ok(false);
    }
    Ok(true)
}

/// Score-reveal window closed: validators that committed scores and did not reveal them commit
/// a staking fault (security review M4: no last-revealer option); then consensus, clipping,
/// accepted set.
fn close_scores(
    delta: &mut StateDelta<'_>,
    height: Height,
    t: &mut Task,
    rd: &mut Round,
    events: &mut Vec<Event>,
) -> Res<bool> {
    let updates = revealed_updates(delta, t.id, rd.round)?;
    let all = scores(delta, t.id, rd.round)?;
    for (a, s) in &all {
        if s.scores.is_none() && !s.faulted {
            registry::validator_fault(
                delta,
                height,
                a,
                FaultReason::ScoreRevealWithheld,
                t.id,
                rd.round,
                events,
            )?;
        }
    }
    let revealed: Vec<(Address, u64, Vec<i64>)> = all
        .into_iter()
        .filter(|(_, s)| !s.faulted)
        .filter_map(|(a, s)| {
            let p = power_of(rd, &a)?;
            s.scores.map(|v| (a, p, v))
        })
        .filter(|(_, _, v)| v.len() == updates.len())
        .collect();
    let scored_power: u128 = revealed.iter().map(|(_, p, _)| u128::from(*p)).sum();
    // The median is only meaningful if more than half of the power voted.
    if scored_power * 2 <= u128::from(rd.total_power) {
        fail_round(delta, t, rd, "too_few_scores", events)?;
        return Ok(false);
    }
    let votes: Vec<(u64, &[i64])> = revealed.iter().map(|(_, p, v)| (*p, v.as_slice())).collect();
    let c = consensus(updates.len(), &votes);
    let accepted: Vec<AcceptedUpdate> = accepted_set(&updates, &c, t.spec.score_threshold);
    let hash = accepted_set_hash(t.id, rd.round, &accepted);
    let acc: BTreeSet<Address> = accepted.iter().map(|u| u.participant).collect();
    let out = Outcome {
        updates: updates
            .iter()
            .enumerate()
            .map(|(j, u)| UpdateScore {
                participant: u.participant,
                update_id: u.update_id,
                consensus: c.consensus[j],
                weight: c.weight[j],
                accepted: acc.contains(&u.participant),
            })
            .collect(),
        agreement: revealed
            .iter()
            .zip(&c.agreement_ppm)
            .map(|((a, p, _), g)| (*a, *p, *g))
            .collect(),
        accepted,
        accepted_set_hash: hash,
        tallies: Vec::new(),
    };
    let n_acc = out.accepted.len();
    write(delta, state_key::learning("outcome", t.id, Some(rd.round)), &out);
    events.push(ev(
        "scores",
        t.id,
        Some(rd.round),
        vec![
            ("updates", updates.len().to_string()),
            ("accepted", n_acc.to_string()),
            ("accepted_set_hash", hash.to_string()),
            ("validators", revealed.len().to_string()),
        ],
    ));
    if n_acc == 0 {
        fail_round(delta, t, rd, "no_accepted_updates", events)?;
        return Ok(false);
    }
    Ok(true)
}

/// Advances one task at the start of a block: phase deadlines, then opening the next round or
/// ending the task.
fn tick_task(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    t: &mut Task,
    events: &mut Vec<Event>,
) -> Res<()> {
    let h = ctx.height;
    if let Some(r) = t.open_round {
        let key = state_key::learning("round", t.id, Some(r));
        let mut rd: Round = read(delta, &key)?.ok_or_else(|| TxError::corrupt(&key))?;
        loop {
            // A window closes at its deadline, or at the first block after everyone it waits
            // for has acted (the deadlines stay absolute, so closing early never extends a
            // later window).
            let (score_commits, score_reveals) = match rd.phase {
                Phase::ScoreCommit | Phase::ScoreReveal => {
                    let s = records::scores(delta, t.id, r)?;
                    let revealed =
                        s.iter().filter(|(_, x)| x.scores.is_some() || x.faulted).count();
                    (s.len(), revealed)
                }
                _ => (0, 0),
            };
            let n_validators = rd.validators.len();
            let next = match rd.phase {
                Phase::Commit if h >= rd.ends[0] || rd.commits >= rd.selected => Phase::Reveal,
                Phase::Reveal
                    if h >= rd.ends[1]
                        || (rd.commits > 0 && rd.reveals + rd.faults >= rd.commits) =>
                {
                    if !close_reveals(delta, h, t, &mut rd, events)? {
                        break;
                    }
                    Phase::ScoreCommit
                }
                Phase::ScoreCommit if h >= rd.ends[2] || score_commits >= n_validators => {
                    Phase::ScoreReveal
                }
                Phase::ScoreReveal
                    if h >= rd.ends[3] || (score_commits > 0 && score_reveals >= score_commits) =>
                {
                    if !close_scores(delta, h, t, &mut rd, events)? {
                        break;
                    }
                    Phase::Aggregate
                }
                Phase::Aggregate if h >= rd.ends[4] => {
                    // spec §3.5: nothing finalised in the window — the previous model stays.
                    fail_round(delta, t, &mut rd, "no_aggregate", events)?;
                    break;
                }
                _ => break,
            };
            rd.phase = next;
            put_round(delta, &rd);
            events.push(ev("phase", t.id, Some(r), vec![("phase", next.as_str().into())]));
        }
    }
    if t.open_round.is_none() && t.status == TaskStatus::Cancelling {
        // M3: the round open when the owner cancelled has settled; now the task ends.
        return end_task(delta, t, TaskStatus::Cancelled, events);
    }
    if t.open_round.is_none() && t.status == TaskStatus::Active {
        if t.next_round >= t.spec.rounds {
            return end_task(delta, t, TaskStatus::Completed, events);
        }
        if let Some(dp) = &t.spec.dp {
            // spec §4: a round whose release would exceed the ε budget cannot open.
            if math::dp_epsilon_micro(dp, t.dp_rounds + 1) > dp.epsilon_budget_micro {
                return end_task(delta, t, TaskStatus::DpBudgetExhausted, events);
            }
        }
        if !open_new_round(delta, ctx, t, events)? {
            // H3: no registry rescan every block for a quorum that cannot be met.
            reschedule(delta, t, Some(h.saturating_add(OPEN_RETRY_BLOCKS)));
            put_task(delta, t);
            return Ok(());
        }
    }
    let next = match t.open_round {
        Some(r) => {
            let rd = super::round(delta, t.id, r)?;
            rd.and_then(|rd| phase_deadline(&rd)).map(|d| d.max(h.saturating_add(1)))
        }
        None => None, // paused between rounds: resumed by `ResumeTask`
    };
    reschedule(delta, t, next);
    put_task(delta, t);
    Ok(())
}

/// The deadline of the round's current phase (`None` once it has ended).
fn phase_deadline(rd: &Round) -> Option<Height> {
    let i = match rd.phase {
        Phase::Commit => 0,
        Phase::Reveal => 1,
        Phase::ScoreCommit => 2,
        Phase::ScoreReveal => 3,
        Phase::Aggregate => 4,
        Phase::Finalized | Phase::Failed => return None,
    };
    Some(rd.ends[i])
}

/// The learning block hook: ticks only the tasks due at this height in the deadline queue.
pub(crate) fn begin_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    for (at, id) in queue::due(delta, ctx.height)? {
        let mut t = load_task(delta, id)?;
        if t.next_tick != Some(at) {
            // A stale entry (the task was rescheduled): drop it.
            delta.delete(state_key::learning_due(at, id));
            continue;
        }
        tick_task(delta, ctx, &mut t, events)?;
    }
    Ok(())
}
