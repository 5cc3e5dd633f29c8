//! The two CNNs ([`Arch::Cnn`], [`Arch::CnnSmall`]) written out by hand for the CPU: forward and
//! backward as im2col + matrix products on the `gemm` crate (the same kernels burn's flex backend calls
//! underneath), with the activations kept channels-last so every convolution is one large product per
//! batch.
//!
//! Per batch each convolution is one `[B·H·W, 25·C_in] × [25·C_in, C_out]` product; pooling runs
//! before the bias and ReLU (the same result, both being monotone per channel) on a quarter of the
//! values; the second convolution's column buffer is reused for its input gradient.
//!
//! Parameter layout is exactly [`Arch::param_spec`] (conv weights `[out, in, kh, kw]`, linear weights
//! `[in, out]`, the flattened features in `(channel, row, column)` order), so parameters, safetensors
//! files and fixed-point updates are interchangeable with [`crate::BurnModel`]'s.

use std::fmt;
use std::sync::Mutex;

use chorus_fl::update::ModelSpec;

use super::{
    add_bias, check_batch, check_input, column_sums, matmul, relu_backward, softmax_cross_entropy,
};
use crate::error::{Error, Result};
use crate::model::{Arch, IMAGE_SIDE, Model, NUM_CLASSES, check_param_count};

/// Kernel side of both convolutions.
const KS: usize = 5;
/// "Same" padding for a 5×5 kernel.
const PAD: usize = 2;
/// Kernel taps.
const TAPS: usize = KS * KS;
/// Side after the first pooling.
const S2: usize = IMAGE_SIDE / 2;
/// Side after the second pooling.
const S4: usize = IMAGE_SIDE / 4;
const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Largest batch pushed through at once by [`Model::logits`] (bounds the column buffers).
const EVAL_CHUNK: usize = 128;

/// Channel counts and offsets of each tensor in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
struct Layout {
    c1: usize,
    c2: usize,
    hidden: usize,
    /// Flattened features entering fc1 (`c2 · 7 · 7`).
    flat: usize,
    w1: usize,
    b1: usize,
    w2: usize,
    b2: usize,
    f1w: usize,
    f1b: usize,
    f2w: usize,
    f2b: usize,
    total: usize,
}

impl Layout {
    fn new(arch: Arch) -> Result<Self> {
        if !matches!(arch, Arch::Cnn | Arch::CnnSmall) {
            return Err(Error::InvalidArgument(format!("{arch} is not a CNN architecture")));
        }
        let (c1, c2, hidden) = arch.cnn_dims();
        let flat = c2 * S4 * S4;
        let w1 = 0;
        let b1 = w1 + c1 * TAPS;
        let w2 = b1 + c1;
        let b2 = w2 + c2 * c1 * TAPS;
        let f1w = b2 + c2;
        let f1b = f1w + flat * hidden;
        let f2w = f1b + hidden;
        let f2b = f2w + hidden * NUM_CLASSES;
        let total = f2b + NUM_CLASSES;
        debug_assert_eq!(total, arch.param_spec().num_params());
        Ok(Self { c1, c2, hidden, flat, w1, b1, w2, b2, f1w, f1b, f2w, f2b, total })
    }

    /// Columns of the second convolution's im2col matrix.
    fn k2(&self) -> usize {
        TAPS * self.c1
    }
}

/// Scratch buffers, grown to the largest batch seen and reused.
#[derive(Default)]
struct Workspace {
    /// `[B·784, 25]` im2col of the input.
    cols1: Vec<f32>,
    /// `[B·784, c1]` conv1 output before pooling; reused as its gradient.
    z1: Vec<f32>,
    /// `[B·196, c1]` after pool, bias, ReLU.
    a1: Vec<f32>,
    /// Which of the 2×2 window won the pool, per output value.
    arg1: Vec<u8>,
    /// `[B·196, 25·c1]` im2col of `a1` (tap-major, channel-minor); reused as its gradient.
    cols2: Vec<f32>,
    /// `[B·196, c2]` conv2 output before pooling; reused as its gradient.
    z2: Vec<f32>,
    /// `[B·49, c2]` after pool, bias, ReLU (channels last).
    a2: Vec<f32>,
    arg2: Vec<u8>,
    /// `[B, c2·49]` `a2` in `(channel, row, column)` order.
    flat: Vec<f32>,
    /// `[B, hidden]` after fc1 and ReLU.
    a3: Vec<f32>,
    /// `[B, 10]`.
    logits: Vec<f32>,
    /// conv2 weights as `[25·c1, c2]` (tap-major rows).
    w2k: Vec<f32>,
    /// Gradient scratch: `[B, 10]`, `[B, hidden]`, `[B, flat]`, `[B·196, c1]`, `[25·c1, c2]`.
    dlogits: Vec<f32>,
    da3: Vec<f32>,
    dflat: Vec<f32>,
    da1: Vec<f32>,
    dw2k: Vec<f32>,
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

impl Workspace {
    fn reserve(&mut self, l: &Layout, batch: usize, backward: bool) {
        let p1 = batch * PIXELS;
        let p2 = batch * S2 * S2;
        let p4 = batch * S4 * S4;
        grow(&mut self.cols1, p1 * TAPS);
        grow(&mut self.z1, p1 * l.c1);
        grow(&mut self.a1, p2 * l.c1);
        if self.arg1.len() < p2 * l.c1 {
            self.arg1.resize(p2 * l.c1, 0);
        }
        grow(&mut self.cols2, p2 * l.k2());
        grow(&mut self.z2, p2 * l.c2);
        grow(&mut self.a2, p4 * l.c2);
        if self.arg2.len() < p4 * l.c2 {
            self.arg2.resize(p4 * l.c2, 0);
        }
        grow(&mut self.flat, batch * l.flat);
        grow(&mut self.a3, batch * l.hidden);
        grow(&mut self.logits, batch * NUM_CLASSES);
        grow(&mut self.w2k, l.k2() * l.c2);
        if backward {
            grow(&mut self.dlogits, batch * NUM_CLASSES);
            grow(&mut self.da3, batch * l.hidden);
            grow(&mut self.dflat, batch * l.flat);
            grow(&mut self.da1, p2 * l.c1);
            grow(&mut self.dw2k, l.k2() * l.c2);
        }
    }
}

/// im2col of a channels-last `[batch, side, side, c]` image stack for a 5×5 "same" convolution:
/// row `(b, y, x)` holds, tap by tap (`ky·5 + kx`), the `c` input channels at `(y+ky−2, x+kx−2)` or
/// zeros outside the image.
fn im2col(src: &[f32], batch: usize, side: usize, c: usize, cols: &mut [f32]) {
    let row_len = TAPS * c;
    for b in 0..batch {
        let img = &src[b * side * side * c..(b + 1) * side * side * c];
        for y in 0..side {
            for x in 0..side {
                let row = &mut cols[((b * side + y) * side + x) * row_len..][..row_len];
                for ky in 0..KS {
                    let iy = (y + ky).wrapping_sub(PAD);
                    let dst = &mut row[ky * KS * c..(ky + 1) * KS * c];
                    if iy >= side {
                        dst.fill(0.0);
                        continue;
                    }
                    // Columns x−2 ..= x+2 clipped to the image; one contiguous copy for the inside.
                    let lo = x.saturating_sub(PAD);
                    let hi = (x + PAD + 1).min(side);
                    let skip = lo + PAD - x;
                    let n = hi - lo;
                    dst[..skip * c].fill(0.0);
                    dst[skip * c..(skip + n) * c]
                        .copy_from_slice(&img[(iy * side + lo) * c..(iy * side + hi) * c]);
                    dst[(skip + n) * c..].fill(0.0);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the pixel it was read from.
fn col2im(cols: &[f32], batch: usize, side: usize, c: usize, dst: &mut [f32]) {
    dst[..batch * side * side * c].fill(0.0);
    let row_len = TAPS * c;
    for b in 0..batch {
        let img = &mut dst[b * side * side * c..(b + 1) * side * side * c];
        for y in 0..side {
            for x in 0..side {
                let row = &cols[((b * side + y) * side + x) * row_len..][..row_len];
                for ky in 0..KS {
                    let iy = (y + ky).wrapping_sub(PAD);
                    if iy >= side {
                        continue;
                    }
                    let lo = x.saturating_sub(PAD);
                    let hi = (x + PAD + 1).min(side);
                    let skip = lo + PAD - x;
                    let src = &row[(ky * KS + skip) * c..(ky * KS + skip + hi - lo) * c];
                    let out = &mut img[(iy * side + lo) * c..(iy * side + hi) * c];
                    for (o, s) in out.iter_mut().zip(src) {
                        *o += s;
                    }
                }
            }
        }
    }
}

/// 2×2 max-pool of channels-last `[batch, side, side, c]`, then `+ bias` and ReLU. Records which of
/// the four inputs won (0..4, first maximum in row-major order) for the backward pass.
fn pool_bias_relu(
    z: &[f32],
    batch: usize,
    side: usize,
    c: usize,
    bias: &[f32],
    out: &mut [f32],
    arg: &mut [u8],
) {
    let half = side / 2;
    for b in 0..batch {
        for i in 0..half {
            for j in 0..half {
                let r00 = ((b * side + 2 * i) * side + 2 * j) * c;
                let r10 = r00 + side * c;
                let o = ((b * half + i) * half + j) * c;
                let (z00, z01) = (&z[r00..r00 + c], &z[r00 + c..r00 + 2 * c]);
                let (z10, z11) = (&z[r10..r10 + c], &z[r10 + c..r10 + 2 * c]);
                let out = &mut out[o..o + c];
                let arg = &mut arg[o..o + c];
                for ch in 0..c {
                    let (mut m, mut a) = (z00[ch], 0u8);
                    if z01[ch] > m {
                        (m, a) = (z01[ch], 1);
                    }
                    if z10[ch] > m {
                        (m, a) = (z10[ch], 2);
                    }
                    if z11[ch] > m {
                        (m, a) = (z11[ch], 3);
                    }
                    out[ch] = (m + bias[ch]).max(0.0);
                    arg[ch] = a;
                }
            }
        }
    }
}

/// Backward of [`pool_bias_relu`]: `d` (gradient w.r.t. the pooled, activated output) is masked by
/// ReLU (`act > 0`), summed into `dbias`, and routed to the winning input of each window in `dz`
/// (every other entry zero).
#[allow(clippy::too_many_arguments)]
fn pool_bias_relu_backward(
    d: &[f32],
    act: &[f32],
    arg: &[u8],
    batch: usize,
    side: usize,
    c: usize,
    dbias: &mut [f32],
    dz: &mut [f32],
) {
    let half = side / 2;
    dz[..batch * side * side * c].fill(0.0);
    dbias[..c].fill(0.0);
    for b in 0..batch {
        for i in 0..half {
            for j in 0..half {
                let r00 = ((b * side + 2 * i) * side + 2 * j) * c;
                let o = ((b * half + i) * half + j) * c;
                for ch in 0..c {
                    if act[o + ch] <= 0.0 {
                        continue;
                    }
                    let g = d[o + ch];
                    dbias[ch] += g;
                    let a = arg[o + ch] as usize;
                    dz[r00 + (a >> 1) * side * c + (a & 1) * c + ch] = g;
                }
            }
        }
    }
}

/// A CNN ([`Arch::Cnn`] or [`Arch::CnnSmall`]) computed directly with im2col and `gemm`.
pub struct NativeCnn {
    arch: Arch,
    layout: Layout,
    params: Vec<f32>,
    ws: Mutex<Workspace>,
}

impl fmt::Debug for NativeCnn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeCnn")
            .field("arch", &self.arch)
            .field("params", &self.layout.total)
            .finish()
    }
}

impl NativeCnn {
    /// A model with deterministic initial parameters for `seed` (the same as
    /// [`crate::BurnModel::new`] for that seed).
    pub fn new(arch: Arch, seed: u64) -> Result<Self> {
        Self::with_params(arch, &arch.init_params(seed))
    }

    /// A model with the given parameters.
    pub fn with_params(arch: Arch, params: &[f32]) -> Result<Self> {
        let mut m = Self {
            arch,
            layout: Layout::new(arch)?,
            params: Vec::new(),
            ws: Mutex::new(Workspace::default()),
        };
        m.set_params(params)?;
        Ok(m)
    }

    /// Forward pass of `batch` images into `ws` (logits in `ws.logits`).
    fn forward(&self, x: &[f32], batch: usize, ws: &mut Workspace, backward: bool) {
        let l = &self.layout;
        let p = &self.params;
        ws.reserve(l, batch, backward);
        let (p1, p2, p4) = (batch * PIXELS, batch * S2 * S2, batch * S4 * S4);

        // conv1: [B·784, 25] × [25, c1]; the weights [c1, 25] are read transposed in place.
        im2col(x, batch, IMAGE_SIDE, 1, &mut ws.cols1);
        matmul(&mut ws.z1, &ws.cols1, false, &p[l.w1..l.b1], true, p1, l.c1, TAPS, false);
        pool_bias_relu(&ws.z1, batch, IMAGE_SIDE, l.c1, &p[l.b1..l.w2], &mut ws.a1, &mut ws.arg1);

        // conv2: [B·196, 25·c1] × [25·c1, c2] with the weights repacked tap-major.
        let (c1, c2) = (l.c1, l.c2);
        let w2 = &p[l.w2..l.b2];
        for o in 0..c2 {
            for ci in 0..c1 {
                for t in 0..TAPS {
                    ws.w2k[(t * c1 + ci) * c2 + o] = w2[(o * c1 + ci) * TAPS + t];
                }
            }
        }
        im2col(&ws.a1, batch, S2, c1, &mut ws.cols2);
        matmul(&mut ws.z2, &ws.cols2, false, &ws.w2k, false, p2, c2, l.k2(), false);
        pool_bias_relu(&ws.z2, batch, S2, c2, &p[l.b2..l.f1w], &mut ws.a2, &mut ws.arg2);

        // Flatten in (channel, row, column) order, as the parameter layout (and PyTorch) expects.
        let s4 = S4 * S4;
        for b in 0..batch {
            for s in 0..s4 {
                let src = &ws.a2[(b * s4 + s) * c2..][..c2];
                for (ch, &v) in src.iter().enumerate() {
                    ws.flat[b * l.flat + ch * s4 + s] = v;
                }
            }
        }
        debug_assert_eq!(p4 * c2, batch * l.flat);

        // fc1 + ReLU, fc2.
        let h = l.hidden;
        matmul(&mut ws.a3, &ws.flat, false, &p[l.f1w..l.f1b], false, batch, h, l.flat, false);
        add_bias(&mut ws.a3[..batch * h], &p[l.f1b..l.f2w], true);
        matmul(
            &mut ws.logits,
            &ws.a3,
            false,
            &p[l.f2w..l.f2b],
            false,
            batch,
            NUM_CLASSES,
            h,
            false,
        );
        add_bias(&mut ws.logits[..batch * NUM_CLASSES], &p[l.f2b..], false);
    }

    /// Backward pass after [`Self::forward`] with `backward = true`; `dlogits` is already in
    /// `ws.dlogits`. Writes the full gradient into `grad`.
    fn backward(&self, batch: usize, ws: &mut Workspace, grad: &mut [f32]) {
        let l = &self.layout;
        let p = &self.params;
        let (c1, c2, h) = (l.c1, l.c2, l.hidden);
        let (p1, p2) = (batch * PIXELS, batch * S2 * S2);

        // fc2.
        matmul(
            &mut grad[l.f2w..l.f2b],
            &ws.a3,
            true,
            &ws.dlogits,
            false,
            h,
            NUM_CLASSES,
            batch,
            false,
        );
        column_sums(&ws.dlogits[..batch * NUM_CLASSES], NUM_CLASSES, &mut grad[l.f2b..]);
        matmul(
            &mut ws.da3,
            &ws.dlogits,
            false,
            &p[l.f2w..l.f2b],
            true,
            batch,
            h,
            NUM_CLASSES,
            false,
        );
        relu_backward(&mut ws.da3[..batch * h], &ws.a3);

        // fc1.
        matmul(&mut grad[l.f1w..l.f1b], &ws.flat, true, &ws.da3, false, l.flat, h, batch, false);
        column_sums(&ws.da3[..batch * h], h, &mut grad[l.f1b..l.f2w]);
        matmul(&mut ws.dflat, &ws.da3, false, &p[l.f1w..l.f1b], true, batch, l.flat, h, false);

        // Unflatten into channels-last (into `flat`'s buffer, no longer needed), then the
        // pool/bias/ReLU backward into dz2 (= z2's buffer).
        let s4 = S4 * S4;
        for b in 0..batch {
            for s in 0..s4 {
                for ch in 0..c2 {
                    ws.flat[(b * s4 + s) * c2 + ch] = ws.dflat[b * l.flat + ch * s4 + s];
                }
            }
        }
        pool_bias_relu_backward(
            &ws.flat,
            &ws.a2,
            &ws.arg2,
            batch,
            S2,
            c2,
            &mut grad[l.b2..l.f1w],
            &mut ws.z2,
        );

        // conv2: dW = cols2ᵀ · dz2, then the input gradient through the same column buffer.
        matmul(&mut ws.dw2k, &ws.cols2, true, &ws.z2, false, l.k2(), c2, p2, false);
        let gw2 = &mut grad[l.w2..l.b2];
        for o in 0..c2 {
            for ci in 0..c1 {
                for t in 0..TAPS {
                    gw2[(o * c1 + ci) * TAPS + t] = ws.dw2k[(t * c1 + ci) * c2 + o];
                }
            }
        }
        matmul(&mut ws.cols2, &ws.z2, false, &ws.w2k, true, p2, l.k2(), c2, false);
        col2im(&ws.cols2, batch, S2, c1, &mut ws.da1);

        // pool1/bias/ReLU backward into dz1 (= z1's buffer), then conv1's weight gradient [c1, 25].
        pool_bias_relu_backward(
            &ws.da1,
            &ws.a1,
            &ws.arg1,
            batch,
            IMAGE_SIDE,
            c1,
            &mut grad[l.b1..l.w2],
            &mut ws.z1,
        );
        matmul(&mut grad[l.w1..l.b1], &ws.z1, true, &ws.cols1, false, c1, TAPS, p1, false);
    }

    fn workspace(&self) -> std::sync::MutexGuard<'_, Workspace> {
        // A panic inside a pass leaves only scratch data behind: reuse it.
        self.ws.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Model for NativeCnn {
    fn arch(&self) -> Arch {
        self.arch
    }
    fn backend(&self) -> &'static str {
        "native im2col + gemm 0.19"
    }
    fn param_spec(&self) -> ModelSpec {
        self.arch.param_spec()
    }
    fn num_params(&self) -> usize {
        self.layout.total
    }
    fn params(&self) -> Result<Vec<f32>> {
        Ok(self.params.clone())
    }
    fn set_params(&mut self, params: &[f32]) -> Result<()> {
        check_param_count(self.arch, params.len(), self.layout.total)?;
        self.params.clear();
        self.params.extend_from_slice(params);
        Ok(())
    }
    fn loss_and_grad(&mut self, x: &[f32], y: &[u8], grad: &mut [f32]) -> Result<f32> {
        check_batch(x, y, grad, self.layout.total)?;
        let batch = y.len();
        let mut guard = self.workspace();
        let ws = &mut *guard;
        self.forward(x, batch, ws, true);
        let loss = softmax_cross_entropy(&ws.logits[..batch * NUM_CLASSES], y, &mut ws.dlogits);
        self.backward(batch, ws, grad);
        Ok(loss)
    }
    fn logits(&self, x: &[f32]) -> Result<Vec<f32>> {
        let batch = check_input(x)?;
        let mut out = Vec::with_capacity(batch * NUM_CLASSES);
        let mut guard = self.workspace();
        for chunk in x.chunks(EVAL_CHUNK * PIXELS) {
            let n = chunk.len() / PIXELS;
            self.forward(chunk, n, &mut guard, false);
            out.extend_from_slice(&guard.logits[..n * NUM_CLASSES]);
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
        assert_gradient_matches_finite_differences, assert_same_model, images, max_rel_diff,
    };

    #[test]
    fn loss_gradient_and_logits_match_the_burn_implementation() {
        for arch in [Arch::CnnSmall, Arch::Cnn] {
            let mut native = NativeCnn::new(arch, 7).unwrap();
            let mut burn = BurnModel::new(arch, 7).unwrap();
            assert_same_model(&mut native, &mut burn);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let mut m = NativeCnn::new(Arch::CnnSmall, 11).unwrap();
        let l = m.layout;
        // One entry from every tensor (the helper adds the largest-gradient entry).
        let indices =
            [l.w1 + 3, l.b1 + 1, l.w2 + 100, l.b2 + 2, l.f1w + 517, l.f1b, l.f2w + 9, l.f2b + 6];
        assert_gradient_matches_finite_differences(&mut m, &images(2, 5), &[1, 6], &indices);
    }

    #[test]
    fn logits_in_chunks_equal_one_pass_and_do_not_depend_on_batch_neighbours() {
        let m = NativeCnn::new(Arch::CnnSmall, 2).unwrap();
        let x = images(EVAL_CHUNK + 5, 3);
        let all = m.logits(&x).unwrap();
        assert_eq!(all.len(), (EVAL_CHUNK + 5) * NUM_CLASSES);
        let last = m.logits(&x[(EVAL_CHUNK + 4) * PIXELS..]).unwrap();
        let tail = &all[(EVAL_CHUNK + 4) * NUM_CLASSES..];
        assert!(max_rel_diff(&last, tail) < 1e-5);
    }

    #[test]
    fn bad_shapes_labels_and_architectures_are_rejected() {
        assert!(matches!(NativeCnn::new(Arch::Mlp, 0), Err(Error::InvalidArgument(_))));
        assert_bad_input_is_refused_and_changes_nothing(
            &mut NativeCnn::new(Arch::CnnSmall, 0).unwrap(),
        );
    }

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // <im2col(x), c> == <x, col2im(c)> for random x, c: the input gradient path is exact.
        let (batch, side, c) = (2, 6, 3);
        let x: Vec<f32> =
            (0..batch * side * side * c).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let n = batch * side * side * TAPS * c;
        let cols_dir: Vec<f32> = (0..n).map(|i| ((i * 13 % 7) as f32) - 3.0).collect();
        let mut cols = vec![0.0; n];
        im2col(&x, batch, side, c, &mut cols);
        let mut back = vec![0.0; x.len()];
        col2im(&cols_dir, batch, side, c, &mut back);
        let lhs: f64 = cols.iter().zip(&cols_dir).map(|(a, b)| f64::from(a * b)).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| f64::from(a * b)).sum();
        assert_eq!(lhs, rhs);
    }
}
