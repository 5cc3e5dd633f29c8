//! What a finished (or interrupted) run leaves in its home and prints: the task's final model as
//! `model.safetensors`, the test accuracy per round as `accuracy.png`, and a [`Summary`] of the
//! settings, the per-round rows and the final figures as `summary.json`. The same summary is
//! printed as one JSON object with `--json`, otherwise as a short report that names the output
//! files and the `chorus audit` command that verifies the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use chorus_sdk::views::TaskView;
use chorus_sdk::{LedgerSource, TaskModel};
use chorus_types::Hash;
use chorus_types::learning::TaskId;
use eyre::eyre;
use serde::Serialize;

use super::follow::RoundRow;
use super::network::Validators;
use super::{RunFile, Settings};

/// What `--json` prints and `summary.json` holds.
#[derive(Serialize)]
pub(super) struct Summary<'a> {
    task: TaskId,
    settings: &'a Settings,
    rounds: &'a [RoundRow],
    final_accuracy: Option<f32>,
    final_loss: Option<f32>,
    final_model: Option<Hash>,
    wall_seconds: f64,
    mean_round_seconds: f64,
    byzantine_participants: &'a [usize],
    participant_restarts: usize,
    outputs: BTreeMap<&'static str, String>,
}

/// Writes the final model, the accuracy plot and `summary.json` into `root`; returns the
/// summary and the task as it ended.
pub(super) async fn write_outputs<'a>(
    root: &Path,
    rf: &'a RunFile,
    task: TaskId,
    rows: &'a [RoundRow],
    participant_restarts: usize,
    validators: &Validators,
    started: Instant,
) -> eyre::Result<(Summary<'a>, TaskView)> {
    let s = &rf.settings;
    let (client, blobs) = (&validators.clients[0], validators.blobs.as_ref());
    let final_task = client.task(task).await?.ok_or_else(|| eyre!("task {task} vanished"))?;
    let mut outputs = BTreeMap::new();
    if let Some(model_id) = final_task.current_model {
        let tm = TaskModel::from_spec(&final_task.spec)?;
        let bytes =
            chorus_sdk::BlobStore::get(blobs, chorus_sdk::MODELS_NAMESPACE, &model_id).await?;
        let model = tm.decode(&bytes)?;
        let st = chorus_trainer::params::to_safetensors(&tm.spec, &model.to_f32())?;
        let path = root.join("model.safetensors");
        std::fs::write(&path, st)?;
        outputs.insert("model", path.display().to_string());
    }
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.accuracy.map(|a| (f64::from(r.round + 1), f64::from(a) * 100.0)))
        .collect();
    if !points.is_empty() {
        let path = root.join("accuracy.png");
        let lo = points.iter().map(|p| p.1).fold(100.0f64, f64::min);
        crate::plot::line_chart(
            &path,
            &format!("{} {} {}", s.dataset, s.model, s.rule),
            "ROUND",
            "TEST ACCURACY %",
            ((lo - 5.0).clamp(0.0, 90.0).floor(), 100.0),
            &[crate::plot::Series { label: s.rule.clone(), points, color: [31, 119, 180] }],
        )?;
        outputs.insert("plot", path.display().to_string());
    }
    let last = rows.iter().rev().find(|r| r.accuracy.is_some());
    let wall = started.elapsed().as_secs_f64();
    let summary_path = root.join("summary.json");
    outputs.insert("summary", summary_path.display().to_string());
    let summary = Summary {
        task,
        settings: s,
        rounds: rows,
        final_accuracy: last.and_then(|r| r.accuracy),
        final_loss: last.and_then(|r| r.loss),
        final_model: final_task.current_model,
        wall_seconds: wall,
        mean_round_seconds: if rows.is_empty() {
            0.0
        } else {
            rows.iter().map(|r| r.seconds).sum::<f64>() / rows.len() as f64
        },
        byzantine_participants: &rf.byzantine,
        participant_restarts,
        outputs,
    };
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(&summary_path, &json)?;
    Ok((summary, final_task))
}

/// Prints the summary: one JSON object with `json`, otherwise the final figures, the output
/// files and how to audit the run.
pub(super) fn print_summary(
    summary: &Summary<'_>,
    final_task: &TaskView,
    root: &Path,
    json: bool,
) -> eyre::Result<()> {
    let task = summary.task;
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        println!(
            "task {task} {}: {} rounds in {:.0} s, final accuracy {}, model {}",
            final_task.status,
            summary.rounds.len(),
            summary.wall_seconds,
            summary.final_accuracy.map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
            final_task.current_model.map_or("-".into(), |m| m.to_string()),
        );
        for (k, v) in &summary.outputs {
            println!("  {k:<8} {v}");
        }
        println!("verify it: chorus audit --home {} {task}", root.display());
    }
    Ok(())
}
