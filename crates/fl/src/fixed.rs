//! Exact integer helpers: the crate-wide rounding rule, integer square roots and decimal parameters.
//!
//! **Rounding rule**: every division in the crate rounds *half away from zero* ([`div_round`]), the
//! same rule `f64::round` uses when quantizing, and results saturate to the `i32` range.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `n / d` rounded half away from zero; `d` must be positive.
pub fn div_round(n: i128, d: i128) -> i128 {
    debug_assert!(d > 0);
    let q = n / d;
    let r = n % d;
    if 2 * r.unsigned_abs() >= d.unsigned_abs() { q + n.signum() } else { q }
}

/// `n / d` rounded half away from zero, for i64 (fast path).
pub fn div_round_i64(n: i64, d: i64) -> i64 {
    debug_assert!(d > 0);
    let q = n / d;
    let r = n % d;
    if 2 * (r.unsigned_abs() as u128) >= d as u128 { q + n.signum() } else { q }
}

/// Saturates to `i32`.
pub fn sat_i32(x: i128) -> i32 {
    x.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// Floor of the square root of a `u128`.
pub fn isqrt_u128(n: u128) -> u128 {
    n.isqrt()
}

/// Squared L2 norm of fixed-point values (exact).
pub fn norm_sq(v: &[i32]) -> u128 {
    // i64 partial sums over blocks of 2 values never overflow (2 · 2^62 < 2^64 as u64).
    v.chunks(2).map(|c| c.iter().map(|&x| (x as i64 * x as i64) as u64 as u128).sum::<u128>()).sum()
}

/// A non-negative decimal with 6 fractional digits, stored as millionths (no floats in hashed state).
/// Parses and prints as a decimal string, e.g. `"0.9"`, `"10"`, `"1e-3"` is *not* accepted.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Micros(pub u64);

impl Micros {
    /// One, i.e. 1_000_000 millionths.
    pub const ONE: Micros = Micros(1_000_000);
    /// From a whole number.
    pub const fn from_int(x: u64) -> Self {
        Micros(x * 1_000_000)
    }
    /// Approximate f64 value (for reports only).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    /// The value in fixed-point units of `scale`, rounded half away from zero.
    pub fn to_fixed(self, scale: crate::FixedScale) -> i128 {
        div_round(self.0 as i128 * scale.one() as i128, 1_000_000)
    }
}

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, r) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if r == 0 {
            write!(f, "{i}")
        } else {
            let s = format!("{r:06}");
            write!(f, "{i}.{}", s.trim_end_matches('0'))
        }
    }
}

impl FromStr for Micros {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (ip, fp) = s.split_once('.').unwrap_or((s, ""));
        if ip.is_empty() && fp.is_empty() || fp.len() > 6 || !fp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(format!("not a decimal with at most 6 fractional digits: {s:?}"));
        }
        let i: u64 =
            if ip.is_empty() { 0 } else { ip.parse().map_err(|_| format!("bad number {s:?}"))? };
        let f: u64 = if fp.is_empty() {
            0
        } else {
            format!("{fp:0<6}").parse().map_err(|_| format!("bad number {s:?}"))?
        };
        i.checked_mul(1_000_000)
            .and_then(|x| x.checked_add(f))
            .map(Micros)
            .ok_or_else(|| format!("too large: {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div_round_rounds_half_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-5, 3), -2);
        assert_eq!(div_round(7, 7), 1);
        assert_eq!(div_round_i64(-7, 2), -4);
        assert_eq!(div_round_i64(6, 4), 2);
    }

    #[test]
    fn micros_parse_and_print_roundtrip() {
        assert_eq!("0.9".parse::<Micros>().unwrap(), Micros(900_000));
        assert_eq!("10".parse::<Micros>().unwrap(), Micros::from_int(10));
        assert_eq!(Micros(1_500).to_string(), "0.0015");
        assert!("1e-3".parse::<Micros>().is_err());
        assert!("0.0000001".parse::<Micros>().is_err());
    }
}
