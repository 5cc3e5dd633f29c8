//! Genesis file: chain id, start time, initial balances, validators and protocol parameters.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Address, Amount};

/// A validator present at genesis. Its `stake` is minted into the bonded pool (not taken from
/// `accounts`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct GenesisValidator {
    /// Operator account.
    pub operator: Address,
    /// ed25519 consensus public key, hex in JSON.
    #[serde(with = "hex32")]
    pub consensus_key: [u8; 32],
    /// Bonded stake in base units.
    #[serde(with = "crate::amount_serde")]
    pub stake: Amount,
}

/// Default [`BankParams::min_fee`]: 1 000 base units, the fee the CLI used to hard-code. Next to
/// the stakes and balances `chorus init` writes (10^12 per validator and participant) it is
/// negligible for honest use, but it makes every object and every vote cost something (H3).
pub const DEFAULT_MIN_FEE: Amount = 1_000;

/// Default registry bond floor ([`crate::learning::RegistryParams::min_bond`] in
/// [`Params::registry`]): 1 000 base units, the bond the participant runtime and `chorus
/// participant` post by default and the devnet's `min_participant_stake` (M8; was 1).
pub const DEFAULT_MIN_BOND: Amount = 1_000;

/// Parameters of the bank component.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BankParams {
    /// Smallest fee a transaction may offer (default [`DEFAULT_MIN_FEE`]). Nodes report it at
    /// `GET /v1/status` (`min_fee`); the SDK and the CLI pay it unless told to pay more.
    #[serde(with = "crate::amount_serde")]
    pub min_fee: Amount,
}

impl Default for BankParams {
    fn default() -> Self {
        BankParams { min_fee: DEFAULT_MIN_FEE }
    }
}

/// Parameters of the validator set (until the staking component owns them).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidatorParams {
    /// Stake per unit of voting power: `power = stake / power_reduction`.
    #[serde(with = "crate::amount_serde")]
    pub power_reduction: Amount,
}

impl Default for ValidatorParams {
    fn default() -> Self {
        ValidatorParams { power_reduction: 1 }
    }
}

/// Protocol parameters, one struct per component. New components append a field with
/// `#[serde(default)]` so older genesis files still parse.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// Bank parameters.
    pub bank: BankParams,
    /// Validator-set parameters.
    pub validators: ValidatorParams,
    /// Staking parameters.
    #[serde(default)]
    pub staking: crate::staking::StakingParams,
    /// Liveness and double-sign slashing parameters.
    #[serde(default)]
    pub slashing: crate::staking::SlashingParams,
    /// Reward distribution parameters.
    #[serde(default)]
    pub distribution: crate::staking::DistributionParams,
    /// Governance parameters.
    #[serde(default)]
    pub gov: crate::staking::GovParams,
    /// Registry parameters (participant and worker bonds). A missing field takes the value of
    /// [`Params::default`] (bond floor [`DEFAULT_MIN_BOND`]), not `RegistryParams::default()`.
    pub registry: crate::learning::RegistryParams,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            bank: BankParams::default(),
            validators: ValidatorParams::default(),
            staking: crate::staking::StakingParams::default(),
            slashing: crate::staking::SlashingParams::default(),
            distribution: crate::staking::DistributionParams::default(),
            gov: crate::staking::GovParams::default(),
            registry: crate::learning::RegistryParams {
                min_bond: DEFAULT_MIN_BOND,
                ..crate::learning::RegistryParams::default()
            },
        }
    }
}

/// The genesis document (JSON via serde; amounts are decimal strings).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Chain id.
    pub chain_id: u64,
    /// Genesis time, milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// Initial balances: `[["0x…", "amount"], …]`.
    #[serde(with = "crate::amount_serde::accounts")]
    pub accounts: Vec<(Address, Amount)>,
    /// Initial validators.
    pub validators: Vec<GenesisValidator>,
    /// Protocol parameters.
    #[serde(default)]
    pub params: Params,
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0x{}", hex::encode(v)))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let h = s.strip_prefix("0x").unwrap_or(&s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(h, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}
