//! `chorus audit`: replay a task from the ledger (blocks and learning queries) and the blob store
//! alone, and report the first discrepancy.
//!
//! Checks, round by round:
//! 1. every opened commitment: the `Reveal` transaction found in the blocks (sender recovered from
//!    its signature) recomputes `update_commitment(update_id, num_examples, salt, sender, task, round)` equal
//!    to the stored commitment;
//! 2. every revealed update blob hashes (BLAKE3) to its id;
//! 3. the accepted set recomputed with the chain's pure `consensus` / `accepted_set` /
//!    `accepted_set_hash` equals the stored outcome;
//! 4. every finalized aggregate recomputed in fixed point (`base + rule(accepted deltas)`, rule
//!    state carried across rounds) is byte-for-byte the stored model blob, whose id is the
//!    finalized `model_id` (and the task's version record);
//! 5. the `learning.reward` events of the round equal `split_rewards` recomputed from the outcome.
//!
//! The audit reads through any [`LedgerSource`]. `chorus audit` gives it a
//! [`crate::light::VerifiedLedger`], so the ledger side is not taken on a node's word: blocks are
//! verified from the genesis against their commit certificates, every record is read with a state
//! proof against a verified state root, and receipts are checked against `receipts_root`; a
//! forgery surfaces as `Err(Error::Forged { .. })` naming the header or record.

use std::collections::BTreeMap;
use std::fmt;

use chorus_chain::components::learning::math::split_rewards;
use chorus_store::BlobId;
use chorus_types::learning::{LearningMsg, RoundNo, TaskId, update_commitment};
use chorus_types::{Address, Hash, Msg};
use serde::Serialize;

use crate::blobs::{BlobStore, MODELS_NAMESPACE, hash_of};
use crate::ledger::LedgerSource;
use crate::task_model::TaskModel;
use crate::validator::recompute_accepted;
use crate::{Error, Result};

/// The first thing that did not check out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// Round.
    pub round: RoundNo,
    /// Participant or validator concerned, if any.
    pub who: Option<Address>,
    /// Check that failed (`commitment`, `update_blob`, `accepted_set`, `aggregate`, `model_blob`,
    /// `version`, `rewards`, `reveal_tx`).
    pub check: String,
    /// Expected vs found.
    pub detail: String,
}

/// Result of an audit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Task.
    pub task: TaskId,
    /// Rounds examined.
    pub rounds: u32,
    /// Commitments recomputed.
    pub commitments: u32,
    /// Update blobs hashed.
    pub update_blobs: u32,
    /// Aggregates recomputed.
    pub aggregates: u32,
    /// Rounds whose rewards were recomputed.
    pub rewards: u32,
    /// `None` = everything checked out.
    pub discrepancy: Option<Discrepancy>,
}

impl AuditReport {
    /// No discrepancy.
    pub fn ok(&self) -> bool {
        self.discrepancy.is_none()
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {}: {} rounds, {} commitments, {} update blobs, {} aggregates, {} reward splits: ",
            self.task,
            self.rounds,
            self.commitments,
            self.update_blobs,
            self.aggregates,
            self.rewards
        )?;
        match &self.discrepancy {
            None => write!(f, "OK"),
            Some(d) => {
                write!(f, "DISCREPANCY in round {} [{}]", d.round, d.check)?;
                if let Some(w) = d.who {
                    write!(f, " ({w})")?;
                }
                write!(f, ": {}", d.detail)
            }
        }
    }
}

struct Found {
    /// `(round, participant)` → `[(update_id, salt)]` of every Reveal tx.
    reveals: BTreeMap<(RoundNo, Address), Vec<(Hash, Hash)>>,
    /// Hashes of aggregate txs per round (their receipts carry the reward events).
    aggregate_txs: BTreeMap<RoundNo, Vec<Hash>>,
}

async fn scan_blocks<L: LedgerSource>(ledger: &L, task: TaskId, from: u64) -> Result<Found> {
    let mut f = Found { reveals: BTreeMap::new(), aggregate_txs: BTreeMap::new() };
    let to = ledger.height().await?;
    for h in from.max(1)..=to {
        let Some(b) = ledger.block(h).await? else { continue };
        for stx in &b.txs {
            let Ok(sender) = chorus_crypto::recover_tx_sender(stx) else { continue };
            for m in &stx.tx.msgs {
                match m {
                    Msg::Learning(LearningMsg::Reveal {
                        task: t, round, update_id, salt, ..
                    }) if *t == task => {
                        f.reveals.entry((*round, sender)).or_default().push((*update_id, *salt));
                    }
                    Msg::Learning(
                        LearningMsg::ProposeAggregate { task: t, round, .. }
                        | LearningMsg::AttestAggregate { task: t, round, .. },
                    ) if *t == task => f.aggregate_txs.entry(*round).or_default().push(stx.hash()),
                    _ => {}
                }
            }
        }
    }
    Ok(f)
}

/// Replays task `task` and returns the report (an `Err` only for transport failures or an
/// unknown task; protocol discrepancies are in the report).
pub async fn run<L: LedgerSource, B: BlobStore>(
    ledger: &L,
    blobs: &B,
    task: TaskId,
) -> Result<AuditReport> {
    run_with_key(ledger, blobs, task, None).await
}

/// [`run`] for a task whose updates are sealed to a committee: `seal_key` (a committee member's
/// X25519 secret) opens them so the aggregates can be recomputed. Without it such a task's
/// first aggregate is reported as not recomputable.
pub async fn run_with_key<L: LedgerSource, B: BlobStore>(
    ledger: &L,
    blobs: &B,
    task: TaskId,
    seal_key: Option<&chorus_store::SealSecretKey>,
) -> Result<AuditReport> {
    let t = ledger
        .task(task)
        .await?
        .ok_or_else(|| Error::Inconsistent(format!("unknown task {task}")))?;
    let tm = TaskModel::from_spec(&t.spec)?;
    let versions = ledger.versions(task).await?;
    let found = scan_blocks(ledger, task, t.created_at).await?;
    let mut rep = AuditReport { task, ..Default::default() };
    let mut state = chorus_fl::ServerState::default();
    macro_rules! fail {
        ($r:expr, $who:expr, $check:expr, $($fmt:tt)*) => {{
            rep.discrepancy = Some(Discrepancy { round: $r, who: $who, check: $check.into(), detail: format!($($fmt)*) });
            return Ok(rep);
        }};
    }
    for r in 0..t.next_round {
        let Some(rd) = ledger.round(task, r).await? else { continue };
        rep.rounds += 1;
        // 1. commitments
        for c in &rd.commit_records {
            let Some(rv) = &c.reveal else { continue };
            let cands = found.reveals.get(&(r, c.participant)).cloned().unwrap_or_default();
            let Some((_, salt)) = cands.iter().find(|(u, _)| *u == rv.update_id) else {
                fail!(
                    r,
                    Some(c.participant),
                    "reveal_tx",
                    "no Reveal transaction for update {}",
                    rv.update_id
                );
            };
            let got =
                update_commitment(&rv.update_id, rv.num_examples, salt, &c.participant, task, r);
            if got != c.commitment {
                fail!(
                    r,
                    Some(c.participant),
                    "commitment",
                    "stored {}, recomputed {got}",
                    c.commitment
                );
            }
            rep.commitments += 1;
        }
        // 2. update blobs
        for u in &rd.revealed {
            let bytes = match blobs.get(crate::UPDATES_NAMESPACE, &u.update_id).await {
                Ok(b) => b,
                Err(e) => fail!(
                    r,
                    Some(u.participant),
                    "update_blob",
                    "{} unavailable or unverifiable: {e}",
                    u.update_id
                ),
            };
            let got = hash_of(&BlobId::of(&bytes));
            if got != u.update_id {
                fail!(
                    r,
                    Some(u.participant),
                    "update_blob",
                    "id {}, bytes hash to {got}",
                    u.update_id
                );
            }
            rep.update_blobs += 1;
        }
        // 3. accepted set
        let Some(out) = &rd.outcome else { continue };
        let (accepted, set_hash) = recompute_accepted(&rd, t.spec.score_threshold);
        if set_hash != out.accepted_set_hash {
            fail!(
                r,
                None,
                "accepted_set",
                "stored {}, recomputed {set_hash}",
                out.accepted_set_hash
            );
        }
        // 4. aggregate
        let Some(model_id) = rd.model_id else { continue };
        let Some(base_id) = rd.base_model else { fail!(r, None, "aggregate", "no base model") };
        let (bytes, st) = match crate::validator::compute_aggregate(
            blobs,
            &tm,
            &base_id,
            &accepted,
            state.clone(),
            seal_key,
        )
        .await
        {
            Ok(x) => x,
            Err(e) => fail!(r, None, "aggregate", "cannot recompute: {e}"),
        };
        let local = hash_of(&BlobId::of(&bytes));
        if local != model_id {
            fail!(r, None, "aggregate", "finalized model {model_id}, recomputed {local}");
        }
        match blobs.get(MODELS_NAMESPACE, &model_id).await {
            Ok(stored) if stored == bytes => {}
            Ok(_) => fail!(
                r,
                None,
                "model_blob",
                "stored model bytes differ from the recomputed aggregate"
            ),
            Err(e) => fail!(r, None, "model_blob", "model {model_id} unavailable: {e}"),
        }
        if !versions.iter().any(|v| v.round == Some(r) && v.model_id == model_id) {
            fail!(r, None, "version", "no version records model {model_id}");
        }
        state = st;
        rep.aggregates += 1;
        // 5. rewards
        let reward: u128 = t.spec.reward_per_round;
        let split = split_rewards(reward, t.spec.validator_share_bps, &accepted, &out.agreement);
        let mut want: Vec<(Address, u128)> =
            split.participants.iter().chain(&split.validators).copied().collect();
        let mut got: Vec<(Address, u128)> = Vec::new();
        for h in found.aggregate_txs.get(&r).into_iter().flatten() {
            let Some(rc) = ledger.receipt(h).await? else { continue };
            for e in rc.events.iter().filter(|e| e.kind == "learning.reward") {
                let (Some(to), Some(amt)) = (e.attr("to"), e.attr("amount")) else { continue };
                let (Ok(to), Ok(amt)) = (to.parse::<Address>(), amt.parse::<u128>()) else {
                    continue;
                };
                got.push((to, amt));
            }
        }
        want.sort();
        got.sort();
        if want != got {
            fail!(r, None, "rewards", "recomputed {want:?}, paid {got:?}");
        }
        rep.rewards += 1;
    }
    Ok(rep)
}
