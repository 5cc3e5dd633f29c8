//! Ethereum keystore v3 (Web3 Secret Storage): scrypt or PBKDF2-HMAC-SHA256 key derivation,
//! AES-128-CTR encryption and a keccak256 MAC. Files written here are read by geth, MetaMask,
//! eth_account and friends, and theirs are read here.

use aes::cipher::{KeyIvInit, StreamCipher};
use serde_json::{Value, json};

use crate::{AccountKey, Error, keccak256};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Key derivation function for a new keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreKdf {
    /// scrypt with `n = 2^log_n`.
    Scrypt {
        /// log2 of the CPU/memory cost `n`.
        log_n: u8,
        /// Block size.
        r: u32,
        /// Parallelism.
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256 with `c` iterations.
    Pbkdf2 {
        /// Iteration count.
        c: u32,
    },
}

impl KeystoreKdf {
    /// The default for new files: scrypt `n = 2^18, r = 1, p = 8` (eth_account's default,
    /// 32 MiB of memory, about a second).
    pub const DEFAULT: KeystoreKdf = KeystoreKdf::Scrypt { log_n: 18, r: 1, p: 8 };
}

// Caps on parameters read from a file, so a hostile file cannot demand unbounded work or memory.
const MAX_LOG_N: u8 = 20;
const MAX_R_TIMES_P: u64 = 256;
const MAX_SCRYPT_MEM: u64 = 1 << 30;
const MAX_PBKDF2_C: u64 = 10_000_000;

fn derive(password: &[u8], salt: &[u8], kdf: KeystoreKdf) -> Result<[u8; 32], Error> {
    let mut dk = [0u8; 32];
    match kdf {
        KeystoreKdf::Scrypt { log_n, r, p } => {
            let params = scrypt::Params::new(log_n, r, p)
                .map_err(|_| Error::KeystoreFormat("invalid scrypt parameters".into()))?;
            scrypt::scrypt(password, salt, &params, &mut dk)
                .map_err(|_| Error::KeystoreFormat("invalid scrypt output length".into()))?;
        }
        KeystoreKdf::Pbkdf2 { c } => {
            if c == 0 {
                return Err(Error::KeystoreFormat("pbkdf2 c must be positive".into()));
            }
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, c, &mut dk);
        }
    }
    Ok(dk)
}

fn mac(dk: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(16 + ciphertext.len());
    buf.extend_from_slice(&dk[16..32]);
    buf.extend_from_slice(ciphertext);
    keccak256(&buf)
}

fn uuid_from(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[..16]);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Encrypts `key` under `password` with [`KeystoreKdf::DEFAULT`]. Salt, IV and id are derived from
/// `rng_seed`, which must be fresh random bytes from the caller (this crate draws no entropy).
pub fn encrypt_keystore(key: &AccountKey, password: &str, rng_seed: &[u8; 32]) -> Value {
    // DEFAULT parameters are valid, so this never yields Null.
    encrypt_keystore_with(key, password, rng_seed, KeystoreKdf::DEFAULT).unwrap_or(Value::Null)
}

/// Like [`encrypt_keystore`] with an explicit KDF (fails only on invalid KDF parameters).
pub fn encrypt_keystore_with(
    key: &AccountKey,
    password: &str,
    rng_seed: &[u8; 32],
    kdf: KeystoreKdf,
) -> Result<Value, Error> {
    let expand = |tag: &[u8]| {
        let mut b = b"chorus/keystore/".to_vec();
        b.extend_from_slice(tag);
        b.extend_from_slice(rng_seed);
        keccak256(&b)
    };
    let salt = expand(b"salt");
    let iv: [u8; 16] = expand(b"iv")[..16].try_into().map_err(|_| Error::InvalidSecretKey)?;
    let id = uuid_from(&expand(b"id"));

    let dk = derive(password.as_bytes(), &salt, kdf)?;
    let mut ciphertext = key.to_bytes().to_vec();
    let aes_key: [u8; 16] = dk[..16].try_into().map_err(|_| Error::InvalidSecretKey)?;
    Aes128Ctr::new(&aes_key.into(), &iv.into()).apply_keystream(&mut ciphertext);
    let kdfparams = match kdf {
        KeystoreKdf::Scrypt { log_n, r, p } => json!({
            "dklen": 32, "n": 1u64 << log_n, "r": r, "p": p, "salt": hex::encode(salt)
        }),
        KeystoreKdf::Pbkdf2 { c } => json!({
            "c": c, "dklen": 32, "prf": "hmac-sha256", "salt": hex::encode(salt)
        }),
    };
    let kdf_name = match kdf {
        KeystoreKdf::Scrypt { .. } => "scrypt",
        KeystoreKdf::Pbkdf2 { .. } => "pbkdf2",
    };
    Ok(json!({
        "address": hex::encode(key.address().0),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": hex::encode(iv) },
            "ciphertext": hex::encode(&ciphertext),
            "kdf": kdf_name,
            "kdfparams": kdfparams,
            "mac": hex::encode(mac(&dk, &ciphertext)),
        },
        "id": id,
        "version": 3,
    }))
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Error> {
    v.get(name).ok_or_else(|| Error::KeystoreFormat(format!("missing field {name}")))
}

fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, Error> {
    let s = field(v, name)?
        .as_str()
        .ok_or_else(|| Error::KeystoreFormat(format!("{name} is not a string")))?;
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|_| Error::KeystoreFormat(format!("{name} is not hex")))
}

fn u64_field(v: &Value, name: &str) -> Result<u64, Error> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| Error::KeystoreFormat(format!("{name} is not an unsigned integer")))
}

fn kdf_from_json(kdf: &str, params: &Value) -> Result<KeystoreKdf, Error> {
    let dklen = u64_field(params, "dklen")?;
    if dklen != 32 {
        return Err(Error::KeystoreFormat(format!("unsupported dklen {dklen}")));
    }
    match kdf {
        "scrypt" => {
            let n = u64_field(params, "n")?;
            let r = u64_field(params, "r")?;
            let p = u64_field(params, "p")?;
            if n < 2 || !n.is_power_of_two() || n.trailing_zeros() > u32::from(MAX_LOG_N) {
                return Err(Error::KeystoreFormat(format!("unsupported scrypt n {n}")));
            }
            if r == 0 || p == 0 || r.saturating_mul(p) > MAX_R_TIMES_P {
                return Err(Error::KeystoreFormat(format!("unsupported scrypt r {r} p {p}")));
            }
            if n.saturating_mul(r).saturating_mul(128) > MAX_SCRYPT_MEM {
                return Err(Error::KeystoreFormat("scrypt memory cost too high".into()));
            }
            Ok(KeystoreKdf::Scrypt { log_n: n.trailing_zeros() as u8, r: r as u32, p: p as u32 })
        }
        "pbkdf2" => {
            let prf = field(params, "prf")?.as_str().unwrap_or_default();
            if prf != "hmac-sha256" {
                return Err(Error::UnsupportedKdf(format!("pbkdf2 prf {prf}")));
            }
            let c = u64_field(params, "c")?;
            if c == 0 || c > MAX_PBKDF2_C {
                return Err(Error::KeystoreFormat(format!("unsupported pbkdf2 c {c}")));
            }
            Ok(KeystoreKdf::Pbkdf2 { c: c as u32 })
        }
        other => Err(Error::UnsupportedKdf(other.to_string())),
    }
}

/// Decrypts a v3 keystore. A wrong password gives [`Error::KeystoreMac`].
pub fn decrypt_keystore(json: &Value, password: &str) -> Result<AccountKey, Error> {
    if u64_field(json, "version")? != 3 {
        return Err(Error::KeystoreFormat("version is not 3".into()));
    }
    // Some old writers capitalise the section name.
    let crypto = json
        .get("crypto")
        .or_else(|| json.get("Crypto"))
        .ok_or_else(|| Error::KeystoreFormat("missing field crypto".into()))?;
    let cipher = field(crypto, "cipher")?.as_str().unwrap_or_default();
    if cipher != "aes-128-ctr" {
        return Err(Error::KeystoreFormat(format!("unsupported cipher {cipher}")));
    }
    let iv: [u8; 16] = hex_field(field(crypto, "cipherparams")?, "iv")?
        .try_into()
        .map_err(|_| Error::KeystoreFormat("iv must be 16 bytes".into()))?;
    let mut ciphertext = hex_field(crypto, "ciphertext")?;
    if ciphertext.len() != 32 {
        return Err(Error::KeystoreFormat("ciphertext must be 32 bytes".into()));
    }
    let kdf_name = field(crypto, "kdf")?.as_str().unwrap_or_default();
    let params = field(crypto, "kdfparams")?;
    let kdf = kdf_from_json(kdf_name, params)?;
    let salt = hex_field(params, "salt")?;
    let expected_mac = hex_field(crypto, "mac")?;

    let dk = derive(password.as_bytes(), &salt, kdf)?;
    let got = mac(&dk, &ciphertext);
    // Constant-time comparison: the MAC check is the password check.
    let diff = if expected_mac.len() == 32 {
        got.iter().zip(&expected_mac).fold(0u8, |acc, (a, b)| acc | (a ^ b))
    } else {
        1
    };
    if diff != 0 {
        return Err(Error::KeystoreMac);
    }
    let aes_key: [u8; 16] = dk[..16].try_into().map_err(|_| Error::KeystoreMac)?;
    Aes128Ctr::new(&aes_key.into(), &iv.into()).apply_keystream(&mut ciphertext);
    let secret: [u8; 32] = ciphertext.try_into().map_err(|_| Error::InvalidSecretKey)?;
    let key = AccountKey::from_bytes(&secret)?;
    if let Some(addr) = json.get("address").and_then(Value::as_str) {
        let addr = addr.strip_prefix("0x").unwrap_or(addr).to_ascii_lowercase();
        if addr != hex::encode(key.address().0) {
            return Err(Error::KeystoreFormat("address does not match the key".into()));
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIGHT: KeystoreKdf = KeystoreKdf::Scrypt { log_n: 10, r: 8, p: 1 };
    const EXPECTED_KEY: &str = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

    // The two test vectors of the Web3 Secret Storage Definition (Ethereum wiki), password
    // "testpassword". Also checked with Python eth_account `Account.decrypt`.
    fn wiki_pbkdf2() -> Value {
        serde_json::from_str(
            r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},
            "ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2",
            "kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},
            "mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},
            "id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#,
        )
        .unwrap()
    }

    fn wiki_scrypt() -> Value {
        serde_json::from_str(
            r#"{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"83dbcc02d8ccb40e466191a123791e0e"},
            "ciphertext":"d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c","kdf":"scrypt",
            "kdfparams":{"dklen":32,"n":262144,"r":1,"p":8,"salt":"ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"},
            "mac":"2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"},
            "id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}"#,
        )
        .unwrap()
    }

    #[test]
    fn decrypts_wiki_pbkdf2_vector() {
        let k = decrypt_keystore(&wiki_pbkdf2(), "testpassword").unwrap();
        assert_eq!(hex::encode(k.to_bytes()), EXPECTED_KEY);
    }

    #[test]
    fn decrypts_wiki_scrypt_vector() {
        let k = decrypt_keystore(&wiki_scrypt(), "testpassword").unwrap();
        assert_eq!(hex::encode(k.to_bytes()), EXPECTED_KEY);
    }

    #[test]
    fn wrong_password_fails_mac_check() {
        // Cheap: only the PBKDF2 work of a light file.
        let key = AccountKey::from_seed(b"k");
        let ks =
            encrypt_keystore_with(&key, "right", &[1; 32], KeystoreKdf::Pbkdf2 { c: 16 }).unwrap();
        assert_eq!(decrypt_keystore(&ks, "wrong").unwrap_err(), Error::KeystoreMac);
    }

    #[test]
    fn roundtrips_with_scrypt_and_pbkdf2() {
        let key = AccountKey::from_seed(b"roundtrip");
        for kdf in [LIGHT, KeystoreKdf::Pbkdf2 { c: 1000 }] {
            let ks = encrypt_keystore_with(&key, "pw", &[7; 32], kdf).unwrap();
            assert_eq!(ks["version"], 3);
            assert_eq!(ks["address"], hex::encode(key.address().0));
            let back = decrypt_keystore(&ks, "pw").unwrap();
            assert_eq!(back.to_bytes(), key.to_bytes());
            // Same seed, same file: deterministic.
            assert_eq!(encrypt_keystore_with(&key, "pw", &[7; 32], kdf).unwrap(), ks);
            assert_ne!(encrypt_keystore_with(&key, "pw", &[8; 32], kdf).unwrap(), ks);
        }
    }

    #[test]
    fn rejects_hostile_or_unsupported_files() {
        let mut v = wiki_scrypt();
        v["crypto"]["kdfparams"]["n"] = json!(1u64 << 30);
        assert!(matches!(decrypt_keystore(&v, "testpassword"), Err(Error::KeystoreFormat(_))));
        let mut v = wiki_scrypt();
        v["crypto"]["kdf"] = json!("argon2");
        assert!(matches!(decrypt_keystore(&v, "testpassword"), Err(Error::UnsupportedKdf(_))));
        let mut v = wiki_pbkdf2();
        v["crypto"]["kdfparams"]["prf"] = json!("hmac-sha512");
        assert!(matches!(decrypt_keystore(&v, "testpassword"), Err(Error::UnsupportedKdf(_))));
        let mut v = wiki_pbkdf2();
        v["version"] = json!(1);
        assert!(matches!(decrypt_keystore(&v, "testpassword"), Err(Error::KeystoreFormat(_))));
        let mut v = wiki_pbkdf2();
        v["crypto"]["ciphertext"] = json!("zz");
        assert!(matches!(decrypt_keystore(&v, "testpassword"), Err(Error::KeystoreFormat(_))));
        let key = AccountKey::from_seed(b"k");
        let mut ks =
            encrypt_keystore_with(&key, "pw", &[1; 32], KeystoreKdf::Pbkdf2 { c: 16 }).unwrap();
        ks["address"] = json!(hex::encode([0u8; 20]));
        assert!(matches!(decrypt_keystore(&ks, "pw"), Err(Error::KeystoreFormat(_))));
    }
}
