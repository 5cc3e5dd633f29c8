//! Sealing blobs to a committee: hybrid X25519 + ChaCha20-Poly1305 envelope.
//!
//! Format (all integers little-endian):
//! `"CHSEAL1\0"` (8) ‖ n: u16 ‖ ephemeral X25519 public key (32) ‖ n × (recipient public key (32) ‖
//! wrapped content key (32 + 16 tag)) ‖ ciphertext ‖ tag (16).
//! Content key and ephemeral secret are derived with BLAKE3 `derive_key` from the caller's 32-byte
//! seed *and the BLAKE3 hash of the plaintext* (L5): a seed reused for two different plaintexts
//! (a participant re-training after a crash in the same task and round) still gives two different
//! keys, so the ChaCha20 keystream and the Poly1305 key never repeat; the same plaintext with the
//! same seed still seals to the same envelope (restart-safe, same blob id). The key-encryption key
//! of recipient i is
//! `derive_key("chorus-store seal v1 kek", eph_pub ‖ recipient_pub ‖ X25519(eph, recipient))`.
//! Content AEAD: ChaCha20-Poly1305, nonce = 0 (the content key is fresh per seal), AAD = the whole
//! header. Key wrap: ChaCha20-Poly1305 under the KEK, nonce = 0, AAD = eph_pub ‖ recipient_pub.
//! The blob id of a sealed blob is the id of this envelope.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::Error;

const MAGIC: &[u8; 8] = b"CHSEAL1\0";
const ENTRY: usize = 32 + 48;

/// A recipient's X25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SealPublicKey(pub [u8; 32]);

/// A recipient's X25519 secret key.
#[derive(Clone)]
pub struct SealSecretKey(pub [u8; 32]);

impl SealSecretKey {
    /// The matching public key.
    pub fn public(&self) -> SealPublicKey {
        SealPublicKey(PublicKey::from(&StaticSecret::from(self.0)).to_bytes())
    }
}

impl std::fmt::Debug for SealSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealSecretKey(..)")
    }
}

fn kek(eph_pub: &[u8; 32], rcpt: &[u8; 32], shared: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("chorus-store seal v1 kek");
    h.update(eph_pub).update(rcpt).update(shared);
    *h.finalize().as_bytes()
}

fn cipher(k: &[u8]) -> Result<ChaCha20Poly1305, Error> {
    ChaCha20Poly1305::new_from_slice(k).map_err(|_| Error::Seal("bad key length".into()))
}

fn aad2(a: &[u8; 32], b: &[u8; 32]) -> [u8; 64] {
    let mut x = [0u8; 64];
    x[..32].copy_from_slice(a);
    x[32..].copy_from_slice(b);
    x
}

/// Seals `plaintext` so that any one of `recipients` can open it. `seed` should be 32 secret bytes
/// from the caller; together with the plaintext's hash it determines the content key and the
/// ephemeral key (so one seed may seal several different plaintexts without key reuse).
pub fn seal(
    plaintext: &[u8],
    recipients: &[SealPublicKey],
    seed: &[u8; 32],
) -> Result<Vec<u8>, Error> {
    if recipients.is_empty() || recipients.len() > u16::MAX as usize {
        return Err(Error::Seal("need 1..=65535 recipients".into()));
    }
    let mut ikm = [0u8; 64];
    ikm[..32].copy_from_slice(seed);
    ikm[32..].copy_from_slice(blake3::hash(plaintext).as_bytes());
    let content_key = blake3::derive_key("chorus-store seal v2 content key", &ikm);
    let eph = StaticSecret::from(blake3::derive_key("chorus-store seal v2 ephemeral", &ikm));
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let mut out = Vec::with_capacity(42 + recipients.len() * ENTRY + plaintext.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(recipients.len() as u16).to_le_bytes());
    out.extend_from_slice(&eph_pub);
    let zero = Nonce::default();
    for r in recipients {
        let shared = eph.diffie_hellman(&PublicKey::from(r.0));
        let k = kek(&eph_pub, &r.0, shared.as_bytes());
        let wrapped = cipher(&k)?
            .encrypt(&zero, Payload { msg: &content_key, aad: &aad2(&eph_pub, &r.0) })
            .map_err(|_| Error::Seal("key wrap failed".into()))?;
        out.extend_from_slice(&r.0);
        out.extend_from_slice(&wrapped);
    }
    let ct = cipher(&content_key)?
        .encrypt(&zero, Payload { msg: plaintext, aad: &out })
        .map_err(|_| Error::Seal("encryption failed".into()))?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed envelope with one recipient's secret key.
pub fn open(sealed: &[u8], secret: &SealSecretKey) -> Result<Vec<u8>, Error> {
    let bad = |m: &str| Error::Seal(m.to_string());
    if sealed.len() < 42 || &sealed[..8] != MAGIC {
        return Err(bad("not a sealed envelope"));
    }
    let n = u16::from_le_bytes([sealed[8], sealed[9]]) as usize;
    let header_len = 42 + n * ENTRY;
    if sealed.len() < header_len + 16 {
        return Err(bad("truncated envelope"));
    }
    let mut eph_pub = [0u8; 32];
    eph_pub.copy_from_slice(&sealed[10..42]);
    let me = secret.public().0;
    let entry = sealed[42..header_len]
        .chunks_exact(ENTRY)
        .find(|e| e[..32] == me)
        .ok_or_else(|| bad("not a recipient"))?;
    let shared = StaticSecret::from(secret.0).diffie_hellman(&PublicKey::from(eph_pub));
    let k = kek(&eph_pub, &me, shared.as_bytes());
    let zero = Nonce::default();
    let content_key = cipher(&k)?
        .decrypt(&zero, Payload { msg: &entry[32..], aad: &aad2(&eph_pub, &me) })
        .map_err(|_| bad("key unwrap failed"))?;
    cipher(&content_key)?
        .decrypt(&zero, Payload { msg: &sealed[header_len..], aad: &sealed[..header_len] })
        .map_err(|_| bad("decryption failed (tampered envelope?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sk(i: u8) -> SealSecretKey {
        SealSecretKey([i; 32])
    }

    #[test]
    fn every_recipient_opens_and_outsiders_cannot() {
        let keys: Vec<_> = (1..=3).map(sk).collect();
        let pubs: Vec<_> = keys.iter().map(|k| k.public()).collect();
        let sealed = seal(b"model update", &pubs, &[9; 32]).unwrap();
        for k in &keys {
            assert_eq!(open(&sealed, k).unwrap(), b"model update");
        }
        assert!(matches!(open(&sealed, &sk(4)), Err(Error::Seal(_))));
    }

    #[test]
    fn tampering_is_detected_and_seed_determines_output() {
        let pubs = [sk(1).public()];
        let a = seal(b"x", &pubs, &[1; 32]).unwrap();
        assert_eq!(a, seal(b"x", &pubs, &[1; 32]).unwrap());
        assert_ne!(a, seal(b"x", &pubs, &[2; 32]).unwrap());
        for i in [9, 50, a.len() - 1] {
            let mut t = a.clone();
            t[i] ^= 1;
            assert!(open(&t, &sk(1)).is_err(), "byte {i}");
        }
        assert!(seal(b"x", &[], &[1; 32]).is_err());
    }

    #[test]
    fn one_seed_sealing_two_different_plaintexts_uses_two_keys_and_nonces() {
        // L5: a participant that re-trains after a crash seals a second, different update with
        // the seed of the same (task, round).
        let pubs = [sk(1).public()];
        let a = seal(b"first update", &pubs, &[7; 32]).unwrap();
        let b = seal(b"other update", &pubs, &[7; 32]).unwrap();
        // different ephemeral keys (bytes 10..42) and different wrapped content keys
        assert_ne!(a[10..42], b[10..42]);
        assert_ne!(a[74..122], b[74..122]);
        // the keystreams differ: XOR of the ciphertexts is not the XOR of the plaintexts
        let (ca, cb) = (&a[122..122 + 12], &b[122..122 + 12]);
        let x: Vec<u8> = ca.iter().zip(cb).map(|(p, q)| p ^ q).collect();
        let y: Vec<u8> = b"first update".iter().zip(b"other update").map(|(p, q)| p ^ q).collect();
        assert_ne!(x, y);
        assert_eq!(open(&a, &sk(1)).unwrap(), b"first update");
        assert_eq!(open(&b, &sk(1)).unwrap(), b"other update");
    }
}
