//! Models behind a small trait of ours ([`Model`]) with two implementations of every architecture:
//! burn's flex CPU backend ([`BurnModel`], autodiff; the reference) and hand-written passes on `gemm`
//! ([`crate::native`], the default: faster on one core, see docs/trainer.md).
//!
//! Parameters are a flat `Vec<f32>` laid out tensor after tensor in the fixed order of
//! [`Arch::param_spec`] (layer order; weight before bias). Linear weights use burn's `[in, out]`
//! layout (PyTorch stores `[out, in]`); conv weights are `[out, in, kh, kw]` as in PyTorch.
//! Initialisation is ours, seeded (ChaCha8): every tensor ~ U(−1/√fan_in, 1/√fan_in), PyTorch's default
//! for `Linear`/`Conv2d`, so a model is a pure function of (arch, seed).
//!
//! Inputs are 28×28 single-channel images scaled to `[0, 1]` (MNIST, Fashion-MNIST), 10 classes.

use std::fmt;
use std::str::FromStr;

use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{
    Device, Tensor, TensorData, activation, loss::cross_entropy_with_logits, module as nnf,
};
use chorus_fl::update::{ModelSpec, TensorSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::native::{NativeCnn, NativeDense};
use crate::train::{self, EvalReport, TrainConfig, TrainStats};

/// Image side the built-in architectures expect.
pub const IMAGE_SIDE: usize = 28;
/// Number of classes of the built-in architectures.
pub const NUM_CLASSES: usize = 10;
const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// The built-in architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Arch {
    /// Multinomial logistic regression 784→10 (7 850 parameters).
    LogReg,
    /// MLP 784-200-200-10 with ReLU (McMahan et al. 2017 "2NN", 199 210 parameters).
    Mlp,
    /// McMahan et al. 2017 CNN: conv5×5 1→32 (same padding), ReLU, maxpool 2; conv5×5 32→64, ReLU,
    /// maxpool 2; fc 3136→512, ReLU; fc 512→10 (1 663 370 parameters).
    Cnn,
    /// A smaller CNN for slow machines: conv5×5 1→16, pool, conv5×5 16→32, pool, fc 1568→128, fc
    /// 128→10 (215 370 parameters).
    CnnSmall,
}

impl Arch {
    /// The registry name.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::LogReg => "logreg",
            Arch::Mlp => "mlp",
            Arch::Cnn => "cnn",
            Arch::CnnSmall => "cnn-small",
        }
    }

    /// (conv1 channels, conv2 channels, fc hidden) of the CNN variants.
    pub(crate) fn cnn_dims(self) -> (usize, usize, usize) {
        match self {
            Arch::CnnSmall => (16, 32, 128),
            _ => (32, 64, 512),
        }
    }

    /// The parameter layout, in storage order.
    pub fn param_spec(self) -> ModelSpec {
        let t = TensorSpec::new;
        let tensors = match self {
            Arch::LogReg => {
                vec![t("fc.weight", vec![PIXELS, NUM_CLASSES]), t("fc.bias", vec![NUM_CLASSES])]
            }
            Arch::Mlp => vec![
                t("fc1.weight", vec![PIXELS, 200]),
                t("fc1.bias", vec![200]),
                t("fc2.weight", vec![200, 200]),
                t("fc2.bias", vec![200]),
                t("fc3.weight", vec![200, NUM_CLASSES]),
                t("fc3.bias", vec![NUM_CLASSES]),
            ],
            Arch::Cnn | Arch::CnnSmall => {
                let (c1, c2, h) = self.cnn_dims();
                let flat = c2 * (IMAGE_SIDE / 4) * (IMAGE_SIDE / 4);
                vec![
                    t("conv1.weight", vec![c1, 1, 5, 5]),
                    t("conv1.bias", vec![c1]),
                    t("conv2.weight", vec![c2, c1, 5, 5]),
                    t("conv2.bias", vec![c2]),
                    t("fc1.weight", vec![flat, h]),
                    t("fc1.bias", vec![h]),
                    t("fc2.weight", vec![h, NUM_CLASSES]),
                    t("fc2.bias", vec![NUM_CLASSES]),
                ]
            }
        };
        ModelSpec::new(tensors)
    }

    /// Fan-in of each tensor of [`Arch::param_spec`] (a bias uses its layer's fan-in).
    fn fan_ins(self) -> Vec<usize> {
        let spec = self.param_spec();
        let mut out = Vec::with_capacity(spec.tensors.len());
        let mut last = 1;
        for t in &spec.tensors {
            if t.shape.len() > 1 {
                // [in, out] for linear, [out, in, kh, kw] for conv.
                last = if t.shape.len() == 2 { t.shape[0] } else { t.shape[1..].iter().product() };
            }
            out.push(last);
        }
        out
    }

    /// Deterministic initial parameters for `seed`.
    pub fn init_params(self, seed: u64) -> Vec<f32> {
        let spec = self.param_spec();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(spec.num_params());
        for (t, fan_in) in spec.tensors.iter().zip(self.fan_ins()) {
            let b = 1.0 / (fan_in as f32).sqrt();
            out.extend((0..t.numel()).map(|_| rng.random_range(-b..b)));
        }
        out
    }
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "logreg" => Ok(Arch::LogReg),
            "mlp" => Ok(Arch::Mlp),
            "cnn" => Ok(Arch::Cnn),
            "cnn-small" => Ok(Arch::CnnSmall),
            other => Err(Error::UnknownModel(other.to_string())),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trainable classifier with a flat `f32` parameter vector.
///
/// Implementors supply the five required methods; training and evaluation are provided on top of them
/// (all optimiser arithmetic runs on flat vectors in [`crate::train`], so every backend behaves alike).
pub trait Model {
    /// The architecture.
    fn arch(&self) -> Arch;
    /// What computes it (for reports), e.g. `"burn 0.22.1 flex"`.
    fn backend(&self) -> &'static str;
    /// Parameter layout (names and shapes, in storage order).
    fn param_spec(&self) -> ModelSpec {
        self.arch().param_spec()
    }
    /// Number of parameters.
    fn num_params(&self) -> usize;
    /// A copy of the parameters, in [`Model::param_spec`] order.
    fn params(&self) -> Result<Vec<f32>>;
    /// Replaces all parameters; the length must equal [`Model::num_params`].
    fn set_params(&mut self, params: &[f32]) -> Result<()>;
    /// Mean cross-entropy over a batch (`x`: `batch × 784` pixels in `[0,1]`, `y`: labels) and its
    /// gradient with respect to the parameters, written to `grad` (length [`Model::num_params`]).
    fn loss_and_grad(&mut self, x: &[f32], y: &[u8], grad: &mut [f32]) -> Result<f32>;
    /// Logits (`batch × 10`, row-major) for a batch of inputs.
    fn logits(&self, x: &[f32]) -> Result<Vec<f32>>;

    /// One local epoch over `data` with a fresh optimiser state (see [`train::train_local`] for a
    /// multi-epoch run with FedProx/SCAFFOLD/clipping).
    fn train_epoch(
        &mut self,
        data: &Dataset,
        cfg: &TrainConfig,
        epoch: usize,
    ) -> Result<TrainStats> {
        train::train_one_epoch(self, data, cfg, epoch)
    }
    /// Loss, accuracy and per-class accuracy on `data`.
    fn evaluate(&self, data: &Dataset) -> Result<EvalReport> {
        train::evaluate(self, data)
    }
}

/// `Error::ParamMismatch` unless `given` parameters fit a model of `arch` that has `expected`.
pub(crate) fn check_param_count(arch: Arch, given: usize, expected: usize) -> Result<()> {
    if given == expected {
        Ok(())
    } else {
        Err(Error::ParamMismatch(format!("{given} parameters given, {arch} has {expected}")))
    }
}

/// Builds a model by name (`"logreg" | "mlp" | "cnn" | "cnn-small"`) with seeded initial parameters
/// on the default backend, [`Backend::Native`] (see [`build_model_on`] to pick one).
pub fn build_model(name: &str, seed: u64) -> Result<Box<dyn Model + Send>> {
    build_model_on(name.parse()?, Backend::Native, seed)
}

/// Which implementation computes a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// [`BurnModel`]: burn 0.22.1, flex CPU backend with autodiff (every architecture).
    Burn,
    /// Hand-written forward/backward on `gemm` ([`NativeDense`], [`NativeCnn`]); about 2× burn on
    /// the CNN and 1.3× on the MLP on one core (docs/trainer.md). The default.
    Native,
}

/// Builds `arch` on `backend` with seeded initial parameters (identical across backends).
pub fn build_model_on(arch: Arch, backend: Backend, seed: u64) -> Result<Box<dyn Model + Send>> {
    Ok(match backend {
        Backend::Burn => Box::new(BurnModel::new(arch, seed)?),
        Backend::Native => match arch {
            Arch::LogReg | Arch::Mlp => Box::new(NativeDense::new(arch, seed)?),
            Arch::Cnn | Arch::CnnSmall => Box::new(NativeCnn::new(arch, seed)?),
        },
    })
}

/// A [`Model`] on burn's flex CPU backend (pure Rust, single-threaded, autodiff decorator).
pub struct BurnModel {
    arch: Arch,
    spec: ModelSpec,
    device: Device,
    eval_device: Device,
    /// One flat (rank-1) tensor per spec tensor, tracked by autodiff; reshaped in `forward`.
    tensors: Vec<Tensor<1>>,
}

impl fmt::Debug for BurnModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BurnModel")
            .field("arch", &self.arch)
            .field("params", &self.spec.num_params())
            .finish()
    }
}

impl BurnModel {
    /// A model with deterministic initial parameters for `seed`.
    pub fn new(arch: Arch, seed: u64) -> Result<Self> {
        let params = arch.init_params(seed);
        Self::with_params(arch, &params)
    }

    /// A model with the given parameters.
    pub fn with_params(arch: Arch, params: &[f32]) -> Result<Self> {
        let device = Device::flex().autodiff();
        let mut m = Self {
            arch,
            spec: arch.param_spec(),
            device,
            eval_device: Device::flex(),
            tensors: Vec::new(),
        };
        m.set_params(params)?;
        Ok(m)
    }

    fn build_tensors(&self, params: &[f32], device: &Device, track: bool) -> Vec<Tensor<1>> {
        let mut off = 0;
        self.spec
            .tensors
            .iter()
            .map(|t| {
                let n = t.numel();
                let x = Tensor::<1>::from_data(
                    TensorData::new(params[off..off + n].to_vec(), [n]),
                    device,
                );
                off += n;
                if track { x.require_grad() } else { x }
            })
            .collect()
    }

    /// The forward pass: `x` is `[batch, 784]`, the result `[batch, 10]` logits.
    fn forward(arch: Arch, spec: &ModelSpec, p: &[Tensor<1>], x: Tensor<2>) -> Tensor<2> {
        let w2 = |i: usize| {
            let s = &spec.tensors[i].shape;
            p[i].clone().reshape([s[0], s[1]])
        };
        let w4 = |i: usize| {
            let s = &spec.tensors[i].shape;
            p[i].clone().reshape([s[0], s[1], s[2], s[3]])
        };
        let b = |i: usize| Some(p[i].clone());
        match arch {
            Arch::LogReg => nnf::linear(x, w2(0), b(1)),
            Arch::Mlp => {
                let h = activation::relu(nnf::linear(x, w2(0), b(1)));
                let h = activation::relu(nnf::linear(h, w2(2), b(3)));
                nnf::linear(h, w2(4), b(5))
            }
            Arch::Cnn | Arch::CnnSmall => {
                let [batch, _] = x.dims();
                let x = x.reshape([batch, 1, IMAGE_SIDE, IMAGE_SIDE]);
                let conv = || ConvOptions::new([1, 1], [2, 2], [1, 1], 1);
                let pool = || MaxPoolOptions::new([2, 2]);
                let h = activation::relu(nnf::conv2d(x, w4(0), b(1), conv()));
                let h = nnf::max_pool2d(h, pool());
                let h = activation::relu(nnf::conv2d(h, w4(2), b(3), conv()));
                let h = nnf::max_pool2d(h, pool());
                let [bb, c, hh, ww] = h.dims();
                let h = h.reshape([bb, c * hh * ww]);
                let h = activation::relu(nnf::linear(h, w2(4), b(5)));
                nnf::linear(h, w2(6), b(7))
            }
        }
    }

    fn input(&self, x: &[f32], device: &Device) -> Result<Tensor<2>> {
        if x.is_empty() || !x.len().is_multiple_of(PIXELS) {
            return Err(Error::InvalidArgument(format!(
                "input of {} values is not a batch of {PIXELS}-pixel images",
                x.len()
            )));
        }
        Ok(Tensor::<2>::from_data(TensorData::new(x.to_vec(), [x.len() / PIXELS, PIXELS]), device))
    }
}

fn read_f32(t: Tensor<1>, out: &mut [f32]) -> Result<()> {
    let data =
        t.try_into_data().map_err(|e| Error::Diverged(format!("tensor read failed: {e:?}")))?;
    let s = data
        .as_slice::<f32>()
        .map_err(|e| Error::Diverged(format!("tensor read failed: {e:?}")))?;
    if s.len() != out.len() {
        return Err(Error::ParamMismatch(format!(
            "tensor has {} values, expected {}",
            s.len(),
            out.len()
        )));
    }
    out.copy_from_slice(s);
    Ok(())
}

impl Model for BurnModel {
    fn arch(&self) -> Arch {
        self.arch
    }
    fn backend(&self) -> &'static str {
        "burn 0.22.1 flex"
    }
    fn param_spec(&self) -> ModelSpec {
        self.spec.clone()
    }
    fn num_params(&self) -> usize {
        self.spec.num_params()
    }
    fn params(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.num_params()];
        let mut off = 0;
        for (t, s) in self.tensors.iter().zip(&self.spec.tensors) {
            let n = s.numel();
            read_f32(t.clone(), &mut out[off..off + n])?;
            off += n;
        }
        Ok(out)
    }
    fn set_params(&mut self, params: &[f32]) -> Result<()> {
        check_param_count(self.arch, params.len(), self.num_params())?;
        // Fresh leaves from plain data (burn trap: a re-used or detached snapshot can share a consumed
        // graph; a mapped tensor must be marked `require_grad` again).
        self.tensors = self.build_tensors(params, &self.device, true);
        Ok(())
    }
    fn loss_and_grad(&mut self, x: &[f32], y: &[u8], grad: &mut [f32]) -> Result<f32> {
        let batch = y.len();
        if x.len() != batch * PIXELS || grad.len() != self.num_params() {
            return Err(Error::InvalidArgument(format!(
                "batch of {} labels, {} pixels, grad of {}",
                batch,
                x.len(),
                grad.len()
            )));
        }
        let xs = self.input(x, &self.device)?;
        let mut onehot = vec![0.0f32; batch * NUM_CLASSES];
        for (i, &l) in y.iter().enumerate() {
            let l = l as usize;
            if l >= NUM_CLASSES {
                return Err(Error::InvalidArgument(format!("label {l} out of range")));
            }
            onehot[i * NUM_CLASSES + l] = 1.0;
        }
        let target =
            Tensor::<2>::from_data(TensorData::new(onehot, [batch, NUM_CLASSES]), &self.device);
        let logits = Self::forward(self.arch, &self.spec, &self.tensors, xs);
        let loss = cross_entropy_with_logits(logits, target);
        let grads = loss.backward();
        let value = loss.try_into_scalar::<f32>().map_err(|e| Error::Diverged(format!("{e:?}")))?;
        let mut off = 0;
        for (t, s) in self.tensors.iter().zip(&self.spec.tensors) {
            let n = s.numel();
            match t.grad(&grads) {
                Some(g) => read_f32(g, &mut grad[off..off + n])?,
                None => grad[off..off + n].fill(0.0),
            }
            off += n;
        }
        Ok(value)
    }
    fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        let params = self.params()?;
        let p = self.build_tensors(&params, &self.eval_device, false);
        let xs = self.input(x, &self.eval_device)?;
        let out = Self::forward(self.arch, &self.spec, &p, xs);
        let [b, c] = out.dims();
        let mut v = vec![0.0; b * c];
        read_f32(out.reshape([b * c]), &mut v)?;
        Ok(v)
    }

    fn evaluate(&self, data: &Dataset) -> Result<EvalReport> {
        // One parameter upload for the whole evaluation instead of one per batch.
        let params = self.params()?;
        let p = self.build_tensors(&params, &self.eval_device, false);
        train::evaluate_with(data, |x| {
            let xs = self.input(x, &self.eval_device)?;
            let out = Self::forward(self.arch, &self.spec, &p, xs);
            let [b, c] = out.dims();
            let mut v = vec![0.0; b * c];
            read_f32(out.reshape([b * c]), &mut v)?;
            Ok(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_counts_match_the_papers() {
        assert_eq!(Arch::LogReg.param_spec().num_params(), 7_850);
        assert_eq!(Arch::Mlp.param_spec().num_params(), 199_210);
        assert_eq!(Arch::Cnn.param_spec().num_params(), 1_663_370);
        assert_eq!(Arch::CnnSmall.param_spec().num_params(), 215_370);
    }

    #[test]
    fn init_is_a_pure_function_of_the_seed() {
        assert_eq!(Arch::Mlp.init_params(1), Arch::Mlp.init_params(1));
        assert_ne!(Arch::Mlp.init_params(1), Arch::Mlp.init_params(2));
    }

    #[test]
    fn params_round_trip_and_a_step_still_trains() {
        // Burn traps (see notes): set -> get -> train a step -> get must work and change the params.
        for arch in [Arch::LogReg, Arch::Mlp, Arch::CnnSmall] {
            let mut m = BurnModel::new(arch, 3).unwrap();
            let p = arch.init_params(3);
            assert_eq!(m.params().unwrap(), p);
            m.set_params(&p).unwrap();
            let x: Vec<f32> = (0..2 * PIXELS).map(|i| (i % 7) as f32 / 7.0).collect();
            let mut g = vec![0.0; m.num_params()];
            let l1 = m.loss_and_grad(&x, &[3, 4], &mut g).unwrap();
            let l2 = m.loss_and_grad(&x, &[3, 4], &mut g).unwrap();
            assert_eq!(l1, l2, "{arch}: loss must not depend on a previous backward");
            assert!(g.iter().any(|&v| v != 0.0));
            let q: Vec<f32> = p.iter().zip(&g).map(|(w, g)| w - 0.1 * g).collect();
            m.set_params(&q).unwrap();
            assert_eq!(m.params().unwrap(), q);
            let l3 = m.loss_and_grad(&x, &[3, 4], &mut g).unwrap();
            assert!(l3 < l1, "{arch}: {l3} !< {l1}");
            assert_eq!(m.logits(&x).unwrap().len(), 20);
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let mut m = BurnModel::new(Arch::LogReg, 0).unwrap();
        assert!(matches!(m.set_params(&[0.0; 3]), Err(Error::ParamMismatch(_))));
        assert!(m.logits(&[0.0; 5]).is_err());
        assert!(matches!(build_model("resnet", 0), Err(Error::UnknownModel(_))));
    }
}
