//! `chorus-bench`: the benchmarks of every Chorus crate behind one command, each printing a table
//! or, with `--json`, one JSON object. Tests check correctness; figures come only from here.
//!
//! It lives outside the product: the `chorus` binary links none of this code and installs no
//! counting allocator. `chorus-bench ledger` starts real `chorus node` processes, so it needs the
//! `chorus` binary next to its own (`cargo build -p chorus`) or at `$CHORUS_BIN`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use chorus_bench::{chain, db, fl, ledger, store, trainer};

/// Counts heap growth only while the aggregation benchmark measures peak memory (one relaxed
/// atomic load per allocation otherwise).
#[global_allocator]
static ALLOC: fl::PeakAlloc = fl::PeakAlloc;

/// Chorus benchmarks.
#[derive(Parser, Debug)]
#[command(name = "chorus-bench", version, about)]
struct BenchArgs {
    /// Print one JSON object with the figures instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: BenchCmd,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Robust aggregation throughput (chorus-fl), optionally against Flower.
    Aggregate {
        /// Also run Flower's aggregation functions on the same inputs (creates a venv).
        #[arg(long)]
        flower: bool,
        /// Sizes as NxP, e.g. `100x1000000` (repeatable; default: both issue sizes).
        #[arg(long = "size")]
        sizes: Vec<String>,
        /// Repeats per measurement.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Only these rules (fedavg, median, trimmed_mean, krum, bulyan; repeatable).
        #[arg(long)]
        only: Vec<String>,
    },
    /// Blob store upload/download throughput and latency over loopback.
    Store {
        /// Uploads and downloads per size.
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        /// Keep blobs in memory instead of the filesystem backend.
        #[arg(long)]
        memory: bool,
    },
    /// Local training throughput (samples/s) of the MLP and CNN, optionally against PyTorch; or, with
    /// `--centralised MODEL`, the centralised sanity check (test accuracy and time per epoch).
    Train {
        /// Also time the same models in PyTorch on CPU (creates a venv, large download).
        #[arg(long)]
        torch: bool,
        /// Train this model (logreg, mlp, cnn, cnn-small) on the whole data set instead.
        #[arg(long, value_name = "MODEL", conflicts_with = "torch")]
        centralised: Option<String>,
        /// Epochs of the centralised run (default: 3 for the CNNs, 5 otherwise).
        #[arg(long, requires = "centralised")]
        epochs: Option<usize>,
        /// Data set of the centralised run (mnist, fashion-mnist).
        #[arg(long, default_value = "mnist", requires = "centralised")]
        dataset: String,
    },
    /// Committed transfers/s and submit→commit latency against real node processes.
    Ledger {
        /// Validator counts to measure (repeatable; default 1 and 4).
        #[arg(long = "validators")]
        validators: Vec<usize>,
        /// Transfers to submit.
        #[arg(long, default_value_t = 20_000)]
        txs: usize,
        /// Distinct sending accounts.
        #[arg(long, default_value_t = 40)]
        senders: usize,
        /// Offered load in transactions per second, evenly spaced [default: unpaced, as fast as
        /// the nodes answer: saturated throughput].
        #[arg(long)]
        rate: Option<f64>,
    },
    /// One learning round (commit, reveal, score vectors, median, rewards) in the state machine.
    Protocol {
        /// Participants in the round.
        #[arg(long, default_value_t = 1000)]
        participants: usize,
        /// Validators scoring it.
        #[arg(long, default_value_t = 20)]
        validators: usize,
    },
    /// Authenticated state commit throughput (jmt over redb).
    State {
        /// Blocks to commit.
        #[arg(long, default_value_t = 50)]
        blocks: u64,
        /// Changed keys per block.
        #[arg(long, default_value_t = 5000)]
        keys_per_block: usize,
    },
}

fn print<R: Serialize + std::fmt::Display>(json: bool, report: &R) -> eyre::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

fn parse_size(s: &str) -> eyre::Result<(usize, usize)> {
    let (n, p) = s.split_once('x').ok_or_else(|| eyre::eyre!("size `{s}` is not NxP"))?;
    Ok((n.trim().parse()?, p.trim().parse()?))
}

fn main() -> ExitCode {
    match run(BenchArgs::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: BenchArgs) -> eyre::Result<()> {
    match args.cmd {
        BenchCmd::Aggregate { flower, sizes, repeats, only } => {
            let mut opts = fl::BenchOptions { flower, repeats, only, ..Default::default() };
            if !sizes.is_empty() {
                opts.sizes = sizes.iter().map(|s| parse_size(s)).collect::<eyre::Result<_>>()?;
            }
            let report = fl::run(opts)?;
            print(args.json, &report)
        }
        BenchCmd::Store { iterations, memory } => {
            let opts = store::BenchOpts { iterations, fs_backend: !memory, ..Default::default() };
            let rt = tokio::runtime::Runtime::new()?;
            let report = rt.block_on(store::run(opts))?;
            print(args.json, &report)
        }
        BenchCmd::Train { centralised: Some(model), epochs, dataset, .. } => {
            let arch: chorus_trainer::Arch = model.parse()?;
            let mut opts = trainer::CentralisedOpts::for_model(arch);
            opts.dataset = dataset;
            if let Some(e) = epochs {
                opts.epochs = e;
            }
            let report = centralised_with_progress(&opts, args.json)?;
            print(args.json, &report)
        }
        BenchCmd::Train { torch, .. } => {
            let opts = trainer::BenchOpts { torch, torch_setup: torch, ..Default::default() };
            let report = trainer::run(&opts)?;
            print(args.json, &report)
        }
        BenchCmd::Ledger { validators, txs, senders, rate } => {
            let validators = if validators.is_empty() { vec![1, 4] } else { validators };
            let rt = tokio::runtime::Runtime::new()?;
            let report = rt.block_on(ledger::run(&validators, txs, senders, rate))?;
            print(args.json, &report)
        }
        BenchCmd::Protocol { participants, validators } => {
            let start = std::time::Instant::now();
            let report = chain::learning_round(participants, validators, &|| start.elapsed())
                .map_err(|e| eyre::eyre!("{e}"))?;
            print(args.json, &report)
        }
        BenchCmd::State { blocks, keys_per_block } => {
            let opts = db::BenchOptions { blocks, keys_per_block, ..Default::default() };
            let report = db::run(&opts)?;
            print(args.json, &report)
        }
    }
}

/// Runs the centralised check with a progress bar (stderr, hidden for `--json`) and one line per
/// finished epoch.
fn centralised_with_progress(
    opts: &trainer::CentralisedOpts,
    json: bool,
) -> eyre::Result<trainer::CentralisedReport> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let bar = ProgressBar::new(0);
    if json {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} samples  {per_sec}  eta {eta}  {msg}",
        )?
        .progress_chars("=> "),
    );
    let total = opts.epochs;
    let report = trainer::centralised(
        opts,
        &mut |b| {
            bar.set_length(b.epoch_samples as u64);
            bar.set_prefix(format!("{}/{total}", b.epoch + 1));
            bar.set_position(b.samples as u64);
            bar.set_message(format!("loss {:.4}", b.loss));
        },
        &mut |e| {
            bar.println(format!(
                "epoch {}/{total}: train loss {:.4}, {:.1} s ({:.0} samples/s), test accuracy {:.2} %",
                e.epoch,
                e.train_loss,
                e.train_seconds,
                e.samples_per_s,
                100.0 * e.test_accuracy
            ));
            bar.reset();
        },
    )?;
    bar.finish_and_clear();
    Ok(report)
}
