//! Local optimisation and evaluation on flat parameter vectors.
//!
//! A step: gradient `g` of the mean batch cross-entropy from the model, then
//! `g += μ·(w − w_global)` (FedProx, gradient form; skipped when μ = 0) and `g += c − c_i`
//! (SCAFFOLD option II), then the optimiser (PyTorch semantics):
//! - SGD: `g += λ·w; v = m·v + g; w −= lr·v` (no dampening, no Nesterov);
//! - Adam: `g += λ·w; m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; w −= lr·m̂/(√v̂ + ε)`.
//!
//! After the local epochs the update `Δ = w − w_global` is optionally clipped to an L2 norm (the
//! client-side half of DP-FedAvg; noise is added by `chorus_fl::dp`). Shuffling is seeded (ChaCha8,
//! stream = epoch). Training uses floats and is not part of anything hashed.

use std::fmt;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::attack::LabelFlip;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Model, NUM_CLASSES};

/// The local optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    /// SGD with (heavy-ball) momentum; `momentum = 0` is plain SGD.
    Sgd {
        /// Momentum factor.
        momentum: f32,
        /// L2 weight decay λ.
        weight_decay: f32,
    },
    /// Adam (Kingma & Ba) with bias correction.
    Adam {
        /// β1.
        beta1: f32,
        /// β2.
        beta2: f32,
        /// ε.
        eps: f32,
        /// L2 weight decay λ (added to the gradient, as `torch.optim.Adam`).
        weight_decay: f32,
    },
}

impl Optimizer {
    /// Plain SGD.
    pub const SGD: Optimizer = Optimizer::Sgd { momentum: 0.0, weight_decay: 0.0 };
    /// Adam with the usual defaults (β1 0.9, β2 0.999, ε 1e-8).
    pub const ADAM: Optimizer =
        Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
}

/// Local training configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Local epochs (E).
    pub epochs: usize,
    /// Batch size (B); the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f32,
    /// Optimiser.
    pub optimizer: Optimizer,
    /// FedProx proximal coefficient μ (0 = FedAvg).
    pub fedprox_mu: f32,
    /// Clip the local update `w − w_global` to this L2 norm (client-side DP clipping); `None` = off.
    pub clip_update_norm: Option<f32>,
    /// Poison the local labels (data-side attack) before training.
    pub label_flip: Option<LabelFlip>,
    /// Seed of the per-epoch shuffles.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 64,
            lr: 0.05,
            optimizer: Optimizer::SGD,
            fedprox_mu: 0.0,
            clip_update_norm: None,
            label_flip: None,
            seed: 0,
        }
    }
}

/// SCAFFOLD control variates given to a client: the server's `c` and the client's own `c_i`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaffold {
    /// Server control variate c.
    pub c_global: Vec<f32>,
    /// This client's control variate c_i (zeros on its first round).
    pub c_local: Vec<f32>,
}

/// What a client returns from SCAFFOLD training besides its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaffoldOutput {
    /// The new c_i⁺ = c_i − c + (w_global − w)/(K·lr) (option II), to keep for the next round.
    pub c_local_new: Vec<f32>,
    /// Δc_i = c_i⁺ − c_i, sent to the server.
    pub delta_c: Vec<f32>,
}

/// Statistics of one local epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    /// Mean training loss over the epoch's batches (sample-weighted).
    pub loss: f32,
    /// Samples processed.
    pub samples: usize,
    /// Optimiser steps taken.
    pub steps: usize,
}

/// Result of [`train_local`].
#[derive(Clone, Debug, PartialEq)]
pub struct LocalUpdate {
    /// Final local parameters (`w_global + Δ`, after clipping).
    pub params: Vec<f32>,
    /// The (clipped) update Δ = params − w_global.
    pub delta: Vec<f32>,
    /// L2 norm of Δ before clipping.
    pub update_norm: f32,
    /// Whether Δ was clipped.
    pub clipped: bool,
    /// Local training samples (the FedAvg weight).
    pub num_examples: usize,
    /// Total optimiser steps K (for FedNova / SCAFFOLD).
    pub steps: usize,
    /// Per-epoch statistics.
    pub epochs: Vec<TrainStats>,
    /// SCAFFOLD output, when control variates were given.
    pub scaffold: Option<ScaffoldOutput>,
}

/// Evaluation result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Mean cross-entropy.
    pub loss: f32,
    /// Top-1 accuracy in `[0, 1]`.
    pub accuracy: f32,
    /// Accuracy per true class (NaN-free: 0 for a class with no samples).
    pub per_class_accuracy: Vec<f32>,
    /// Samples per true class.
    pub per_class_count: Vec<usize>,
    /// Samples evaluated.
    pub samples: usize,
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "loss {:.4}  accuracy {:.2} %  ({} samples)",
            self.loss,
            100.0 * self.accuracy,
            self.samples
        )?;
        write!(f, "per class:")?;
        for (c, a) in self.per_class_accuracy.iter().enumerate() {
            write!(f, " {c}:{:.1}", 100.0 * a)?;
        }
        Ok(())
    }
}

/// Optimiser state over flat vectors.
struct OptState {
    kind: Optimizer,
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl OptState {
    fn new(kind: Optimizer, n: usize) -> Self {
        let (m, v) = match kind {
            Optimizer::Sgd { momentum: 0.0, .. } => (Vec::new(), Vec::new()),
            Optimizer::Sgd { .. } => (vec![0.0; n], Vec::new()),
            Optimizer::Adam { .. } => (vec![0.0; n], vec![0.0; n]),
        };
        Self { kind, m, v, t: 0 }
    }

    fn step(&mut self, w: &mut [f32], g: &[f32], lr: f32) {
        self.t += 1;
        match self.kind {
            Optimizer::Sgd { momentum, weight_decay } => {
                if momentum == 0.0 {
                    for (w, &g) in w.iter_mut().zip(g) {
                        let g = if weight_decay != 0.0 { g + weight_decay * *w } else { g };
                        *w -= lr * g;
                    }
                } else {
                    // PyTorch: the first step initialises the buffer to g.
                    let first = self.t == 1;
                    for ((w, &g), m) in w.iter_mut().zip(g).zip(self.m.iter_mut()) {
                        let g = if weight_decay != 0.0 { g + weight_decay * *w } else { g };
                        *m = if first { g } else { momentum * *m + g };
                        *w -= lr * *m;
                    }
                }
            }
            Optimizer::Adam { beta1, beta2, eps, weight_decay } => {
                let bc1 = 1.0 - beta1.powi(self.t);
                let bc2 = 1.0 - beta2.powi(self.t);
                let step = lr / bc1;
                let bc2_sqrt = bc2.sqrt();
                for (((w, &g), m), v) in
                    w.iter_mut().zip(g).zip(self.m.iter_mut()).zip(self.v.iter_mut())
                {
                    let g = if weight_decay != 0.0 { g + weight_decay * *w } else { g };
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= step * *m / (v.sqrt() / bc2_sqrt + eps);
                }
            }
        }
    }
}

/// Everything a local run carries from step to step.
struct Run {
    w: Vec<f32>,
    grad: Vec<f32>,
    opt: OptState,
    /// w_global, kept when FedProx is on.
    anchor: Option<Vec<f32>>,
    /// c − c_i, when SCAFFOLD is on.
    correction: Option<Vec<f32>>,
    steps: usize,
    x: Vec<f32>,
    y: Vec<u8>,
}

fn check_config(cfg: &TrainConfig) -> Result<()> {
    if cfg.batch_size == 0 {
        return Err(Error::InvalidArgument("batch_size must be positive".into()));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(Error::InvalidArgument(format!("lr must be positive, got {}", cfg.lr)));
    }
    if !(cfg.fedprox_mu.is_finite() && cfg.fedprox_mu >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "fedprox_mu must be >= 0, got {}",
            cfg.fedprox_mu
        )));
    }
    if let Some(c) = cfg.clip_update_norm
        && !(c.is_finite() && c > 0.0)
    {
        return Err(Error::InvalidArgument(format!("clip_update_norm must be positive, got {c}")));
    }
    Ok(())
}

fn run_epoch<M: Model + ?Sized>(
    model: &mut M,
    data: &Dataset,
    cfg: &TrainConfig,
    epoch: usize,
    run: &mut Run,
    on_batch: &mut dyn FnMut(BatchDone),
) -> Result<TrainStats> {
    let mut order: Vec<u32> = (0..data.len() as u32).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(epoch as u64);
    order.shuffle(&mut rng);
    let (mut loss_sum, mut seen, mut steps) = (0.0f64, 0usize, 0usize);
    for batch in order.chunks(cfg.batch_size) {
        data.gather_f32(batch, &mut run.x);
        run.y.clear();
        run.y.extend(batch.iter().map(|&i| data.labels[i as usize]));
        let loss = model.loss_and_grad(&run.x, &run.y, &mut run.grad)?;
        if !loss.is_finite() {
            return Err(Error::Diverged(format!(
                "loss {loss} at epoch {epoch}, step {}",
                run.steps
            )));
        }
        if let Some(anchor) = &run.anchor {
            let mu = cfg.fedprox_mu;
            for ((g, &w), &a) in run.grad.iter_mut().zip(&run.w).zip(anchor) {
                *g += mu * (w - a);
            }
        }
        if let Some(corr) = &run.correction {
            for (g, &c) in run.grad.iter_mut().zip(corr) {
                *g += c;
            }
        }
        run.opt.step(&mut run.w, &run.grad, cfg.lr);
        model.set_params(&run.w)?;
        loss_sum += loss as f64 * batch.len() as f64;
        seen += batch.len();
        steps += 1;
        run.steps += 1;
        on_batch(BatchDone { epoch, samples: seen, epoch_samples: data.len(), loss });
    }
    Ok(TrainStats { loss: (loss_sum / seen.max(1) as f64) as f32, samples: seen, steps })
}

fn new_run<M: Model + ?Sized>(
    model: &M,
    cfg: &TrainConfig,
    w0: Vec<f32>,
    scaffold: Option<&Scaffold>,
) -> Result<Run> {
    let n = model.num_params();
    let correction = match scaffold {
        Some(s) => {
            if s.c_global.len() != n || s.c_local.len() != n {
                return Err(Error::ParamMismatch(format!(
                    "SCAFFOLD control variates have {}/{} values, model has {n}",
                    s.c_global.len(),
                    s.c_local.len()
                )));
            }
            Some(s.c_global.iter().zip(&s.c_local).map(|(c, ci)| c - ci).collect())
        }
        None => None,
    };
    Ok(Run {
        anchor: (cfg.fedprox_mu != 0.0).then(|| w0.clone()),
        w: w0,
        grad: vec![0.0; n],
        opt: OptState::new(cfg.optimizer, n),
        correction,
        steps: 0,
        x: Vec::new(),
        y: Vec::new(),
    })
}

/// One epoch with a fresh optimiser state (what [`Model::train_epoch`] does).
pub fn train_one_epoch<M: Model + ?Sized>(
    model: &mut M,
    data: &Dataset,
    cfg: &TrainConfig,
    epoch: usize,
) -> Result<TrainStats> {
    check_config(cfg)?;
    check_data(data)?;
    let w0 = model.params()?;
    let mut run = new_run(model, cfg, w0, None)?;
    run_epoch(model, data, cfg, epoch, &mut run, &mut |_| {})
}

/// Progress of local training, reported after every batch by [`train_local_observed`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchDone {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Samples of this epoch done so far.
    pub samples: usize,
    /// Samples per epoch.
    pub epoch_samples: usize,
    /// Mean loss of the batch just done.
    pub loss: f32,
}

fn check_data(data: &Dataset) -> Result<()> {
    if data.is_empty() {
        return Err(Error::InvalidArgument("no training samples".into()));
    }
    if data.pixels() != crate::model::IMAGE_SIDE * crate::model::IMAGE_SIDE
        || data.num_classes != NUM_CLASSES
    {
        return Err(Error::InvalidArgument(format!(
            "models expect 28x28 images and 10 classes, data has {}x{} and {}",
            data.rows, data.cols, data.num_classes
        )));
    }
    Ok(())
}

/// L2 norm of a vector (accumulated in f64).
pub fn l2_norm(v: &[f32]) -> f32 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt() as f32
}

/// Clips `delta` in place to L2 norm `max_norm`; returns (norm before clipping, whether it clipped).
pub fn clip_update(delta: &mut [f32], max_norm: f32) -> (f32, bool) {
    let norm = l2_norm(delta);
    if norm > max_norm && norm > 0.0 {
        let s = max_norm / norm;
        delta.iter_mut().for_each(|d| *d *= s);
        (norm, true)
    } else {
        (norm, false)
    }
}

/// Local training from the model's current parameters (the global model): `cfg.epochs` epochs over
/// `data` with FedProx, optional SCAFFOLD control variates, optional label flipping and optional update
/// clipping. On return the model holds [`LocalUpdate::params`].
pub fn train_local<M: Model + ?Sized>(
    model: &mut M,
    data: &Dataset,
    cfg: &TrainConfig,
    scaffold: Option<&Scaffold>,
) -> Result<LocalUpdate> {
    train_local_observed(model, data, cfg, scaffold, &mut |_| {})
}

/// [`train_local`] that calls `on_batch` after every optimiser step (progress bars).
pub fn train_local_observed<M: Model + ?Sized>(
    model: &mut M,
    data: &Dataset,
    cfg: &TrainConfig,
    scaffold: Option<&Scaffold>,
    on_batch: &mut dyn FnMut(BatchDone),
) -> Result<LocalUpdate> {
    check_config(cfg)?;
    check_data(data)?;
    let flipped;
    let data = match &cfg.label_flip {
        Some(flip) => {
            flipped = flip.apply(data)?;
            &flipped
        }
        None => data,
    };
    let w_global = model.params()?;
    let mut run = new_run(model, cfg, w_global.clone(), scaffold)?;
    let mut epochs = Vec::with_capacity(cfg.epochs);
    for e in 0..cfg.epochs {
        epochs.push(run_epoch(model, data, cfg, e, &mut run, on_batch)?);
    }
    let mut delta: Vec<f32> = run.w.iter().zip(&w_global).map(|(w, g)| w - g).collect();
    let (update_norm, clipped) = match cfg.clip_update_norm {
        Some(c) => clip_update(&mut delta, c),
        None => (l2_norm(&delta), false),
    };
    if !update_norm.is_finite() {
        return Err(Error::Diverged(format!("update norm {update_norm}")));
    }
    let params: Vec<f32> =
        if clipped { w_global.iter().zip(&delta).map(|(g, d)| g + d).collect() } else { run.w };
    if clipped {
        model.set_params(&params)?;
    }
    let scaffold = match scaffold {
        Some(s) if run.steps > 0 => {
            // Option II of Karimireddy et al. 2020, from the final (possibly clipped) local model.
            let k_lr = run.steps as f32 * cfg.lr;
            let c_local_new: Vec<f32> = s
                .c_local
                .iter()
                .zip(&s.c_global)
                .zip(w_global.iter().zip(&params))
                .map(|((ci, c), (wg, w))| ci - c + (wg - w) / k_lr)
                .collect();
            let delta_c = c_local_new.iter().zip(&s.c_local).map(|(n, o)| n - o).collect();
            Some(ScaffoldOutput { c_local_new, delta_c })
        }
        _ => None,
    };
    Ok(LocalUpdate {
        params,
        delta,
        update_norm,
        clipped,
        num_examples: data.len(),
        steps: run.steps,
        epochs,
        scaffold,
    })
}

/// Evaluates `model` on `data` (batches of 1000).
pub fn evaluate<M: Model + ?Sized>(model: &M, data: &Dataset) -> Result<EvalReport> {
    evaluate_with(data, |x| model.logits(x))
}

/// Evaluation driver over any logits function (`x` is a batch of `f32` pixels).
pub(crate) fn evaluate_with<F: FnMut(&[f32]) -> Result<Vec<f32>>>(
    data: &Dataset,
    mut logits: F,
) -> Result<EvalReport> {
    let c = NUM_CLASSES;
    let mut correct = vec![0usize; c];
    let mut count = vec![0usize; c];
    let mut loss = 0.0f64;
    let idx: Vec<u32> = (0..data.len() as u32).collect();
    let mut x = Vec::new();
    for batch in idx.chunks(1000) {
        data.gather_f32(batch, &mut x);
        let out = logits(&x)?;
        for (row, &i) in out.chunks(c).zip(batch) {
            let y = data.labels[i as usize] as usize;
            let (pred, lse) = argmax_logsumexp(row);
            loss += lse - row[y] as f64;
            count[y] += 1;
            correct[y] += usize::from(pred == y);
        }
    }
    let n = data.len();
    Ok(EvalReport {
        loss: (loss / n.max(1) as f64) as f32,
        accuracy: correct.iter().sum::<usize>() as f32 / n.max(1) as f32,
        per_class_accuracy: correct
            .iter()
            .zip(&count)
            .map(|(&k, &m)| if m == 0 { 0.0 } else { k as f32 / m as f32 })
            .collect(),
        per_class_count: count,
        samples: n,
    })
}

/// (index of the maximum, log-sum-exp) of one logits row.
pub(crate) fn argmax_logsumexp(row: &[f32]) -> (usize, f64) {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    let m = row[best] as f64;
    let lse = m + row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
    (best, lse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, BurnModel};

    fn mnist_subset(n: usize) -> (Dataset, Dataset) {
        let s = crate::data::load_dataset("mnist", None).unwrap();
        (s.train.head(n), s.test.head(1000))
    }

    #[test]
    fn fedprox_with_zero_mu_equals_plain_sgd_bit_for_bit() {
        let (train, _) = mnist_subset(256);
        let cfg = TrainConfig { batch_size: 32, lr: 0.1, seed: 5, ..TrainConfig::default() };
        let mut a = BurnModel::new(Arch::Mlp, 1).unwrap();
        let mut b = BurnModel::new(Arch::Mlp, 1).unwrap();
        let ra = train_local(&mut a, &train, &cfg, None).unwrap();
        let rb = train_local(&mut b, &train, &TrainConfig { fedprox_mu: 0.0, ..cfg.clone() }, None)
            .unwrap();
        assert_eq!(ra.params, rb.params);
        // A non-zero μ must change the trajectory and pull towards the global model.
        let mut c = BurnModel::new(Arch::Mlp, 1).unwrap();
        let rc =
            train_local(&mut c, &train, &TrainConfig { fedprox_mu: 1.0, ..cfg }, None).unwrap();
        assert_ne!(ra.params, rc.params);
        assert!(rc.update_norm < ra.update_norm);
    }

    #[test]
    fn training_is_reproducible_for_a_seed() {
        let (train, _) = mnist_subset(200);
        let cfg = TrainConfig {
            batch_size: 50,
            seed: 9,
            optimizer: Optimizer::Sgd { momentum: 0.9, weight_decay: 0.0 },
            ..TrainConfig::default()
        };
        let run = |seed| {
            let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
            train_local(&mut m, &train, &TrainConfig { seed, ..cfg.clone() }, None).unwrap().params
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn short_mlp_training_on_2k_samples_beats_chance_by_far() {
        let (train, test) = mnist_subset(2_000);
        let mut m = BurnModel::new(Arch::Mlp, 0).unwrap();
        let before = m.evaluate(&test).unwrap();
        let cfg = TrainConfig {
            epochs: 2,
            batch_size: 32,
            lr: 0.05,
            optimizer: Optimizer::Sgd { momentum: 0.9, weight_decay: 0.0 },
            ..TrainConfig::default()
        };
        let r = train_local(&mut m, &train, &cfg, None).unwrap();
        let after = m.evaluate(&test).unwrap();
        assert!(before.accuracy < 0.25, "{before}");
        assert!(after.accuracy > 0.80, "{after}");
        assert!(r.epochs[1].loss < r.epochs[0].loss);
        assert_eq!((r.num_examples, r.steps), (2_000, 126));
        assert_eq!(after.per_class_count.iter().sum::<usize>(), 1000);
    }

    #[test]
    fn adam_trains_logistic_regression() {
        let (train, test) = mnist_subset(1_000);
        let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
        let cfg = TrainConfig {
            batch_size: 50,
            lr: 0.01,
            optimizer: Optimizer::ADAM,
            ..TrainConfig::default()
        };
        train_local(&mut m, &train, &cfg, None).unwrap();
        assert!(m.evaluate(&test).unwrap().accuracy > 0.75);
    }

    #[test]
    fn update_clipping_bounds_the_norm() {
        let (train, _) = mnist_subset(300);
        let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
        let w0 = m.params().unwrap();
        let cfg = TrainConfig { clip_update_norm: Some(0.05), ..TrainConfig::default() };
        let r = train_local(&mut m, &train, &cfg, None).unwrap();
        assert!(r.clipped && r.update_norm > 0.05);
        assert!((l2_norm(&r.delta) - 0.05).abs() < 1e-4);
        let w1 = m.params().unwrap();
        let d: Vec<f32> = w1.iter().zip(&w0).map(|(a, b)| a - b).collect();
        assert!((l2_norm(&d) - 0.05).abs() < 1e-4);
    }

    #[test]
    fn scaffold_returns_control_variate_deltas() {
        let (train, _) = mnist_subset(256);
        let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
        let n = m.num_params();
        let s = Scaffold { c_global: vec![0.0; n], c_local: vec![0.0; n] };
        let cfg = TrainConfig { batch_size: 64, lr: 0.1, ..TrainConfig::default() };
        let r = train_local(&mut m, &train, &cfg, Some(&s)).unwrap();
        let out = r.scaffold.unwrap();
        // With c = c_i = 0: c_i+ = (w_global − w)/(K·lr) = −Δ/(K·lr).
        for (dc, d) in out.delta_c.iter().zip(&r.delta) {
            assert!((dc + d / (4.0 * 0.1)).abs() < 1e-5);
        }
        let bad = Scaffold { c_global: vec![0.0; 3], c_local: vec![0.0; n] };
        assert!(matches!(
            train_local(&mut m, &train, &cfg, Some(&bad)),
            Err(Error::ParamMismatch(_))
        ));
    }

    #[test]
    fn invalid_configs_and_data_are_rejected() {
        let (train, _) = mnist_subset(10);
        let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
        for cfg in [
            TrainConfig { batch_size: 0, ..TrainConfig::default() },
            TrainConfig { lr: -1.0, ..TrainConfig::default() },
            TrainConfig { fedprox_mu: f32::NAN, ..TrainConfig::default() },
            TrainConfig { clip_update_norm: Some(0.0), ..TrainConfig::default() },
        ] {
            assert!(
                matches!(train_local(&mut m, &train, &cfg, None), Err(Error::InvalidArgument(_))),
                "{cfg:?}"
            );
        }
        assert!(train_local(&mut m, &train.head(0), &TrainConfig::default(), None).is_err());
    }
}
