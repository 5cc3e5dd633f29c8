//! Request signing for private namespaces: EIP-191 (`personal_sign`) over a canonical string.
//!
//! Canonical string (UTF-8, `\n`-separated, no trailing newline):
//! `chorus-store-v1\n{METHOD}\n{PATH_AND_QUERY}\n{DIGEST}\n{TIMESTAMP}\n{NONCE}` where DIGEST is the
//! blob id (`b3…`) of the request body (the empty-body id for GET/HEAD/DELETE).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use chorus_types::Address;

use crate::id::{BlobId, hex_decode, hex_encode};

/// Header: the signer's address (`0x…`); must equal the address recovered from the signature.
pub const HDR_ADDRESS: &str = "x-chorus-address";
/// Header: unix time in seconds when the request was signed.
pub const HDR_TIMESTAMP: &str = "x-chorus-timestamp";
/// Header: 8-64 characters of `[A-Za-z0-9_-]`, unique per signer within the skew window.
pub const HDR_NONCE: &str = "x-chorus-nonce";
/// Header: `0x` + 130 hex digits, the 65-byte `r‖s‖v` EIP-191 signature.
pub const HDR_SIGNATURE: &str = "x-chorus-signature";
/// Header: blob id of the request body (required on signed PUTs; optional check on unsigned ones).
pub const HDR_DIGEST: &str = "x-chorus-content-digest";

/// Something that can sign EIP-191 messages for an account (a local key, a wallet, an HSM).
pub trait RequestSigner: Send + Sync {
    /// The signer's address.
    fn address(&self) -> Address;
    /// `personal_sign` of `msg` (the EIP-191 prefix is added by the signer): 65 bytes `r‖s‖v`.
    fn sign_eip191(&self, msg: &[u8]) -> [u8; 65];
}

/// The exact string that is signed (see the module docs and `docs/store.md`).
pub fn canonical_request(
    method: &str,
    path_and_query: &str,
    digest: &BlobId,
    timestamp: u64,
    nonce: &str,
) -> String {
    format!(
        "chorus-store-v1\n{}\n{path_and_query}\n{digest}\n{timestamp}\n{nonce}",
        method.to_ascii_uppercase()
    )
}

/// The authentication headers of one signed request.
#[derive(Clone, Debug)]
pub struct SignedHeaders {
    /// Signer address.
    pub address: Address,
    /// Unix seconds.
    pub timestamp: u64,
    /// Unique nonce.
    pub nonce: String,
    /// Body digest that was signed.
    pub digest: BlobId,
    /// 65-byte signature.
    pub signature: [u8; 65],
}

impl SignedHeaders {
    /// The (name, value) header pairs to attach to the request.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (HDR_ADDRESS, self.address.to_string()),
            (HDR_TIMESTAMP, self.timestamp.to_string()),
            (HDR_NONCE, self.nonce.clone()),
            (HDR_DIGEST, self.digest.to_string()),
            (HDR_SIGNATURE, format!("0x{}", hex_encode(&self.signature))),
        ]
    }
}

/// Signs a request: builds the canonical string and asks `signer` for an EIP-191 signature.
pub fn sign_request(
    signer: &dyn RequestSigner,
    method: &str,
    path_and_query: &str,
    digest: &BlobId,
    timestamp: u64,
    nonce: &str,
) -> SignedHeaders {
    let msg = canonical_request(method, path_and_query, digest, timestamp, nonce);
    SignedHeaders {
        address: signer.address(),
        timestamp,
        nonce: nonce.to_string(),
        digest: *digest,
        signature: signer.sign_eip191(msg.as_bytes()),
    }
}

/// Why a signed request was refused (401, except [`AuthError::Busy`]: 503).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// A header is missing or malformed (its name).
    #[error("missing or malformed auth header {0}")]
    Malformed(&'static str),
    /// The signature does not recover to the claimed address.
    #[error("signature does not verify")]
    BadSignature,
    /// The timestamp is outside the skew window.
    #[error("timestamp outside the allowed skew window")]
    Stale,
    /// Signed before the server started.
    #[error("request was signed before this server started (possible replay)")]
    BeforeStart,
    /// The (signer, nonce) pair was already used.
    #[error("nonce already used")]
    Replay,
    /// The nonce cache is full.
    #[error("too many signed requests in the replay window; retry later")]
    Busy,
}

fn recover(msg: &[u8], sig: &[u8; 65]) -> Result<Address, AuthError> {
    crate::sig::recover_eip191(msg, sig).map_err(|_| AuthError::BadSignature)
}

/// Remembers (signer, nonce) pairs until their timestamp leaves the skew window.
///
/// Bounded (L4): at most `cap` entries. When full, expired entries are dropped; if the cache is
/// still full, the request is refused ([`AuthError::Busy`]) rather than the cache grown or a live
/// entry forgotten (forgetting one would re-open a replay).
///
/// Restarts: the cache lives in memory, so instead of persisting it the server refuses every
/// request signed before the second it started ([`AuthError::BeforeStart`]). A request captured
/// before a restart was signed before it and cannot be replayed afterwards. Residual window: a
/// request signed in the very second of the restart, or by a client whose clock runs ahead of the
/// server's (by at most the skew window), may still replay once.
pub struct NonceCache {
    seen: Mutex<HashMap<(Address, String), u64>>,
    cap: usize,
    started: u64,
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::new(65_536, 0)
    }
}

impl NonceCache {
    /// A cache of at most `cap` entries for a server started at unix second `started`.
    pub fn new(cap: usize, started: u64) -> Self {
        Self { seen: Mutex::new(HashMap::new()), cap: cap.max(1), started }
    }

    /// Records the nonce; `Err(Replay)` if it was already seen, `Err(Busy)` if the cache is full.
    fn insert(&self, addr: Address, nonce: &str, expires: u64, now: u64) -> Result<(), AuthError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = (addr, nonce.to_string());
        if seen.contains_key(&key) {
            return Err(AuthError::Replay);
        }
        if seen.len() >= self.cap {
            seen.retain(|_, exp| *exp >= now);
            if seen.len() >= self.cap {
                return Err(AuthError::Busy);
            }
        }
        seen.insert(key, expires);
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, AuthError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| AuthError::Malformed(name)),
    }
}

/// The result of checking a request's auth headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signer (recovered from the signature, equal to the claimed address).
    pub address: Address,
    /// The body digest that was signed.
    pub digest: BlobId,
}

/// Checks the auth headers of a request (what the server does with every request's headers before
/// anything else; `now` in unix seconds). `Ok(None)` when the request carries no signature at all.
pub fn verify_request(
    headers: &HeaderMap,
    method: &str,
    path_and_query: &str,
    now: u64,
    max_skew: u64,
    nonces: &NonceCache,
) -> Result<Option<Verified>, AuthError> {
    let Some(sig_hex) = header(headers, HDR_SIGNATURE)? else {
        return Ok(None);
    };
    let addr: Address = header(headers, HDR_ADDRESS)?
        .ok_or(AuthError::Malformed(HDR_ADDRESS))?
        .parse()
        .map_err(|_| AuthError::Malformed(HDR_ADDRESS))?;
    let ts: u64 = header(headers, HDR_TIMESTAMP)?
        .ok_or(AuthError::Malformed(HDR_TIMESTAMP))?
        .parse()
        .map_err(|_| AuthError::Malformed(HDR_TIMESTAMP))?;
    let nonce = header(headers, HDR_NONCE)?.ok_or(AuthError::Malformed(HDR_NONCE))?;
    if !(8..=64).contains(&nonce.len())
        || !nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AuthError::Malformed(HDR_NONCE));
    }
    let digest = match header(headers, HDR_DIGEST)? {
        Some(d) => d.parse().map_err(|_| AuthError::Malformed(HDR_DIGEST))?,
        None => BlobId::of(b""),
    };
    let sig: [u8; 65] = sig_hex
        .strip_prefix("0x")
        .and_then(|h| hex_decode(h, false))
        .and_then(|v| v.try_into().ok())
        .ok_or(AuthError::Malformed(HDR_SIGNATURE))?;
    if ts.abs_diff(now) > max_skew {
        return Err(AuthError::Stale);
    }
    if ts < nonces.started {
        return Err(AuthError::BeforeStart);
    }
    let msg = canonical_request(method, path_and_query, &digest, ts, nonce);
    let recovered = recover(msg.as_bytes(), &sig)?;
    if recovered != addr {
        return Err(AuthError::BadSignature);
    }
    nonces.insert(addr, nonce, ts.saturating_add(max_skew), now)?;
    Ok(Some(Verified { address: addr, digest }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_string_has_the_documented_layout() {
        let d = BlobId::of(b"");
        assert_eq!(
            canonical_request("put", "/blobs/ns?x=1", &d, 1700000000, "abcdefgh"),
            format!("chorus-store-v1\nPUT\n/blobs/ns?x=1\n{d}\n1700000000\nabcdefgh")
        );
    }

    #[test]
    fn nonce_cache_refuses_a_second_use() {
        let c = NonceCache::default();
        assert_eq!(c.insert(Address::ZERO, "n1n1n1n1", 10, 0), Ok(()));
        assert_eq!(c.insert(Address::ZERO, "n1n1n1n1", 10, 0), Err(AuthError::Replay));
        assert_eq!(c.insert(Address([1; 20]), "n1n1n1n1", 10, 0), Ok(()));
    }

    #[test]
    fn a_full_nonce_cache_refuses_instead_of_growing_and_frees_expired_entries() {
        let c = NonceCache::new(3, 0);
        for n in ["aaaaaaaa", "bbbbbbbb", "cccccccc"] {
            assert_eq!(c.insert(Address::ZERO, n, 100, 50), Ok(()));
        }
        assert_eq!(c.insert(Address::ZERO, "dddddddd", 100, 50), Err(AuthError::Busy));
        assert_eq!(c.len(), 3);
        // once the window of the old entries has passed they make room
        assert_eq!(c.insert(Address::ZERO, "dddddddd", 200, 101), Ok(()));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn requests_signed_before_the_server_started_are_refused() {
        let key = chorus_crypto::AccountKey::from_seed(b"replayer");
        let started = 1_000_000;
        let cache = NonceCache::new(16, started);
        let signed = |ts: u64, nonce: &str| {
            let mut h = HeaderMap::new();
            for (k, v) in
                sign_request(&key, "PUT", "/blobs/x", &BlobId::of(b""), ts, nonce).to_headers()
            {
                h.insert(k, v.parse().unwrap());
            }
            h
        };
        let h = signed(started - 5, "captured");
        let r = verify_request(&h, "PUT", "/blobs/x", started + 10, 300, &cache);
        assert_eq!(r.err(), Some(AuthError::BeforeStart));
        let h = signed(started + 1, "fresh-01");
        assert!(verify_request(&h, "PUT", "/blobs/x", started + 10, 300, &cache).is_ok());
    }
}
