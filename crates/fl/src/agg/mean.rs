//! Mean-based rules: FedAvg, FedAvgM, FedNova, SCAFFOLD, FedAdam/FedYogi/FedAdagrad.

use rayon::prelude::*;

use super::simd::axpy_i64;
use super::{AggregationRule, ServerState, Stream, apply_prescale};
use crate::fixed::{Micros, div_round, div_round_i64, sat_i32};
use crate::{Error, FixedScale};

const MICRO: i128 = 1_000_000;

/// Weighted mean by `weight` over all (or the selected) inputs, rounded half away from zero.
///
/// Inputs are split into one contiguous group per rayon thread; each group accumulates exact i64
/// partial sums `Σ w_i x_i` (exact because Σw ≤ 2^32) in buffers reused across chunks; the partial
/// sums are then added (integer addition is associative, so the grouping never changes the result).
pub(crate) fn fedavg(s: &mut Stream<'_, '_>, sel: Option<&[usize]>) -> Result<Vec<i32>, Error> {
    let total = s.total_weight(sel)?;
    let n = s.n();
    let mask: Vec<bool> = match sel {
        None => vec![true; n],
        Some(sel) => {
            let mut m = vec![false; n];
            for &i in sel {
                m[i] = true;
            }
            m
        }
    };
    let groups = rayon::current_num_threads().clamp(1, n.max(1));
    let per = n.div_ceil(groups);
    let chunk = s.chunk.min(s.p).max(1);
    let mut states: Vec<(Vec<i64>, Vec<i32>)> =
        (0..groups).map(|_| (vec![0i64; chunk], vec![0i32; chunk])).collect();
    let mut out = vec![0i32; s.p];
    let chunks = s.chunks(chunk);
    let prescale = &s.prescale;
    for (off, len) in chunks {
        s.inputs.par_chunks_mut(per).zip(states.par_iter_mut()).enumerate().try_for_each(
            |(g, (ins, (acc, buf)))| -> Result<(), Error> {
                let acc = &mut acc[..len];
                let buf = &mut buf[..len];
                acc.fill(0);
                for (k, inp) in ins.iter_mut().enumerate() {
                    let i = g * per + k;
                    if !mask[i] {
                        continue;
                    }
                    let w = inp.weight as i64;
                    if prescale[i].is_none()
                        && let Some(x) = inp.reader.chunk_slice(off, len)
                    {
                        axpy_i64(acc, w, x);
                        continue;
                    }
                    inp.reader.read_chunk(off, buf)?;
                    apply_prescale(buf, prescale[i]);
                    axpy_i64(acc, w, buf);
                }
                Ok(())
            },
        )?;
        let st = &states;
        out[off..off + len].par_chunks_mut(4096).enumerate().for_each(|(b, o)| {
            let base = b * 4096;
            for (j, o) in o.iter_mut().enumerate() {
                let sum: i64 = st.iter().map(|(a, _)| a[base + j]).sum();
                *o = sat_i32(div_round_i64(sum, total) as i128);
            }
        });
    }
    Ok(out)
}

fn ensure_len<T: Clone + Default>(v: &mut Vec<T>, p: usize, what: &str) -> Result<(), Error> {
    if v.is_empty() {
        *v = vec![T::default(); p];
    } else if v.len() != p {
        return Err(Error::StateMismatch(format!("{what} has {} entries, model has {p}", v.len())));
    }
    Ok(())
}

/// FedAvgM: `u ← β·u + avg` (u = avg on the first round), step = `lr · u`.
pub(crate) fn fedavgm(
    s: &mut Stream<'_, '_>,
    st: &mut ServerState,
    lr: Micros,
    beta: Micros,
) -> Result<Vec<i32>, Error> {
    let avg = fedavg(s, None)?;
    if beta.0 == 0 {
        return Ok(avg
            .iter()
            .map(|&d| sat_i32(div_round(lr.0 as i128 * d as i128, MICRO)))
            .collect());
    }
    ensure_len(&mut st.m, avg.len(), "momentum")?;
    let first = st.round == 0;
    Ok(st
        .m
        .par_iter_mut()
        .zip(avg.par_iter())
        .map(|(u, &d)| {
            let nu = if first {
                d as i128
            } else {
                div_round(beta.0 as i128 * *u as i128, MICRO) + d as i128
            };
            *u = nu.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            sat_i32(div_round(lr.0 as i128 * nu, MICRO))
        })
        .collect())
}

/// FedNova: `τ_eff · Σ p_i Δ_i / τ_i` with `p_i = n_i / Σn`, `τ_eff = Σ p_i τ_i`. The per-input factor
/// `n_i / τ_i` is taken in Q16 fixed point (rounded half away), the rest is exact.
pub(crate) fn fednova(s: &mut Stream<'_, '_>) -> Result<Vec<i32>, Error> {
    let total = s.total_weight(None)? as i128;
    let w: Vec<i128> = s
        .inputs
        .iter()
        .map(|i| div_round((i.weight as i128) << 16, i.local_steps.max(1) as i128))
        .collect();
    let tau_num: i128 =
        s.inputs.iter().map(|i| i.weight as i128 * i.local_steps.max(1) as i128).sum();
    let mut out = vec![0i32; s.p];
    let mut buf = Vec::new();
    for (off, len) in s.chunks(s.chunk) {
        s.read_matrix(None, off, len, &mut buf)?;
        out[off..off + len].par_iter_mut().enumerate().for_each(|(j, o)| {
            let a: i128 = w.iter().enumerate().map(|(i, &wi)| wi * buf[i * len + j] as i128).sum();
            // a · (tau_num / total) / (total · 2^16)
            *o = sat_i32(div_round(a * tau_num, total * total * (1 << 16)));
        });
    }
    Ok(out)
}

/// SCAFFOLD server: step = `lr · mean(Δy_i)`; `c += Σ Δc_i / total_clients` (both unweighted).
pub(crate) fn scaffold(
    s: &mut Stream<'_, '_>,
    st: &mut ServerState,
    lr: Micros,
    total_clients: u32,
) -> Result<Vec<i32>, Error> {
    let n = s.n() as i128;
    if let Some(index) = s.inputs.iter().position(|i| i.control_delta.is_none()) {
        return Err(Error::InvalidParams {
            rule: "scaffold",
            reason: format!("input {index} has no control_delta"),
        });
    }
    ensure_len(&mut st.control, s.p, "control variate")?;
    let mut out = vec![0i32; s.p];
    let mut buf = Vec::new();
    let mut cbuf = vec![0i32; s.chunk.min(s.p)];
    for (off, len) in s.chunks(s.chunk) {
        s.read_matrix(None, off, len, &mut buf)?;
        let mut csum = vec![0i64; len];
        cbuf.resize(len, 0);
        for inp in s.inputs.iter_mut() {
            if let Some(c) = inp.control_delta.as_mut() {
                c.read_chunk(off, &mut cbuf)?;
                for (a, &x) in csum.iter_mut().zip(&cbuf) {
                    *a += x as i64;
                }
            }
        }
        for j in 0..len {
            let sum: i128 = (0..s.inputs.len()).map(|i| buf[i * len + j] as i128).sum();
            out[off + j] = sat_i32(div_round(lr.0 as i128 * sum, MICRO * n));
            let c = &mut st.control[off + j];
            *c = (*c as i128 + div_round(csum[j] as i128, total_clients as i128))
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        }
    }
    Ok(out)
}

/// `x^k` in Q30 for `x` in micros (x ≤ 1).
fn pow_q30(x: Micros, k: u64) -> i128 {
    let one: i128 = 1 << 30;
    let xq = div_round(x.0 as i128 * one, MICRO);
    let mut r = one;
    for _ in 0..k.min(4096) {
        r = div_round(r * xq, one);
        if r == 0 {
            break;
        }
    }
    r
}

/// FedAdam / FedYogi / FedAdagrad on the FedAvg pseudo-gradient δ, matching Flower's update rules:
/// `m ← β1 m + (1−β1) δ`; Adam `v ← β2 v + (1−β2) δ²`, Yogi `v ← v − (1−β2) δ² sign(v − δ²)`,
/// Adagrad `v ← v + δ²`; step `η' · m / (√v + τ)` with Adam's `η' = η √(1−β2^(t+1)) / (1−β1^(t+1))`.
/// State: `m` at scale 2^f, `v` at scale 2^(2f) (i64, saturating); `√v` is the integer square root.
pub(crate) fn fedopt(
    s: &mut Stream<'_, '_>,
    st: &mut ServerState,
    rule: &AggregationRule,
    scale: FixedScale,
) -> Result<Vec<i32>, Error> {
    let delta = fedavg(s, None)?;
    let p = delta.len();
    ensure_len(&mut st.m, p, "first moment")?;
    ensure_len(&mut st.v, p, "second moment")?;
    let (eta, beta1, beta2, tau) = match *rule {
        AggregationRule::FedAdam { eta, beta1, beta2, tau }
        | AggregationRule::FedYogi { eta, beta1, beta2, tau } => (eta, beta1, beta2, tau),
        AggregationRule::FedAdagrad { eta, beta1, tau } => (eta, beta1, Micros(0), tau),
        _ => {
            return Err(Error::InvalidParams {
                rule: "fedopt",
                reason: "not a server optimiser".into(),
            });
        }
    };
    let kind = rule.name();
    // Flower's round counter is 1-based and uses exponent round+1.
    let t = st.round + 2;
    let one: i128 = 1 << 30;
    // η' = eta_num / eta_den (as a rational, exact integers).
    let (eta_num, eta_den) = if kind == "fedadam" {
        let b1p = pow_q30(beta1, t);
        let b2p = pow_q30(beta2, t);
        let sq = ((one - b2p).max(0) as u128 * one as u128).isqrt() as i128; // Q30
        (eta.0 as i128 * sq, MICRO * (one - b1p).max(1))
    } else {
        (eta.0 as i128, MICRO)
    };
    let tau_q = tau.to_fixed(scale).max(1);
    let scale_one = scale.one() as i128;
    let (b1, b2) = (beta1.0 as i128, beta2.0 as i128);
    let clamp64 = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    Ok(st
        .m
        .par_iter_mut()
        .zip(st.v.par_iter_mut())
        .zip(delta.par_iter())
        .map(|((m, v), &d)| {
            let d = d as i128;
            let d2 = d * d;
            let nm = div_round(b1 * *m as i128 + (MICRO - b1) * d, MICRO);
            let nv = match kind {
                "fedadam" => div_round(b2 * *v as i128 + (MICRO - b2) * d2, MICRO),
                "fedyogi" => {
                    let vv = *v as i128;
                    div_round(MICRO * vv - (MICRO - b2) * d2 * (vv - d2).signum(), MICRO)
                }
                _ => *v as i128 + d2,
            };
            *m = clamp64(nm);
            *v = clamp64(nv);
            let root = ((*v).max(0) as u128).isqrt() as i128;
            sat_i32(div_round(eta_num * *m as i128 * scale_one, eta_den * (root + tau_q)))
        })
        .collect())
}
