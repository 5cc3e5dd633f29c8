//! Local-training throughput benchmark: samples/s for one local epoch (SGD, batch 64) of the MLP on the
//! full MNIST training set and of the CNN on a fixed slice, optionally against PyTorch on the CPU
//! (`scripts/torch/bench.py`, one thread, same model, batch, learning rate and data).
//!
//! The PyTorch side runs in a venv (default `~/.cache/chorus-venv-torch`, created by
//! `scripts/torch/setup-venv` when `torch_setup` is set). Wired into `chorus bench trainer` by the CLI.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::data::load_dataset;
use crate::error::{Error, Result};
use crate::model::{Arch, build_model};
use crate::train::{TrainConfig, train_one_epoch};

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
    /// The implementation that trained it ([`Model::backend`]).
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
) -> Result<TorchOut> {
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
        .map_err(|e| Error::Bench(format!("cannot run {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Error::Bench(format!(
            "bench.py failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| Error::Bench(format!("no JSON from bench.py: {stdout}")))?;
    serde_json::from_str(line)
        .map_err(|e| Error::Bench(format!("bad JSON from bench.py: {e}: {line}")))
}

fn ensure_venv(venv: &Path, setup: bool) -> Result<()> {
    if venv.join("bin").join("python").is_file() {
        return Ok(());
    }
    if !setup {
        return Err(Error::Bench(format!(
            "no PyTorch venv at {}; run scripts/torch/setup-venv (or set torch_setup)",
            venv.display()
        )));
    }
    let status = Command::new(repo_root().join("scripts").join("torch").join("setup-venv"))
        .arg(venv)
        .status()
        .map_err(|e| Error::Bench(format!("cannot run scripts/torch/setup-venv: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Bench(format!("scripts/torch/setup-venv failed: {status}")))
    }
}

/// Runs the benchmark.
pub fn run(opts: &BenchOpts) -> Result<BenchReport> {
    let data_dir =
        opts.data_dir.clone().unwrap_or_else(|| crate::data::DatasetName::Mnist.default_dir());
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
