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

/// Why a signed request was refused (all map to 401).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("missing or malformed auth header {0}")]
    Malformed(&'static str),
    #[error("signature does not verify")]
    BadSignature,
    #[error("timestamp outside the allowed skew window")]
    Stale,
    #[error("nonce already used")]
    Replay,
}

fn recover(msg: &[u8], sig: &[u8; 65]) -> Result<Address, AuthError> {
    crate::sig::recover_eip191(msg, sig).map_err(|_| AuthError::BadSignature)
}

/// Remembers (signer, nonce) pairs until their timestamp leaves the skew window.
#[derive(Default)]
pub(crate) struct NonceCache {
    seen: Mutex<HashMap<(Address, String), u64>>,
}

impl NonceCache {
    /// Records the nonce; false if it was already seen (a replay).
    fn insert(&self, addr: Address, nonce: &str, expires: u64, now: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 4096 {
            seen.retain(|_, exp| *exp >= now);
        }
        match seen.entry((addr, nonce.to_string())) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(expires);
                true
            }
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, AuthError> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| AuthError::Malformed(name)),
    }
}

/// The result of checking a request's auth headers.
pub(crate) struct Verified {
    pub(crate) address: Address,
    pub(crate) digest: BlobId,
}

/// Checks the auth headers of a request. `Ok(None)` when the request carries no signature at all.
pub(crate) fn verify_request(
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
    let msg = canonical_request(method, path_and_query, &digest, ts, nonce);
    let recovered = recover(msg.as_bytes(), &sig)?;
    if recovered != addr {
        return Err(AuthError::BadSignature);
    }
    if !nonces.insert(addr, nonce, ts.saturating_add(max_skew), now) {
        return Err(AuthError::Replay);
    }
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
        assert!(c.insert(Address::ZERO, "n1n1n1n1", 10, 0));
        assert!(!c.insert(Address::ZERO, "n1n1n1n1", 10, 0));
        assert!(c.insert(Address([1; 20]), "n1n1n1n1", 10, 0));
    }
}
