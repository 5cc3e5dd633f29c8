//! Hot loops with runtime CPU dispatch (AVX-512 → AVX2 → portable).
//!
//! Every path computes the same integers: the kernels use integer min/max and integer adds, or
//! f64 arithmetic only where the caller has proved every product and partial sum is an integer
//! below 2^53 (so f64 is exact and the result does not depend on the instruction set, the order of
//! additions or fused multiply-adds). Nothing here may make a result depend on the CPU.

/// Lanes of one sorting block (one AVX-512 register of i32).
pub(crate) const LANES: usize = 16;

/// One column block: `LANES` coordinates of one input, cache-line aligned.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Block(pub(crate) [i32; LANES]);

#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

// ---------------------------------------------------------------------------------------------
// acc += w · x

#[inline(always)]
fn axpy_body(acc: &mut [i64], w: i64, x: &[i32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += w * v as i64;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
fn axpy_avx512(acc: &mut [i64], w: i64, x: &[i32]) {
    axpy_body(acc, w, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn axpy_avx2(acc: &mut [i64], w: i64, x: &[i32]) {
    axpy_body(acc, w, x)
}

/// `acc[i] += w · x[i]` (exact i64; the caller bounds `Σ w·|x|`).
pub(crate) fn axpy_i64(acc: &mut [i64], w: i64, x: &[i32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: AVX-512 F/DQ/VL/BW support checked at run time.
            return unsafe { axpy_avx512(acc, w, x) };
        }
        if has_avx2() {
            // SAFETY: AVX2 support checked at run time.
            return unsafe { axpy_avx2(acc, w, x) };
        }
    }
    axpy_body(acc, w, x)
}

// ---------------------------------------------------------------------------------------------
// Comparator networks over blocks

/// A comparator network over `n` wires, each comparator `(a, b)` with `a < b < n` (min to `a`, max
/// to `b`), validated once so it can be applied without bounds checks.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    n: usize,
    pairs: Vec<(u32, u32)>,
}

impl Network {
    /// Panics if a comparator is out of range or not ordered (a programming error).
    pub(crate) fn new(n: usize, pairs: Vec<(u32, u32)>) -> Self {
        assert!(pairs.iter().all(|&(a, b)| a < b && (b as usize) < n), "bad comparator network");
        Self { n, pairs }
    }

    /// Number of comparators.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Applies the network to every lane of `data` (`data.len()` must be `n`).
    pub(crate) fn apply(&self, data: &mut [Block]) {
        assert_eq!(
            data.len(),
            self.n,
            "network of {} wires applied to {} blocks",
            self.n,
            data.len()
        );
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                // SAFETY: AVX-512F checked at run time; every index is < n = data.len().
                return unsafe { network_avx512(&self.pairs, data) };
            }
            if has_avx2() {
                // SAFETY: AVX2 checked at run time.
                return unsafe { network_avx2(&self.pairs, data) };
            }
        }
        network_body(&self.pairs, data)
    }
}

#[inline(always)]
fn network_body(net: &[(u32, u32)], data: &mut [Block]) {
    for &(a, b) in net {
        let (lo, hi) = data.split_at_mut(b as usize);
        let x = &mut lo[a as usize].0;
        let y = &mut hi[0].0;
        for l in 0..LANES {
            let (p, q) = (x[l], y[l]);
            x[l] = p.min(q);
            y[l] = p.max(q);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn network_avx2(net: &[(u32, u32)], data: &mut [Block]) {
    network_body(net, data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn network_avx512(net: &[(u32, u32)], data: &mut [Block]) {
    use std::arch::x86_64::_mm512_store_si512;
    use std::arch::x86_64::{__m512i, _mm512_load_si512, _mm512_max_epi32, _mm512_min_epi32};
    let base = data.as_mut_ptr();
    for &(a, b) in net {
        // SAFETY: a, b < data.len() (caller's contract); blocks are 64-byte aligned.
        unsafe {
            let pa = base.add(a as usize) as *mut __m512i;
            let pb = base.add(b as usize) as *mut __m512i;
            let x = _mm512_load_si512(pa);
            let y = _mm512_load_si512(pb);
            _mm512_store_si512(pa, _mm512_min_epi32(x, y));
            _mm512_store_si512(pb, _mm512_max_epi32(x, y));
        }
    }
}

/// Per-lane sum of `blocks` in i64.
pub(crate) fn lane_sums(blocks: &[Block]) -> [i64; LANES] {
    let mut s = [0i64; LANES];
    for b in blocks {
        for (acc, &v) in s.iter_mut().zip(&b.0) {
            *acc += v as i64;
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Exact Gram tiles in f64

/// Rows per Gram tile side.
pub(crate) const TILE: usize = 4;

/// Exact dot products of rows `ri..ri+4` × `rj..rj+4` of `m` (row-major, `ld` columns, rows padded
/// to a multiple of 4, `ld` a multiple of 8), over columns `0..ld`, added into `out`.
///
/// Precondition (checked by the caller): every |m| ≤ B with B² · ld < 2^53, so every product and
/// every partial sum is an integer below 2^53 and exact in f64 whatever the order.
pub(crate) fn gram_tile(m: &[f64], ld: usize, ri: usize, rj: usize, out: &mut [[i64; TILE]; TILE]) {
    assert!(ld.is_multiple_of(8) && (ri.max(rj) + TILE) * ld <= m.len(), "gram tile out of range");
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: AVX-512F checked at run time; bounds asserted above.
            return unsafe { gram_tile_avx512(m, ld, ri, rj, out) };
        }
        if has_avx2() {
            // SAFETY: AVX2 checked at run time.
            return unsafe { gram_tile_avx2(m, ld, ri, rj, out) };
        }
    }
    gram_tile_body(m, ld, ri, rj, out)
}

#[inline(always)]
fn gram_tile_body(m: &[f64], ld: usize, ri: usize, rj: usize, out: &mut [[i64; TILE]; TILE]) {
    let mut acc = [[[0f64; 8]; TILE]; TILE];
    let a: [&[f64]; TILE] = std::array::from_fn(|k| &m[(ri + k) * ld..(ri + k + 1) * ld]);
    let b: [&[f64]; TILE] = std::array::from_fn(|k| &m[(rj + k) * ld..(rj + k + 1) * ld]);
    for c in (0..ld).step_by(8) {
        for (x, ax) in a.iter().enumerate() {
            for (y, bx) in b.iter().enumerate() {
                for l in 0..8 {
                    acc[x][y][l] += ax[c + l] * bx[c + l];
                }
            }
        }
    }
    for x in 0..TILE {
        for y in 0..TILE {
            out[x][y] += acc[x][y].iter().sum::<f64>() as i64;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn gram_tile_avx2(m: &[f64], ld: usize, ri: usize, rj: usize, out: &mut [[i64; TILE]; TILE]) {
    gram_tile_body(m, ld, ri, rj, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gram_tile_avx512(
    m: &[f64],
    ld: usize,
    ri: usize,
    rj: usize,
    out: &mut [[i64; TILE]; TILE],
) {
    use std::arch::x86_64::{
        __m512d, _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_reduce_add_pd, _mm512_setzero_pd,
    };
    let p = m.as_ptr();
    let mut acc: [[__m512d; TILE]; TILE] = [[_mm512_setzero_pd(); TILE]; TILE];
    let mut c = 0;
    #[allow(clippy::needless_range_loop)] // a 4 × 4 register tile reads clearer with indices
    while c < ld {
        // SAFETY: rows ri..ri+4 and rj..rj+4 are within m and c + 8 <= ld (asserted by caller).
        unsafe {
            let a = [
                _mm512_loadu_pd(p.add(ri * ld + c)),
                _mm512_loadu_pd(p.add((ri + 1) * ld + c)),
                _mm512_loadu_pd(p.add((ri + 2) * ld + c)),
                _mm512_loadu_pd(p.add((ri + 3) * ld + c)),
            ];
            for y in 0..TILE {
                let b = _mm512_loadu_pd(p.add((rj + y) * ld + c));
                for x in 0..TILE {
                    acc[x][y] = _mm512_fmadd_pd(a[x], b, acc[x][y]);
                }
            }
        }
        c += 8;
    }
    for (o, a) in out.iter_mut().zip(&acc) {
        for (o, &a) in o.iter_mut().zip(a) {
            *o += _mm512_reduce_add_pd(a) as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_tile_paths_give_the_exact_integer_dot_products() {
        let ld = 64;
        let rows = 8;
        let m: Vec<f64> =
            (0..rows * ld).map(|i| ((i as i64 * 7919 % 4001) - 2000) as f64 * 1024.0).collect();
        let mut got = [[0i64; TILE]; TILE];
        gram_tile(&m, ld, 0, 4, &mut got);
        let mut portable = [[0i64; TILE]; TILE];
        gram_tile_body(&m, ld, 0, 4, &mut portable);
        for x in 0..TILE {
            for y in 0..TILE {
                let exact: i64 =
                    (0..ld).map(|c| m[x * ld + c] as i64 * m[(4 + y) * ld + c] as i64).sum();
                assert_eq!(got[x][y], exact);
                assert_eq!(portable[x][y], exact);
            }
        }
    }

    #[test]
    fn network_paths_agree_with_the_portable_path() {
        let n = 37;
        let net: Vec<(u32, u32)> =
            (0..n as u32).flat_map(|a| (a + 1..n as u32).map(move |b| (a, b))).collect();
        let data: Vec<Block> = (0..n)
            .map(|i| Block(std::array::from_fn(|l| ((i * 31 + l * 17) % 23) as i32 - 11)))
            .collect();
        let mut fast = data.clone();
        Network::new(n, net.clone()).apply(&mut fast);
        let mut slow = data;
        network_body(&net, &mut slow);
        for l in 0..LANES {
            let col: Vec<i32> = fast.iter().map(|b| b.0[l]).collect();
            assert!(col.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(col, slow.iter().map(|b| b.0[l]).collect::<Vec<_>>());
        }
    }
}
