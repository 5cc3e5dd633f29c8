//! Chorus wire and state types: addresses, hashes, transactions and messages, blocks and headers,
//! receipts, events and genesis. Everything that is hashed or signed has one canonical encoding
//! (borsh), pinned by golden fixtures in `tests/it`; `docs/ledger.md` specifies them.
//!
//! This crate is pure data (L0): no I/O, no clocks, no entropy, no floats in hashed data, no async.
//! It does not verify signatures (that is `chorus-crypto`) and does not apply state rules (that is
//! `chorus-chain`).
#![forbid(unsafe_code)]

pub mod amount_serde;
mod block;
mod genesis;
pub mod learning;
mod msg;
mod primitives;
pub mod staking;
mod tx;

pub use block::{
    Block, BlockHeader, CommitInfo, ConsensusKeyBytes, Event, Receipt, TxFailure, ValidatorInfo,
    merkle_root,
};
pub use genesis::{
    BankParams, DEFAULT_MIN_BOND, DEFAULT_MIN_FEE, Genesis, GenesisValidator, Params,
    ValidatorParams,
};
pub use msg::{BankMsg, Msg};
pub use primitives::{Address, Amount, Hash, Height, ParseError, exceeds_two_thirds, keccak256};
pub use tx::{
    DecodeError, EIP712_DOMAIN_TYPE, EIP712_NAME, EIP712_TX_TYPE, EIP712_VERSION, MAX_TX_BYTES,
    SignedTx, TX_SIGNATURE_LEN, Tx, domain_separator,
};
