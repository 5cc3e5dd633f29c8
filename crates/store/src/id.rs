//! Blob ids and namespace names.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A blob id: the 32-byte BLAKE3 root hash of the blob's bytes.
///
/// Canonical text form: `b3` followed by 64 lowercase hex digits (66 characters). Parsing accepts
/// exactly that form (no uppercase, no `0x`), so every id has one spelling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId([u8; 32]);

const PREFIX: &str = "b3";

impl BlobId {
    /// Wraps raw hash bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The id of `data` (its BLAKE3 hash).
    pub fn of(data: &[u8]) -> Self {
        Self(*blake3::hash(data).as_bytes())
    }
    /// The id as a `blake3::Hash`.
    pub fn to_hash(&self) -> blake3::Hash {
        blake3::Hash::from_bytes(self.0)
    }
    /// The id from a `blake3::Hash`.
    pub fn from_hash(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
    /// Lowercase hex of the 32 bytes, without the `b3` prefix (used for file names).
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Decodes lowercase or uppercase hex (`strict_lower` rejects uppercase).
pub(crate) fn hex_decode(s: &str, strict_lower: bool) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' if !strict_lower => Some(c - b'A' + 10),
            _ => None,
        }
    };
    s.as_bytes().chunks(2).map(|p| Some(nib(p[0])? << 4 | nib(p[1])?)).collect()
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.to_hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

impl FromStr for BlobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Invalid(format!("bad blob id {s:?}: expected b3 + 64 lowercase hex"));
        let hex = s.strip_prefix(PREFIX).ok_or_else(bad)?;
        if hex.len() != 64 {
            return Err(bad());
        }
        let bytes = hex_decode(hex, true).ok_or_else(bad)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        Ok(Self(arr))
    }
}

impl serde::Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a namespace name: 1-64 characters of `[a-z0-9_-]`, starting with a letter or digit.
pub fn validate_namespace(ns: &str) -> Result<(), Error> {
    let ok = !ns.is_empty()
        && ns.len() <= 64
        && ns.as_bytes()[0].is_ascii_alphanumeric()
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(Error::Invalid(format!("bad namespace {ns:?}"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blob_id_has_golden_text_form() {
        let id = BlobId::of(b"");
        assert_eq!(
            id.to_string(),
            "b3af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(id.to_string().parse::<BlobId>().unwrap(), id);
    }

    #[test]
    fn abc_blob_id_has_golden_text_form() {
        assert_eq!(
            BlobId::of(b"abc").to_string(),
            "b36437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn id_parsing_rejects_non_canonical_forms() {
        let s = BlobId::of(b"x").to_string();
        assert!(s.to_uppercase().parse::<BlobId>().is_err());
        assert!(s[2..].parse::<BlobId>().is_err());
        assert!(format!("{s}00").parse::<BlobId>().is_err());
        assert!(format!("0x{}", &s[2..]).parse::<BlobId>().is_err());
        assert!("b3zz".parse::<BlobId>().is_err());
    }

    #[test]
    fn id_serde_round_trips_as_string() {
        let id = BlobId::of(b"serde");
        let j = serde_json::to_string(&id).unwrap();
        assert_eq!(j, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<BlobId>(&j).unwrap(), id);
    }

    #[test]
    fn namespace_validation_rejects_bad_names() {
        assert!(validate_namespace("models-1").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("-x").is_err());
        assert!(validate_namespace("A").is_err());
        assert!(validate_namespace("a/b").is_err());
        assert!(validate_namespace(&"a".repeat(65)).is_err());
    }
}
