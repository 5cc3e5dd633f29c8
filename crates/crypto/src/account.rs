//! secp256k1 account keys with Ethereum addresses.

use chorus_types::Address;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

use crate::Error;

pub use chorus_types::keccak256;

/// Length of an account signature: `r (32) ‖ s (32) ‖ v (1)`, `v ∈ {27, 28}`.
pub const SIGNATURE_LEN: usize = 65;

/// Half the secp256k1 group order, big-endian: a signature with `s > HALF_N` is high-s.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// A secp256k1 account key. Its address is the Ethereum address of the public key.
#[derive(Clone)]
pub struct AccountKey {
    secret: SecretKey,
    address: Address,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "AccountKey({})", self.address)
    }
}

fn address_of(pk: &PublicKey) -> Address {
    let uncompressed = pk.serialize_uncompressed();
    let h = keccak256(&uncompressed[1..]);
    let mut a = [0u8; 20];
    a.copy_from_slice(&h[12..]);
    Address(a)
}

impl AccountKey {
    /// A key from 32 secret bytes; fails if they are zero or not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<AccountKey, Error> {
        let secret = SecretKey::from_byte_array(*bytes).map_err(|_| Error::InvalidSecretKey)?;
        let address = address_of(&PublicKey::from_secret_key(SECP256K1, &secret));
        Ok(AccountKey { secret, address })
    }

    /// A deterministic key derived from `seed` (keccak256, re-hashed until valid). For tests and
    /// devnets only: a low-entropy seed gives a guessable key.
    pub fn from_seed(seed: &[u8]) -> AccountKey {
        let mut h = keccak256(seed);
        loop {
            if let Ok(k) = AccountKey::from_bytes(&h) {
                return k;
            }
            // Probability ~2^-128 per round; the loop is for totality, not for practice.
            h = keccak256(&h);
        }
    }

    /// The 32 secret bytes (handle with care).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.secret_bytes()
    }

    /// The account address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The 65-byte uncompressed public key (`0x04 ‖ x ‖ y`).
    pub fn public_key_uncompressed(&self) -> [u8; 65] {
        PublicKey::from_secret_key(SECP256K1, &self.secret).serialize_uncompressed()
    }

    /// Signs a 32-byte digest (RFC 6979 nonce, so deterministic). Returns `r ‖ s ‖ v` with low `s`
    /// and `v ∈ {27, 28}`.
    pub fn sign_prehash(&self, digest: &[u8; 32]) -> [u8; 65] {
        let sig = SECP256K1.sign_ecdsa_recoverable(Message::from_digest(*digest), &self.secret);
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = 27 + i32::from(recid) as u8;
        out
    }

    /// Signs `msg` as an EIP-191 personal message (`personal_sign` / `eth_sign` compatible).
    pub fn sign_eip191(&self, msg: &[u8]) -> [u8; 65] {
        self.sign_prehash(&eip191_hash(msg))
    }
}

/// The EIP-191 (version 0x45) digest: `keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ msg)`.
pub fn eip191_hash(msg: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(msg.len() + 32);
    buf.extend_from_slice(b"\x19Ethereum Signed Message:\n");
    buf.extend_from_slice(msg.len().to_string().as_bytes());
    buf.extend_from_slice(msg);
    keccak256(&buf)
}

/// Recovers the signer address of `sig` (`r ‖ s ‖ v`) over `digest`.
///
/// Rejects `v ∉ {27, 28}` ([`Error::BadRecoveryId`]), high-s ([`Error::HighS`]), and any
/// signature that does not parse or recover ([`Error::InvalidSignature`]).
pub fn recover_prehash(digest: &[u8; 32], sig: &[u8; 65]) -> Result<Address, Error> {
    let v = sig[64];
    let recid = match v {
        27 => RecoveryId::Zero,
        28 => RecoveryId::One,
        _ => return Err(Error::BadRecoveryId(v)),
    };
    if sig[32..64] > HALF_N[..] {
        return Err(Error::HighS);
    }
    let rsig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| Error::InvalidSignature)?;
    let pk = SECP256K1
        .recover_ecdsa(Message::from_digest(*digest), &rsig)
        .map_err(|_| Error::InvalidSignature)?;
    Ok(address_of(&pk))
}

/// Recovers the signer of an EIP-191 personal message signature.
pub fn recover_eip191(msg: &[u8], sig: &[u8; 65]) -> Result<Address, Error> {
    recover_prehash(&eip191_hash(msg), sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// secp256k1 group order n, big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    fn sub_from_n(s: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = N[i] as i16 - s[i] as i16 - borrow;
            borrow = if d < 0 { 1 } else { 0 };
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        out
    }

    #[test]
    fn known_private_key_has_known_address() {
        // Private key 1 → the well-known generator-point address.
        let mut one = [0u8; 32];
        one[31] = 1;
        let k = AccountKey::from_bytes(&one).unwrap();
        assert_eq!(k.address().to_string(), "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf");
        // Hardhat / anvil account #0.
        let sk: [u8; 32] =
            hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap()
                .try_into()
                .unwrap();
        let k = AccountKey::from_bytes(&sk).unwrap();
        assert_eq!(k.address().to_checksum(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    }

    #[test]
    fn from_bytes_rejects_zero_and_order() {
        assert_eq!(AccountKey::from_bytes(&[0u8; 32]).unwrap_err(), Error::InvalidSecretKey);
        assert_eq!(AccountKey::from_bytes(&N).unwrap_err(), Error::InvalidSecretKey);
    }

    #[test]
    fn from_seed_is_deterministic_and_distinct() {
        assert_eq!(
            AccountKey::from_seed(b"alice").address(),
            AccountKey::from_seed(b"alice").address()
        );
        assert_ne!(
            AccountKey::from_seed(b"alice").address(),
            AccountKey::from_seed(b"bob").address()
        );
    }

    #[test]
    fn sign_then_recover_roundtrips_with_low_s_and_v_27_28() {
        let k = AccountKey::from_seed(b"signer");
        for i in 0..32u8 {
            let d = keccak256(&[i]);
            let sig = k.sign_prehash(&d);
            assert!(sig[64] == 27 || sig[64] == 28);
            assert!(sig[32..64] <= HALF_N[..]);
            assert_eq!(recover_prehash(&d, &sig).unwrap(), k.address());
        }
    }

    #[test]
    fn recover_rejects_high_s_and_bad_v() {
        let k = AccountKey::from_seed(b"signer");
        let d = keccak256(b"x");
        let sig = k.sign_prehash(&d);
        // The malleated twin (r, n - s, v ^ 1) is mathematically valid but must be rejected.
        let mut high = sig;
        high[32..64].copy_from_slice(&sub_from_n(&sig[32..64]));
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        assert_eq!(recover_prehash(&d, &high), Err(Error::HighS));
        for v in [0u8, 1, 26, 29, 35] {
            let mut bad = sig;
            bad[64] = v;
            assert_eq!(recover_prehash(&d, &bad), Err(Error::BadRecoveryId(v)));
        }
        let mut zero_r = sig;
        zero_r[..32].fill(0);
        assert_eq!(recover_prehash(&d, &zero_r), Err(Error::InvalidSignature));
        // A different digest recovers some other address, never the signer.
        assert_ne!(recover_prehash(&keccak256(b"y"), &sig).ok(), Some(k.address()));
    }

    #[test]
    fn eip191_matches_known_vector() {
        // Hardhat account #0 signing "hello" with personal_sign (eth_account / ethers give this).
        let sk: [u8; 32] =
            hex::decode("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap()
                .try_into()
                .unwrap();
        let k = AccountKey::from_bytes(&sk).unwrap();
        assert_eq!(
            hex::encode(eip191_hash(b"hello")),
            "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"
        );
        let sig = k.sign_eip191(b"hello");
        assert_eq!(recover_eip191(b"hello", &sig).unwrap(), k.address());
        assert!(recover_eip191(b"hellp", &sig).map(|a| a != k.address()).unwrap_or(true));
    }
}
