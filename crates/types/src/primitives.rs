//! Addresses, hashes and scalar aliases.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A token amount in the smallest unit. Never negative, never a float.
pub type Amount = u128;

/// A block height. Genesis state is "height 0"; the first block is height 1.
pub type Height = u64;

/// The one quorum rule of Chorus: `power` is strictly more than two thirds of `total`. Used by
/// consensus certificates, the chain's `last_commit` check and model attestations, so that a
/// threshold never differs between them (security review L7).
pub fn exceeds_two_thirds(power: u128, total: u128) -> bool {
    power.saturating_mul(3) > total.saturating_mul(2)
}

/// Keccak-256 (the Ethereum variant, not NIST SHA3-256) of `data`.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    use tiny_keccak::{Hasher, Keccak};
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// Why a textual address or hash did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The string does not start with `0x`.
    #[error("missing 0x prefix")]
    MissingPrefix,
    /// The hex part has the wrong number of characters.
    #[error("expected {expected} hex characters, got {got}")]
    WrongLength {
        /// Expected number of hex characters.
        expected: usize,
        /// Number of characters found.
        got: usize,
    },
    /// A character is not a hex digit.
    #[error("invalid hex character")]
    InvalidHex,
    /// The address has mixed case but it is not a valid EIP-55 checksum.
    #[error("invalid EIP-55 checksum")]
    BadChecksum,
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], ParseError> {
    let h =
        s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).ok_or(ParseError::MissingPrefix)?;
    if h.len() != 2 * N {
        return Err(ParseError::WrongLength { expected: 2 * N, got: h.len() });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(h, &mut out).map_err(|_| ParseError::InvalidHex)?;
    Ok(out)
}

/// A 20-byte Ethereum-style account address: the last 20 bytes of keccak256 of the uncompressed
/// secp256k1 public key (without the 0x04 prefix).
///
/// Text form: `0x` + 40 lowercase hex characters. Parsing accepts all-lowercase, all-uppercase
/// and correctly EIP-55-checksummed mixed case; mixed case with a wrong checksum is rejected.
/// Serde uses the text form; borsh encodes the 20 raw bytes.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The all-zero address.
    pub const ZERO: Address = Address([0u8; 20]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The EIP-55 mixed-case checksummed text form (`0x` + 40 characters).
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let digest = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (digest[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bytes = parse_hex::<20>(s)?;
        let addr = Address(bytes);
        let h = &s[2..];
        let has_lower = h.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = h.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper && addr.to_checksum()[2..] != *h {
            return Err(ParseError::BadChecksum);
        }
        Ok(addr)
    }
}

impl From<[u8; 20]> for Address {
    fn from(b: [u8; 20]) -> Self {
        Address(b)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A 32-byte hash (keccak-256 unless stated otherwise where it is produced).
///
/// Text form: `0x` + 64 lowercase hex characters (serde uses it); borsh encodes the 32 raw bytes.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash (e.g. the `prev_hash` of the first block).
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// keccak256 of `data` as a [`struct@Hash`].
    pub fn keccak(data: &[u8]) -> Hash {
        Hash(keccak256(data))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_hex::<32>(s).map(Hash)
    }
}

impl From<[u8; 32]> for Hash {
    fn from(b: [u8; 32]) -> Self {
        Hash(b)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_thirds_means_strictly_more_than_two_thirds_of_the_total() {
        assert!(!exceeds_two_thirds(2, 3), "exactly 2/3 is not a quorum");
        assert!(exceeds_two_thirds(3, 4));
        assert!(!exceeds_two_thirds(66, 100));
        assert!(exceeds_two_thirds(67, 100));
        assert!(!exceeds_two_thirds(0, 0), "nothing of nothing is not a quorum");
        assert!(exceeds_two_thirds(1, 1));
        assert!(exceeds_two_thirds(u128::MAX, u128::MAX / 2), "no overflow at the extremes");
    }

    #[test]
    fn keccak_of_empty_matches_ethereum() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn address_accepts_valid_eip55_and_rejects_bad_checksum() {
        // EIP-55 spec examples.
        for s in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_checksum(), s);
            assert_eq!(a.to_string(), s.to_lowercase());
        }
        let bad = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert_eq!(bad.parse::<Address>(), Err(ParseError::BadChecksum));
        assert!("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED".parse::<Address>().is_ok());
        assert_eq!(
            "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse::<Address>(),
            Err(ParseError::MissingPrefix)
        );
        assert!(matches!("0x1234".parse::<Address>(), Err(ParseError::WrongLength { .. })));
        assert_eq!(
            "0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse::<Address>(),
            Err(ParseError::InvalidHex)
        );
    }

    #[test]
    fn address_and_hash_serde_as_lowercase_hex_strings() {
        let a = Address([0xab; 20]);
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, format!("\"0x{}\"", "ab".repeat(20)));
        assert_eq!(serde_json::from_str::<Address>(&j).unwrap(), a);
        let h = Hash([0x01; 32]);
        let j = serde_json::to_string(&h).unwrap();
        assert_eq!(j, format!("\"0x{}\"", "01".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash>(&j).unwrap(), h);
        assert!(serde_json::from_str::<Hash>("\"0x01\"").is_err());
    }

    #[test]
    fn address_and_hash_borsh_are_raw_bytes() {
        assert_eq!(borsh::to_vec(&Address([7; 20])).unwrap(), vec![7; 20]);
        assert_eq!(borsh::to_vec(&Hash([9; 32])).unwrap(), vec![9; 32]);
    }
}
