//! `chorus devnet`: a whole verifiable training run in one command. It writes a network home
//! (`chorus init` with the participants' accounts funded), starts the validator(s) — in process
//! for one, as `chorus node` child processes for several — uploads the initial model, opens a
//! task, and runs the simulated participants and the validator workers of `chorus-sdk` against
//! the node's real API and blob store until every round is over. One table row per round; the
//! final model (safetensors), a JSON summary and an accuracy plot land in the home.
//!
//! Everything here is wiring: training, scoring and aggregation live in `chorus-sdk`,
//! `chorus-trainer` and `chorus-fl`, the protocol in `chorus-chain`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_crypto::AccountKey;
use chorus_sdk::views::{RoundView, TaskView};
use chorus_sdk::{
    Attack, LedgerSource, NodeClient, Participant, ParticipantConfig, TaskModel, TxSender,
};
use chorus_trainer::{Arch, Dataset, Scheme, TrainConfig};
use chorus_types::learning::{
    DataMode, Encryption, LearningMsg, ModelSpec, PhaseLengths, RuleSpec, TaskId, TaskSpec,
};
use chorus_types::{Hash, Msg};
use clap::Args;
use eyre::{WrapErr, bail, eyre};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::home::{Home, InitOptions, derive_secret, init};

/// Run a local network and a whole federated training task on it.
#[derive(Args, Debug, Clone)]
pub(crate) struct DevnetArgs {
    /// Where the devnet lives (network home, progress files, outputs).
    #[arg(long, default_value = ".chorus/devnet")]
    home: PathBuf,
    /// Continue the run in `--home` (same settings) instead of starting over.
    #[arg(long)]
    resume: bool,
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
    dataset: String,
    /// Directory holding the data set's IDX files (default: the data set's own).
    #[arg(long)]
    data_dir: Option<PathBuf>,
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
    json: bool,
}

/// The settings a run was started with (`HOME/devnet.json`), reused by `--resume`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Settings {
    participants: usize,
    per_round: u32,
    rounds: u32,
    model: String,
    dataset: String,
    data_dir: Option<PathBuf>,
    partition: String,
    rule: String,
    score: String,
    byzantine: f64,
    attack: String,
    validators: usize,
    seed: u64,
    epochs: usize,
    lr: f32,
    batch: usize,
    block_time_ms: u64,
    port: u16,
    participant_processes: bool,
    phases: PhaseLengths,
}

#[derive(Debug, Serialize, Deserialize)]
struct RunFile {
    version: u32,
    settings: Settings,
    task: Option<TaskId>,
    byzantine: Vec<usize>,
}

/// Data held out of the participants' pool for the validators' scoring.
const SCORE_HOLDOUT: usize = 5_000;

pub(crate) fn parse_partition(s: &str) -> eyre::Result<Scheme> {
    let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
    let num = |d: f64| -> eyre::Result<f64> {
        arg.map_or(Ok(d), |a| a.parse().map_err(|_| eyre!("bad partition parameter {a:?}")))
    };
    Ok(match name {
        "iid" => Scheme::Iid,
        "dirichlet" => Scheme::Dirichlet { alpha: num(0.5)? },
        "shards" => Scheme::Shards { shards_per_client: num(2.0)? as usize },
        "quantity" => Scheme::QuantitySkew { beta: num(0.5)?, min_size: 10 },
        _ => bail!("unknown partition {s:?} (iid, dirichlet:ALPHA, shards:K, quantity:BETA)"),
    })
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
    fn from_args(a: &DevnetArgs, train_len: usize) -> eyre::Result<Settings> {
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
        let block_s = a.block_time_ms.max(1) as f64 / 1000.0;
        // Work per round on two cores, with margin for scoring and the machine being busy.
        let samples = train_len as f64 * f64::from(per_round) / a.participants as f64;
        let train_s = samples * a.epochs as f64 / samples_per_sec(arch) / 2.0;
        let score_s = f64::from(per_round) * SCORE_HOLDOUT as f64 / (4.0 * samples_per_sec(arch))
            * a.validators as f64;
        // Windows close as soon as everyone has acted, so generous deadlines (8× the expected
        // work) cost nothing in a healthy run and leave room for a busy machine and restarts.
        let blocks = |secs: f64| ((secs / block_s).ceil() as u64).max(5);
        let phases = PhaseLengths {
            commit: a.commit_blocks.unwrap_or(blocks(10.0 + 8.0 * train_s)).max(5),
            reveal: blocks(10.0),
            score_commit: blocks(10.0 + 8.0 * score_s),
            score_reveal: blocks(10.0),
            aggregate: blocks(20.0),
        };
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

    fn network_seed(&self) -> String {
        format!("devnet/{}", self.seed)
    }
}

fn participant_key(seed: u64, i: usize) -> eyre::Result<AccountKey> {
    let s = chorus_types::keccak256(format!("chorus-devnet/{seed}/participant/{i}").as_bytes());
    AccountKey::from_bytes(&s).map_err(|e| eyre!("participant key: {e}"))
}

/// One row of the per-round table.
#[derive(Clone, Debug, Serialize)]
struct RoundRow {
    round: u32,
    status: String,
    selected: u32,
    committed: u32,
    revealed: u32,
    accepted: usize,
    accuracy: Option<f32>,
    loss: Option<f32>,
    rewards: String,
    height: u64,
    seconds: f64,
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

/// The running validator(s): in process, or child processes.
enum Network {
    InProcess(Box<chorus_node::service::RunningNode>),
    Processes(Vec<tokio::process::Child>),
}

impl Network {
    async fn stop(self) {
        match self {
            Network::InProcess(n) => n.stop().await,
            Network::Processes(children) => {
                for mut c in children {
                    if let Some(pid) = c.id() {
                        // SIGINT lets `chorus node` close its database cleanly.
                        let _ = std::process::Command::new("kill")
                            .args(["-INT", &pid.to_string()])
                            .status();
                    }
                    if tokio::time::timeout(Duration::from_secs(10), c.wait()).await.is_err() {
                        let _ = c.kill().await;
                    }
                }
            }
        }
    }
}

async fn start_network(
    homes: &[Home],
    settings: &Settings,
) -> eyre::Result<(Network, Vec<String>)> {
    if homes.len() == 1 {
        let home = &homes[0];
        let config = home.load_config()?;
        let genesis = home.load_genesis()?;
        let key = home.load_consensus_key()?;
        let node = chorus_node::service::start_node(
            &config,
            &genesis,
            &home.data(),
            key.to_bytes(),
            key.public_key(),
        )
        .await
        .wrap_err("starting the validator")?;
        let url = node.services.api_url();
        return Ok((Network::InProcess(Box::new(node)), vec![url]));
    }
    let exe = std::env::current_exe().wrap_err("locating the chorus binary")?;
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for (i, home) in homes.iter().enumerate() {
        let log = std::fs::File::create(home.0.join("node.log"))?;
        let mut cmd = tokio::process::Command::new(&exe);
        // Each validator process runs its own worker (`chorus node --worker`).
        cmd.arg("node")
            .arg("--home")
            .arg(&home.0)
            .arg("--worker")
            .args(["--worker-dataset", &settings.dataset])
            .args(["--worker-holdout", &SCORE_HOLDOUT.to_string()])
            .env("CHORUS_PASSWORD", "");
        if let Some(d) = &settings.data_dir {
            cmd.arg("--worker-data-dir").arg(d);
        }
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .wrap_err("spawning a validator process")?;
        children.push(child);
        urls.push(format!("http://127.0.0.1:{}", settings.port + 10 * i as u16));
    }
    Ok((Network::Processes(children), urls))
}

async fn wait_ready(client: &NodeClient, deadline: Duration) -> eyre::Result<()> {
    let end = Instant::now() + deadline;
    loop {
        match client.status().await {
            Ok(s) if s.height >= 1 => return Ok(()),
            _ if Instant::now() > end => bail!("the node at {client:?} did not produce a block"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn task_spec(s: &Settings, initial_model: Hash) -> eyre::Result<TaskSpec> {
    let aggregation = chorus_sdk::task_model::rule_spec(&s.rule).map_err(|e| eyre!("{e}"))?;
    let score_rule = RuleSpec { id: s.score.clone(), params: vec![] };
    Ok(TaskSpec {
        model: ModelSpec {
            spec_id: s.model.clone(),
            description: format!("{} on {} (chorus devnet, seed {})", s.model, s.dataset, s.seed),
            initial_model,
        },
        data: DataMode::Private,
        rounds: s.rounds,
        participants_per_round: s.per_round,
        phases: s.phases.clone(),
        aggregation,
        score_rule,
        min_quorum: (s.per_round / 2).max(1),
        reward_per_round: 1_000_000,
        min_participant_stake: 1_000,
        validator_share_bps: 1_000,
        score_threshold: 1,
        dp: None,
        encryption: Encryption::None,
    })
}

async fn create_task(
    client: &Arc<NodeClient>,
    blobs: &chorus_sdk::blobs::Replicated,
    owner: AccountKey,
    s: &Settings,
) -> eyre::Result<TaskId> {
    let arch: Arch = s.model.parse().map_err(|e| eyre!("{e}"))?;
    let (bytes, id) = TaskModel::initial_model_blob(arch, s.seed)?;
    let put = chorus_sdk::BlobStore::put(blobs, chorus_sdk::MODELS_NAMESPACE, bytes).await?;
    if put != id {
        bail!("the store returned id {put} for the initial model {id}");
    }
    let spec = task_spec(s, id)?;
    let sender = TxSender::new(client.clone(), owner, 0);
    let h =
        sender.send(vec![Msg::Learning(LearningMsg::CreateTask { spec: Box::new(spec) })]).await?;
    let receipt = client.wait_receipt(&h, Duration::from_secs(60)).await?;
    receipt
        .events
        .iter()
        .find_map(|e| e.attr("task").and_then(|t| t.parse().ok()))
        .ok_or_else(|| eyre!("CreateTask receipt names no task"))
}

fn round_rewards(t: &TaskView, rd: &RoundView) -> u128 {
    let Some(out) = &rd.outcome else { return 0 };
    if rd.phase != "finalized" {
        return 0;
    }
    let accepted: Vec<chorus_chain::components::learning::math::AcceptedUpdate> = out
        .accepted
        .iter()
        .map(|a| chorus_chain::components::learning::math::AcceptedUpdate {
            participant: a.participant,
            update_id: a.update_id,
            num_examples: a.num_examples,
            consensus: a.consensus,
            weight: a.weight.parse().unwrap_or(0),
        })
        .collect();
    let split = chorus_chain::components::learning::math::split_rewards(
        t.spec.reward_per_round,
        t.spec.validator_share_bps,
        &accepted,
        &out.agreement,
    );
    split.participants.iter().chain(&split.validators).map(|(_, a)| *a).sum()
}

/// What `--json` prints and `summary.json` holds.
#[derive(Serialize)]
struct Summary<'a> {
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

pub(crate) fn run(args: DevnetArgs) -> eyre::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run_async(args))
}

/// Reads the run to resume, or validates the flags and clears a previous devnet home; loads
/// the data set the run uses (once: it also sizes the phase windows).
fn prepare_home(args: &DevnetArgs) -> eyre::Result<(RunFile, bool, chorus_trainer::Splits)> {
    let root = &args.home;
    let run_path = root.join("devnet.json");
    let load = |name: &str, dir: Option<&Path>| {
        chorus_trainer::load_dataset(name, dir).wrap_err("loading the data set")
    };
    if args.resume {
        let text = std::fs::read_to_string(&run_path)
            .wrap_err_with(|| format!("--resume: no devnet at {}", root.display()))?;
        let rf: RunFile = serde_json::from_str(&text)?;
        let splits = load(&rf.settings.dataset, rf.settings.data_dir.as_deref())?;
        return Ok((rf, false, splits));
    }
    let splits = load(&args.dataset, args.data_dir.as_deref())?;
    // Validate every flag before anything on disk is touched.
    let settings = Settings::from_args(args, splits.train.len().saturating_sub(SCORE_HOLDOUT))?;
    if root.exists() && std::fs::read_dir(root)?.next().is_some() {
        if !run_path.exists() {
            bail!("{} exists and is not a devnet home; pick another --home", root.display());
        }
        std::fs::remove_dir_all(root)
            .wrap_err_with(|| format!("removing the previous devnet at {}", root.display()))?;
    }
    let f = ((settings.participants as f64) * settings.byzantine).round() as usize;
    let seed =
        chorus_types::keccak256(format!("chorus-devnet/{}/byzantine", settings.seed).as_bytes());
    let mut byzantine = chorus_fl::attack::choose_byzantine(settings.participants, f, seed);
    byzantine.sort_unstable();
    Ok((RunFile { version: 1, settings, task: None, byzantine }, true, splits))
}

fn write_run_file(root: &Path, rf: &RunFile) -> eyre::Result<()> {
    let tmp = root.join("devnet.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(rf)?)?;
    std::fs::rename(&tmp, root.join("devnet.json"))?;
    Ok(())
}

struct DataSplit {
    parts: Vec<Dataset>,
    score: Dataset,
    test: Dataset,
}

fn load_data(s: &Settings, splits: chorus_trainer::Splits) -> eyre::Result<DataSplit> {
    use crate::cmd::participant::{holdout_split, local_parts};
    let parts = local_parts(&splits, SCORE_HOLDOUT, &s.partition, s.participants, s.seed)?;
    let score = holdout_split(&splits.train, SCORE_HOLDOUT)?;
    Ok(DataSplit { parts, score, test: splits.test })
}

fn train_seed(s: &Settings, i: usize) -> u64 {
    s.seed.wrapping_mul(1_000_003).wrapping_add(i as u64)
}

/// The command line of participant `i` as a separate `chorus participant` process.
fn participant_command(
    exe: &Path,
    root: &Path,
    s: &Settings,
    i: usize,
    rpc: &str,
    attack: &str,
) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(exe);
    c.arg("participant")
        .args(["--rpc", rpc])
        .arg("--key")
        .arg(root.join("keys").join(format!("participant-{i}.json")))
        .args(["--dataset", &s.dataset])
        .args(["--holdout", &SCORE_HOLDOUT.to_string()])
        .args(["--partition", &s.partition])
        .args(["--clients", &s.participants.to_string()])
        .args(["--client", &i.to_string()])
        .args(["--seed", &s.seed.to_string()])
        .args(["--epochs", &s.epochs.to_string()])
        .args(["--lr", &s.lr.to_string()])
        .args(["--batch", &s.batch.to_string()])
        .args(["--train-seed", &train_seed(s, i).to_string()])
        .args(["--attack", attack])
        .arg("--state")
        .arg(root.join("progress").join(format!("participant-{i}.json")))
        .env("CHORUS_PASSWORD", "")
        .kill_on_drop(true);
    if let Some(d) = &s.data_dir {
        c.arg("--data-dir").arg(d);
    }
    c
}

/// Participants running as child processes, restarted when they exit (the test of restart
/// safety kills them).
struct Supervised {
    commands: Vec<Box<dyn Fn() -> tokio::process::Command + Send>>,
    children: Vec<Option<tokio::process::Child>>,
    restarts: usize,
    logs: PathBuf,
}

impl Supervised {
    fn spawn(&mut self, i: usize) -> eyre::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("participant-{i}.log")))?;
        let child = (self.commands[i])()
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .wrap_err("spawning a participant process")?;
        std::fs::write(
            self.logs.join(format!("participant-{i}.pid")),
            child.id().map_or(String::new(), |p| p.to_string()),
        )?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// Restarts every participant that exited; returns how many were restarted.
    fn check(&mut self) -> eyre::Result<usize> {
        let mut n = 0;
        for i in 0..self.children.len() {
            let exited = match self.children[i].as_mut() {
                Some(c) => c.try_wait()?.is_some(),
                None => true,
            };
            if exited {
                self.spawn(i)?;
                n += 1;
            }
        }
        self.restarts += n;
        Ok(n)
    }

    async fn stop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            if let Some(pid) = c.id() {
                let _ =
                    std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
            }
            if tokio::time::timeout(Duration::from_secs(10), c.wait()).await.is_err() {
                let _ = c.kill().await;
            }
        }
    }
}

async fn run_async(args: DevnetArgs) -> eyre::Result<()> {
    let started = Instant::now();
    let quiet = args.json;
    let mp = MultiProgress::with_draw_target(if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    // The table goes to stdout (bars, on a terminal, to stderr above it).
    let say = |m: String| {
        if !quiet {
            mp.suspend(|| println!("{m}"));
        }
    };

    // 1. Data (also sizes the phases).
    let spinner = mp.add(ProgressBar::new_spinner());
    spinner.set_message(format!("loading {}", args.dataset));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let (mut rf, fresh, splits) = prepare_home(&args)?;
    let s = rf.settings.clone();
    let data = load_data(&s, splits)?;
    spinner.finish_and_clear();
    let sizes: Vec<usize> = data.parts.iter().map(Dataset::len).collect();
    say(format!(
        "{} participants on {} ({}, seed {}): {}–{} samples each; validators score on {} held-out samples; test set {}",
        s.participants,
        s.dataset,
        s.partition,
        s.seed,
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        data.score.len(),
        data.test.len()
    ));
    if !rf.byzantine.is_empty() {
        say(format!("Byzantine participants ({}): {:?}", s.attack, rf.byzantine));
    }

    // 2. Network home.
    let homes: Vec<Home> = if fresh {
        std::fs::create_dir_all(&args.home)?;
        let mut extra = Vec::new();
        for i in 0..s.participants {
            extra.push((participant_key(s.seed, i)?.address(), 1_000_000_000_000u128));
        }
        let out = init(
            &args.home,
            &InitOptions {
                validators: s.validators,
                seed: Some(s.network_seed()),
                api_port: s.port,
                block_time_ms: s.block_time_ms,
                extra_accounts: extra,
                ..InitOptions::default()
            },
        )?;
        write_run_file(&args.home, &rf)?;
        out.homes
    } else if s.validators == 1 {
        vec![Home(args.home.clone())]
    } else {
        (0..s.validators).map(|i| Home(args.home.join(format!("node{i}")))).collect()
    };

    // 3. Validators.
    let (network, urls) = start_network(&homes, &s).await?;
    let clients: Vec<Arc<NodeClient>> = urls.iter().map(|u| Arc::new(NodeClient::new(u))).collect();
    for c in &clients {
        wait_ready(c, Duration::from_secs(60)).await?;
    }
    let store_endpoints: Vec<String> = clients.iter().map(|c| c.store_endpoint()).collect();
    let blobs = Arc::new(chorus_sdk::blobs::Replicated::new(store_endpoints.clone())?);
    say(format!(
        "{} validator(s) up: {} (block time {} ms)",
        s.validators,
        urls.join(", "),
        s.block_time_ms
    ));

    // 5. Participants and validator workers.
    let net_seed = Some(s.network_seed());
    let (stop_tx, stop_rx) = watch::channel(false);
    let attack: Attack = s.attack.parse().map_err(|e| eyre!("--attack: {e}"))?;
    // Attackers may wait up to half the commit window for the honest updates they exploit.
    let collusion = Arc::new(chorus_sdk::participant::Collusion::new(Duration::from_millis(
        s.phases.commit * s.block_time_ms / 2,
    )));
    let progress_dir = args.home.join("progress");
    std::fs::create_dir_all(&progress_dir)?;
    let mut handles = Vec::new();
    let mut supervised = None;
    if s.participant_processes {
        let exe = std::env::current_exe().wrap_err("locating the chorus binary")?;
        let mut commands: Vec<Box<dyn Fn() -> tokio::process::Command + Send>> = Vec::new();
        for i in 0..s.participants {
            let key = participant_key(s.seed, i)?;
            let path = args.home.join("keys").join(format!("participant-{i}.json"));
            if !path.exists() {
                // Devnet accounts only: a light KDF keeps process starts fast.
                let kdf = chorus_crypto::KeystoreKdf::Scrypt { log_n: 12, r: 8, p: 1 };
                let json = chorus_crypto::encrypt_keystore_with(&key, "", &[i as u8; 32], kdf)
                    .map_err(|e| eyre!("keystore: {e}"))?;
                std::fs::write(&path, serde_json::to_vec_pretty(&json)?)?;
            }
            let rpc = urls[i % urls.len()].clone();
            let atk = if rf.byzantine.contains(&i) { s.attack.clone() } else { "none".into() };
            let (exe, root, st) = (exe.clone(), args.home.clone(), s.clone());
            commands.push(Box::new(move || participant_command(&exe, &root, &st, i, &rpc, &atk)));
        }
        let n = commands.len();
        let mut sup = Supervised {
            commands,
            children: (0..n).map(|_| None).collect(),
            restarts: 0,
            logs: progress_dir.clone(),
        };
        for i in 0..n {
            sup.spawn(i)?;
        }
        supervised = Some(sup);
    } else {
        let participant_poll =
            Duration::from_millis(300 * (s.participants as u64).div_ceil(20).clamp(1, 7));
        for (i, part) in data.parts.into_iter().enumerate() {
            let node = clients[i % clients.len()].clone();
            let cfg = ParticipantConfig {
                train: TrainConfig {
                    epochs: s.epochs,
                    batch_size: s.batch,
                    lr: s.lr,
                    seed: train_seed(&s, i),
                    ..TrainConfig::default()
                },
                attack: if rf.byzantine.contains(&i) { attack.clone() } else { Attack::None },
                collusion: Some(collusion.clone()),
                state_path: Some(progress_dir.join(format!("participant-{i}.json"))),
                poll: participant_poll,
                ..ParticipantConfig::default()
            };
            let p = Participant::new(
                node.clone(),
                blobs.clone(),
                participant_key(s.seed, i)?,
                Arc::new(part),
                cfg,
            )?;
            // Many in-process participants poll instead of each following every block, so the
            // node's API is not asked for hundreds of round views per block.
            let events = (s.participants <= 20).then(|| node.subscribe());
            handles.push(tokio::spawn(p.run_until(stop_rx.clone(), events)));
        }
    }
    let score = Arc::new(data.score);
    let test = Arc::new(data.test);
    // One validator: its worker runs here (the same `spawn_worker` as `chorus node --worker`,
    // which the validator processes of `--validators N` run themselves).
    if s.validators == 1 {
        let key = AccountKey::from_bytes(&derive_secret(&net_seed, "operator/0")?)
            .map_err(|e| eyre!("operator key: {e}"))?;
        handles.push(crate::cmd::node::spawn_worker(
            clients[0].clone(),
            blobs.clone(),
            key,
            (score.clone(), test.clone()),
            progress_dir.join("validator-0.json"),
            stop_rx.clone(),
        )?);
    }

    // 5b. Open the task once every participant is registered, so round 0 can select them all.
    let reg_start = Instant::now();
    loop {
        let n = LedgerSource::registrations(clients[0].as_ref()).await.map_or(0, |r| r.len());
        if n >= s.participants || reg_start.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // 5c. Task.
    let owner = AccountKey::from_bytes(&derive_secret(&net_seed, "faucet")?)
        .map_err(|e| eyre!("faucet key: {e}"))?;
    let task = match rf.task {
        Some(t) => t,
        None => {
            let t = create_task(&clients[0], &blobs, owner, &s).await?;
            rf.task = Some(t);
            write_run_file(&args.home, &rf)?;
            t
        }
    };
    let p = &s.phases;
    say(format!(
        "task {task}: {} × {} rounds, {} per round, rule {}, score {}; phases commit {} / reveal {} / score {}+{} / aggregate ≤{} blocks",
        s.model,
        s.rounds,
        s.per_round,
        s.rule,
        s.score,
        p.commit,
        p.reveal,
        p.score_commit,
        p.score_reveal,
        p.aggregate
    ));

    // 6. Follow the task: one bar for the open round, one row per finished round.
    let header = RoundRow::header();
    say(header.clone());
    let bar_style =
        ProgressStyle::with_template("round {prefix:>3} [{bar:30}] {pos:>3}/{len:3} blocks  {msg}")
            .map_err(|e| eyre!("{e}"))?
            .progress_chars("=> ");
    let overall = mp.add(ProgressBar::new(u64::from(s.rounds)));
    overall.set_style(
        ProgressStyle::with_template(
            "rounds    [{bar:30}] {pos:>3}/{len:3}  {elapsed_precise}  {msg}",
        )
        .map_err(|e| eyre!("{e}"))?
        .progress_chars("##-"),
    );
    let round_bar = mp.insert_before(&overall, ProgressBar::new(1));
    round_bar.set_style(bar_style);
    // Finalized models are evaluated here on the test set (the workers only score).
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<(u32, Option<(f32, f32)>)>();
    let mut evals: BTreeMap<u32, Option<(f32, f32)>> = BTreeMap::new();
    let mut evaluating: BTreeSet<u32> = BTreeSet::new();
    let mut rows: Vec<RoundRow> = Vec::new();
    let mut reported: u32 = 0;
    let mut round_started = Instant::now();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let c0 = clients[0].clone();
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
            let n = sup.check()?;
            if n > 0 {
                say(format!("restarted {n} participant process(es) that exited"));
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
                let (tx, blobs, test, r) = (ev_tx.clone(), blobs.clone(), test.clone(), reported);
                let tm = TaskModel::from_spec(&t.spec)?;
                tokio::spawn(async move {
                    let got = async {
                        let b = chorus_sdk::BlobStore::get(
                            blobs.as_ref(),
                            chorus_sdk::MODELS_NAMESPACE,
                            &model_id,
                        )
                        .await
                        .ok()?;
                        let m = tm.decode(&b).ok()?;
                        tokio::task::spawn_blocking(move || {
                            chorus_sdk::validator::loss_of(&tm, &m, &test).ok()
                        })
                        .await
                        .ok()?
                    }
                    .await;
                    let _ = tx.send((r, got));
                });
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
            let row = RoundRow {
                round: reported,
                status: rd.phase.clone(),
                selected: rd.selected,
                committed: rd.commits,
                revealed: rd.reveals,
                accepted: rd.outcome.as_ref().map_or(0, |o| o.accepted.len()),
                accuracy: ev.map(|e| e.1),
                loss: ev.map(|e| e.0),
                rewards: round_rewards(&t, &rd).to_string(),
                // Finalized: the height its model version was recorded; failed: its deadline.
                height: match rd.model_id {
                    Some(_) => LedgerSource::versions(c0.as_ref(), task)
                        .await
                        .ok()
                        .and_then(|vs| vs.into_iter().find(|v| v.round == Some(reported)))
                        .map_or(height, |v| v.height),
                    None => rd.ends[4].min(height),
                },
                seconds: round_started.elapsed().as_secs_f64(),
                model_id: rd.model_id,
            };
            round_started = Instant::now();
            say(if rd.phase == "failed" {
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
    let _ = stop_tx.send(true);
    let participant_restarts = match supervised.as_mut() {
        Some(sup) => {
            sup.stop().await;
            sup.restarts
        }
        None => 0,
    };
    for h in handles {
        let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
    }

    // 7. Outputs.
    let final_task = c0.task(task).await?.ok_or_else(|| eyre!("task {task} vanished"))?;
    let mut outputs = BTreeMap::new();
    if let Some(model_id) = final_task.current_model {
        let tm = TaskModel::from_spec(&final_task.spec)?;
        let bytes =
            chorus_sdk::BlobStore::get(blobs.as_ref(), chorus_sdk::MODELS_NAMESPACE, &model_id)
                .await?;
        let model = tm.decode(&bytes)?;
        let st = chorus_trainer::params::to_safetensors(&tm.spec, &model.to_f32())?;
        let path = args.home.join("model.safetensors");
        std::fs::write(&path, st)?;
        outputs.insert("model", path.display().to_string());
    }
    let points: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| r.accuracy.map(|a| (f64::from(r.round + 1), f64::from(a) * 100.0)))
        .collect();
    if !points.is_empty() {
        let path = args.home.join("accuracy.png");
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
    let summary_path = args.home.join("summary.json");
    outputs.insert("summary", summary_path.display().to_string());
    let summary = Summary {
        task,
        settings: &s,
        rounds: &rows,
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
    network.stop().await;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "task {task} {}: {} rounds in {:.0} s, final accuracy {}, model {}",
            final_task.status,
            rows.len(),
            wall,
            summary.final_accuracy.map_or("-".into(), |a| format!("{:.2}%", a * 100.0)),
            final_task.current_model.map_or("-".into(), |m| m.to_string()),
        );
        for (k, v) in &summary.outputs {
            println!("  {k:<8} {v}");
        }
        println!("verify it: chorus audit --home {} {task}", args.home.display());
    }
    if interrupted {
        bail!("interrupted; `chorus devnet --resume --home {}` continues", args.home.display());
    }
    Ok(())
}
