//! The dense networks ([`Arch::LogReg`], [`Arch::Mlp`]) written out by hand: per layer one
//! `[B, in] × [in, out]` product forward and two backward (weights, inputs; none for the first
//! layer's input), ReLU between layers, softmax cross-entropy on top.
//!
//! Parameter layout is exactly [`Arch::param_spec`] (weights `[in, out]`, then the bias, layer by
//! layer), interchangeable with [`crate::BurnModel`]'s.

use std::fmt;
use std::sync::Mutex;

use chorus_fl::update::ModelSpec;

use super::{
    add_bias, check_batch, check_input, column_sums, matmul, relu_backward, softmax_cross_entropy,
};
use crate::error::{Error, Result};
use crate::model::{Arch, Model, NUM_CLASSES, check_param_count};

/// Largest batch pushed through at once by [`Model::logits`].
const EVAL_CHUNK: usize = 1024;

/// One dense layer: sizes and where its tensors start in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
struct Layer {
    inputs: usize,
    outputs: usize,
    weight: usize,
    bias: usize,
}

/// A dense ReLU network ([`Arch::LogReg`] or [`Arch::Mlp`]) on `gemm`.
pub struct NativeDense {
    arch: Arch,
    layers: Vec<Layer>,
    total: usize,
    params: Vec<f32>,
    /// Activations of every layer (`acts[l]` is `[B, layers[l].outputs]`, ReLU applied except on the
    /// last) and the gradient scratch, reused between calls.
    ws: Mutex<Scratch>,
}

#[derive(Default)]
struct Scratch {
    acts: Vec<Vec<f32>>,
    /// Gradient w.r.t. the current layer's output, and the one below it.
    d_out: Vec<f32>,
    d_in: Vec<f32>,
}

impl fmt::Debug for NativeDense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeDense")
            .field("arch", &self.arch)
            .field("params", &self.total)
            .finish()
    }
}

impl NativeDense {
    /// A model with deterministic initial parameters for `seed` (the same as
    /// [`crate::BurnModel::new`] for that seed).
    pub fn new(arch: Arch, seed: u64) -> Result<Self> {
        Self::with_params(arch, &arch.init_params(seed))
    }

    /// A model with the given parameters.
    pub fn with_params(arch: Arch, params: &[f32]) -> Result<Self> {
        if !matches!(arch, Arch::LogReg | Arch::Mlp) {
            return Err(Error::InvalidArgument(format!("{arch} is not a dense architecture")));
        }
        let spec = arch.param_spec();
        let mut layers = Vec::new();
        let mut off = 0;
        for pair in spec.tensors.chunks_exact(2) {
            let (w, b) = (&pair[0], &pair[1]);
            let (inputs, outputs) = (w.shape[0], w.shape[1]);
            debug_assert_eq!(b.shape, vec![outputs]);
            layers.push(Layer { inputs, outputs, weight: off, bias: off + inputs * outputs });
            off += inputs * outputs + outputs;
        }
        debug_assert_eq!(layers.last().map(|l| l.outputs), Some(NUM_CLASSES));
        let mut m = Self {
            arch,
            layers,
            total: off,
            params: Vec::new(),
            ws: Mutex::new(Scratch::default()),
        };
        m.set_params(params)?;
        Ok(m)
    }

    /// Forward pass; the logits end up in `s.acts.last()`.
    fn forward(&self, x: &[f32], batch: usize, s: &mut Scratch) {
        s.acts.resize_with(self.layers.len(), Vec::new);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let (below, rest) = s.acts.split_at_mut(i);
            let input = if i == 0 { x } else { &below[i - 1][..] };
            let out = &mut rest[0];
            if out.len() < batch * l.outputs {
                out.resize(batch * l.outputs, 0.0);
            }
            let out = &mut out[..batch * l.outputs];
            let w = &self.params[l.weight..l.bias];
            matmul(out, input, false, w, false, batch, l.outputs, l.inputs, false);
            add_bias(out, &self.params[l.bias..l.bias + l.outputs], i != last);
        }
    }

    fn scratch(&self) -> std::sync::MutexGuard<'_, Scratch> {
        // A panic inside a pass leaves only scratch data behind: reuse it.
        self.ws.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Model for NativeDense {
    fn arch(&self) -> Arch {
        self.arch
    }
    fn backend(&self) -> &'static str {
        "native gemm 0.19"
    }
    fn param_spec(&self) -> ModelSpec {
        self.arch.param_spec()
    }
    fn num_params(&self) -> usize {
        self.total
    }
    fn params(&self) -> Result<Vec<f32>> {
        Ok(self.params.clone())
    }
    fn set_params(&mut self, params: &[f32]) -> Result<()> {
        check_param_count(self.arch, params.len(), self.total)?;
        self.params.clear();
        self.params.extend_from_slice(params);
        Ok(())
    }
    fn loss_and_grad(&mut self, x: &[f32], y: &[u8], grad: &mut [f32]) -> Result<f32> {
        check_batch(x, y, grad, self.total)?;
        let batch = y.len();
        let mut guard = self.scratch();
        let s = &mut *guard;
        self.forward(x, batch, s);
        let last = self.layers.len() - 1;
        if s.d_out.len() < batch * NUM_CLASSES {
            s.d_out.resize(batch * NUM_CLASSES, 0.0);
        }
        let loss = softmax_cross_entropy(
            &s.acts[last][..batch * NUM_CLASSES],
            y,
            &mut s.d_out[..batch * NUM_CLASSES],
        );
        for (i, l) in self.layers.iter().enumerate().rev() {
            let input = if i == 0 { x } else { &s.acts[i - 1][..batch * l.inputs] };
            let d_out = &s.d_out[..batch * l.outputs];
            matmul(
                &mut grad[l.weight..l.bias],
                input,
                true,
                d_out,
                false,
                l.inputs,
                l.outputs,
                batch,
                false,
            );
            column_sums(d_out, l.outputs, &mut grad[l.bias..l.bias + l.outputs]);
            if i == 0 {
                break;
            }
            if s.d_in.len() < batch * l.inputs {
                s.d_in.resize(batch * l.inputs, 0.0);
            }
            let d_in = &mut s.d_in[..batch * l.inputs];
            let w = &self.params[l.weight..l.bias];
            matmul(d_in, d_out, false, w, true, batch, l.inputs, l.outputs, false);
            relu_backward(d_in, input);
            std::mem::swap(&mut s.d_out, &mut s.d_in);
        }
        Ok(loss)
    }
    fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        let batch = check_input(x)?;
        let pixels = x.len() / batch;
        let mut out = Vec::with_capacity(batch * NUM_CLASSES);
        let mut guard = self.scratch();
        for chunk in x.chunks(EVAL_CHUNK * pixels) {
            let n = chunk.len() / pixels;
            self.forward(chunk, n, &mut guard);
            out.extend_from_slice(&guard.acts[self.layers.len() - 1][..n * NUM_CLASSES]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::BurnModel;
    use crate::native::test_util::{
        assert_bad_input_is_refused_and_changes_nothing,
        assert_gradient_matches_finite_differences, assert_same_model, images,
    };

    #[test]
    fn loss_gradient_and_logits_match_the_burn_implementation() {
        for arch in [Arch::LogReg, Arch::Mlp] {
            let mut native = NativeDense::new(arch, 5).unwrap();
            let mut burn = BurnModel::new(arch, 5).unwrap();
            assert_same_model(&mut native, &mut burn);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut m = NativeDense::new(Arch::Mlp, 9).unwrap();
        // One entry of every tensor (the helper adds the largest-gradient entry).
        let mut off = 0;
        let indices: Vec<usize> = Arch::Mlp
            .param_spec()
            .tensors
            .iter()
            .map(|t| {
                off += t.numel();
                off - t.numel() + 3
            })
            .collect();
        assert_gradient_matches_finite_differences(&mut m, &images(4, 2), &[0, 4, 4, 9], &indices);
    }

    #[test]
    fn bad_shapes_labels_and_architectures_are_rejected() {
        assert!(matches!(NativeDense::new(Arch::Cnn, 0), Err(Error::InvalidArgument(_))));
        assert_bad_input_is_refused_and_changes_nothing(
            &mut NativeDense::new(Arch::LogReg, 0).unwrap(),
        );
    }
}
