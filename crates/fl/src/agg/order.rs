//! Order statistics: coordinate-wise median, trimmed mean and the Bulyan coordinate step.
//!
//! Each chunk is read as an N × chunk matrix; coordinates are processed in blocks of [`LANES`], the N
//! values of each lane sorted by a Batcher odd–even merge network (data-independent compare-exchanges,
//! vectorised across lanes), then reduced. O(N × chunk) memory.

use rayon::prelude::*;

use super::Stream;
use crate::Error;
use crate::fixed::{Micros, div_round, sat_i32};

pub(crate) const LANES: usize = 16;
type Block = [i32; LANES];

/// Batcher odd–even merge sort comparators for `n` elements (arbitrary n), each `(a, b)` with `a < b`.
pub(crate) fn network(n: usize) -> Vec<(u32, u32)> {
    let mut net = Vec::new();
    let mut p = 1;
    while p < n {
        let mut k = p;
        while k >= 1 {
            let mut j = k % p;
            while j + k < n {
                for i in 0..k.min(n - j - k) {
                    if (i + j) / (2 * p) == (i + j + k) / (2 * p) {
                        net.push(((i + j) as u32, (i + j + k) as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        p *= 2;
    }
    net
}

#[inline(always)]
fn sort_block_body(net: &[(u32, u32)], data: &mut [Block]) {
    for &(a, b) in net {
        let (lo, hi) = data.split_at_mut(b as usize);
        let x = &mut lo[a as usize];
        let y = &mut hi[0];
        for l in 0..LANES {
            let (p, q) = (x[l], y[l]);
            x[l] = p.min(q);
            y[l] = p.max(q);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sort_block_avx2(net: &[(u32, u32)], data: &mut [Block]) {
    sort_block_body(net, data)
}

/// Sorts each lane of `data` (N blocks) ascending. Same result on every CPU path (integer min/max).
pub(crate) fn sort_block(net: &[(u32, u32)], data: &mut [Block]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { sort_block_avx2(net, data) };
            return;
        }
    }
    sort_block_body(net, data)
}

/// Streams chunks of the selected inputs, sorts every coordinate across them and maps the sorted
/// column (given as `sorted[k][lane]`) to one output value.
pub(crate) fn per_coordinate<F>(
    s: &mut Stream<'_, '_>,
    sel: Option<&[usize]>,
    f: F,
) -> Result<Vec<i32>, Error>
where
    F: Fn(&[Block], usize) -> i32 + Sync,
{
    let n = sel.map_or(s.n(), <[usize]>::len);
    let net = network(n);
    // ~16 MiB of matrix per chunk, in whole lane blocks.
    let chunk = ((4 << 20) / n.max(1)).min(s.chunk).max(LANES) / LANES * LANES;
    let mut out = vec![0i32; s.p];
    let mut buf = Vec::new();
    for (off, len) in s.chunks(chunk) {
        s.read_matrix(sel, off, len, &mut buf)?;
        let m = &buf;
        out[off..off + len].par_chunks_mut(LANES * 8).enumerate().for_each_init(
            || vec![[0i32; LANES]; n],
            |blk, (bi, o)| {
                for (sub, o) in o.chunks_mut(LANES).enumerate() {
                    let c0 = bi * LANES * 8 + sub * LANES;
                    let w = o.len();
                    for (i, b) in blk.iter_mut().enumerate() {
                        let row = &m[i * len + c0..i * len + c0 + w];
                        b[..w].copy_from_slice(row);
                        b[w..].fill(0);
                    }
                    sort_block(&net, blk);
                    for (l, o) in o.iter_mut().enumerate() {
                        *o = f(blk, l);
                    }
                }
            },
        );
    }
    Ok(out)
}

/// Median of a sorted column: middle value, or the rounded mean of the two middle values.
pub(crate) fn median_of(sorted: &[Block], l: usize) -> i32 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2][l]
    } else {
        sat_i32(div_round(sorted[n / 2 - 1][l] as i128 + sorted[n / 2][l] as i128, 2))
    }
}

/// Coordinate-wise median (unweighted).
pub(crate) fn median(s: &mut Stream<'_, '_>) -> Result<Vec<i32>, Error> {
    per_coordinate(s, None, median_of)
}

/// Coordinate-wise trimmed mean: drop `k = floor(trim · N)` lowest and highest, average the rest.
pub(crate) fn trimmed_mean(s: &mut Stream<'_, '_>, trim: Micros) -> Result<Vec<i32>, Error> {
    let n = s.n();
    let k = (trim.0 as u128 * n as u128 / 1_000_000) as usize;
    if 2 * k >= n {
        return Err(Error::InvalidParams {
            rule: "trimmed-mean",
            reason: format!("trim {trim} leaves nothing of {n} inputs"),
        });
    }
    let keep = (n - 2 * k) as i64;
    per_coordinate(s, None, move |b, l| {
        let sum: i64 = b[k..n - k].iter().map(|r| r[l] as i64).sum();
        sat_i32(div_round(sum as i128, keep as i128))
    })
}

/// Bulyan coordinate step over a sorted column: mean of the `beta` values closest to the median
/// (ties: the lower value wins).
pub(crate) fn closest_to_median_mean(b: &[Block], l: usize, beta: usize) -> i32 {
    let n = b.len();
    // 2·median, exact.
    let med2 = if n % 2 == 1 {
        2 * b[n / 2][l] as i64
    } else {
        b[n / 2 - 1][l] as i64 + b[n / 2][l] as i64
    };
    // Start from the window [lo, hi) = empty at the first element ≥ median and grow greedily.
    let mut hi = b.partition_point(|r| 2 * (r[l] as i64) < med2);
    let mut lo = hi;
    let mut sum: i64 = 0;
    for _ in 0..beta {
        let left = (lo > 0).then(|| med2 - 2 * b[lo - 1][l] as i64);
        let right = (hi < n).then(|| 2 * b[hi][l] as i64 - med2);
        match (left, right) {
            (Some(dl), Some(dr)) if dl <= dr => {
                lo -= 1;
                sum += b[lo][l] as i64;
            }
            (_, Some(_)) => {
                sum += b[hi][l] as i64;
                hi += 1;
            }
            (Some(_), None) => {
                lo -= 1;
                sum += b[lo][l] as i64;
            }
            (None, None) => break,
        }
    }
    sat_i32(div_round(sum as i128, beta.max(1) as i128))
}
