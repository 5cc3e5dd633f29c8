//! The validator worker: for every round its validator is in, it scores the revealed updates on
//! held-out data and commit-reveals the score vector, then recomputes the accepted set with the
//! chain's pure functions, aggregates in fixed point, uploads the new model and proposes (the
//! designated aggregator, or anyone after one block) or attests (when a proposal equals its own
//! result). Each finalized model is evaluated and reported as a [`RoundEval`].
//!
//! **Scores** follow the task's score rule ([`ScoreRule`]: `loo` leave-one-out contribution to
//! the held-out loss, `loss_delta` the update's own loss reduction, or `validity`), in
//! micro-units of mean cross-entropy on the validator's scoring split; an update that fails
//! `chorus_fl` validation (wrong shape, scale, over-norm, undecodable, missing blob) scores 0, so
//! it can never reach the task's threshold (≥ 1).
//!
//! Restart safety as for participants: signed bytes are persisted before submission
//! ([`crate::progress::ValidatorRound`]); the score salt is derived from the key like the update
//! salt, and the rule state of stateful aggregation rules is persisted per round.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chorus_chain::components::learning::math::{self, RevealedUpdate};
use chorus_crypto::AccountKey;
use chorus_fl::fixed::Micros;
use chorus_fl::{ServerState, Update, ValidationLimits};
use chorus_store::SealSecretKey;
use chorus_trainer::Dataset;
use chorus_types::learning::{LearningMsg, RoundNo, TaskId, score_commitment};
use chorus_types::{Address, Amount, Hash, Msg, keccak256};
use tokio::sync::{mpsc, watch};

use crate::blobs::{BlobStore, MODELS_NAMESPACE, UPDATES_NAMESPACE};
use crate::client::TxSender;
use crate::ledger::LedgerSource;
use crate::progress::{ProgressFile, StoredTx, ValidatorRound};
use crate::task_model::TaskModel;
use crate::views::{RoundView, TaskView};
use crate::{Error, Result};

/// Evaluation of a finalized global model (one row of the devnet's per-round table).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RoundEval {
    /// Task.
    pub task: TaskId,
    /// Round.
    pub round: RoundNo,
    /// Finalized model.
    pub model_id: Hash,
    /// Whether it equals the model this worker computed.
    pub matches_local: bool,
    /// Valid reveals.
    pub revealed: usize,
    /// Accepted updates.
    pub accepted: usize,
    /// Test accuracy in `[0, 1]` on the evaluation split.
    pub accuracy: f32,
    /// Mean cross-entropy on the evaluation split.
    pub loss: f32,
}

/// Validator worker settings.
#[derive(Clone)]
pub struct ValidatorConfig {
    /// Scoring split (e.g. the first half of the MNIST test set).
    pub score_data: Arc<Dataset>,
    /// Evaluation split for [`RoundEval`] (e.g. the second half).
    pub eval_data: Arc<Dataset>,
    /// Updates above this L2 norm score 0 (`None`: unbounded).
    pub max_update_norm: Option<Micros>,
    /// X25519 secret to open committee-sealed updates.
    pub seal_secret: Option<SealSecretKey>,
    /// Fee per transaction.
    pub fee: Amount,
    /// The chain id to sign for ([`TxSender::pinned`]); `None` trusts the ledger's.
    pub chain_id: Option<u64>,
    /// Progress file (`None`: in memory only).
    pub state_path: Option<PathBuf>,
    /// Poll interval of [`ValidatorWorker::run_until`].
    pub poll: Duration,
}

/// Splits a data set into two halves `(first, second)` (scoring / evaluation).
pub fn split_halves(d: &Dataset) -> Result<(Dataset, Dataset)> {
    let n = d.len() as u32;
    let first: Vec<u32> = (0..n / 2).collect();
    let second: Vec<u32> = (n / 2..n).collect();
    Ok((d.subset(&first)?, d.subset(&second)?))
}

/// A validator worker.
pub struct ValidatorWorker<L, B> {
    ledger: Arc<L>,
    blobs: Arc<B>,
    sender: TxSender<L>,
    cfg: ValidatorConfig,
    progress: ProgressFile<ValidatorRound>,
    evals: Option<mpsc::UnboundedSender<RoundEval>>,
    /// Per task, the first round that may still need evaluating.
    eval_from: std::collections::BTreeMap<TaskId, RoundNo>,
}

fn derive_score_salt(key: &AccountKey, task: TaskId, round: RoundNo) -> Hash {
    let mut b = Vec::with_capacity(64);
    b.extend_from_slice(b"chorus/score-salt");
    b.extend_from_slice(&key.to_bytes());
    b.extend_from_slice(&task.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    Hash(keccak256(&b))
}

/// `(mean cross-entropy, accuracy)` of a model blob's parameters on `data`.
pub fn loss_of(tm: &TaskModel, model: &Update, data: &Dataset) -> Result<(f32, f32)> {
    let mut m = chorus_trainer::build_model(tm.arch.as_str(), 0)?;
    chorus_trainer::params::set_model_from_update(m.as_mut(), model)?;
    let r = m.evaluate(data)?;
    Ok((r.loss, r.accuracy))
}

/// How a task's `score_rule` is read:
/// - `validity`: every well-formed update scores 1 (the aggregation rule alone decides
///   robustness);
/// - `loo` (leave-one-out): `round(1e6 · (L(base + mean₋ᵢ) − L(base + mean))) + LOO_TOLERANCE`,
///   where `mean` is the example-weighted mean of the valid deltas and `mean₋ᵢ` the same without
///   update `i`: an update is accepted unless removing it lowers the held-out loss by more than
///   the tolerance, and honest updates from skewed (non-IID) data, which raise the loss on their
///   own but help the average, are not punished;
/// - `loss_delta`: `round(1e6 · (L(base) − L(base + Δᵢ)))`, the update's own
///   loss reduction (strict: suits IID data).
///
/// Invalid or unavailable updates score 0 under every rule (below any threshold ≥ 1); so do
/// updates whose claimed example count is 0 or above `chorus_fl::agg::MAX_INPUT_WEIGHT` (the
/// chain refuses such reveals anyway: security review H4). `loo` weighs the mean with the same
/// share clamp as the aggregator (`chorus_fl::agg::clamp_weight_shares`, at most 1/2 each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreRule {
    /// `validity`.
    Validity,
    /// `loo`.
    LeaveOneOut,
    /// `loss_delta`.
    LossDelta,
}

impl ScoreRule {
    /// The rule named by a task's `score_rule.id` (one of
    /// [`chorus_types::learning::SCORE_RULES`]; the chain refuses tasks naming another).
    pub fn from_id(id: &str) -> Result<ScoreRule> {
        match id {
            "validity" => Ok(ScoreRule::Validity),
            "loo" => Ok(ScoreRule::LeaveOneOut),
            "loss_delta" => Ok(ScoreRule::LossDelta),
            other => Err(Error::Unsupported(format!("score rule {other:?}"))),
        }
    }
}

/// Slack of the `loo` rule: 0.01 nats of mean cross-entropy, in micro-units.
pub const LOO_TOLERANCE: i64 = 10_000;

fn micro_loss(d: f64) -> i64 {
    if d.is_finite() { (d * 1e6).round().clamp(i64::MIN as f64, i64::MAX as f64) as i64 } else { 0 }
}

fn loss_of_f32(tm: &TaskModel, params: &[f32], data: &Dataset) -> Result<f32> {
    let mut m = chorus_trainer::build_model(tm.arch.as_str(), 0)?;
    m.set_params(params)?;
    Ok(m.evaluate(data)?.loss)
}

/// Scores `updates` (already fetched, `None` = unavailable; `weights` = claimed examples)
/// against `base` on `data` with `rule`.
pub fn score_updates(
    tm: &TaskModel,
    base: &Update,
    updates: &[Option<Vec<u8>>],
    weights: &[u64],
    data: &Dataset,
    max_norm: Option<Micros>,
    rule: ScoreRule,
) -> Result<Vec<i64>> {
    let limits = ValidationLimits { max_norm, max_bytes: None };
    let claimed = |i: usize| weights.get(i).copied().unwrap_or(1);
    let in_range = |w: u64| (1..=chorus_fl::agg::MAX_INPUT_WEIGHT).contains(&w);
    let valid: Vec<Option<Update>> = updates
        .iter()
        .enumerate()
        .map(|(i, u)| {
            u.as_deref().filter(|_| in_range(claimed(i))).and_then(|b| {
                chorus_fl::validate::validate_bytes(b, &tm.spec, tm.scale, &limits).ok()
            })
        })
        .collect();
    // The weights the aggregate would use: valid inputs, share-clamped as the aggregator does.
    let valid_idx: Vec<usize> = (0..valid.len()).filter(|&i| valid[i].is_some()).collect();
    let (num, den) = chorus_fl::agg::MAX_WEIGHT_SHARE;
    let clamped = chorus_fl::agg::clamp_weight_shares(
        &valid_idx.iter().map(|&i| claimed(i)).collect::<Vec<_>>(),
        num,
        den,
    );
    let mut eff = vec![1u64; valid.len()];
    for (&i, w) in valid_idx.iter().zip(clamped) {
        eff[i] = w;
    }
    match rule {
        ScoreRule::Validity => Ok(valid.iter().map(|u| i64::from(u.is_some())).collect()),
        ScoreRule::LeaveOneOut => {
            let base_f = base.to_f32();
            let deltas: Vec<Option<(Vec<f32>, f64)>> = valid
                .iter()
                .zip(&eff)
                .map(|(u, w)| u.as_ref().map(|u| (u.to_f32(), (*w).max(1) as f64)))
                .collect();
            let n_valid = deltas.iter().flatten().count();
            let total_w: f64 = deltas.iter().flatten().map(|(_, w)| w).sum();
            let mut sum = vec![0f64; base_f.len()];
            for (d, w) in deltas.iter().flatten() {
                for (s, x) in sum.iter_mut().zip(d) {
                    *s += f64::from(*x) * w;
                }
            }
            let model_with = |skip: Option<usize>| -> Vec<f32> {
                let (mut s, mut wt) = (sum.clone(), total_w);
                if let Some(i) = skip
                    && let Some((d, w)) = &deltas[i]
                {
                    for (s, x) in s.iter_mut().zip(d) {
                        *s -= f64::from(*x) * w;
                    }
                    wt -= w;
                }
                base_f.iter().zip(&s).map(|(b, s)| b + (s / wt.max(1.0)) as f32).collect()
            };
            if n_valid < 2 {
                return Ok(valid
                    .iter()
                    .map(|u| if u.is_some() { LOO_TOLERANCE } else { 0 })
                    .collect());
            }
            let l_all = f64::from(loss_of_f32(tm, &model_with(None), data)?);
            let mut out = Vec::with_capacity(valid.len());
            for (i, d) in deltas.iter().enumerate() {
                if d.is_none() {
                    out.push(0);
                    continue;
                }
                let l_without = f64::from(loss_of_f32(tm, &model_with(Some(i)), data)?);
                out.push(micro_loss(l_without - l_all).saturating_add(LOO_TOLERANCE));
            }
            Ok(out)
        }
        ScoreRule::LossDelta => {
            let (l0, _) = loss_of(tm, base, data)?;
            let mut out = Vec::with_capacity(valid.len());
            for u in &valid {
                let Some(delta) = u else {
                    out.push(0);
                    continue;
                };
                let cand = tm.apply_delta(base, delta)?;
                let (l1, _) = loss_of(tm, &cand, data)?;
                out.push(micro_loss(f64::from(l0) - f64::from(l1)));
            }
            Ok(out)
        }
    }
}

/// Recomputes a round's accepted set from its revealed updates, the revealed score vectors and
/// the validator snapshot with the chain's pure functions (`consensus`, `accepted_set`,
/// `accepted_set_hash`), exactly as the chain does when the score-reveal window closes.
pub fn recompute_accepted(rd: &RoundView, threshold: i64) -> (Vec<math::AcceptedUpdate>, Hash) {
    let updates: Vec<RevealedUpdate> = rd
        .revealed
        .iter()
        .map(|u| RevealedUpdate {
            participant: u.participant,
            update_id: u.update_id,
            commit_seq: u.commit_seq,
            num_examples: u.num_examples,
        })
        .collect();
    let votes_owned: Vec<(u64, Vec<i64>)> = rd
        .score_records
        .iter()
        .filter(|s| !s.faulted)
        .filter_map(|s| Some((rd.power_of(&s.validator)?, s.scores.clone()?)))
        .filter(|(_, v)| v.len() == updates.len())
        .collect();
    let votes: Vec<(u64, &[i64])> = votes_owned.iter().map(|(p, v)| (*p, v.as_slice())).collect();
    let c = math::consensus(updates.len(), &votes);
    let acc = math::accepted_set(&updates, &c, threshold);
    let h = math::accepted_set_hash(rd.task, rd.round, &acc);
    (acc, h)
}

/// Fetches a blob and opens it if sealed.
pub(crate) async fn fetch_update<B: BlobStore>(
    blobs: &B,
    id: &Hash,
    secret: Option<&SealSecretKey>,
) -> Result<Vec<u8>> {
    let b = blobs.get(UPDATES_NAMESPACE, id).await?;
    if b.starts_with(b"CHSEAL1\0") {
        let s =
            secret.ok_or_else(|| Error::Unsupported("sealed update and no seal secret".into()))?;
        return Ok(chorus_store::open(&b, s)?);
    }
    Ok(b)
}

/// Computes a round's new model: base + rule(accepted deltas), returning its bytes and the rule
/// state after the round.
pub async fn compute_aggregate<B: BlobStore>(
    blobs: &B,
    tm: &TaskModel,
    base_id: &Hash,
    accepted: &[math::AcceptedUpdate],
    state: ServerState,
    secret: Option<&SealSecretKey>,
) -> Result<(Vec<u8>, ServerState)> {
    let base = tm.decode(&blobs.get(MODELS_NAMESPACE, base_id).await?)?;
    let mut deltas = Vec::with_capacity(accepted.len());
    for a in accepted {
        let b = fetch_update(blobs, &a.update_id, secret).await?;
        deltas.push((tm.decode(&b)?, a.num_examples));
    }
    tm.aggregate(&base, &deltas, state)
}

impl<L: LedgerSource + 'static, B: BlobStore + 'static> ValidatorWorker<L, B> {
    /// A worker signing with the validator operator's `key`.
    pub fn new(
        ledger: Arc<L>,
        blobs: Arc<B>,
        key: AccountKey,
        cfg: ValidatorConfig,
    ) -> Result<Self> {
        let progress = ProgressFile::open(cfg.state_path.clone())?;
        let sender = TxSender::new(ledger.clone(), key, cfg.fee).pinned(cfg.chain_id);
        Ok(ValidatorWorker {
            ledger,
            blobs,
            sender,
            cfg,
            progress,
            evals: None,
            eval_from: Default::default(),
        })
    }

    /// Reports every evaluated finalized model on `tx`.
    pub fn with_evals(mut self, tx: mpsc::UnboundedSender<RoundEval>) -> Self {
        self.evals = Some(tx);
        self
    }

    /// The operator address.
    pub fn address(&self) -> Address {
        self.sender.address()
    }

    /// Progress record of a round.
    pub fn progress(&self, task: TaskId, round: RoundNo) -> ValidatorRound {
        self.progress.get(task, round)
    }

    fn prior_state(&self, task: TaskId, round: RoundNo) -> ServerState {
        (0..round)
            .rev()
            .map(|r| self.progress.get(task, r))
            .find(|p| p.evaluated && p.rule_state.is_some())
            .and_then(|p| p.rule_state)
            .unwrap_or_default()
    }

    async fn submit_stored(&self, stx: &StoredTx) -> Result<Hash> {
        match self.sender.resubmit(&stx.signed()?).await {
            Ok(h) => Ok(h),
            // Already executed or refused as a duplicate: nothing more to do.
            Err(Error::Api { .. }) | Err(Error::Chain(_)) => Ok(stx.hash),
            Err(e) => Err(e),
        }
    }

    async fn do_round(
        &mut self,
        t: &TaskView,
        rd: &RoundView,
        height: u64,
    ) -> Result<Option<&'static str>> {
        let me = self.address();
        let (tid, r) = (rd.task, rd.round);
        let mut rec = self.progress.get(tid, r);
        if rec.abandoned.is_some() {
            return Ok(None);
        }
        let tm = TaskModel::from_spec(&t.spec)?;
        let secret = self.cfg.seal_secret.clone();
        match rd.phase.as_str() {
            "score_commit" if rd.power_of(&me).is_some() && rd.score_of(&me).is_none() => {
                if let Some(stx) = &rec.score_commit_tx {
                    self.submit_stored(stx).await?;
                    return Ok(Some("score_commit"));
                }
                let base_id =
                    rd.base_model.ok_or_else(|| Error::Inconsistent("no base model".into()))?;
                let base = tm.decode(&self.blobs.get(MODELS_NAMESPACE, &base_id).await?)?;
                let mut fetched = Vec::with_capacity(rd.revealed.len());
                for u in &rd.revealed {
                    fetched.push(
                        fetch_update(self.blobs.as_ref(), &u.update_id, secret.as_ref()).await.ok(),
                    );
                }
                let (tm2, data, max) =
                    (tm.clone(), self.cfg.score_data.clone(), self.cfg.max_update_norm);
                let rule = ScoreRule::from_id(&t.spec.score_rule.id)?;
                let weights: Vec<u64> = rd.revealed.iter().map(|u| u.num_examples).collect();
                let scores = tokio::task::spawn_blocking(move || {
                    score_updates(&tm2, &base, &fetched, &weights, &data, max, rule)
                })
                .await
                .map_err(|e| Error::Inconsistent(e.to_string()))??;
                let salt = derive_score_salt(self.sender.key(), tid, r);
                let commitment = score_commitment(&scores, &salt, &me, tid, r);
                let stx = self
                    .sender
                    .sign(vec![Msg::Learning(LearningMsg::ScoreCommit {
                        task: tid,
                        round: r,
                        commitment,
                    })])
                    .await?;
                rec.scores = Some(scores);
                rec.salt = Some(salt);
                rec.score_commit_tx = Some(StoredTx::new(&stx)?);
                self.progress.set(tid, r, rec)?;
                self.sender.resubmit(&stx).await?;
                Ok(Some("score_commit"))
            }
            "score_reveal" => {
                let Some(s) = rd.score_of(&me) else { return Ok(None) };
                if s.scores.is_some() || s.faulted {
                    return Ok(None);
                }
                if let Some(stx) = &rec.score_reveal_tx {
                    self.submit_stored(stx).await?;
                    return Ok(Some("score_reveal"));
                }
                let (Some(scores), Some(salt)) = (rec.scores.clone(), rec.salt) else {
                    rec.abandoned = Some("score commit on chain but no local scores".into());
                    self.progress.set(tid, r, rec)?;
                    return Ok(None);
                };
                let msg = LearningMsg::ScoreReveal { task: tid, round: r, scores, salt };
                let stx = self.sender.sign(vec![Msg::Learning(msg)]).await?;
                rec.score_reveal_tx = Some(StoredTx::new(&stx)?);
                self.progress.set(tid, r, rec)?;
                self.sender.resubmit(&stx).await?;
                Ok(Some("score_reveal"))
            }
            "aggregate" if rd.power_of(&me).is_some() => {
                let Some(out) = &rd.outcome else { return Ok(None) };
                if let Some(stx) = &rec.aggregate_tx {
                    self.submit_stored(stx).await?;
                    return Ok(Some("aggregate"));
                }
                let (accepted, set_hash) = recompute_accepted(rd, t.spec.score_threshold);
                if set_hash != out.accepted_set_hash {
                    rec.abandoned = Some(format!(
                        "accepted set differs: local {set_hash}, chain {}",
                        out.accepted_set_hash
                    ));
                    self.progress.set(tid, r, rec)?;
                    return Err(Error::Inconsistent(
                        "accepted set differs from the chain's".into(),
                    ));
                }
                let model_id = match rec.model_id {
                    Some(m) => m,
                    None => {
                        let base_id = rd
                            .base_model
                            .ok_or_else(|| Error::Inconsistent("no base model".into()))?;
                        let state = self.prior_state(tid, r);
                        let (bytes, st) = compute_aggregate(
                            self.blobs.as_ref(),
                            &tm,
                            &base_id,
                            &accepted,
                            state,
                            secret.as_ref(),
                        )
                        .await?;
                        // signed with the operator key: `models` takes validators' uploads only
                        let id = self
                            .blobs
                            .put_signed(MODELS_NAMESPACE, bytes, self.sender.key())
                            .await?;
                        rec.model_id = Some(id);
                        rec.accepted_set_hash = Some(set_hash);
                        rec.rule_state = Some(st);
                        self.progress.set(tid, r, rec.clone())?;
                        id
                    }
                };
                let proposed = out.tallies.iter().any(|(m, _)| *m == model_id);
                let designated = rd.designated_aggregator == Some(me);
                let grace_over = height > rd.ends[3];
                let msg = if proposed {
                    LearningMsg::AttestAggregate {
                        task: tid,
                        round: r,
                        model_id,
                        accepted_set_hash: set_hash,
                    }
                } else if designated || grace_over {
                    LearningMsg::ProposeAggregate {
                        task: tid,
                        round: r,
                        model_id,
                        accepted_set_hash: set_hash,
                    }
                } else {
                    return Ok(None);
                };
                let stx = self.sender.sign(vec![Msg::Learning(msg)]).await?;
                rec.aggregate_tx = Some(StoredTx::new(&stx)?);
                self.progress.set(tid, r, rec)?;
                self.sender.resubmit(&stx).await?;
                Ok(Some("aggregate"))
            }
            "finalized" if !rec.evaluated => {
                let Some(model_id) = rd.model_id else { return Ok(None) };
                // Only a worker that reports evaluations spends time on them.
                let (loss, accuracy) = if self.evals.is_some() {
                    let model = tm.decode(&self.blobs.get(MODELS_NAMESPACE, &model_id).await?)?;
                    let (tm2, data) = (tm.clone(), self.cfg.eval_data.clone());
                    tokio::task::spawn_blocking(move || loss_of(&tm2, &model, &data))
                        .await
                        .map_err(|e| Error::Inconsistent(e.to_string()))??
                } else {
                    (f32::NAN, f32::NAN)
                };
                let matches_local = rec.model_id == Some(model_id);
                if !matches_local {
                    // Another validator's model was finalized: our rule state is not the chain's.
                    rec.rule_state = None;
                }
                rec.evaluated = true;
                self.progress.set(tid, r, rec)?;
                let ev = RoundEval {
                    task: tid,
                    round: r,
                    model_id,
                    matches_local,
                    revealed: rd.revealed.len(),
                    accepted: rd.outcome.as_ref().map_or(0, |o| o.accepted.len()),
                    accuracy,
                    loss,
                };
                if let Some(tx) = &self.evals {
                    let _ = tx.send(ev);
                }
                Ok(Some("evaluated"))
            }
            _ => Ok(None),
        }
    }

    /// One pass over every task's open and most recent rounds. Returns what it did
    /// (`score_commit`, `score_reveal`, `aggregate`, `evaluated`) per `(task, round)`.
    pub async fn step(&mut self) -> Result<Vec<(TaskId, RoundNo, &'static str)>> {
        let height = self.ledger.height().await?;
        let mut done = Vec::new();
        for t in self.ledger.tasks().await? {
            // Closed rounds not evaluated yet (a busy worker may have missed their last block),
            // then the open one.
            let from = self.eval_from.get(&t.id).copied().unwrap_or(0);
            let mut rounds: Vec<RoundNo> = (from..t.next_round).collect();
            if let Some(r) = t.open_round
                && !rounds.contains(&r)
            {
                rounds.push(r);
            }
            let mut settled = true;
            for r in rounds {
                let Some(rd) = self.ledger.round(t.id, r).await? else { continue };
                let closed = rd.phase == "failed"
                    || (rd.phase == "finalized" && self.progress.get(t.id, r).evaluated);
                if closed && settled {
                    self.eval_from.insert(t.id, r + 1);
                    continue;
                }
                settled = false;
                match self.do_round(&t, &rd, height).await {
                    Ok(Some(what)) => done.push((t.id, r, what)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(task = t.id, round = r, "validator {}: {e}", self.address())
                    }
                }
            }
        }
        Ok(done)
    }

    /// Runs until `shutdown` becomes true, stepping on every event and every `poll` interval.
    pub async fn run_until(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut events: Option<mpsc::Receiver<crate::ChainEvent>>,
    ) -> Result<()> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if let Err(e) = self.step().await {
                tracing::warn!("validator {}: step failed: {e}", self.address());
            }
            crate::client::wait_for_next_step(&mut shutdown, events.as_mut(), self.cfg.poll).await;
        }
    }
}
