//! Krum, Multi-Krum and Bulyan. Pairwise squared distances come from the exact Gram matrix
//! `‖x_i − x_j‖² = G_ii + G_jj − 2 G_ij`, accumulated over chunks (i64 dot products when provably
//! overflow-free for the chunk, else i128) into i128 — exact, so the Gram trick has no cancellation.

use rayon::prelude::*;

use super::{InputReport, Stream, mean, order};
use crate::Error;

#[inline(always)]
fn dot_i64_body(a: &[i32], b: &[i32]) -> i64 {
    let mut acc = [0i64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] as i64 * y[l] as i64;
        }
    }
    let mut s: i64 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += *x as i64 * *y as i64;
    }
    s
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gram_rows_avx2(m: &[i32], len: usize, i: usize, row: &mut [i128]) {
    gram_rows_body(m, len, i, row)
}

#[inline(always)]
fn gram_rows_body(m: &[i32], len: usize, i: usize, row: &mut [i128]) {
    let a = &m[i * len..(i + 1) * len];
    for (j, g) in row.iter_mut().enumerate().skip(i) {
        *g += dot_i64_body(a, &m[j * len..(j + 1) * len]) as i128;
    }
}

fn gram_rows(m: &[i32], len: usize, i: usize, row: &mut [i128]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 support checked just above.
            unsafe { gram_rows_avx2(m, len, i, row) };
            return;
        }
    }
    gram_rows_body(m, len, i, row)
}

/// Exact Gram matrix (row-major N × N, upper triangle filled then mirrored).
pub(crate) fn gram(s: &mut Stream<'_, '_>) -> Result<Vec<i128>, Error> {
    let n = s.n();
    let mut g = vec![0i128; n * n];
    // Keep the N × chunk matrix around 1 MiB so pairwise dots stay in cache.
    let chunk = ((1 << 18) / n.max(1)).clamp(64, s.chunk.max(64)) / 64 * 64;
    let mut buf = Vec::new();
    for (off, len) in s.chunks(chunk) {
        s.read_matrix(None, off, len, &mut buf)?;
        let bmax = buf.iter().map(|x| x.unsigned_abs() as u128).max().unwrap_or(0);
        let m = &buf;
        if bmax * bmax * (len as u128) < (i64::MAX as u128) {
            g.par_chunks_mut(n).enumerate().for_each(|(i, row)| gram_rows(m, len, i, row));
        } else {
            g.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
                let a = &m[i * len..(i + 1) * len];
                for (j, gij) in row.iter_mut().enumerate().skip(i) {
                    let b = &m[j * len..(j + 1) * len];
                    *gij += a.iter().zip(b).map(|(&x, &y)| x as i128 * y as i128).sum::<i128>();
                }
            });
        }
    }
    for i in 0..n {
        for j in 0..i {
            g[i * n + j] = g[j * n + i];
        }
    }
    Ok(g)
}

/// Squared distances from the Gram matrix.
pub(crate) fn distances(g: &[i128], n: usize) -> Vec<i128> {
    let mut d = vec![0i128; n * n];
    for i in 0..n {
        for j in 0..n {
            d[i * n + j] = g[i * n + i] + g[j * n + j] - 2 * g[i * n + j];
        }
    }
    d
}

/// Krum scores restricted to `set`: sum of the `max(1, |set| − f − 2)` smallest distances to others.
pub(crate) fn scores(d: &[i128], n: usize, set: &[usize], f: usize) -> Vec<i128> {
    let k = set.len().saturating_sub(f + 2).max(1);
    set.iter()
        .map(|&i| {
            let mut ds: Vec<i128> =
                set.iter().filter(|&&j| j != i).map(|&j| d[i * n + j]).collect();
            ds.sort_unstable();
            ds.iter().take(k).sum()
        })
        .collect()
}

fn argmin(v: &[i128]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x < v[best] {
            best = i;
        }
    }
    best
}

/// Krum (`keep = None`: the single best input) or Multi-Krum (weighted mean of the `m` best).
pub(crate) fn krum(
    s: &mut Stream<'_, '_>,
    f: usize,
    keep: Option<usize>,
    reports: &mut [InputReport],
) -> Result<Vec<i32>, Error> {
    let n = s.n();
    let rule = if keep.is_some() { "multi-krum" } else { "krum" };
    if n < 2 * f + 3 {
        return Err(Error::NotEnoughInputs { rule, need: 2 * f + 3, got: n });
    }
    let g = gram(s)?;
    let d = distances(&g, n);
    let all: Vec<usize> = (0..n).collect();
    let sc = scores(&d, n, &all, f);
    let mut order: Vec<usize> = all.clone();
    order.sort_by_key(|&i| (sc[i], i));
    let m = keep.unwrap_or(1).min(n);
    let mut chosen: Vec<usize> = order[..m].to_vec();
    chosen.sort_unstable();
    for (i, r) in reports.iter_mut().enumerate() {
        r.score = Some(sc[i]);
        r.included = chosen.contains(&i);
    }
    if keep.is_none() {
        let i = order[0];
        let mut out = vec![0i32; s.p];
        let mut buf = Vec::new();
        for (off, len) in s.chunks(s.chunk) {
            s.read_matrix(Some(&[i]), off, len, &mut buf)?;
            out[off..off + len].copy_from_slice(&buf[..len]);
        }
        Ok(out)
    } else {
        mean::fedavg(s, Some(&chosen))
    }
}

/// Bulyan: select θ = N − 2f inputs by repeated Krum (each with `f`), then per coordinate average the
/// β = θ − 2f values closest to the median of the selected. Needs N ≥ 4f + 3.
pub(crate) fn bulyan(
    s: &mut Stream<'_, '_>,
    f: usize,
    reports: &mut [InputReport],
) -> Result<Vec<i32>, Error> {
    let n = s.n();
    if n < 4 * f + 3 {
        return Err(Error::NotEnoughInputs { rule: "bulyan", need: 4 * f + 3, got: n });
    }
    let theta = n - 2 * f;
    let beta = theta - 2 * f;
    let g = gram(s)?;
    let d = distances(&g, n);
    let mut remaining: Vec<usize> = (0..n).collect();
    let mut selected = Vec::with_capacity(theta);
    let first_scores = scores(&d, n, &remaining, f);
    while selected.len() < theta {
        let sc = scores(&d, n, &remaining, f);
        let k = argmin(&sc);
        selected.push(remaining.remove(k));
    }
    selected.sort_unstable();
    for (i, r) in reports.iter_mut().enumerate() {
        r.score = Some(first_scores[i]);
        r.included = selected.contains(&i);
    }
    order::per_coordinate(s, Some(&selected), move |b, l| order::closest_to_median_mean(b, l, beta))
}
