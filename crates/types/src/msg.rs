//! Messages: the actions a transaction carries, one enum variant per chain component.
//!
//! **Stability rule.** The borsh encoding of an enum is its variant *index* (declaration order,
//! one byte) followed by the fields. Variants are therefore only ever **appended** at the end of
//! [`Msg`] and of each component's message enum, never reordered, renamed-in-place with new
//! fields, or removed; a removed message keeps a placeholder variant. The golden fixtures in
//! `tests/it` fail if an index moves. Landed: `Registry(..)` (index 1), `Learning(..)` (2),
//! `Staking(..)` (3), `Gov(..)` (4).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Address, Amount};

/// One action inside a transaction, routed to the component named by the variant.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Msg {
    /// Balances and transfers (variant index 0).
    Bank(BankMsg),
    /// Participant and worker registry (variant index 1).
    Registry(crate::learning::RegistryMsg),
    /// Training tasks and rounds (variant index 2).
    Learning(crate::learning::LearningMsg),
    /// Validators, delegation, rewards, slashing evidence (variant index 3).
    Staking(crate::staking::StakingMsg),
    /// Parameter-change governance (variant index 4).
    Gov(crate::staking::GovMsg),
}

impl Msg {
    /// Number of top-level variants this build knows (`0..VARIANTS` decode; others are
    /// "unknown message"). Bump it when appending a variant.
    pub const VARIANTS: u8 = 5;

    /// The component name (`"bank"`, …), used in events and errors.
    pub fn component(&self) -> &'static str {
        match self {
            Msg::Bank(_) => "bank",
            Msg::Registry(_) => "registry",
            Msg::Learning(_) => "learning",
            Msg::Staking(_) => "staking",
            Msg::Gov(_) => "gov",
        }
    }
}

/// Messages of the bank component.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BankMsg {
    /// Move `amount` from the sender to `to` (variant index 0). `amount` must be non-zero.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount in base units.
        #[serde(with = "crate::amount_serde")]
        amount: Amount,
    },
}
