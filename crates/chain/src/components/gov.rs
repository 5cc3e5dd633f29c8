//! Governance: parameter-change proposals voted by bonded stake (Cosmos x/gov, simplified).
//!
//! Deposit period → (min deposit reached) voting period → tally in `end_block` when the voting
//! period ends. Voting power is bonded stake; a delegator who does not vote inherits its
//! validator's vote for that delegation (Cosmos tally). Passed changes are written at the end of
//! that block, so the next block uses them.
//!
//! A component of its own (the `Msg::Gov` message family, `end_block` run after every other
//! component's); it reads bonded stake and the parameters from [`crate::components::staking`],
//! whose `keys` also hold the `params/gov` and `gov/…` state keys.

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::staking::{Dec, GovMsg, GovParams, ParamChange, VoteOption, mul_div};
use chorus_types::{Address, Amount, Event, Params};

use crate::TxError;
use crate::codec::{read, write};
use crate::components::staking::{self, BondStatus, StakingError, keys, validators};
use crate::components::{TxContext, bank};
use crate::context::BlockContext;
use crate::state::{StateDelta, StateRead};

/// Pool holding proposal deposits.
pub const GOV_POOL: &str = "gov";

/// Proposal status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalStatus {
    /// Collecting deposits.
    DepositPeriod,
    /// Being voted on.
    VotingPeriod,
    /// Passed and applied.
    Passed,
    /// Rejected (deposits refunded).
    Rejected,
    /// Rejected by veto or without quorum-meeting deposits burnt (veto only).
    Vetoed,
    /// Passed but the changes no longer validate.
    Failed,
    /// Deposit period ended below the minimum (deposits refunded).
    Expired,
}

impl ProposalStatus {
    /// API form.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProposalStatus::DepositPeriod => "deposit_period",
            ProposalStatus::VotingPeriod => "voting_period",
            ProposalStatus::Passed => "passed",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Vetoed => "vetoed",
            ProposalStatus::Failed => "failed",
            ProposalStatus::Expired => "expired",
        }
    }
}

/// A tally: stake per option.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Tally {
    /// Yes.
    pub yes: Amount,
    /// No.
    pub no: Amount,
    /// Abstain.
    pub abstain: Amount,
    /// No with veto.
    pub veto: Amount,
}

/// A proposal at `gov/prop/<id>`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Id (from 1).
    pub id: u64,
    /// Proposer.
    pub proposer: Address,
    /// Title.
    pub title: String,
    /// Changes.
    pub changes: Vec<ParamChange>,
    /// Status.
    pub status: ProposalStatus,
    /// Submission time.
    pub submit_time_ms: u64,
    /// End of the deposit period.
    pub deposit_end_ms: u64,
    /// Start of voting (0 before).
    pub voting_start_ms: u64,
    /// End of voting (0 before).
    pub voting_end_ms: u64,
    /// Deposits so far.
    pub total_deposit: Amount,
    /// Final tally (after voting).
    pub tally: Tally,
}

/// Governance parameters.
pub fn params(state: &dyn StateRead) -> Result<GovParams, TxError> {
    Ok(read(state, keys::PARAMS_GOV)?.unwrap_or_default())
}

/// A proposal.
pub fn proposal(state: &dyn StateRead, id: u64) -> Result<Option<Proposal>, TxError> {
    read(state, &keys::proposal(id))
}

/// Every proposal, by id.
pub fn proposals(state: &dyn StateRead) -> Result<Vec<Proposal>, TxError> {
    state
        .scan_prefix(keys::GOV_PROPOSAL)
        .into_iter()
        .map(|(k, v)| borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k)))
        .collect()
}

fn votes(state: &dyn StateRead, id: u64) -> Result<Vec<(Address, VoteOption)>, TxError> {
    let prefix = keys::k(keys::GOV_VOTE, &[&id.to_be_bytes()]);
    state
        .scan_prefix(&prefix)
        .into_iter()
        .map(|(k, v)| {
            let a = keys::addrs(&k, keys::GOV_VOTE, 8)
                .first()
                .copied()
                .ok_or_else(|| TxError::corrupt(&k))?;
            let o = borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k))?;
            Ok((a, o))
        })
        .collect()
}

fn deposits(state: &dyn StateRead, id: u64) -> Result<Vec<(Address, Amount)>, TxError> {
    let prefix = keys::k(keys::GOV_DEPOSIT, &[&id.to_be_bytes()]);
    state
        .scan_prefix(&prefix)
        .into_iter()
        .map(|(k, v)| {
            let a = keys::addrs(&k, keys::GOV_DEPOSIT, 8)
                .first()
                .copied()
                .ok_or_else(|| TxError::corrupt(&k))?;
            let o = borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k))?;
            Ok((a, o))
        })
        .collect()
}

fn bad(m: &'static str) -> TxError {
    TxError::Staking(StakingError::InvalidProposal(m))
}

/// The chain's current parameters, as one [`Params`].
pub fn current_params(state: &dyn StateRead) -> Result<Params, TxError> {
    Ok(Params {
        bank: bank::params(state)?,
        validators: staking::power_params(state)?,
        staking: staking::staking_params(state)?,
        slashing: staking::slashing_params(state)?,
        distribution: staking::distribution_params(state)?,
        gov: params(state)?,
    })
}

/// Applies `changes` to `p` (parse only; validate afterwards with `validate_params`).
pub fn apply_changes(p: &mut Params, changes: &[ParamChange]) -> Result<(), String> {
    fn int<T: std::str::FromStr>(v: &str) -> Result<T, String> {
        v.parse().map_err(|_| format!("{v:?} is not an integer"))
    }
    fn dec(v: &str) -> Result<Dec, String> {
        v.parse()
    }
    for c in changes {
        let v = c.value.as_str();
        match c.key.as_str() {
            "bank.min_fee" => p.bank.min_fee = int(v)?,
            "staking.unbonding_time_ms" => p.staking.unbonding_time_ms = int(v)?,
            "staking.max_validators" => p.staking.max_validators = int(v)?,
            "staking.max_entries" => p.staking.max_entries = int(v)?,
            "staking.min_commission_rate" => p.staking.min_commission_rate = dec(v)?,
            "staking.commission_change_period_ms" => {
                p.staking.commission_change_period_ms = int(v)?
            }
            "slashing.signed_blocks_window" => p.slashing.signed_blocks_window = int(v)?,
            "slashing.min_signed_per_window" => p.slashing.min_signed_per_window = dec(v)?,
            "slashing.downtime_jail_duration_ms" => p.slashing.downtime_jail_duration_ms = int(v)?,
            "slashing.slash_fraction_double_sign" => {
                p.slashing.slash_fraction_double_sign = dec(v)?
            }
            "slashing.slash_fraction_downtime" => p.slashing.slash_fraction_downtime = dec(v)?,
            "slashing.slash_fraction_fault" => p.slashing.slash_fraction_fault = dec(v)?,
            "slashing.max_evidence_age_blocks" => p.slashing.max_evidence_age_blocks = int(v)?,
            "distribution.block_reward" => p.distribution.block_reward = int(v)?,
            "distribution.community_tax" => p.distribution.community_tax = dec(v)?,
            "gov.min_deposit" => p.gov.min_deposit = int(v)?,
            "gov.max_deposit_period_ms" => p.gov.max_deposit_period_ms = int(v)?,
            "gov.voting_period_ms" => p.gov.voting_period_ms = int(v)?,
            "gov.quorum" => p.gov.quorum = dec(v)?,
            "gov.threshold" => p.gov.threshold = dec(v)?,
            "gov.veto_threshold" => p.gov.veto_threshold = dec(v)?,
            other => return Err(format!("unknown or immutable parameter {other:?}")),
        }
    }
    staking::validate_params(p).map_err(str::to_string)
}

fn write_params(delta: &mut StateDelta<'_>, p: &Params) {
    write(delta, crate::state_key::PARAMS_BANK.to_vec(), &p.bank);
    write(delta, keys::PARAMS_STAKING.to_vec(), &p.staking);
    write(delta, keys::PARAMS_SLASHING.to_vec(), &p.slashing);
    write(delta, keys::PARAMS_DISTRIBUTION.to_vec(), &p.distribution);
    write(delta, keys::PARAMS_GOV.to_vec(), &p.gov);
}

pub(crate) fn check_stateless(msg: &GovMsg) -> Result<(), TxError> {
    match msg {
        GovMsg::SubmitProposal { title, changes, .. } => {
            if title.len() > 140 {
                return Err(bad("title longer than 140 bytes"));
            }
            if changes.is_empty() || changes.len() > 16 {
                return Err(bad("a proposal carries 1 to 16 changes"));
            }
            Ok(())
        }
        GovMsg::Deposit { amount, .. } => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
            Ok(())
        }
        GovMsg::Vote { .. } => Ok(()),
    }
}

pub(crate) fn spend(msg: &GovMsg) -> Amount {
    match msg {
        GovMsg::SubmitProposal { deposit, .. } => *deposit,
        GovMsg::Deposit { amount, .. } => *amount,
        GovMsg::Vote { .. } => 0,
    }
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    _ctx: &TxContext<'_>,
    msg: &GovMsg,
) -> Result<(), TxError> {
    match msg {
        GovMsg::SubmitProposal { changes, .. } => {
            let mut p = current_params(state)?;
            apply_changes(&mut p, changes)
                .map_err(|e| TxError::Staking(StakingError::InvalidParamChange(e)))
        }
        GovMsg::Deposit { proposal: id, .. } | GovMsg::Vote { proposal: id, .. } => {
            proposal(state, *id)?
                .map(|_| ())
                .ok_or(TxError::Staking(StakingError::UnknownProposal(*id)))
        }
    }
}

fn add_deposit(
    delta: &mut StateDelta<'_>,
    p: &mut Proposal,
    from: &Address,
    amount: Amount,
    now: u64,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    if amount == 0 {
        return Ok(());
    }
    bank::move_to_module(delta, from, GOV_POOL, amount)?;
    let key = keys::deposit(p.id, from);
    let have: Amount = read(delta, &key)?.unwrap_or(0);
    write(delta, key, &have.checked_add(amount).ok_or(TxError::Overflow)?);
    p.total_deposit = p.total_deposit.checked_add(amount).ok_or(TxError::Overflow)?;
    let gp = params(delta)?;
    if p.status == ProposalStatus::DepositPeriod && p.total_deposit >= gp.min_deposit {
        p.status = ProposalStatus::VotingPeriod;
        p.voting_start_ms = now;
        p.voting_end_ms = now.saturating_add(gp.voting_period_ms);
        events.push(Event::new("gov.voting_started", vec![("proposal".into(), p.id.to_string())]));
    }
    events.push(Event::new(
        "gov.deposit",
        vec![
            ("proposal".into(), p.id.to_string()),
            ("depositor".into(), from.to_string()),
            ("amount".into(), amount.to_string()),
        ],
    ));
    Ok(())
}

pub(crate) fn execute(
    delta: &mut StateDelta<'_>,
    ctx: &TxContext<'_>,
    msg: &GovMsg,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    let now = ctx.block.time_ms;
    match msg {
        GovMsg::SubmitProposal { title, changes, deposit } => {
            check_stateless(msg)?;
            let mut cur = current_params(delta)?;
            apply_changes(&mut cur, changes)
                .map_err(|e| TxError::Staking(StakingError::InvalidParamChange(e)))?;
            let id: u64 = read(delta, keys::GOV_NEXT_ID)?.unwrap_or(1);
            write(delta, keys::GOV_NEXT_ID.to_vec(), &(id + 1));
            let gp = params(delta)?;
            let mut p = Proposal {
                id,
                proposer: ctx.sender,
                title: title.clone(),
                changes: changes.clone(),
                status: ProposalStatus::DepositPeriod,
                submit_time_ms: now,
                deposit_end_ms: now.saturating_add(gp.max_deposit_period_ms),
                voting_start_ms: 0,
                voting_end_ms: 0,
                total_deposit: 0,
                tally: Tally::default(),
            };
            events.push(Event::new(
                "gov.submit_proposal",
                vec![
                    ("proposal".into(), id.to_string()),
                    ("proposer".into(), ctx.sender.to_string()),
                ],
            ));
            add_deposit(delta, &mut p, &ctx.sender, *deposit, now, events)?;
            write(delta, keys::proposal(id), &p);
            write(delta, keys::active(id), &());
            Ok(())
        }
        GovMsg::Deposit { proposal: id, amount } => {
            let mut p = proposal(delta, *id)?
                .ok_or(TxError::Staking(StakingError::UnknownProposal(*id)))?;
            if !matches!(p.status, ProposalStatus::DepositPeriod | ProposalStatus::VotingPeriod) {
                return Err(TxError::Staking(StakingError::ProposalClosed(*id)));
            }
            add_deposit(delta, &mut p, &ctx.sender, *amount, now, events)?;
            write(delta, keys::proposal(*id), &p);
            Ok(())
        }
        GovMsg::Vote { proposal: id, option } => {
            let p = proposal(delta, *id)?
                .ok_or(TxError::Staking(StakingError::UnknownProposal(*id)))?;
            if p.status != ProposalStatus::VotingPeriod {
                return Err(TxError::Staking(StakingError::ProposalClosed(*id)));
            }
            write(delta, keys::vote(*id, &ctx.sender), option);
            events.push(Event::new(
                "gov.vote",
                vec![
                    ("proposal".into(), id.to_string()),
                    ("voter".into(), ctx.sender.to_string()),
                    ("option".into(), format!("{option:?}").to_lowercase()),
                ],
            ));
            Ok(())
        }
    }
}

fn add_to(t: &mut Tally, o: VoteOption, amount: Amount) {
    let slot = match o {
        VoteOption::Yes => &mut t.yes,
        VoteOption::No => &mut t.no,
        VoteOption::Abstain => &mut t.abstain,
        VoteOption::Veto => &mut t.veto,
    };
    *slot = slot.saturating_add(amount);
}

/// Cosmos tally: a voter's delegations to bonded validators count for its option; a voting
/// validator operator also counts the shares of delegators who did not vote themselves.
pub fn tally(state: &dyn StateRead, id: u64) -> Result<(Tally, Amount), TxError> {
    let bonded: Vec<_> =
        validators(state)?.into_iter().filter(|v| v.status == BondStatus::Bonded).collect();
    let total_bonded: Amount = bonded.iter().map(|v| v.tokens).sum();
    let vs = votes(state, id)?;
    let mut t = Tally::default();
    // Shares of each bonded validator not yet counted through a delegator's own vote.
    let mut left: Vec<Amount> = bonded.iter().map(|v| v.shares).collect();
    for (voter, option) in &vs {
        for (val, d) in staking::delegations_of(state, voter)? {
            if let Some(i) = bonded.iter().position(|v| v.operator == val) {
                left[i] = left[i].saturating_sub(d.shares);
                add_to(&mut t, *option, bonded[i].tokens_from_shares(d.shares));
            }
        }
    }
    for (i, v) in bonded.iter().enumerate() {
        if let Some((_, option)) = vs.iter().find(|(a, _)| *a == v.operator) {
            add_to(&mut t, *option, mul_div(left[i], v.tokens, v.shares).unwrap_or(0));
        }
    }
    Ok((t, total_bonded))
}

fn frac_gt(n: Amount, d: Amount, f: Dec) -> bool {
    d > 0 && Dec::ratio(n, d).is_some_and(|r| r > f)
}

fn settle_deposits(delta: &mut StateDelta<'_>, id: u64, burn: bool) -> Result<(), TxError> {
    for (a, amount) in deposits(delta, id)? {
        if burn {
            bank::burn_from_module(delta, GOV_POOL, amount)?;
        } else {
            bank::move_from_module(delta, GOV_POOL, &a, amount)?;
        }
        delta.delete(keys::deposit(id, &a));
    }
    Ok(())
}

/// Ends deposit and voting periods that are over, tallies, applies passed proposals.
pub(crate) fn end_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    for (k, _) in delta.scan_prefix(keys::GOV_ACTIVE) {
        let Some(id) = k
            .get(keys::GOV_ACTIVE.len()..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
        else {
            continue;
        };
        let Some(mut p) = proposal(delta, id)? else {
            delta.delete(k);
            continue;
        };
        match p.status {
            ProposalStatus::DepositPeriod if ctx.time_ms >= p.deposit_end_ms => {
                settle_deposits(delta, id, false)?;
                p.status = ProposalStatus::Expired;
            }
            ProposalStatus::VotingPeriod if ctx.time_ms >= p.voting_end_ms => {
                let gp = params(delta)?;
                let (t, total) = tally(delta, id)?;
                let voted =
                    t.yes.saturating_add(t.no).saturating_add(t.abstain).saturating_add(t.veto);
                let quorum = total > 0 && Dec::ratio(voted, total).is_some_and(|r| r >= gp.quorum);
                p.status = if !quorum {
                    ProposalStatus::Rejected
                } else if frac_gt(t.veto, voted, gp.veto_threshold) {
                    ProposalStatus::Vetoed
                } else if frac_gt(t.yes, voted - t.abstain, gp.threshold) {
                    ProposalStatus::Passed
                } else {
                    ProposalStatus::Rejected
                };
                if p.status == ProposalStatus::Passed {
                    let mut np = current_params(delta)?;
                    match apply_changes(&mut np, &p.changes) {
                        Ok(()) => write_params(delta, &np),
                        Err(_) => p.status = ProposalStatus::Failed,
                    }
                }
                settle_deposits(delta, id, p.status == ProposalStatus::Vetoed)?;
                for (a, _) in votes(delta, id)? {
                    delta.delete(keys::vote(id, &a));
                }
                p.tally = t;
            }
            _ => continue,
        }
        delta.delete(k);
        write(delta, keys::proposal(id), &p);
        events.push(Event::new(
            "gov.proposal_result",
            vec![("proposal".into(), id.to_string()), ("status".into(), p.status.as_str().into())],
        ));
    }
    Ok(())
}

/// `gov` pool = Σ deposits of open proposals.
pub(crate) fn check_invariants(state: &dyn StateRead) -> Result<(), String> {
    let mut total: Amount = 0;
    for (k, v) in state.scan_prefix(keys::GOV_DEPOSIT) {
        let a: Amount = borsh::from_slice(&v).map_err(|_| format!("corrupt deposit {k:?}"))?;
        total += a;
    }
    let pool = bank::module_balance(state, GOV_POOL).map_err(|e| e.to_string())?;
    if pool != total {
        return Err(format!("gov pool {pool} != deposits {total}"));
    }
    Ok(())
}
