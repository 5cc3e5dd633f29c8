//! Order statistics: coordinate-wise median, trimmed mean and the Bulyan coordinate step.
//!
//! Coordinates are processed in blocks of [`LANES`]: the N values of each coordinate are put
//! through a Batcher odd–even merge network (data-independent compare-exchanges, one AVX-512
//! min/max pair per comparator for all 16 lanes) — pruned to a three-way partition when only the
//! middle group matters (median, trimmed mean) — then reduced. In-memory inputs are read in place;
//! streamed ones through an N × chunk matrix (O(N × chunk) memory).

use rayon::prelude::*;

use super::Stream;
use super::simd::{Block, LANES, Network, lane_sums};
use crate::Error;
use crate::fixed::{Micros, div_round, div_round_i64, sat_i32};

/// Batcher odd–even merge sort comparators for `n` elements (arbitrary n), each `(a, b)` with `a < b`.
pub(crate) fn network(n: usize) -> Network {
    Network::new(n, batcher(n))
}

fn batcher(n: usize) -> Vec<(u32, u32)> {
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

/// A sorting network pruned to a three-way partition: afterwards wires `0..lo` hold the `lo`
/// smallest values, `lo..hi` the next `hi − lo` and `hi..n` the largest, each group in no
/// particular order. Walking backwards, a comparator is dropped when neither of its wires is
/// touched again and both end in the same group (swapping them cannot change any group).
pub(crate) fn partition_network(n: usize, lo: usize, hi: usize) -> Network {
    let group = |w: u32| (w as usize >= lo) as u8 + (w as usize >= hi) as u8;
    let mut untouched = vec![true; n];
    let mut kept: Vec<(u32, u32)> = batcher(n)
        .into_iter()
        .rev()
        .filter(|&(a, b)| {
            let (ua, ub) = (untouched[a as usize], untouched[b as usize]);
            if ua && ub && group(a) == group(b) {
                return false;
            }
            untouched[a as usize] = false;
            untouched[b as usize] = false;
            true
        })
        .collect();
    kept.reverse();
    Network::new(n, kept)
}

/// Streams the selected inputs (all when `sel` is None), runs `net` over every block of
/// [`LANES`] coordinates (the N values of each coordinate as one column) and maps the blocks to
/// the output values with `f`.
///
/// In-memory inputs without a norm-bound factor are read in place; others are copied chunk by chunk
/// into an N × chunk matrix (O(N × chunk) memory).
pub(crate) fn per_coordinate<F>(
    s: &mut Stream<'_, '_>,
    sel: Option<&[usize]>,
    net: &Network,
    f: F,
) -> Result<Vec<i32>, Error>
where
    F: Fn(&[Block]) -> [i32; LANES] + Sync,
{
    let idx: Vec<usize> = sel.map_or_else(|| (0..s.n()).collect(), <[usize]>::to_vec);
    let n = idx.len();
    let mut out = vec![0i32; s.p];
    let direct: Vec<&[i32]> = idx
        .iter()
        .filter(|&&i| s.prescale[i].is_none())
        .filter_map(|&i| s.inputs[i].reader.chunk_slice(0, s.p))
        .collect();
    if direct.len() == n {
        columns(&direct, &mut out, net, &f);
        return Ok(out);
    }
    drop(direct);
    // ~1 MiB of matrix per chunk, in whole lane blocks, so it stays in cache while it is sorted.
    let chunk = ((1 << 18) / n.max(1)).min(s.chunk).max(LANES * 8) / LANES * LANES;
    let mut buf = Vec::new();
    for (off, len) in s.chunks(chunk) {
        s.read_matrix(sel, off, len, &mut buf)?;
        let rows: Vec<&[i32]> = buf.chunks(len).collect();
        columns(&rows, &mut out[off..off + len], net, &f);
    }
    Ok(out)
}

fn columns<F>(rows: &[&[i32]], out: &mut [i32], net: &Network, f: &F)
where
    F: Fn(&[Block]) -> [i32; LANES] + Sync,
{
    // Each task reads a run of up to 4 KiB of every row (sequential, prefetcher-friendly),
    // transposes it into column blocks (≤ 512 KiB, so they stay in L2), then sorts and reduces them
    // one block at a time.
    let n = rows.len();
    let per_task = LANES * (8192 / n.max(1)).clamp(4, 64);
    out.par_chunks_mut(per_task).enumerate().for_each_init(
        || vec![Block::default(); n * (per_task / LANES)],
        |cols, (t, o)| {
            let c0 = t * per_task;
            let nb = o.len().div_ceil(LANES);
            for (i, row) in rows.iter().enumerate() {
                let run = &row[c0..c0 + o.len()];
                for (b, v) in run.chunks(LANES).enumerate() {
                    let dst = &mut cols[b * n + i].0;
                    if v.len() == LANES {
                        dst.copy_from_slice(v);
                    } else {
                        dst[..v.len()].copy_from_slice(v);
                        dst[v.len()..].fill(0);
                    }
                }
            }
            for (b, o) in o.chunks_mut(LANES).enumerate().take(nb) {
                let blk = &mut cols[b * n..(b + 1) * n];
                net.apply(blk);
                o.copy_from_slice(&f(blk)[..o.len()]);
            }
        },
    );
}

/// Per-lane rounded mean of `blocks`.
fn lane_means(blocks: &[Block]) -> [i32; LANES] {
    let s = lane_sums(blocks);
    let k = blocks.len().max(1) as i64;
    std::array::from_fn(|l| sat_i32(div_round_i64(s[l], k) as i128))
}

/// Coordinate-wise median (unweighted): the middle value, or the rounded mean of the two middle
/// values.
pub(crate) fn median(s: &mut Stream<'_, '_>) -> Result<Vec<i32>, Error> {
    let n = s.n();
    let (lo, hi) = if n % 2 == 1 { (n / 2, n / 2 + 1) } else { (n / 2 - 1, n / 2 + 1) };
    let net = partition_network(n, lo, hi);
    per_coordinate(s, None, &net, move |b| lane_means(&b[lo..hi]))
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
    let net = partition_network(n, k, n - k);
    per_coordinate(s, None, &net, move |b| lane_means(&b[k..n - k]))
}

/// Bulyan coordinate step over sorted columns: per lane, the mean of the `beta` values closest to
/// the median (ties: the lower value wins).
pub(crate) fn closest_to_median_means(b: &[Block], beta: usize) -> [i32; LANES] {
    let mut col = vec![0i32; b.len()];
    std::array::from_fn(|l| {
        for (c, r) in col.iter_mut().zip(b) {
            *c = r.0[l];
        }
        closest_to_median_mean(&col, beta)
    })
}

/// Mean of the `beta` values of the sorted column `c` closest to its median.
fn closest_to_median_mean(c: &[i32], beta: usize) -> i32 {
    let n = c.len();
    // 2·median, exact.
    let med2 = if n % 2 == 1 { 2 * c[n / 2] as i64 } else { c[n / 2 - 1] as i64 + c[n / 2] as i64 };
    // Start from the window [lo, hi) = empty at the first element ≥ median and grow greedily.
    let mut hi = c.partition_point(|&x| 2 * (x as i64) < med2);
    let mut lo = hi;
    let mut sum: i64 = 0;
    for _ in 0..beta {
        let left = (lo > 0).then(|| med2 - 2 * c[lo - 1] as i64);
        let right = (hi < n).then(|| 2 * c[hi] as i64 - med2);
        match (left, right) {
            (Some(dl), Some(dr)) if dl <= dr => {
                lo -= 1;
                sum += c[lo] as i64;
            }
            (_, Some(_)) => {
                sum += c[hi] as i64;
                hi += 1;
            }
            (Some(_), None) => {
                lo -= 1;
                sum += c[lo] as i64;
            }
            (None, None) => break,
        }
    }
    sat_i32(div_round(sum as i128, beta.max(1) as i128))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pruned_networks_put_the_same_values_in_the_middle_group_as_a_full_sort(
            n in 1usize..70,
            a in 0usize..70,
            b in 0usize..70,
            seed in any::<u64>(),
        ) {
            let (lo, hi) = (a.min(b) % (n + 1), a.max(b) % (n + 1));
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let mut z = seed;
            let mut data: Vec<Block> = (0..n)
                .map(|_| {
                    Block(std::array::from_fn(|_| {
                        z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((z >> 40) % 9) as i32 - 4
                    }))
                })
                .collect();
            let mut sorted = data.clone();
            network(n).apply(&mut sorted);
            partition_network(n, lo, hi).apply(&mut data);
            for l in 0..LANES {
                let col = |v: &[Block], r: std::ops::Range<usize>| {
                    let mut c: Vec<i32> = v[r].iter().map(|x| x.0[l]).collect();
                    c.sort_unstable();
                    c
                };
                prop_assert!(sorted.windows(2).all(|w| w[0].0[l] <= w[1].0[l]));
                prop_assert_eq!(col(&data, 0..lo), col(&sorted, 0..lo));
                prop_assert_eq!(col(&data, lo..hi), col(&sorted, lo..hi));
                prop_assert_eq!(col(&data, hi..n), col(&sorted, hi..n));
            }
        }
    }

    #[test]
    fn pruning_removes_comparators_for_the_median_of_100() {
        assert_eq!(network(100).len(), 1104);
        assert!(partition_network(100, 49, 51).len() < 900);
    }
}
