//! Per-peer rate limiting (token bucket per IP) and per-account quotas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use chorus_types::Address;
use serde::{Deserialize, Serialize};

/// Token-bucket parameters: `per_sec` tokens refill per second up to `burst`; a request costs one.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second per peer IP.
    pub per_sec: f64,
    /// Bucket capacity (requests allowed in a burst).
    pub burst: f64,
}

/// Per-account storage quota (applies to signed writes; the account is the signer).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of blobs an account may own.
    pub max_bytes: u64,
    /// Number of blobs an account may own.
    pub max_objects: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self { max_bytes: 10 << 30, max_objects: 100_000 }
    }
}

pub(crate) struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Self { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `ip`; false when the bucket is empty.
    pub(crate) fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(limit) = self.limit else { return true };
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() > 65_536 {
            // forget peers whose bucket has refilled anyway
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * limit.per_sec < limit.burst
            });
        }
        let (tokens, at) = b.entry(ip).or_insert((limit.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * limit.per_sec).min(limit.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Bytes and objects owned by each account.
#[derive(Default)]
pub(crate) struct Usage {
    by_account: Mutex<HashMap<Address, (u64, u64)>>,
}

impl Usage {
    pub(crate) fn get(&self, a: &Address) -> (u64, u64) {
        let m = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        m.get(a).copied().unwrap_or((0, 0))
    }

    /// Adds a blob if it fits the quota; false (and nothing recorded) otherwise.
    pub(crate) fn try_add(&self, a: Address, bytes: u64, q: &Quota) -> bool {
        let mut m = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(a).or_insert((0, 0));
        if e.0.saturating_add(bytes) > q.max_bytes || e.1 + 1 > q.max_objects {
            return false;
        }
        e.0 += bytes;
        e.1 += 1;
        true
    }

    pub(crate) fn add(&self, a: Address, bytes: u64) {
        let mut m = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(a).or_insert((0, 0));
        e.0 += bytes;
        e.1 += 1;
    }

    pub(crate) fn remove(&self, a: &Address, bytes: u64) {
        let mut m = self.by_account.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(a) {
            e.0 = e.0.saturating_sub(bytes);
            e.1 = e.1.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn token_bucket_refuses_after_burst_and_refills() {
        let rl = RateLimiter::new(Some(RateLimit { per_sec: 10.0, burst: 3.0 }));
        let ip: IpAddr = [127, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!((0..3).all(|_| rl.allow(ip, t0)));
        assert!(!rl.allow(ip, t0));
        assert!(rl.allow([127, 0, 0, 2].into(), t0));
        assert!(rl.allow(ip, t0 + Duration::from_millis(150)));
    }

    #[test]
    fn quota_refuses_bytes_and_objects_over_limit() {
        let u = Usage::default();
        let q = Quota { max_bytes: 100, max_objects: 2 };
        assert!(u.try_add(Address::ZERO, 60, &q));
        assert!(!u.try_add(Address::ZERO, 41, &q));
        assert!(u.try_add(Address::ZERO, 40, &q));
        assert!(!u.try_add(Address::ZERO, 0, &q));
        assert_eq!(u.get(&Address::ZERO), (100, 2));
    }
}
