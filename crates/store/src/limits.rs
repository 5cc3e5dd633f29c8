//! Rate limits (per client IP and per signing account, `governor` GCRA), per-principal quotas and
//! upload slots.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use chorus_types::Address;
use governor::clock::DefaultClock;
use governor::state::keyed::HashMapStateStore;
use serde::{Deserialize, Serialize};

/// Rate parameters: `per_sec` requests per second sustained, up to `burst` at once.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second per key (client IP or signing account).
    pub per_sec: f64,
    /// Requests allowed in a burst.
    pub burst: f64,
}

/// A storage quota: bytes and blobs one principal (a signing account, or a client IP for unsigned
/// writes) may own at once.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of blobs a principal may own.
    pub max_bytes: u64,
    /// Number of blobs a principal may own.
    pub max_objects: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self { max_bytes: 10 << 30, max_objects: 100_000 }
    }
}

/// Who a write is charged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Principal {
    /// The signer of the request.
    Account(Address),
    /// The client IP of an unsigned request (only where unsigned writes are allowed at all).
    Ip(IpAddr),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Account(a) => write!(f, "account {a}"),
            Principal::Ip(ip) => write!(f, "client {ip}"),
        }
    }
}

type Keyed<K> = governor::RateLimiter<K, HashMapStateStore<K>, DefaultClock>;

/// A keyed GCRA rate limiter (`governor`) whose key table is pruned when it grows large.
pub(crate) struct KeyedLimiter<K: Hash + Eq + Clone> {
    inner: Option<Keyed<K>>,
}

/// Keys kept before idle ones (whose bucket has refilled) are forgotten.
const PRUNE_ABOVE: usize = 65_536;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        let inner = limit.and_then(|l| {
            let per_sec = if l.per_sec.is_finite() && l.per_sec > 0.0 { l.per_sec } else { 1e-6 };
            let period = Duration::from_secs_f64((1.0 / per_sec).min(1e9));
            let burst = NonZeroU32::new(l.burst.clamp(1.0, u32::MAX as f64) as u32)?;
            let q = governor::Quota::with_period(period)?.allow_burst(burst);
            Some(governor::RateLimiter::hashmap(q))
        });
        Self { inner }
    }

    /// Takes one cell for `key`; false when the key is over its rate.
    pub(crate) fn allow(&self, key: &K) -> bool {
        let Some(l) = &self.inner else { return true };
        if l.len() > PRUNE_ABOVE {
            l.retain_recent();
        }
        l.check_key(key).is_ok()
    }
}

/// Bytes and objects owned by each principal.
#[derive(Default)]
pub(crate) struct Usage {
    by: Mutex<HashMap<Principal, (u64, u64)>>,
}

impl Usage {
    pub(crate) fn get(&self, p: &Principal) -> (u64, u64) {
        let m = self.by.lock().unwrap_or_else(|p| p.into_inner());
        m.get(p).copied().unwrap_or((0, 0))
    }

    /// Adds a blob if it fits the quota; false (and nothing recorded) otherwise.
    pub(crate) fn try_add(&self, p: Principal, bytes: u64, q: &Quota) -> bool {
        let mut m = self.by.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(p).or_insert((0, 0));
        if e.0.saturating_add(bytes) > q.max_bytes || e.1 + 1 > q.max_objects {
            return false;
        }
        e.0 += bytes;
        e.1 += 1;
        true
    }

    pub(crate) fn add(&self, p: Principal, bytes: u64) {
        let mut m = self.by.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(p).or_insert((0, 0));
        e.0 = e.0.saturating_add(bytes);
        e.1 += 1;
    }

    pub(crate) fn remove(&self, p: &Principal, bytes: u64) {
        let mut m = self.by.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(p) {
            e.0 = e.0.saturating_sub(bytes);
            e.1 = e.1.saturating_sub(1);
            if *e == (0, 0) {
                m.remove(p);
            }
        }
    }
}

/// Counts uploads in progress, in total and per client IP.
pub(crate) struct UploadSlots {
    max_total: usize,
    max_per_ip: usize,
    by_ip: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl UploadSlots {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self { max_total, max_per_ip, by_ip: Mutex::new((0, HashMap::new())) }
    }

    /// Takes a slot for `ip`: `Err(true)` when the server is full, `Err(false)` when this IP is.
    pub(crate) fn acquire(&self, ip: IpAddr) -> Result<(), bool> {
        let mut g = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if g.0 >= self.max_total {
            return Err(true);
        }
        let n = g.1.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(false);
        }
        *n += 1;
        g.0 += 1;
        Ok(())
    }

    pub(crate) fn release(&self, ip: IpAddr) {
        let mut g = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        g.0 = g.0.saturating_sub(1);
        if let Some(n) = g.1.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                g.1.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_refuses_after_burst_per_key() {
        let rl = KeyedLimiter::new(Some(RateLimit { per_sec: 0.01, burst: 3.0 }));
        let ip: IpAddr = [127, 0, 0, 1].into();
        assert!((0..3).all(|_| rl.allow(&ip)));
        assert!(!rl.allow(&ip));
        assert!(rl.allow(&IpAddr::from([127, 0, 0, 2])));
        let off = KeyedLimiter::<IpAddr>::new(None);
        assert!((0..1000).all(|_| off.allow(&ip)));
    }

    #[test]
    fn quota_refuses_bytes_and_objects_over_limit() {
        let u = Usage::default();
        let q = Quota { max_bytes: 100, max_objects: 2 };
        let a = Principal::Account(Address::ZERO);
        assert!(u.try_add(a, 60, &q));
        assert!(!u.try_add(a, 41, &q));
        assert!(u.try_add(a, 40, &q));
        assert!(!u.try_add(a, 0, &q));
        assert_eq!(u.get(&a), (100, 2));
        assert_eq!(u.get(&Principal::Ip([1, 2, 3, 4].into())), (0, 0));
    }

    #[test]
    fn upload_slots_cap_total_and_per_ip() {
        let s = UploadSlots::new(3, 2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(s.acquire(a).is_ok() && s.acquire(a).is_ok());
        assert_eq!(s.acquire(a), Err(false));
        assert!(s.acquire(b).is_ok());
        assert_eq!(s.acquire(b), Err(true));
        s.release(a);
        assert!(s.acquire(b).is_ok());
    }
}
