//! Krum, Multi-Krum and Bulyan. Pairwise squared distances come from the exact Gram matrix
//! `‖x_i − x_j‖² = G_ii + G_jj − 2 G_ij`, accumulated over column slices (f64 tiles when provably
//! exact for the slice, else integer dot products) into i128 — exact, so the Gram trick has no
//! cancellation and the result does not depend on the CPU or the thread count.

use rayon::prelude::*;

use super::simd::{self, TILE};
use super::{InputReport, Stream, mean, order};
use crate::Error;

fn dot_exact(a: &[i32], b: &[i32], bmax: u128) -> i128 {
    if bmax * bmax * (a.len() as u128) < i64::MAX as u128 {
        a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum::<i64>() as i128
    } else {
        a.iter().zip(b).map(|(&x, &y)| x as i128 * y as i128).sum()
    }
}

/// One thread's share of the Gram matrix: exact partial sums over the column slices it processed.
struct GramPart {
    /// Upper triangle (`i ≤ j`) of the padded `np × np` matrix.
    g: Vec<i128>,
    /// The current slice as f64, `np` rows × `ld` columns.
    f: Vec<f64>,
}

/// Exact Gram matrix (row-major N × N).
///
/// Columns are cut into slices (≤ 1 MiB of f64 per slice); each thread takes every T-th slice.
/// A slice whose largest magnitude B satisfies B² · width < 2^53 goes through 4 × 4 f64 tiles
/// ([`simd::gram_tile`], exact by that bound); other slices use integer dot products. Partial sums
/// are added as i128, so the result is the exact integer Gram matrix whatever the thread count.
pub(crate) fn gram(s: &mut Stream<'_, '_>) -> Result<Vec<i128>, Error> {
    let n = s.n();
    let np = n.div_ceil(TILE) * TILE;
    let width = ((1usize << 17) / np).clamp(8, 1024) / 8 * 8;
    let threads = rayon::current_num_threads().max(1);
    let mut parts: Vec<GramPart> = (0..threads)
        .map(|_| GramPart { g: vec![0i128; np * np], f: vec![0f64; np * width] })
        .collect();
    let direct: Vec<&[i32]> = (0..n)
        .filter(|&i| s.prescale[i].is_none())
        .filter_map(|i| s.inputs[i].reader.chunk_slice(0, s.p))
        .collect();
    if direct.len() == n {
        gram_chunk(&direct, width, &mut parts);
    } else {
        drop(direct);
        let chunk = ((1usize << 20) / n.max(1)).max(width) / width * width;
        let mut buf = Vec::new();
        for (off, len) in s.chunks(chunk) {
            s.read_matrix(None, off, len, &mut buf)?;
            let rows: Vec<&[i32]> = buf.chunks(len).collect();
            gram_chunk(&rows, width, &mut parts);
        }
    }
    let mut g = vec![0i128; n * n];
    for i in 0..n {
        for j in i..n {
            let v: i128 = parts.iter().map(|p| p.g[i * np + j]).sum();
            g[i * n + j] = v;
            g[j * n + i] = v;
        }
    }
    Ok(g)
}

fn gram_chunk(rows: &[&[i32]], width: usize, parts: &mut [GramPart]) {
    let n = rows.len();
    let len = rows.first().map_or(0, |r| r.len());
    let np = n.div_ceil(TILE) * TILE;
    let slices = len.div_ceil(width);
    let threads = parts.len();
    parts.par_iter_mut().enumerate().for_each(|(t, part)| {
        for k in (t..slices).step_by(threads) {
            let (c0, c1) = (k * width, ((k + 1) * width).min(len));
            let w = c1 - c0;
            let bmax = rows
                .iter()
                .flat_map(|r| &r[c0..c1])
                .map(|x| x.unsigned_abs() as u128)
                .max()
                .unwrap_or(0);
            let ld = w.div_ceil(8) * 8;
            if bmax * bmax * (ld as u128) < 1u128 << 53 {
                for (i, row) in rows.iter().enumerate() {
                    let dst = &mut part.f[i * ld..(i + 1) * ld];
                    for (d, &x) in dst.iter_mut().zip(&row[c0..c1]) {
                        *d = x as f64;
                    }
                    dst[w..].fill(0.0);
                }
                part.f[n * ld..np * ld].fill(0.0);
                for bi in (0..np).step_by(TILE) {
                    for bj in (bi..np).step_by(TILE) {
                        let mut tile = [[0i64; TILE]; TILE];
                        simd::gram_tile(&part.f[..np * ld], ld, bi, bj, &mut tile);
                        for (x, trow) in tile.iter().enumerate() {
                            for (y, &v) in trow.iter().enumerate() {
                                part.g[(bi + x) * np + bj + y] += v as i128;
                            }
                        }
                    }
                }
            } else {
                for i in 0..n {
                    for j in i..n {
                        part.g[i * np + j] += dot_exact(&rows[i][c0..c1], &rows[j][c0..c1], bmax);
                    }
                }
            }
        }
    });
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

/// Bulyan's selection: `theta` rounds of Krum over the inputs not yet selected, each round
/// taking the input with the lowest score (ties: the lowest index). Returns the picks in order.
///
/// Equal to recomputing [`scores`] over the remaining set each round, in O(N² log N) instead of
/// O(θ · N² log N): each input keeps its distances sorted once and a window over them holding the
/// `k = max(1, |remaining| − f − 2)` smallest among the remaining others; removing an input and
/// shrinking `k` moves each window by an amortised O(1).
pub(crate) fn repeated_krum(d: &[i128], n: usize, f: usize, theta: usize) -> Vec<usize> {
    // sorted[i]: the other inputs by distance to i; rank[i][j]: position of j in sorted[i].
    let sorted: Vec<Vec<usize>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut o: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            o.sort_by_key(|&j| (d[i * n + j], j));
            o
        })
        .collect();
    let mut rank = vec![0usize; n * n];
    for (i, o) in sorted.iter().enumerate() {
        for (r, &j) in o.iter().enumerate() {
            rank[i * n + j] = r;
        }
    }
    let mut removed = vec![false; n];
    let mut remaining = n;
    // Window state per input: end position in sorted[i], count of live entries before it, their sum.
    let mut end = vec![0usize; n];
    let mut count = vec![0usize; n];
    let mut sum = vec![0i128; n];
    let fit = |i: usize,
               k: usize,
               end: &mut [usize],
               count: &mut [usize],
               sum: &mut [i128],
               removed: &[bool]| {
        let o = &sorted[i];
        while count[i] > k {
            end[i] -= 1;
            let j = o[end[i]];
            if !removed[j] {
                count[i] -= 1;
                sum[i] -= d[i * n + j];
            }
        }
        while count[i] < k && end[i] < o.len() {
            let j = o[end[i]];
            if !removed[j] {
                count[i] += 1;
                sum[i] += d[i * n + j];
            }
            end[i] += 1;
        }
    };
    let mut picks = Vec::with_capacity(theta);
    while picks.len() < theta.min(n) {
        let k = remaining.saturating_sub(f + 2).max(1);
        for i in (0..n).filter(|&i| !removed[i]) {
            fit(i, k, &mut end, &mut count, &mut sum, &removed);
        }
        let best = (0..n).filter(|&i| !removed[i]).min_by_key(|&i| (sum[i], i));
        let Some(best) = best else { break };
        picks.push(best);
        removed[best] = true;
        remaining -= 1;
        for i in (0..n).filter(|&i| !removed[i]) {
            if rank[i * n + best] < end[i] {
                count[i] -= 1;
                sum[i] -= d[i * n + best];
            }
        }
    }
    picks
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
    let first_scores = scores(&d, n, &(0..n).collect::<Vec<_>>(), f);
    let mut selected = repeated_krum(&d, n, f, theta);
    selected.sort_unstable();
    for (i, r) in reports.iter_mut().enumerate() {
        r.score = Some(first_scores[i]);
        r.included = selected.contains(&i);
    }
    let net = order::network(selected.len());
    order::per_coordinate(s, Some(&selected), &net, move |b| {
        order::closest_to_median_means(b, beta)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_repeated_krum(d: &[i128], n: usize, f: usize, theta: usize) -> Vec<usize> {
        let mut remaining: Vec<usize> = (0..n).collect();
        let mut picks = Vec::new();
        while picks.len() < theta {
            let sc = scores(d, n, &remaining, f);
            let k = (0..sc.len()).min_by_key(|&k| (sc[k], k)).unwrap();
            picks.push(remaining.remove(k));
        }
        picks
    }

    proptest! {
        #[test]
        fn incremental_bulyan_selection_equals_recomputing_krum_each_round(
            n in 3usize..24,
            f in 0usize..5,
            seed in any::<u64>(),
            levels in 1u64..6,
        ) {
            // Few distinct distances, so ties are common.
            let mut d = vec![0i128; n * n];
            let mut z = seed;
            for i in 0..n {
                for j in i + 1..n {
                    z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let v = ((z >> 33) % levels) as i128;
                    d[i * n + j] = v;
                    d[j * n + i] = v;
                }
            }
            let theta = n.saturating_sub(2 * f).max(1);
            prop_assert_eq!(repeated_krum(&d, n, f, theta), naive_repeated_krum(&d, n, f, theta));
        }
    }
}
