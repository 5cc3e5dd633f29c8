//! Blocks, headers, commit info, receipts, events and the Merkle roots over them.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Address, Amount, Hash, Height, SignedTx, keccak256};

/// A 32-byte ed25519 consensus public key.
pub type ConsensusKeyBytes = [u8; 32];

/// Which validators precommitted the previous block, with their precommit signatures (from the
/// consensus certificate), so every node can check the list before liveness accounting trusts
/// it (`chorus_chain::verify_last_commit`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CommitInfo {
    /// Height of the committed block.
    pub height: Height,
    /// Consensus round in which it was decided.
    pub round: u32,
    /// Consensus public keys that precommitted, sorted ascending, no duplicates.
    pub signers: Vec<ConsensusKeyBytes>,
    /// `signatures[i]` is `signers[i]`'s ed25519 signature over its precommit for the block
    /// ([`crate::staking::Vote::sign_bytes`] of a `Precommit` for the block's hash at
    /// `(height, round)`).
    #[serde(with = "hex_sigs")]
    pub signatures: Vec<[u8; 64]>,
}

mod hex_sigs {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[[u8; 64]], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|sig| format!("0x{}", hex::encode(sig))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 64]>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                let mut out = [0u8; 64];
                hex::decode_to_slice(s.strip_prefix("0x").unwrap_or(s), &mut out)
                    .map_err(serde::de::Error::custom)?;
                Ok(out)
            })
            .collect()
    }
}

impl CommitInfo {
    /// keccak256 of the borsh encoding.
    pub fn hash(&self) -> Hash {
        Hash(keccak256(&borsh::to_vec(self).unwrap_or_default()))
    }
}

/// A block header. Its hash is keccak256 of its borsh encoding.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Chain id (the same number transactions sign).
    pub chain_id: u64,
    /// Height, starting at 1.
    pub height: Height,
    /// Proposer's timestamp, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Hash of the previous block header ([`Hash::ZERO`] at height 1).
    pub prev_hash: Hash,
    /// [`merkle_root`] over the hashes of `txs`, in block order.
    pub tx_root: Hash,
    /// Root of the authenticated state after executing this block.
    pub state_root: Hash,
    /// [`merkle_root`] over [`Receipt::hash`] of the receipts, in block order.
    pub receipts_root: Hash,
    /// Consensus public key of the proposer.
    pub proposer: ConsensusKeyBytes,
    /// [`CommitInfo::hash`] of `last_commit`, or [`Hash::ZERO`] when absent.
    pub last_commit_hash: Hash,
}

impl BlockHeader {
    /// The block hash: keccak256 of the borsh encoding of the header.
    pub fn hash(&self) -> Hash {
        Hash(keccak256(&borsh::to_vec(self).unwrap_or_default()))
    }
}

/// A block: header, transactions and the commit of the previous block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Transactions in execution order.
    pub txs: Vec<SignedTx>,
    /// The commit certificate summary of the previous block (`None` at height 1).
    pub last_commit: Option<CommitInfo>,
}

impl Block {
    /// The block hash (of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The `tx_root` these transactions give.
    pub fn compute_tx_root(&self) -> Hash {
        let leaves: Vec<Hash> = self.txs.iter().map(SignedTx::hash).collect();
        merkle_root(&leaves)
    }

    /// The `last_commit_hash` `last_commit` gives.
    pub fn compute_last_commit_hash(&self) -> Hash {
        self.last_commit.as_ref().map_or(Hash::ZERO, CommitInfo::hash)
    }
}

/// A typed event emitted by execution (indexers and the API read these).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Event {
    /// Event type, `component.action` (e.g. `bank.transfer`).
    pub kind: String,
    /// Ordered key/value attributes.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// An event with the given kind and attributes.
    pub fn new(kind: impl Into<String>, attributes: Vec<(String, String)>) -> Event {
        Event { kind: kind.into(), attributes }
    }

    /// The value of the first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Why a transaction failed: a stable numeric code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxFailure {
    /// Stable error code (see `chorus_chain::TxError::code`).
    pub code: u32,
    /// Human-readable message (not consensus-relevant in meaning, but part of the receipt bytes).
    pub message: String,
}

/// The outcome of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction hash.
    pub tx_hash: Hash,
    /// Block height.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
    /// `Ok` if the messages were applied, `Err` otherwise.
    pub result: Result<(), TxFailure>,
    /// Fee actually charged (0 if the transaction failed before fee payment).
    #[serde(with = "crate::amount_serde")]
    pub fee_paid: Amount,
    /// Events, including the fee event even when the messages failed.
    pub events: Vec<Event>,
}

impl Receipt {
    /// keccak256 of the borsh encoding (the `receipts_root` leaf).
    pub fn hash(&self) -> Hash {
        Hash(keccak256(&borsh::to_vec(self).unwrap_or_default()))
    }
}

/// A member of the validator set handed to consensus.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// ed25519 consensus public key.
    pub consensus_key: ConsensusKeyBytes,
    /// Voting power.
    pub power: u64,
    /// Operator account.
    pub operator: Address,
}

/// RFC 6962-style Merkle root with keccak256: empty → `keccak256("")`; leaf →
/// `keccak256(0x00 ‖ leaf)`; node → `keccak256(0x01 ‖ left ‖ right)`, splitting `n` leaves at the
/// largest power of two below `n`.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    fn go(leaves: &[Hash]) -> [u8; 32] {
        match leaves.len() {
            0 => keccak256(&[]),
            1 => {
                let mut b = [0u8; 33];
                b[1..].copy_from_slice(&leaves[0].0);
                keccak256(&b)
            }
            n => {
                let k = n.next_power_of_two() / 2;
                let mut b = [0u8; 65];
                b[0] = 1;
                b[1..33].copy_from_slice(&go(&leaves[..k]));
                b[33..].copy_from_slice(&go(&leaves[k..]));
                keccak256(&b)
            }
        }
    }
    Hash(go(leaves))
}
