//! Integer fixed-point helpers behind the protocol rules: `log2` and `ln` in Q64 (64 fractional
//! bits), the `(a · b) >> 64` product they use, the full 256-bit product [`wide_mul`] that
//! compares selection keys exactly, and the chain's one `mul_div`. No floats anywhere, so every
//! node and every off-chain recomputation gets bit-identical results.

/// `ln 2` in Q64 fixed point (rounded down).
pub(super) const LN2_Q64: u128 = 0xB172_17F7_D1CF_79AB;

/// `(a · b) >> 64` for `a < 2^127`, `b < 2^64` without overflow.
pub(super) fn mul_q64(a: u128, b: u128) -> u128 {
    let (ah, al) = (a >> 64, a & u128::from(u64::MAX));
    ah * b + ((al * b) >> 64)
}

/// `log2(x)` in Q64 fixed point for `x ≥ 1` (rounded down; error < 2^-56).
pub fn log2_q64(x: u128) -> u128 {
    if x == 0 {
        return 0;
    }
    let n = 127 - u128::from(x.leading_zeros());
    // Normalise to y ∈ [2^63, 2^64): y / 2^63 is the mantissa in [1, 2).
    let mut y = if n >= 63 { x >> (n - 63) } else { x << (63 - n) };
    let mut frac: u128 = 0;
    for i in 1..=64u32 {
        y = (y * y) >> 63;
        if y >= 1 << 64 {
            y >>= 1;
            frac |= 1u128 << (64 - i);
        }
    }
    (n << 64) | frac
}

/// `ln(x)` in Q64 fixed point for `x ≥ 1` (rounded down).
pub fn ln_q64(x: u128) -> u128 {
    mul_q64(log2_q64(x), LN2_Q64)
}

/// Full 256-bit product `a · b` as `(high, low)`.
pub fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    let m = u128::from(u64::MAX);
    let (a1, a0) = (a >> 64, a & m);
    let (b1, b0) = (b >> 64, b & m);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & m) + (p10 & m);
    let lo = (p00 & m) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// `floor(a · b / d)` exactly (256-bit intermediate); `None` if `d == 0` or the result does not
/// fit in `u128`. One implementation for the whole chain: [`chorus_types::staking::mul_div`].
pub fn mul_div(a: u128, b: u128, d: u128) -> Option<u128> {
    chorus_types::staking::mul_div(a, b, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_and_ln_are_accurate() {
        assert_eq!(log2_q64(1), 0);
        assert_eq!(log2_q64(1 << 40), 40u128 << 64);
        // ln(10^18) = 41.446531673892822...
        let ln = ln_q64(1_000_000_000_000_000_000);
        let micro = (ln * 1_000_000) >> 64;
        assert_eq!(micro, 41_446_531);
        // ln(3) = 1.0986122886681098
        assert_eq!((ln_q64(3) * 1_000_000_000) >> 64, 1_098_612_288);
    }

    #[test]
    fn mul_div_matches_small_cases_and_handles_wide_products() {
        assert_eq!(mul_div(10, 3, 4), Some(7));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some(u128::MAX));
        assert_eq!(mul_div(u128::MAX, 2, 4), Some(u128::MAX / 2));
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        assert_eq!(mul_div(1, 1, 0), None);
    }
}
