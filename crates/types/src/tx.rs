//! Transactions: EIP-712 typed data signed with an account's secp256k1 key.
//!
//! The typed data (also in `docs/ledger.md`):
//!
//! ```text
//! EIP712Domain(string name,string version,uint256 chainId)   name = "Chorus", version = "1"
//! Tx(uint64 chainId,uint64 nonce,uint128 fee,bytes msgs)     msgs = borsh(Vec<Msg>)
//! digest = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(Tx))
//! ```

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Amount, Hash, Msg, keccak256};

/// Largest accepted encoded [`SignedTx`], in bytes.
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// Length of a transaction signature (`r ‖ s ‖ v`).
pub const TX_SIGNATURE_LEN: usize = 65;

/// EIP-712 domain name.
pub const EIP712_NAME: &str = "Chorus";
/// EIP-712 domain version.
pub const EIP712_VERSION: &str = "1";
/// EIP-712 domain type string.
pub const EIP712_DOMAIN_TYPE: &str = "EIP712Domain(string name,string version,uint256 chainId)";
/// EIP-712 primary type string.
pub const EIP712_TX_TYPE: &str = "Tx(uint64 chainId,uint64 nonce,uint128 fee,bytes msgs)";

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Tx {
    /// Chain this transaction is valid on (also the EIP-712 domain `chainId`).
    pub chain_id: u64,
    /// The sender's account nonce: exactly the number of transactions it has had executed.
    pub nonce: u64,
    /// Fee in base units, charged (and burnt) even if the messages fail.
    #[serde(with = "crate::amount_serde")]
    pub fee: Amount,
    /// The actions, executed in order, all or nothing.
    pub msgs: Vec<Msg>,
}

fn u256_word(v: u128) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[16..].copy_from_slice(&v.to_be_bytes());
    w
}

/// The EIP-712 domain separator for `chain_id`.
pub fn domain_separator(chain_id: u64) -> [u8; 32] {
    let mut buf = Vec::with_capacity(4 * 32);
    buf.extend_from_slice(&keccak256(EIP712_DOMAIN_TYPE.as_bytes()));
    buf.extend_from_slice(&keccak256(EIP712_NAME.as_bytes()));
    buf.extend_from_slice(&keccak256(EIP712_VERSION.as_bytes()));
    buf.extend_from_slice(&u256_word(u128::from(chain_id)));
    keccak256(&buf)
}

impl Tx {
    /// The canonical encoding of the messages (`borsh(Vec<Msg>)`): the EIP-712 `msgs` bytes.
    pub fn msgs_bytes(&self) -> Vec<u8> {
        borsh::to_vec(&self.msgs).unwrap_or_default()
    }

    /// EIP-712 `hashStruct(Tx)`.
    pub fn struct_hash(&self) -> [u8; 32] {
        let mut buf = Vec::with_capacity(5 * 32);
        buf.extend_from_slice(&keccak256(EIP712_TX_TYPE.as_bytes()));
        buf.extend_from_slice(&u256_word(u128::from(self.chain_id)));
        buf.extend_from_slice(&u256_word(u128::from(self.nonce)));
        buf.extend_from_slice(&u256_word(self.fee));
        buf.extend_from_slice(&keccak256(&self.msgs_bytes()));
        keccak256(&buf)
    }

    /// The EIP-712 digest that the sender signs (what `eth_signTypedData_v4` signs).
    pub fn signing_digest(&self) -> [u8; 32] {
        let mut buf = Vec::with_capacity(66);
        buf.extend_from_slice(&[0x19, 0x01]);
        buf.extend_from_slice(&domain_separator(self.chain_id));
        buf.extend_from_slice(&self.struct_hash());
        keccak256(&buf)
    }

    /// The typed data as `eth_signTypedData_v4` JSON (for wallets and external tooling).
    pub fn eip712_json(&self) -> String {
        let msgs_hex = hex::encode(self.msgs_bytes());
        format!(
            concat!(
                r#"{{"types":{{"EIP712Domain":[{{"name":"name","type":"string"}},"#,
                r#"{{"name":"version","type":"string"}},{{"name":"chainId","type":"uint256"}}],"#,
                r#""Tx":[{{"name":"chainId","type":"uint64"}},{{"name":"nonce","type":"uint64"}},"#,
                r#"{{"name":"fee","type":"uint128"}},{{"name":"msgs","type":"bytes"}}]}},"#,
                r#""primaryType":"Tx","domain":{{"name":"{}","version":"{}","chainId":{}}},"#,
                r#""message":{{"chainId":{},"nonce":{},"fee":"{}","msgs":"0x{}"}}}}"#
            ),
            EIP712_NAME,
            EIP712_VERSION,
            self.chain_id,
            self.chain_id,
            self.nonce,
            self.fee,
            msgs_hex
        )
    }
}

/// A transaction with its signature `r ‖ s ‖ v` (`v ∈ {27, 28}`, low `s`) over
/// [`Tx::signing_digest`]. Its canonical encoding is `borsh(tx) ‖ signature` and its hash is
/// keccak256 of that.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTx {
    /// The signed transaction.
    pub tx: Tx,
    /// `r ‖ s ‖ v`.
    pub signature: [u8; TX_SIGNATURE_LEN],
}

/// Why bytes are not a [`SignedTx`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a canonical borsh encoding (truncated, trailing bytes, bad tag, …).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// A message's top-level variant index is not one this build knows.
    #[error("unknown message type {variant} at position {position}")]
    UnknownMessage {
        /// Index of the message in `msgs`.
        position: u32,
        /// The unknown variant index.
        variant: u8,
    },
}

impl SignedTx {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// The transaction hash: keccak256 of [`SignedTx::encode`].
    pub fn hash(&self) -> Hash {
        Hash(keccak256(&self.encode()))
    }

    /// Decodes a canonical encoding, telling unknown message types apart from other garbage.
    /// Does not check the size limit, the chain id or the signature.
    pub fn decode(bytes: &[u8]) -> Result<SignedTx, DecodeError> {
        let mut r = bytes;
        let chain_id = u64::deserialize_reader(&mut r).map_err(malformed)?;
        let nonce = u64::deserialize_reader(&mut r).map_err(malformed)?;
        let fee = u128::deserialize_reader(&mut r).map_err(malformed)?;
        let n = u32::deserialize_reader(&mut r).map_err(malformed)?;
        // Each message is at least 1 byte: a larger count cannot be honest.
        if n as usize > r.len() {
            return Err(DecodeError::Malformed("message count exceeds input".into()));
        }
        let mut msgs = Vec::with_capacity(n as usize);
        for position in 0..n {
            match r.first() {
                Some(&variant) if variant >= Msg::VARIANTS => {
                    return Err(DecodeError::UnknownMessage { position, variant });
                }
                _ => msgs.push(Msg::deserialize_reader(&mut r).map_err(malformed)?),
            }
        }
        let signature = <[u8; TX_SIGNATURE_LEN]>::deserialize_reader(&mut r).map_err(malformed)?;
        if !r.is_empty() {
            return Err(DecodeError::Malformed(format!("{} trailing bytes", r.len())));
        }
        Ok(SignedTx { tx: Tx { chain_id, nonce, fee, msgs }, signature })
    }
}

fn malformed(e: std::io::Error) -> DecodeError {
    DecodeError::Malformed(e.to_string())
}
