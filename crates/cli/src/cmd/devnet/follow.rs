//! Following the task until it is over: every 250 ms (or on Ctrl-C, which ends the run early and
//! leaves it resumable) the loop restarts exited participant processes, reads the task and
//! reports the finished rounds in order, one [`RoundRow`] per round, under a progress bar for the
//! open round and one for the whole run. Each finalized model is fetched from the blob store and
//! evaluated on the test set here, off the loop; a row is printed once its evaluation is in.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_sdk::blobs::Replicated;
use chorus_sdk::{LedgerSource, NodeClient, TaskModel};
use chorus_trainer::Dataset;
use chorus_types::Hash;
use chorus_types::learning::TaskId;
use eyre::eyre;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;

use super::Console;
use super::supervise::Supervised;

/// One row of the per-round table.
#[derive(Clone, Debug, Serialize)]
pub(super) struct RoundRow {
    pub(super) round: u32,
    status: String,
    selected: u32,
    committed: u32,
    revealed: u32,
    accepted: usize,
    pub(super) accuracy: Option<f32>,
    pub(super) loss: Option<f32>,
    rewards: String,
    height: u64,
    pub(super) seconds: f64,
    model_id: Option<Hash>,
}

impl RoundRow {
    fn header() -> String {
        format!(
            "{:>5} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>10} {:>7} {:>6}",
            "round",
            "status",
            "selected",
            "committed",
            "revealed",
            "accepted",
            "accuracy",
            "loss",
            "rewards",
            "height",
            "secs"
        )
    }
    fn line(&self) -> String {
        let acc = self.accuracy.map_or("-".into(), |a| format!("{:.2}%", a * 100.0));
        let loss = self.loss.map_or("-".into(), |l| format!("{l:.4}"));
        format!(
            "{:>5} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>10} {:>7} {:>6.1}",
            self.round,
            self.status,
            self.selected,
            self.committed,
            self.revealed,
            self.accepted,
            acc,
            loss,
            self.rewards,
            self.height,
            self.seconds
        )
    }
}

/// What the ledger paid for round `round` of `task` (participants and validators), read from the
/// `learning.rewards_paid` event in the receipts of the block at `height`, where the round's model
/// version was recorded: the chain's own figure, not a recomputation. 0 when no such event is
/// there (a failed round pays nothing).
async fn paid_for_round(
    ledger: &NodeClient,
    task: TaskId,
    round: u32,
    height: u64,
) -> chorus_sdk::Result<u128> {
    let Some(block) = LedgerSource::block(ledger, height).await? else { return Ok(0) };
    let (task, round) = (task.to_string(), round.to_string());
    for tx in &block.txs {
        let Some(receipt) = LedgerSource::receipt(ledger, &tx.hash()).await? else { continue };
        for e in receipt.events.iter().filter(|e| e.kind == "learning.rewards_paid") {
            if e.attr("task") != Some(task.as_str()) || e.attr("round") != Some(round.as_str()) {
                continue;
            }
            let amount = |k: &str| e.attr(k).and_then(|v| v.parse::<u128>().ok()).unwrap_or(0);
            return Ok(amount("participants").saturating_add(amount("validators")));
        }
    }
    Ok(0)
}

/// What following the task produced.
pub(super) struct Followed {
    /// One row per finished round, in order.
    pub(super) rows: Vec<RoundRow>,
    /// Ctrl-C ended the run before the task did.
    pub(super) interrupted: bool,
}

/// Test-set evaluations of finalized models: `(round, Some((loss, accuracy)))`, `None` when the
/// model could not be fetched or evaluated.
type Eval = (u32, Option<(f32, f32)>);

/// Fetches the model `model_id` of round `round` and evaluates it on `test` in the background,
/// sending the result on `tx`.
fn spawn_eval(
    tx: mpsc::UnboundedSender<Eval>,
    blobs: Arc<Replicated>,
    test: Arc<Dataset>,
    tm: TaskModel,
    round: u32,
    model_id: Hash,
) {
    tokio::spawn(async move {
        let got = async {
            let b =
                chorus_sdk::BlobStore::get(blobs.as_ref(), chorus_sdk::MODELS_NAMESPACE, &model_id)
                    .await
                    .ok()?;
            let m = tm.decode(&b).ok()?;
            tokio::task::spawn_blocking(move || chorus_sdk::validator::loss_of(&tm, &m, &test).ok())
                .await
                .ok()?
        }
        .await;
        let _ = tx.send((round, got));
    });
}

/// Follows `task` through `client` until it is over or Ctrl-C: one bar for the open round, one
/// row per finished round (restarting exited participant processes of `supervised` on the way).
/// Both bars are cleared before it returns.
pub(super) async fn follow(
    ui: &Console,
    rounds: u32,
    client: &Arc<NodeClient>,
    task: TaskId,
    blobs: &Arc<Replicated>,
    test: &Arc<Dataset>,
    supervised: &mut Option<Supervised>,
) -> eyre::Result<Followed> {
    let header = RoundRow::header();
    ui.say(header.clone());
    let bar_style =
        ProgressStyle::with_template("round {prefix:>3} [{bar:30}] {pos:>3}/{len:3} blocks  {msg}")
            .map_err(|e| eyre!("{e}"))?
            .progress_chars("=> ");
    let overall = ui.mp.add(ProgressBar::new(u64::from(rounds)));
    overall.set_style(
        ProgressStyle::with_template(
            "rounds    [{bar:30}] {pos:>3}/{len:3}  {elapsed_precise}  {msg}",
        )
        .map_err(|e| eyre!("{e}"))?
        .progress_chars("##-"),
    );
    let round_bar = ui.mp.insert_before(&overall, ProgressBar::new(1));
    round_bar.set_style(bar_style);
    // Finalized models are evaluated here on the test set (the workers only score).
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Eval>();
    let mut evals: BTreeMap<u32, Option<(f32, f32)>> = BTreeMap::new();
    let mut evaluating: BTreeSet<u32> = BTreeSet::new();
    let mut rows: Vec<RoundRow> = Vec::new();
    let mut reported: u32 = 0;
    let mut round_started = Instant::now();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let c0 = client;
    loop {
        tokio::select! {
            _ = &mut ctrl_c => { interrupted = true; break; }
            ev = ev_rx.recv() => { if let Some((r, e)) = ev { evals.insert(r, e); } }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        while let Ok((r, e)) = ev_rx.try_recv() {
            evals.insert(r, e);
        }
        if let Some(sup) = supervised.as_mut() {
            let n = sup.restart_exited()?;
            if n > 0 {
                ui.say(format!("restarted {n} participant process(es) that exited"));
            }
        }
        let Ok(Some(t)) = c0.task(task).await else { continue };
        let height = c0.height().await.unwrap_or(0);
        // Report finished rounds in order.
        while reported < t.next_round {
            let Ok(Some(rd)) = c0.round(task, reported).await else { break };
            if rd.phase == "finalized"
                && let Some(model_id) = rd.model_id
                && evaluating.insert(reported)
            {
                let tm = TaskModel::from_spec(&t.spec)?;
                spawn_eval(ev_tx.clone(), blobs.clone(), test.clone(), tm, reported, model_id);
            }
            let done = match rd.phase.as_str() {
                "finalized" => evals.contains_key(&reported),
                "failed" => true,
                _ => false,
            };
            if !done {
                break;
            }
            let ev = evals.get(&reported).copied().flatten();
            // Finalized: the height its model version was recorded; failed: its deadline.
            let recorded_at = match rd.model_id {
                Some(_) => LedgerSource::versions(c0.as_ref(), task)
                    .await
                    .ok()
                    .and_then(|vs| vs.into_iter().find(|v| v.round == Some(reported)))
                    .map(|v| v.height),
                None => None,
            };
            let rewards = match recorded_at {
                Some(h) => match paid_for_round(c0, task, reported, h).await {
                    Ok(paid) => paid,
                    // The node did not answer: try this round again on the next tick.
                    Err(_) => break,
                },
                None => 0,
            };
            let row = RoundRow {
                round: reported,
                status: rd.phase.clone(),
                selected: rd.selected,
                committed: rd.commits,
                revealed: rd.reveals,
                accepted: rd.outcome.as_ref().map_or(0, |o| o.accepted.len()),
                accuracy: ev.map(|e| e.1),
                loss: ev.map(|e| e.0),
                rewards: rewards.to_string(),
                height: recorded_at.unwrap_or_else(|| rd.ends[4].min(height)),
                seconds: round_started.elapsed().as_secs_f64(),
                model_id: rd.model_id,
            };
            round_started = Instant::now();
            ui.say(if rd.phase == "failed" {
                format!("{}  ({})", row.line(), rd.failure.clone().unwrap_or_default())
            } else {
                row.line()
            });
            if let Some(a) = row.accuracy {
                overall.set_message(format!("accuracy {:.2}%", a * 100.0));
            }
            rows.push(row);
            reported += 1;
            overall.set_position(u64::from(reported));
        }
        if let Some(r) = t.open_round
            && let Ok(Some(rd)) = c0.round(task, r).await
        {
            round_bar.set_prefix(r.to_string());
            round_bar.set_length(rd.ends[4].saturating_sub(rd.opened_at));
            round_bar.set_position(height.saturating_sub(rd.opened_at));
            round_bar.set_message(format!(
                "{:<12} committed {}/{} revealed {}",
                rd.phase, rd.commits, rd.selected, rd.reveals
            ));
        }
        if t.status != "active" && reported >= t.next_round {
            break;
        }
    }
    round_bar.finish_and_clear();
    overall.finish_and_clear();
    Ok(Followed { rows, interrupted })
}
