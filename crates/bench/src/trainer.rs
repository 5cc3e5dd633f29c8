//! Local-training throughput benchmark: samples/s for one local epoch (SGD, batch 64) of the MLP on the
//! full MNIST training set and of the CNN on a fixed slice, optionally against PyTorch on the CPU
//! (`scripts/torch/bench.py`, one thread, same model, batch, learning rate and data); and the
//! centralised sanity check ([`centralised`]: a model trained on the whole data set, test accuracy and
//! time per epoch).
//!
//! The PyTorch side runs in a venv (default `~/.cache/chorus-venv-torch`, created by
//! `scripts/torch/setup-venv` when `torch_setup` is set). Wired into `chorus bench trainer` by the CLI.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use chorus_trainer::Error;
use chorus_trainer::data::load_dataset;
use chorus_trainer::model::{Arch, build_model};
use chorus_trainer::train::{Optimizer, TrainConfig, train_local_observed, train_one_epoch};

/// Benchmark options.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchOpts {
    /// MNIST directory (`None` = the bundled `data/mnist`).
    pub data_dir: Option<PathBuf>,
    /// Models to time, with the number of training samples for each (0 = the whole training set).
    pub models: Vec<(Arch, usize)>,
    /// Batch size.
    pub batch_size: usize,
    /// Learning rate (plain SGD).
    pub lr: f32,
    /// Also run the PyTorch CPU comparison.
    pub torch: bool,
    /// Create the PyTorch venv if it is missing (`pip install torch` from PyPI; large download).
    pub torch_setup: bool,
    /// The venv (`None` = `$CHORUS_TORCH_VENV` or `~/.cache/chorus-venv-torch`).
    pub torch_venv: Option<PathBuf>,
    /// Evaluate test accuracy after the timed epoch (not timed).
    pub evaluate: bool,
}

impl Default for BenchOpts {
    fn default() -> Self {
        Self {
            data_dir: None,
            models: vec![(Arch::Mlp, 0), (Arch::Cnn, 12_800)],
            batch_size: 64,
            lr: 0.05,
            torch: false,
            torch_setup: false,
            torch_venv: None,
            evaluate: true,
        }
    }
}

/// One measured model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchRow {
    /// Model name.
    pub model: String,
    /// The implementation that trained it ([`chorus_trainer::Model::backend`]).
    pub backend: String,
    /// Training samples in the epoch.
    pub samples: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Wall time of the epoch, seconds.
    pub seconds: f64,
    /// Throughput of chorus-trainer (burn flex).
    pub samples_per_s: f64,
    /// Test accuracy after the epoch, if evaluated.
    pub test_accuracy: Option<f32>,
    /// PyTorch CPU (1 thread) throughput on the same work, if run.
    pub torch_samples_per_s: Option<f64>,
    /// PyTorch test accuracy after its epoch, if run.
    pub torch_test_accuracy: Option<f32>,
    /// `samples_per_s / torch_samples_per_s`.
    pub ratio: Option<f64>,
}

/// Benchmark report (a table when printed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// Backend description.
    pub backend: String,
    /// PyTorch version used, if any.
    pub torch_version: Option<String>,
    /// Why the PyTorch comparison did not run, if requested but failed.
    pub torch_error: Option<String>,
    /// Measured rows.
    pub rows: Vec<BenchRow>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chorus-trainer local epoch, {} vs PyTorch CPU (1 thread){}",
            self.backend,
            self.torch_version.as_ref().map(|v| format!(" {v}")).unwrap_or_default()
        )?;
        writeln!(
            f,
            "{:<10} {:>8} {:>6} {:>9} {:>12} {:>9} {:>12} {:>9} {:>7}",
            "model",
            "samples",
            "batch",
            "seconds",
            "samples/s",
            "test acc",
            "torch s/s",
            "torch acc",
            "ratio"
        )?;
        let opt =
            |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
        for r in &self.rows {
            writeln!(
                f,
                "{:<10} {:>8} {:>6} {:>9.2} {:>12.0} {:>9} {:>12} {:>9} {:>7}",
                r.model,
                r.samples,
                r.batch_size,
                r.seconds,
                r.samples_per_s,
                opt(r.test_accuracy.map(|a| 100.0 * a as f64), 2),
                opt(r.torch_samples_per_s, 0),
                opt(r.torch_test_accuracy.map(|a| 100.0 * a as f64), 2),
                opt(r.ratio, 2)
            )?;
        }
        if let Some(e) = &self.torch_error {
            writeln!(f, "torch comparison not run: {e}")?;
        }
        Ok(())
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn default_venv() -> PathBuf {
    if let Some(v) = std::env::var_os("CHORUS_TORCH_VENV") {
        return PathBuf::from(v);
    }
    let home =
        std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".cache").join("chorus-venv-torch")
}

#[derive(Deserialize)]
struct TorchOut {
    samples_per_s: f64,
    test_accuracy: Option<f32>,
    torch: String,
}

fn run_torch(
    venv: &Path,
    data_dir: &Path,
    arch: Arch,
    samples: usize,
    opts: &BenchOpts,
) -> eyre::Result<TorchOut> {
    let script = repo_root().join("scripts").join("torch").join("bench.py");
    let out = Command::new(venv.join("bin").join("python"))
        .arg(&script)
        .args(["--data-dir", &data_dir.to_string_lossy()])
        .args(["--model", arch.as_str()])
        .args(["--samples", &samples.to_string()])
        .args(["--batch", &opts.batch_size.to_string()])
        .args(["--lr", &opts.lr.to_string()])
        .args(if opts.evaluate { &["--evaluate"][..] } else { &[][..] })
        .output()
        .map_err(|e| eyre::eyre!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(eyre::eyre!(
            "bench.py failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| eyre::eyre!("no JSON from bench.py: {stdout}"))?;
    serde_json::from_str(line).map_err(|e| eyre::eyre!("bad JSON from bench.py: {e}: {line}"))
}

fn ensure_venv(venv: &Path, setup: bool) -> eyre::Result<()> {
    if venv.join("bin").join("python").is_file() {
        return Ok(());
    }
    if !setup {
        return Err(eyre::eyre!(
            "no PyTorch venv at {}; run scripts/torch/setup-venv (or set torch_setup)",
            venv.display()
        ));
    }
    let status = Command::new(repo_root().join("scripts").join("torch").join("setup-venv"))
        .arg(venv)
        .status()
        .map_err(|e| eyre::eyre!("cannot run scripts/torch/setup-venv: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(eyre::eyre!("scripts/torch/setup-venv failed: {status}"))
    }
}

/// Runs the benchmark.
pub fn run(opts: &BenchOpts) -> eyre::Result<BenchReport> {
    let data_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| chorus_trainer::data::DatasetName::Mnist.default_dir());
    let splits = load_dataset("mnist", Some(&data_dir))?;
    let venv = opts.torch_venv.clone().unwrap_or_else(default_venv);
    let mut torch_error = None;
    let mut torch_version = None;
    if opts.torch
        && let Err(e) = ensure_venv(&venv, opts.torch_setup)
    {
        torch_error = Some(e.to_string());
    }
    let mut rows = Vec::new();
    for &(arch, n) in &opts.models {
        let n = if n == 0 { splits.train.len() } else { n.min(splits.train.len()) };
        let train = splits.train.head(n);
        let mut model = build_model(arch.as_str(), 0)?;
        let cfg = TrainConfig {
            batch_size: opts.batch_size,
            lr: opts.lr,
            seed: 0,
            ..TrainConfig::default()
        };
        let t0 = Instant::now();
        let stats = train_one_epoch(model.as_mut(), &train, &cfg, 0)?;
        let seconds = t0.elapsed().as_secs_f64();
        let test_accuracy =
            if opts.evaluate { Some(model.evaluate(&splits.test)?.accuracy) } else { None };
        let mut row = BenchRow {
            model: arch.to_string(),
            backend: model.backend().to_string(),
            samples: stats.samples,
            batch_size: opts.batch_size,
            seconds,
            samples_per_s: stats.samples as f64 / seconds,
            test_accuracy,
            torch_samples_per_s: None,
            torch_test_accuracy: None,
            ratio: None,
        };
        if opts.torch && torch_error.is_none() {
            match run_torch(&venv, &data_dir, arch, n, opts) {
                Ok(t) => {
                    row.ratio = Some(row.samples_per_s / t.samples_per_s);
                    row.torch_samples_per_s = Some(t.samples_per_s);
                    row.torch_test_accuracy = t.test_accuracy;
                    torch_version = Some(t.torch);
                }
                Err(e) => torch_error = Some(e.to_string()),
            }
        }
        rows.push(row);
    }
    Ok(BenchReport { backend: "native gemm, 1 thread".into(), torch_version, torch_error, rows })
}

/// The centralised sanity check: one model trained on a whole data set, evaluated after every epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CentralisedOpts {
    /// Registry name of the data set (`mnist`, `fashion-mnist`).
    pub dataset: String,
    /// Its directory (`None` = the registry default).
    pub data_dir: Option<PathBuf>,
    /// Model.
    pub arch: Arch,
    /// Epochs over the whole training set.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Learning rate of the first half of the epochs; the second half uses a fifth of it.
    pub lr: f32,
    /// SGD momentum.
    pub momentum: f32,
}

impl CentralisedOpts {
    /// The settings used for the figures in docs/trainer.md: SGD momentum 0.9, lr 0.05 with batch 32
    /// (dense models, 5 epochs) or lr 0.02 with batch 64 (CNNs, 3 epochs), lr ÷ 5 for the second half.
    pub fn for_model(arch: Arch) -> Self {
        let cnn = matches!(arch, Arch::Cnn | Arch::CnnSmall);
        Self {
            dataset: "mnist".into(),
            data_dir: None,
            arch,
            epochs: if cnn { 3 } else { 5 },
            batch_size: if cnn { 64 } else { 32 },
            lr: if cnn { 0.02 } else { 0.05 },
            momentum: 0.9,
        }
    }
}

/// One epoch of [`centralised`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CentralisedEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean training loss over the epoch.
    pub train_loss: f32,
    /// Training wall time of the epoch (evaluation excluded).
    pub train_seconds: f64,
    /// Training throughput.
    pub samples_per_s: f64,
    /// Test-set accuracy after the epoch.
    pub test_accuracy: f32,
    /// Test-set loss after the epoch.
    pub test_loss: f32,
}

/// Result of [`centralised`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CentralisedReport {
    /// Data set.
    pub dataset: String,
    /// Model.
    pub model: String,
    /// Implementation ([`chorus_trainer::Model::backend`]).
    pub backend: String,
    /// Training samples per epoch.
    pub train_samples: usize,
    /// Per-epoch figures.
    pub epochs: Vec<CentralisedEpoch>,
    /// Test accuracy at the end.
    pub final_test_accuracy: f32,
    /// Per-class test accuracy at the end.
    pub per_class_accuracy: Vec<f32>,
    /// Wall time of the whole run, evaluation included.
    pub total_seconds: f64,
}

impl fmt::Display for CentralisedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "centralised {} on {} ({} training samples, {}, 1 thread)",
            self.model, self.dataset, self.train_samples, self.backend
        )?;
        writeln!(
            f,
            "{:>5} {:>8} {:>10} {:>9} {:>10} {:>9} {:>9}",
            "epoch", "lr", "train loss", "train s", "samples/s", "test acc", "test loss"
        )?;
        for e in &self.epochs {
            writeln!(
                f,
                "{:>5} {:>8} {:>10.4} {:>9.1} {:>10.0} {:>8.2}% {:>9.4}",
                e.epoch,
                e.lr,
                e.train_loss,
                e.train_seconds,
                e.samples_per_s,
                100.0 * e.test_accuracy,
                e.test_loss
            )?;
        }
        writeln!(
            f,
            "final test accuracy {:.2} % after {} epochs, {:.1} s in all",
            100.0 * self.final_test_accuracy,
            self.epochs.len(),
            self.total_seconds
        )
    }
}

/// Trains `opts.arch` on the whole training set (SGD with momentum, step decay) and evaluates on the
/// test set after every epoch; `on_batch` sees every step and `on_epoch` every finished epoch.
pub fn centralised(
    opts: &CentralisedOpts,
    on_batch: &mut dyn FnMut(chorus_trainer::train::BatchDone),
    on_epoch: &mut dyn FnMut(&CentralisedEpoch),
) -> eyre::Result<CentralisedReport> {
    if opts.epochs == 0 {
        return Err(Error::InvalidArgument("epochs must be at least 1".into()).into());
    }
    let t_all = Instant::now();
    let splits = load_dataset(&opts.dataset, opts.data_dir.as_deref())?;
    let mut model = build_model(opts.arch.as_str(), 0)?;
    let mut epochs = Vec::with_capacity(opts.epochs);
    let mut last = None;
    for e in 0..opts.epochs {
        let lr = if e >= opts.epochs.div_ceil(2) { opts.lr / 5.0 } else { opts.lr };
        let cfg = TrainConfig {
            epochs: 1,
            batch_size: opts.batch_size,
            lr,
            optimizer: Optimizer::Sgd { momentum: opts.momentum, weight_decay: 0.0 },
            seed: e as u64,
            ..TrainConfig::default()
        };
        let t = Instant::now();
        let mut observe = |mut b: chorus_trainer::train::BatchDone| {
            b.epoch = e;
            on_batch(b)
        };
        let out = train_local_observed(model.as_mut(), &splits.train, &cfg, None, &mut observe)?;
        let train_seconds = t.elapsed().as_secs_f64();
        let report = model.evaluate(&splits.test)?;
        let row = CentralisedEpoch {
            epoch: e + 1,
            lr,
            train_loss: out.epochs[0].loss,
            train_seconds,
            samples_per_s: out.num_examples as f64 / train_seconds,
            test_accuracy: report.accuracy,
            test_loss: report.loss,
        };
        on_epoch(&row);
        epochs.push(row);
        last = Some(report);
    }
    let last = last.ok_or_else(|| Error::InvalidArgument("no epochs".into()))?;
    Ok(CentralisedReport {
        dataset: opts.dataset.clone(),
        model: opts.arch.to_string(),
        backend: model.backend().to_string(),
        train_samples: splits.train.len(),
        epochs,
        final_test_accuracy: last.accuracy,
        per_class_accuracy: last.per_class_accuracy,
        total_seconds: t_all.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_prints_a_table_and_serializes() {
        let r = BenchReport {
            backend: "x".into(),
            torch_version: None,
            torch_error: Some("no venv".into()),
            rows: vec![BenchRow {
                model: "mlp".into(),
                backend: "burn".into(),
                samples: 10,
                batch_size: 64,
                seconds: 1.0,
                samples_per_s: 10.0,
                test_accuracy: Some(0.5),
                torch_samples_per_s: None,
                torch_test_accuracy: None,
                ratio: None,
            }],
        };
        let s = r.to_string();
        assert!(s.contains("mlp") && s.contains("50.00") && s.contains("no venv"), "{s}");
        assert!(serde_json::to_string(&r).unwrap().contains("\"samples_per_s\":10.0"));
    }

    #[test]
    fn centralised_logreg_learns_and_reports_every_epoch() {
        let opts = CentralisedOpts { epochs: 2, ..CentralisedOpts::for_model(Arch::LogReg) };
        let (mut batches, mut seen) = (0, Vec::new());
        let r = centralised(&opts, &mut |_| batches += 1, &mut |e| seen.push(e.epoch)).unwrap();
        assert_eq!(seen, [1, 2]);
        assert_eq!(batches, 2 * 60_000usize.div_ceil(32));
        assert_eq!(r.epochs[1].lr, opts.lr / 5.0, "second half runs at a fifth of the rate");
        // Logistic regression on MNIST: ~92 % after two epochs; far above chance.
        assert!(r.final_test_accuracy > 0.88, "{}", r.final_test_accuracy);
        assert!(r.to_string().contains("final test accuracy"));
        let bad = CentralisedOpts { epochs: 0, ..opts };
        let err = centralised(&bad, &mut |_| {}, &mut |_| {}).unwrap_err();
        assert!(matches!(err.downcast_ref::<Error>(), Some(Error::InvalidArgument(_))), "{err}");
    }

    #[test]
    fn missing_torch_venv_is_reported_not_fatal() {
        let d = tempfile::tempdir().unwrap();
        let opts = BenchOpts {
            models: vec![(Arch::LogReg, 128)],
            torch: true,
            torch_venv: Some(d.path().join("none")),
            evaluate: false,
            ..BenchOpts::default()
        };
        let r = run(&opts).unwrap();
        assert_eq!(r.rows.len(), 1);
        assert!(r.torch_error.unwrap().contains("setup-venv"));
    }
}
