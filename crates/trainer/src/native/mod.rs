//! Hand-written CPU models: forward and backward passes written out for the built-in architectures,
//! on the `gemm` crate's matrix kernels (the ones burn's flex backend calls underneath).
//!
//! Why: on this project's 2-core machines burn's autodiff graph, per-step tensor uploads and its
//! generic convolution/pooling kernels cost more than the arithmetic for models this small (the CNN
//! trained at ~0.5× PyTorch's single-thread CPU speed on burn, the MLP ~1.1×). The passes here do one
//! large matrix product per layer and batch and reuse their scratch buffers between steps.
//! [`crate::BurnModel`] implements the same architectures with the same parameter layout and is the
//! reference the tests compare these against (same parameters → same loss, logits and gradient to
//! float rounding), and it stays the way to other devices (burn backends).
//!
//! Nothing here does I/O, reads a clock or draws entropy; results are deterministic for a given
//! kind of CPU (single-threaded products, fixed summation order; gemm is built without its AVX-512
//! kernels, so every x86-64 CPU with AVX2 and FMA computes the same bits). Floats never reach chain
//! state from here: the only way out is [`crate::params::to_update`].

mod cnn;
mod dense;

pub use cnn::NativeCnn;
pub use dense::NativeDense;

use gemm::Parallelism;

use crate::model::NUM_CLASSES;

/// `dst[m×n] (+)= op(a)[m×k] · op(b)[k×n]`, all row-major; `a` is stored `k×m` when `a_t`, `b` is
/// stored `n×k` when `b_t`. Single-threaded.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    dst: &mut [f32],
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
) {
    assert!(dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "matmul shapes");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    let (a_rs, a_cs) = if a_t { (1, m) } else { (k, 1) };
    let (b_rs, b_cs) = if b_t { (1, k) } else { (n, 1) };
    // SAFETY: the assert above bounds every index gemm touches: dst (i, j) at i·n + j < m·n; a (i, p)
    // at i·a_rs + p·a_cs ≤ m·k − 1; b (p, j) at p·b_rs + j·b_cs ≤ k·n − 1. `dst` does not alias `a`
    // or `b` (a `&mut` and two `&` borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// `out[j] = Σ_i m[i, j]` for a row-major matrix with `cols` columns.
pub(crate) fn column_sums(m: &[f32], cols: usize, out: &mut [f32]) {
    out[..cols].fill(0.0);
    for row in m.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// Adds `bias` to every row of `m` (`bias.len()` columns), then applies ReLU when `relu`.
pub(crate) fn add_bias(m: &mut [f32], bias: &[f32], relu: bool) {
    for row in m.chunks_exact_mut(bias.len()) {
        for (v, &b) in row.iter_mut().zip(bias) {
            *v = if relu { (*v + b).max(0.0) } else { *v + b };
        }
    }
}

/// Zeroes the entries of `d` whose activation is not positive (ReLU backward).
pub(crate) fn relu_backward(d: &mut [f32], act: &[f32]) {
    for (g, &a) in d.iter_mut().zip(act) {
        if a <= 0.0 {
            *g = 0.0;
        }
    }
}

/// Mean softmax cross-entropy of `logits` (`batch × 10`) against `labels` (each `< 10`, checked by
/// the caller); writes its gradient `(softmax − onehot) / batch` to `dlogits`.
pub(crate) fn softmax_cross_entropy(logits: &[f32], labels: &[u8], dlogits: &mut [f32]) -> f32 {
    let batch = labels.len();
    let inv = 1.0 / batch as f32;
    let mut loss = 0.0f64;
    for ((row, drow), &label) in
        logits.chunks_exact(NUM_CLASSES).zip(dlogits.chunks_exact_mut(NUM_CLASSES)).zip(labels)
    {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (d, &z) in drow.iter_mut().zip(row) {
            *d = (z - max).exp();
            sum += *d;
        }
        loss += f64::from(sum.ln() + max - row[label as usize]);
        for d in drow.iter_mut() {
            *d = *d / sum * inv;
        }
        drow[label as usize] -= inv;
    }
    (loss / batch as f64) as f32
}

/// Checks a training batch: `batch × 784` pixels, labels `< 10`, a gradient buffer of `num_params`.
pub(crate) fn check_batch(
    x: &[f32],
    y: &[u8],
    grad: &[f32],
    num_params: usize,
) -> crate::Result<()> {
    let batch = y.len();
    let pixels = crate::model::IMAGE_SIDE * crate::model::IMAGE_SIDE;
    if batch == 0 || x.len() != batch * pixels || grad.len() != num_params {
        return Err(crate::Error::InvalidArgument(format!(
            "batch of {} labels, {} pixels, grad of {}",
            batch,
            x.len(),
            grad.len()
        )));
    }
    if let Some(&bad) = y.iter().find(|&&l| l as usize >= NUM_CLASSES) {
        return Err(crate::Error::InvalidArgument(format!("label {bad} out of range")));
    }
    Ok(())
}

/// Checks an inference input and returns its batch size.
pub(crate) fn check_input(x: &[f32]) -> crate::Result<usize> {
    let pixels = crate::model::IMAGE_SIDE * crate::model::IMAGE_SIDE;
    if x.is_empty() || !x.len().is_multiple_of(pixels) {
        return Err(crate::Error::InvalidArgument(format!(
            "input of {} values is not a batch of {pixels}-pixel images",
            x.len()
        )));
    }
    Ok(x.len() / pixels)
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::Error;
    use crate::model::{IMAGE_SIDE, Model};

    /// Deterministic pseudo-images in [0, 1] (no all-zero windows).
    pub(crate) fn images(n: usize, seed: u32) -> Vec<f32> {
        (0..n * IMAGE_SIDE * IMAGE_SIDE)
            .map(|i| {
                let v = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(97));
                (v >> 24) as f32 / 255.0
            })
            .collect()
    }

    /// Largest absolute difference relative to the largest magnitude in `b`.
    pub(crate) fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    /// Asserts that `native` and `reference` (same parameters) agree on loss, every tensor's
    /// gradient and the logits.
    pub(crate) fn assert_same_model(native: &mut dyn Model, reference: &mut dyn Model) {
        let arch = native.arch();
        let x = images(3, 1);
        let y = [3u8, 9, 0];
        let n = native.num_params();
        let (mut gn, mut gr) = (vec![0.0; n], vec![0.0; n]);
        let ln = native.loss_and_grad(&x, &y, &mut gn).unwrap();
        let lr = reference.loss_and_grad(&x, &y, &mut gr).unwrap();
        assert!((ln - lr).abs() < 1e-4 * lr.abs().max(1.0), "{arch}: loss {ln} vs {lr}");
        let mut off = 0;
        for t in &arch.param_spec().tensors {
            let k = t.numel();
            let d = max_rel_diff(&gn[off..off + k], &gr[off..off + k]);
            assert!(d < 1e-3, "{arch}: {} gradient differs by {d}", t.name);
            off += k;
        }
        let (zn, zr) = (native.logits(&x).unwrap(), reference.logits(&x).unwrap());
        assert!(max_rel_diff(&zn, &zr) < 1e-4, "{arch}: logits differ");
    }

    /// Asserts that the gradient `m` computes on `(x, y)` matches central finite differences
    /// (ε = 0.01) at each of `indices` and at the entry with the largest gradient.
    pub(crate) fn assert_gradient_matches_finite_differences(
        m: &mut dyn Model,
        x: &[f32],
        y: &[u8],
        indices: &[usize],
    ) {
        let mut g = vec![0.0; m.num_params()];
        m.loss_and_grad(x, y, &mut g).unwrap();
        let p0 = m.params().unwrap();
        let largest = (0..g.len()).max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs())).unwrap();
        let mut scratch = vec![0.0; g.len()];
        let eps = 1e-2f32;
        for &i in indices.iter().chain([&largest]) {
            let mut p = p0.clone();
            p[i] = p0[i] + eps;
            m.set_params(&p).unwrap();
            let up = m.loss_and_grad(x, y, &mut scratch).unwrap();
            p[i] = p0[i] - eps;
            m.set_params(&p).unwrap();
            let down = m.loss_and_grad(x, y, &mut scratch).unwrap();
            let fd = (up - down) / (2.0 * eps);
            assert!(
                (fd - g[i]).abs() <= 2e-3 + 0.05 * g[i].abs(),
                "param {i}: finite difference {fd}, gradient {}",
                g[i]
            );
        }
    }

    /// Asserts that out-of-range labels, ragged inputs, a short gradient buffer, a wrong parameter
    /// count and a ragged inference input are all refused, and that the model is unchanged after.
    pub(crate) fn assert_bad_input_is_refused_and_changes_nothing(m: &mut dyn Model) {
        let before = m.params().unwrap();
        let mut g = vec![0.0; m.num_params()];
        assert!(m.loss_and_grad(&images(1, 0), &[10], &mut g).is_err());
        assert!(m.loss_and_grad(&images(1, 0)[1..], &[1], &mut g).is_err());
        assert!(m.loss_and_grad(&images(1, 0), &[1], &mut g[1..]).is_err());
        assert!(matches!(m.set_params(&[0.0; 4]), Err(Error::ParamMismatch(_))));
        assert!(m.logits(&[0.0; 5]).is_err());
        assert_eq!(m.params().unwrap(), before, "rejected calls must not change the model");
    }
}
