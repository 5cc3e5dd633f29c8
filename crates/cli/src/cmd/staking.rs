//! `chorus tx stake …` and `chorus tx gov …`: the staking and governance transactions
//! (`chorus_types::staking::{StakingMsg, GovMsg}`, rules in `docs/staking.md`). Reading the
//! results is `chorus query validators|validator|delegations|rewards|proposals`.
//!
//! Everything is signed and submitted by [`crate::cmd::tx`]; this module only turns flags into
//! messages (and, for `create-validator`, signs the proof of possession with the consensus key
//! of the node home).

use std::path::PathBuf;

use chorus_types::staking::{
    CommissionRates, Dec, Description, DoubleSignEvidence, GovMsg, ParamChange, StakingMsg,
    VoteOption, pop_bytes,
};
use chorus_types::{Address, Amount, Height, Msg};
use clap::{Args, Subcommand, ValueEnum};
use eyre::{WrapErr, bail, eyre};
use serde_json::Value;

use crate::args::SignerArgs;
use crate::home::Home;
use crate::http;

/// Staking transactions.
#[derive(Subcommand, Debug)]
pub(crate) enum StakeCmd {
    /// Create a validator operated by the signer, with the consensus key of `--home`
    /// (`HOME/keys/consensus.json`, written by `chorus init`) and a proof of possession signed
    /// by it.
    CreateValidator {
        /// Initial self-delegation in base units, taken from the signer; at least the chain's
        /// `staking.min_self_delegation` (default 10^9), which the operator's own stake must
        /// keep to stay in the active set.
        #[arg(long)]
        self_delegation: Amount,
        /// The validator's own minimum self-delegation (jailed below it), on top of the
        /// chain's.
        #[arg(long, default_value_t = 1)]
        min_self_delegation: Amount,
        /// Commission rate, a decimal fraction (`0.1` = 10 %).
        #[arg(long, default_value = "0.1")]
        commission_rate: Dec,
        /// Highest commission rate ever allowed (fixed forever).
        #[arg(long, default_value = "0.2")]
        commission_max_rate: Dec,
        /// Largest commission change per commission-change period (fixed forever).
        #[arg(long, default_value = "0.01")]
        commission_max_change_rate: Dec,
        #[command(flatten)]
        description: DescriptionArgs,
    },
    /// Edit the signer's validator: description fields given replace the current ones, the
    /// others are kept.
    EditValidator {
        #[command(flatten)]
        description: DescriptionArgs,
        /// New commission rate (at most once per commission-change period, within the max
        /// change rate).
        #[arg(long)]
        commission_rate: Option<Dec>,
        /// New minimum self-delegation (can only increase).
        #[arg(long)]
        min_self_delegation: Option<Amount>,
    },
    /// Delegate tokens to a validator.
    Delegate {
        /// Validator operator address.
        #[arg(long)]
        validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: Amount,
    },
    /// Undelegate tokens' worth of shares; from a bonded validator they come back after the
    /// unbonding time (an unbonding entry, see `chorus query delegations`).
    Undelegate {
        /// Validator operator address.
        #[arg(long)]
        validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: Amount,
    },
    /// Delegate (part of) an immature unbonding entry back to its validator.
    CancelUnbonding {
        /// Validator operator address.
        #[arg(long)]
        validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: Amount,
        /// Creation height of the entry (`creation_height` in `chorus query delegations`).
        #[arg(long)]
        height: Height,
    },
    /// Move a delegation from one validator to another at once.
    Redelegate {
        /// Source validator.
        #[arg(long)]
        from_validator: Address,
        /// Destination validator.
        #[arg(long)]
        to_validator: Address,
        /// Amount in base units.
        #[arg(long)]
        amount: Amount,
    },
    /// Withdraw delegation rewards from one validator, or (without `--validator`) from every
    /// validator the signer delegates to, in one transaction.
    WithdrawRewards {
        /// Validator operator address.
        #[arg(long)]
        validator: Option<Address>,
    },
    /// Withdraw the signer's accumulated validator commission.
    WithdrawCommission,
    /// Unjail the signer's validator.
    Unjail,
    /// Submit double-sign evidence: a JSON `DoubleSignEvidence` `{"a": SignedVote, "b":
    /// SignedVote}`.
    SubmitEvidence {
        /// Path of the evidence file.
        #[arg(long)]
        file: PathBuf,
    },
}

/// Validator description flags (name ≤ 70, website ≤ 140, details ≤ 280 bytes).
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct DescriptionArgs {
    /// Display name (create-validator default: `moniker` of `HOME/config.toml`).
    #[arg(long)]
    moniker: Option<String>,
    /// Website URL.
    #[arg(long)]
    website: Option<String>,
    /// Free-form description.
    #[arg(long, alias = "description")]
    details: Option<String>,
}

impl DescriptionArgs {
    fn is_empty(&self) -> bool {
        self.moniker.is_none() && self.website.is_none() && self.details.is_none()
    }

    /// `base` with the given fields replaced, checked against the length bounds.
    fn apply(self, mut base: Description) -> eyre::Result<Description> {
        if let Some(m) = self.moniker {
            base.name = m;
        }
        if let Some(w) = self.website {
            base.website = w;
        }
        if let Some(d) = self.details {
            base.details = d;
        }
        if !base.is_valid() {
            bail!(
                "description too long: moniker ≤ 70, website ≤ 140, details ≤ 280 bytes (got {}, \
                 {}, {})",
                base.name.len(),
                base.website.len(),
                base.details.len()
            );
        }
        Ok(base)
    }
}

/// Governance transactions.
#[derive(Subcommand, Debug)]
pub(crate) enum GovCmd {
    /// Propose parameter changes with an initial deposit; voting starts once the deposits
    /// reach `gov.min_deposit`.
    Propose {
        /// Title (≤ 140 bytes).
        #[arg(long, default_value = "")]
        title: String,
        /// A change `KEY=VALUE`, e.g. `gov.voting_period_ms=60000` (repeat for several, 1–16;
        /// keys are listed in docs/staking.md).
        #[arg(long = "change", value_name = "KEY=VALUE", required = true, value_parser = parse_change)]
        changes: Vec<ParamChange>,
        /// Initial deposit in base units.
        #[arg(long)]
        deposit: Amount,
    },
    /// Add a deposit to a proposal.
    Deposit {
        /// Proposal id.
        #[arg(long)]
        proposal: u64,
        /// Amount in base units.
        #[arg(long)]
        amount: Amount,
    },
    /// Vote on a proposal in its voting period (a later vote replaces an earlier one).
    Vote {
        /// Proposal id.
        #[arg(long)]
        proposal: u64,
        /// Vote option.
        #[arg(long, value_enum)]
        option: VoteArg,
    },
}

/// `--option` of `chorus tx gov vote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum VoteArg {
    /// Yes.
    Yes,
    /// No.
    No,
    /// Abstain (counts for quorum only).
    Abstain,
    /// No with veto (burns the deposits above the veto threshold).
    #[value(alias = "no-with-veto", alias = "no_with_veto")]
    Veto,
}

impl From<VoteArg> for VoteOption {
    fn from(v: VoteArg) -> VoteOption {
        match v {
            VoteArg::Yes => VoteOption::Yes,
            VoteArg::No => VoteOption::No,
            VoteArg::Abstain => VoteOption::Abstain,
            VoteArg::Veto => VoteOption::Veto,
        }
    }
}

/// Parses `KEY=VALUE` into a parameter change (whether the key exists and the value is valid is
/// the chain's check, at submission).
pub(crate) fn parse_change(s: &str) -> Result<ParamChange, String> {
    let malformed = || format!("expected KEY=VALUE (e.g. gov.voting_period_ms=60000), got {s:?}");
    let (key, value) = s.split_once('=').ok_or_else(malformed)?;
    let (key, value) = (key.trim(), value.trim());
    if key.is_empty() || value.is_empty() || value.contains('=') {
        return Err(malformed());
    }
    Ok(ParamChange { key: key.to_string(), value: value.to_string() })
}

/// The messages of a governance command.
pub(crate) fn gov_msgs(cmd: GovCmd) -> eyre::Result<Vec<Msg>> {
    let msg = match cmd {
        GovCmd::Propose { title, changes, deposit } => {
            if title.len() > 140 {
                bail!("--title is {} bytes; at most 140", title.len());
            }
            if changes.len() > 16 {
                bail!("a proposal carries at most 16 changes, got {}", changes.len());
            }
            GovMsg::SubmitProposal { title, changes, deposit }
        }
        GovCmd::Deposit { proposal, amount } => GovMsg::Deposit { proposal, amount },
        GovCmd::Vote { proposal, option } => GovMsg::Vote { proposal, option: option.into() },
    };
    Ok(vec![Msg::Gov(msg)])
}

/// The messages of a staking command signed by `operator` on chain `chain_id` (reads the node
/// for `edit-validator` and `withdraw-rewards` without `--validator`, the home for
/// `create-validator`).
pub(crate) async fn stake_msgs(
    signer: &SignerArgs,
    cmd: StakeCmd,
    operator: Address,
    chain_id: u64,
) -> eyre::Result<Vec<Msg>> {
    let msg = match cmd {
        StakeCmd::CreateValidator {
            self_delegation,
            min_self_delegation,
            commission_rate,
            commission_max_rate,
            commission_max_change_rate,
            description,
        } => {
            let home = Home(signer.home.clone());
            let ck = home.load_consensus_key()?;
            let mut base = Description::default();
            if description.moniker.is_none() {
                base.name = home.load_config()?.moniker;
            }
            StakingMsg::CreateValidator {
                consensus_key: ck.public_key(),
                pop: ck.sign(&pop_bytes(&operator, chain_id)),
                self_delegation,
                min_self_delegation,
                commission: CommissionRates {
                    rate: commission_rate,
                    max_rate: commission_max_rate,
                    max_change_rate: commission_max_change_rate,
                },
                description: description.apply(base)?,
            }
        }
        StakeCmd::EditValidator { description, commission_rate, min_self_delegation } => {
            if description.is_empty() && commission_rate.is_none() && min_self_delegation.is_none()
            {
                bail!(
                    "nothing to edit: give --moniker, --website, --details, --commission-rate or \
                     --min-self-delegation"
                );
            }
            let description = if description.is_empty() {
                None
            } else {
                let current = validator(signer, &operator).await?;
                let base: Description = serde_json::from_value(current["description"].clone())
                    .wrap_err("the node's validator record has no description")?;
                Some(description.apply(base)?)
            };
            StakingMsg::EditValidator { description, commission_rate, min_self_delegation }
        }
        StakeCmd::Delegate { validator, amount } => StakingMsg::Delegate { validator, amount },
        StakeCmd::Undelegate { validator, amount } => StakingMsg::Undelegate { validator, amount },
        StakeCmd::CancelUnbonding { validator, amount, height } => {
            StakingMsg::CancelUnbonding { validator, amount, creation_height: height }
        }
        StakeCmd::Redelegate { from_validator, to_validator, amount } => {
            if from_validator == to_validator {
                bail!("--from-validator and --to-validator are the same validator");
            }
            StakingMsg::Redelegate { src: from_validator, dst: to_validator, amount }
        }
        StakeCmd::WithdrawRewards { validator: Some(validator) } => {
            StakingMsg::WithdrawRewards { validator }
        }
        StakeCmd::WithdrawRewards { validator: None } => {
            let d =
                http::get(&format!("{}/v1/delegator/{operator}/delegations", signer.node)).await?;
            let vals: Vec<Address> = d["delegations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| serde_json::from_value(x["validator"].clone()))
                .collect::<Result<_, _>>()
                .wrap_err("unexpected delegations reply")?;
            if vals.is_empty() {
                bail!("{operator} has no delegations to withdraw rewards from");
            }
            return Ok(vals
                .into_iter()
                .map(|validator| Msg::Staking(StakingMsg::WithdrawRewards { validator }))
                .collect());
        }
        StakeCmd::WithdrawCommission => StakingMsg::WithdrawCommission,
        StakeCmd::Unjail => StakingMsg::Unjail,
        StakeCmd::SubmitEvidence { file } => {
            let text = std::fs::read_to_string(&file)
                .wrap_err_with(|| format!("reading {}", file.display()))?;
            let evidence: DoubleSignEvidence = serde_json::from_str(&text).map_err(|e| {
                eyre!(
                    "{} is not double-sign evidence ({{\"a\": …, \"b\": …}}): {e}",
                    file.display()
                )
            })?;
            StakingMsg::SubmitEvidence { evidence }
        }
    };
    Ok(vec![Msg::Staking(msg)])
}

async fn validator(signer: &SignerArgs, op: &Address) -> eyre::Result<Value> {
    let (code, v) =
        http::request("GET", &format!("{}/v1/staking/validators/{op}", signer.node), None).await?;
    match code {
        200 => Ok(v),
        404 => {
            bail!("{op} operates no validator (create one with `chorus tx stake create-validator`)")
        }
        _ => bail!("reading validator {op}: {code}: {}", v["error"].as_str().unwrap_or("?")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_changes_parse_and_malformed_ones_are_refused_with_the_expected_form() {
        let c = parse_change("gov.voting_period_ms=60000").unwrap();
        assert_eq!(c, ParamChange { key: "gov.voting_period_ms".into(), value: "60000".into() });
        let c = parse_change(" distribution.community_tax = 0.05 ").unwrap();
        assert_eq!(c.key, "distribution.community_tax");
        assert_eq!(c.value, "0.05");
        for bad in ["gov.quorum", "=1", "gov.quorum=", "a=b=c", ""] {
            let e = parse_change(bad).unwrap_err();
            assert!(e.contains("expected KEY=VALUE"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn vote_options_map_onto_the_chain_options_and_veto_has_its_long_name() {
        assert_eq!(VoteOption::from(VoteArg::Yes), VoteOption::Yes);
        assert_eq!(VoteOption::from(VoteArg::Abstain), VoteOption::Abstain);
        assert_eq!(VoteArg::from_str("no-with-veto", true).unwrap(), VoteArg::Veto);
        assert!(VoteArg::from_str("maybe", true).is_err());
    }

    #[test]
    fn description_flags_replace_only_the_fields_given_and_respect_the_bounds() {
        let base = Description { name: "a".into(), website: "w".into(), details: "d".into() };
        let args = DescriptionArgs { website: Some("https://x".into()), ..Default::default() };
        let d = args.apply(base.clone()).unwrap();
        assert_eq!(
            (d.name.as_str(), d.website.as_str(), d.details.as_str()),
            ("a", "https://x", "d")
        );
        let long = DescriptionArgs { moniker: Some("x".repeat(71)), ..Default::default() };
        assert!(long.apply(base).is_err());
    }

    #[test]
    fn a_proposal_with_an_overlong_title_is_refused_before_signing() {
        let cmd = GovCmd::Propose {
            title: "t".repeat(141),
            changes: vec![parse_change("gov.quorum=0.4").unwrap()],
            deposit: 1,
        };
        assert!(gov_msgs(cmd).unwrap_err().to_string().contains("at most 140"));
    }
}
