//! The flags of `chorus devnet` ([`DevnetArgs`]) and the settings a run is started with
//! ([`Settings`], saved in `HOME/devnet.json` and reused by `--resume`). Turning flags into
//! settings validates every flag before anything on disk is touched and sizes the phase windows
//! (in blocks) from the model, the data per round and the block time, so that a healthy run
//! never waits on a deadline while a busy machine still has room.

use std::path::PathBuf;

use chorus_sdk::Attack;
use chorus_trainer::Arch;
use chorus_types::learning::PhaseLengths;
use clap::Args;
use eyre::{bail, eyre};
use serde::{Deserialize, Serialize};

use super::SCORE_HOLDOUT;
use crate::data::parse_partition;

/// Run a local network and a whole federated training task on it.
#[derive(Args, Debug, Clone)]
pub(crate) struct DevnetArgs {
    /// Where the devnet lives (network home, progress files, outputs).
    #[arg(long, default_value = ".chorus/devnet")]
    pub(super) home: PathBuf,
    /// Continue the run in `--home` (same settings) instead of starting over.
    #[arg(long)]
    pub(super) resume: bool,
    /// Simulated participants.
    #[arg(long, default_value_t = 10)]
    participants: usize,
    /// Participants selected per round (default: all).
    #[arg(long)]
    per_round: Option<u32>,
    /// Training rounds.
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// Model: logreg, mlp, cnn, cnn-small.
    #[arg(long, default_value = "mlp")]
    model: String,
    /// Data set: mnist (bundled) or fashion-mnist (`scripts/setup-fashion-mnist`).
    #[arg(long, default_value = "mnist")]
    pub(super) dataset: String,
    /// Directory holding the data set's IDX files (default: the data set's own).
    #[arg(long)]
    pub(super) data_dir: Option<PathBuf>,
    /// Partition: iid, dirichlet:ALPHA, shards:K, quantity:BETA.
    #[arg(long, default_value = "dirichlet:0.5")]
    partition: String,
    /// Aggregation rule (`chorus-fl` syntax, e.g. fedavg, median, trimmed-mean:trim=0.2,
    /// krum:f=2, centered-clipping).
    #[arg(long, default_value = "fedavg")]
    rule: String,
    /// Validators' score rule: `loo` (leave-one-out: an update is rejected when removing it
    /// from the average lowers the held-out loss by more than 0.01), `loss_delta` (the update's
    /// own loss reduction; strict, for IID data) or `validity` (every well-formed update is
    /// accepted, so the aggregation rule alone must withstand attacks).
    #[arg(long, default_value = "loo")]
    score: String,
    /// Fraction of participants that are Byzantine.
    #[arg(long, default_value_t = 0.0)]
    byzantine: f64,
    /// Their attack: sign-flip, scaled[:γ], gaussian[:σ], label-flip, free-rider, alie[:z],
    /// ipm[:ε], min-max.
    #[arg(long, default_value = "sign-flip")]
    attack: String,
    /// Validators (each a `chorus node` process when more than one).
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// Seed of keys, partition, model initialisation and local shuffles.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Local epochs per round.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Local learning rate (SGD).
    #[arg(long, default_value_t = 0.1)]
    lr: f32,
    /// Local batch size.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Target block time.
    #[arg(long, default_value_t = 200)]
    block_time_ms: u64,
    /// Commit window in blocks (default: sized from the model and the data per round).
    #[arg(long)]
    commit_blocks: Option<u64>,
    /// First API port (validator i: port + 10·i, p2p one above).
    #[arg(long, default_value_t = 26_757)]
    port: u16,
    /// Run each participant as a `chorus participant` process (restarted if it exits) instead
    /// of in this process.
    #[arg(long)]
    participant_processes: bool,
    /// Print one JSON object with the figures on stdout instead of the table.
    #[arg(long)]
    pub(super) json: bool,
}

/// The settings a run was started with (`HOME/devnet.json`), reused by `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(super) struct Settings {
    pub(super) participants: usize,
    pub(super) per_round: u32,
    pub(super) rounds: u32,
    pub(super) model: String,
    pub(super) dataset: String,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) partition: String,
    pub(super) rule: String,
    pub(super) score: String,
    pub(super) byzantine: f64,
    pub(super) attack: String,
    pub(super) validators: usize,
    pub(super) seed: u64,
    pub(super) epochs: usize,
    pub(super) lr: f32,
    pub(super) batch: usize,
    pub(super) block_time_ms: u64,
    pub(super) port: u16,
    pub(super) participant_processes: bool,
    pub(super) phases: PhaseLengths,
}

/// Rough single-core training speed (samples/s) used to size the commit window.
fn samples_per_sec(arch: Arch) -> f64 {
    match arch {
        Arch::LogReg => 150_000.0,
        Arch::Mlp => 40_000.0,
        Arch::CnnSmall => 6_000.0,
        Arch::Cnn => 1_500.0,
    }
}

impl Settings {
    /// Validates the flags (before anything on disk is touched) and sizes the phase windows
    /// for `train_len` pooled training samples.
    pub(super) fn from_args(a: &DevnetArgs, train_len: usize) -> eyre::Result<Settings> {
        if a.participants == 0 {
            bail!("--participants must be at least 1");
        }
        if a.rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        if a.participant_processes
            && a.byzantine > 0.0
            && a.attack.parse::<Attack>().is_ok_and(|x| x.needs_collusion())
        {
            bail!("colluding attacks (alie, ipm, min-max) need in-process participants");
        }
        if !(0.0..1.0).contains(&a.byzantine) {
            bail!("--byzantine must be in [0, 1)");
        }
        if !matches!(a.score.as_str(), "loo" | "loss_delta" | "validity") {
            bail!("--score must be `loo`, `loss_delta` or `validity`");
        }
        let arch: Arch = a.model.parse().map_err(|e| eyre!("--model: {e}"))?;
        let per_round =
            a.per_round.unwrap_or(a.participants as u32).clamp(1, a.participants as u32);
        parse_partition(&a.partition)?;
        chorus_sdk::task_model::rule_spec(&a.rule).map_err(|e| eyre!("--rule: {e}"))?;
        let phases = phase_lengths(a, arch, per_round, train_len);
        Ok(Settings {
            participants: a.participants,
            per_round,
            rounds: a.rounds,
            model: arch.as_str().to_string(),
            dataset: a.dataset.clone(),
            data_dir: a.data_dir.clone(),
            partition: a.partition.clone(),
            rule: a.rule.clone(),
            score: a.score.clone(),
            byzantine: a.byzantine,
            attack: a.attack.clone(),
            validators: a.validators.max(1),
            seed: a.seed,
            epochs: a.epochs,
            lr: a.lr,
            batch: a.batch,
            block_time_ms: a.block_time_ms,
            port: a.port,
            participant_processes: a.participant_processes,
            phases,
        })
    }

    /// The `chorus init` seed of the network's keys.
    pub(super) fn network_seed(&self) -> String {
        format!("devnet/{}", self.seed)
    }

    /// The shuffle seed of participant `i`'s local training.
    pub(super) fn train_seed(&self, i: usize) -> u64 {
        self.seed.wrapping_mul(1_000_003).wrapping_add(i as u64)
    }
}

/// The phase windows in blocks: the commit window from the expected local training time (or
/// `--commit-blocks`), the score window from the validators' scoring time, the rest fixed.
fn phase_lengths(a: &DevnetArgs, arch: Arch, per_round: u32, train_len: usize) -> PhaseLengths {
    let block_s = a.block_time_ms.max(1) as f64 / 1000.0;
    // Work per round on two cores, with margin for scoring and the machine being busy.
    let samples = train_len as f64 * f64::from(per_round) / a.participants as f64;
    let train_s = samples * a.epochs as f64 / samples_per_sec(arch) / 2.0;
    let score_s = f64::from(per_round) * SCORE_HOLDOUT as f64 / (4.0 * samples_per_sec(arch))
        * a.validators as f64;
    // Windows close as soon as everyone has acted, so generous deadlines (8× the expected
    // work) cost nothing in a healthy run and leave room for a busy machine and restarts.
    let blocks = |secs: f64| ((secs / block_s).ceil() as u64).max(5);
    PhaseLengths {
        commit: a.commit_blocks.unwrap_or(blocks(10.0 + 8.0 * train_s)).max(5),
        reveal: blocks(10.0),
        score_commit: blocks(10.0 + 8.0 * score_s),
        score_reveal: blocks(10.0),
        aggregate: blocks(20.0),
    }
}
