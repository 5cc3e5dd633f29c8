//! `chorus devnet`: a whole verifiable training run in one command. It writes a network home
//! (`chorus init` with the participants' accounts funded), starts the validator(s) — in process
//! for one, as `chorus node` child processes for several — uploads the initial model, opens a
//! task, and runs the simulated participants and the validator workers of `chorus-sdk` against
//! the node's real API and blob store until every round is over. One table row per round; the
//! final model (safetensors), a JSON summary and an accuracy plot land in the home.
//!
//! Everything here is wiring: training, scoring and aggregation live in `chorus-sdk`,
//! `chorus-trainer` and `chorus-fl`, the protocol in `chorus-chain`. [`run_async`] is the run
//! step by step; the flags and the phase sizing are in `args`, the validators in `network`,
//! participant processes in `supervise`, the per-round table in `follow` and the files written
//! at the end in `outputs`.

mod args;
mod follow;
mod network;
mod outputs;
mod supervise;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_crypto::AccountKey;
use chorus_sdk::blobs::Replicated;
use chorus_sdk::{
    Attack, LedgerSource, NodeClient, Participant, ParticipantConfig, TaskModel, TxSender,
};
use chorus_trainer::{Arch, Dataset, TrainConfig};
use chorus_types::learning::{
    DataMode, Encryption, LearningMsg, ModelSpec, RuleSpec, TaskId, TaskSpec,
};
use chorus_types::{Hash, Msg};
use eyre::{WrapErr, bail, eyre};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub(crate) use self::args::DevnetArgs;
use self::args::Settings;
use self::network::Validators;
use self::supervise::Supervised;
use crate::home::{Home, InitOptions, derive_secret, init};

#[derive(Debug, Serialize, Deserialize)]
struct RunFile {
    version: u32,
    settings: Settings,
    task: Option<TaskId>,
    byzantine: Vec<usize>,
}

/// Data held out of the participants' pool for the validators' scoring.
const SCORE_HOLDOUT: usize = 5_000;

/// Progress bars (on stderr) and the table and messages (on stdout), all silent with `--json`.
struct Console {
    mp: MultiProgress,
    quiet: bool,
}

impl Console {
    fn new(quiet: bool) -> Console {
        let mp = MultiProgress::with_draw_target(if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        Console { mp, quiet }
    }

    /// Prints a line on stdout above the bars (nothing with `--json`).
    fn say(&self, m: String) {
        if !self.quiet {
            self.mp.suspend(|| println!("{m}"));
        }
    }
}

pub(crate) fn run(args: DevnetArgs) -> eyre::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: DevnetArgs) -> eyre::Result<()> {
    let started = Instant::now();
    // The table goes to stdout (bars, on a terminal, to stderr above it).
    let ui = Console::new(args.json);

    // 1. Data (also sizes the phases).
    let (mut rf, fresh, data) = load_run(&args, &ui)?;
    let s = rf.settings.clone();

    // 2. Network home.
    let homes = network_home(&args.home, &rf, fresh)?;

    // 3. Validators.
    let validators = network::start_validators(&homes, &s, &ui).await?;

    // 5. Participants and validator workers.
    let (stop_tx, stop_rx) = watch::channel(false);
    let progress_dir = args.home.join("progress");
    let (mut handles, mut supervised) =
        start_participants(&args.home, &rf, data.parts, &validators, &progress_dir, &stop_rx)?;
    let score = Arc::new(data.score);
    let test = Arc::new(data.test);
    if s.validators == 1 {
        let data = (score, test.clone());
        handles.push(start_worker(&s, &validators, data, &progress_dir, stop_rx.clone())?);
    }

    // 5b. Open the task once every participant is registered, so round 0 can select them all.
    wait_registered(&validators.clients[0], s.participants).await;
    // 5c. Task.
    let task = open_task(&args.home, &mut rf, &validators, &ui).await?;

    // 6. Follow the task: one bar for the open round, one row per finished round.
    let c0 = &validators.clients[0];
    let followed =
        follow::follow(&ui, s.rounds, c0, task, &validators.blobs, &test, &mut supervised).await?;
    let participant_restarts = stop_participants(stop_tx, supervised, handles).await;

    // 7. Outputs.
    let (summary, final_task) = outputs::write_outputs(
        &args.home,
        &rf,
        task,
        &followed.rows,
        participant_restarts,
        &validators,
        started,
    )
    .await?;
    validators.network.stop().await;
    outputs::print_summary(&summary, &final_task, &args.home, args.json)?;
    if followed.interrupted {
        bail!("interrupted; `chorus devnet --resume --home {}` continues", args.home.display());
    }
    Ok(())
}

fn participant_key(seed: u64, i: usize) -> eyre::Result<AccountKey> {
    let s = chorus_types::keccak256(format!("chorus-devnet/{seed}/participant/{i}").as_bytes());
    AccountKey::from_bytes(&s).map_err(|e| eyre!("participant key: {e}"))
}

/// Step 1: prepares the home ([`prepare_home`]) and splits the data set into the participants'
/// parts, the validators' scoring set and the test set, with a spinner while it loads; reports
/// the split. The flag is `true` when the run starts over rather than resumes.
fn load_run(args: &DevnetArgs, ui: &Console) -> eyre::Result<(RunFile, bool, DataSplit)> {
    let spinner = ui.mp.add(ProgressBar::new_spinner());
    spinner.set_message(format!("loading {}", args.dataset));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let (rf, fresh, splits) = prepare_home(args)?;
    let s = &rf.settings;
    let data = load_data(s, splits)?;
    spinner.finish_and_clear();
    let sizes: Vec<usize> = data.parts.iter().map(Dataset::len).collect();
    ui.say(format!(
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
        ui.say(format!("Byzantine participants ({}): {:?}", s.attack, rf.byzantine));
    }
    Ok((rf, fresh, data))
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
    use crate::data::{holdout_split, local_parts};
    let parts = local_parts(&splits, SCORE_HOLDOUT, &s.partition, s.participants, s.seed)?;
    let score = holdout_split(&splits.train, SCORE_HOLDOUT)?;
    Ok(DataSplit { parts, score, test: splits.test })
}

/// Step 2: writes the network home of a fresh run (`chorus init`, the participants' accounts
/// funded, then the run file), or finds the homes of the run being resumed; one home per
/// validator.
fn network_home(root: &Path, rf: &RunFile, fresh: bool) -> eyre::Result<Vec<Home>> {
    let s = &rf.settings;
    if fresh {
        std::fs::create_dir_all(root)?;
        let mut extra = Vec::new();
        for i in 0..s.participants {
            extra.push((participant_key(s.seed, i)?.address(), 1_000_000_000_000u128));
        }
        let out = init(
            root,
            &InitOptions {
                validators: s.validators,
                seed: Some(s.network_seed()),
                api_port: s.port,
                block_time_ms: s.block_time_ms,
                extra_accounts: extra,
                ..InitOptions::default()
            },
        )?;
        write_run_file(root, rf)?;
        Ok(out.homes)
    } else if s.validators == 1 {
        Ok(vec![Home(root.to_path_buf())])
    } else {
        Ok((0..s.validators).map(|i| Home(root.join(format!("node{i}")))).collect())
    }
}

/// What the participants and validator workers run as: tokio tasks in this process.
type Handles = Vec<JoinHandle<chorus_sdk::Result<()>>>;

/// Step 5: starts the participants, as supervised `chorus participant` processes or as tokio
/// tasks here (then the handles), each with its progress file under `progress_dir`.
fn start_participants(
    root: &Path,
    rf: &RunFile,
    parts: Vec<Dataset>,
    validators: &Validators,
    progress_dir: &Path,
    stop: &watch::Receiver<bool>,
) -> eyre::Result<(Handles, Option<Supervised>)> {
    let s = &rf.settings;
    let attack: Attack = s.attack.parse().map_err(|e| eyre!("--attack: {e}"))?;
    // Attackers may wait up to half the commit window for the honest updates they exploit.
    let collusion = Arc::new(chorus_sdk::participant::Collusion::new(Duration::from_millis(
        s.phases.commit * s.block_time_ms / 2,
    )));
    std::fs::create_dir_all(progress_dir)?;
    if s.participant_processes {
        let sup = supervise::start_processes(root, rf, &validators.urls, progress_dir)?;
        return Ok((Vec::new(), Some(sup)));
    }
    let mut handles = Vec::new();
    let participant_poll =
        Duration::from_millis(300 * (s.participants as u64).div_ceil(20).clamp(1, 7));
    let clients = &validators.clients;
    for (i, part) in parts.into_iter().enumerate() {
        let node = clients[i % clients.len()].clone();
        let cfg = ParticipantConfig {
            train: TrainConfig {
                epochs: s.epochs,
                batch_size: s.batch,
                lr: s.lr,
                seed: s.train_seed(i),
                ..TrainConfig::default()
            },
            attack: if rf.byzantine.contains(&i) { attack.clone() } else { Attack::None },
            collusion: Some(collusion.clone()),
            state_path: Some(progress_dir.join(format!("participant-{i}.json"))),
            chain_id: Some(crate::home::DEVNET_CHAIN_ID),
            poll: participant_poll,
            ..ParticipantConfig::default()
        };
        let p = Participant::new(
            node.clone(),
            validators.blobs.clone(),
            participant_key(s.seed, i)?,
            Arc::new(part),
            cfg,
        )?;
        // Many in-process participants poll instead of each following every block, so the
        // node's API is not asked for hundreds of round views per block.
        let events = (s.participants <= 20).then(|| node.subscribe());
        handles.push(tokio::spawn(p.run_until(stop.clone(), events)));
    }
    Ok((handles, None))
}

/// The validator worker of a single-validator devnet, run here: the same
/// [`crate::worker::spawn_worker`] as `chorus node --worker`, which the validator processes of
/// `--validators N` run themselves. It scores on `data.0` and evaluates on `data.1`.
fn start_worker(
    s: &Settings,
    validators: &Validators,
    data: (Arc<Dataset>, Arc<Dataset>),
    progress_dir: &Path,
    stop: watch::Receiver<bool>,
) -> eyre::Result<JoinHandle<chorus_sdk::Result<()>>> {
    let key = AccountKey::from_bytes(&derive_secret(&Some(s.network_seed()), "operator/0")?)
        .map_err(|e| eyre!("operator key: {e}"))?;
    crate::worker::spawn_worker(
        validators.clients[0].clone(),
        validators.blobs.clone(),
        key,
        data,
        (progress_dir.join("validator-0.json"), crate::home::DEVNET_CHAIN_ID),
        stop,
    )
}

/// Step 5b: waits (up to two minutes) until `participants` accounts are registered.
async fn wait_registered(client: &NodeClient, participants: usize) {
    let reg_start = Instant::now();
    loop {
        let n = LedgerSource::registrations(client).await.map_or(0, |r| r.len());
        if n >= participants || reg_start.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Step 5c: the task of the run, created (and recorded in the run file) by the faucet account
/// on a fresh run; reports its shape.
async fn open_task(
    root: &Path,
    rf: &mut RunFile,
    validators: &Validators,
    ui: &Console,
) -> eyre::Result<TaskId> {
    let s = rf.settings.clone();
    let owner = AccountKey::from_bytes(&derive_secret(&Some(s.network_seed()), "faucet")?)
        .map_err(|e| eyre!("faucet key: {e}"))?;
    let task = match rf.task {
        Some(t) => t,
        None => {
            let t = create_task(&validators.clients[0], &validators.blobs, owner, &s).await?;
            rf.task = Some(t);
            write_run_file(root, rf)?;
            t
        }
    };
    let p = &s.phases;
    ui.say(format!(
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
    Ok(task)
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
        // H4: the most examples one participant may claim per round; participants claim at
        // most this (the devnet splits one data set, far smaller than the cap).
        max_examples: chorus_types::learning::MAX_EXAMPLES_PER_UPDATE,
    })
}

async fn create_task(
    client: &Arc<NodeClient>,
    blobs: &Replicated,
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

/// Step 6's aftermath: tells the in-process participants and worker to stop, stops the
/// participant processes and waits (up to 30 s each) for the tasks; returns how many
/// participant processes were restarted during the run.
async fn stop_participants(
    stop: watch::Sender<bool>,
    mut supervised: Option<Supervised>,
    handles: Handles,
) -> usize {
    let _ = stop.send(true);
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
    participant_restarts
}
