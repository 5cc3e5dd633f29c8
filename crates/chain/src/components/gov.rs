//! Governance: parameter-change proposals voted by bonded stake (Cosmos x/gov, simplified).
//!
//! Deposit period → (min deposit reached) voting period → tally in `end_block` when the voting
//! period ends. Costs and bounds (H3): a proposal opens with at least
//! `min_initial_deposit_ratio × min_deposit`, at most `max_active_proposals` are open at once,
//! `end_block` only visits proposals whose deadline passed (queues keyed by deadline), a
//! proposal whose deposit period ends short of `min_deposit` is deleted (deposits refunded), and
//! the tally reads the active set (≤ `max_validators`) and each voter's delegations (one per
//! stored validator, ≤ `max_candidates`). Voting power is bonded stake; a delegator who does not vote inherits its
//! validator's vote for that delegation (Cosmos tally). Passed changes are written at the end of
//! that block, so the next block uses them.
//!
//! A component of its own (the `Msg::Gov` message family, `end_block` run after every other
//! component's); it reads bonded stake and the parameters from [`crate::components::staking`],
//! whose `keys` also hold the `params/gov` and `gov/…` state keys.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use chorus_types::staking::{Dec, GovMsg, GovParams, ParamChange, VoteOption, mul_div};
use chorus_types::{Address, Amount, Event, Params};

use crate::TxError;
use crate::codec::{read, write};
use crate::components::staking::{self, StakingError, keys};
use crate::components::{TxContext, bank, registry};
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
    /// Deposit period ended below the minimum (deposits refunded). Reported in the
    /// `gov.proposal_result` event only: such a proposal is deleted from the state.
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
        .scan_prefix(keys::GOV_PROPOSAL)?
        .into_iter()
        .map(|(k, v)| borsh::from_slice(&v).map_err(|_| TxError::corrupt(&k)))
        .collect()
}

fn votes(state: &dyn StateRead, id: u64) -> Result<Vec<(Address, VoteOption)>, TxError> {
    let prefix = keys::k(keys::GOV_VOTE, &[&id.to_be_bytes()]);
    state
        .scan_prefix(&prefix)?
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
        .scan_prefix(&prefix)?
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
        registry: registry::params(state)?,
    })
}

/// Applies `changes` to `p`, then validates the result as a whole (field ranges and the
/// cross-constraints of [`staking::validate_params`]).
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
            "staking.min_self_delegation" => p.staking.min_self_delegation = int(v)?,
            "staking.max_candidates" => p.staking.max_candidates = int(v)?,
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
            "gov.min_initial_deposit_ratio" => p.gov.min_initial_deposit_ratio = dec(v)?,
            "gov.max_active_proposals" => p.gov.max_active_proposals = int(v)?,
            "registry.min_bond" => p.registry.min_bond = int(v)?,
            "registry.unbonding_blocks" => p.registry.unbonding_blocks = int(v)?,
            "registry.slash_bps" => p.registry.slash_bps = int(v)?,
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
    write(delta, crate::state_key::PARAMS_REGISTRY.to_vec(), &p.registry);
}

/// The least deposit `SubmitProposal` must carry: `min_initial_deposit_ratio × min_deposit`,
/// rounded up (at least 1).
pub fn min_initial_deposit(gp: &GovParams) -> Amount {
    gp.min_initial_deposit_ratio.mul_ceil(gp.min_deposit).unwrap_or(gp.min_deposit).max(1)
}

/// The least amount a `Deposit` on `p` must add: the minimum initial deposit, or what is still
/// missing to `min_deposit` if that is less. Bounds the depositors of one proposal.
fn min_added_deposit(gp: &GovParams, p: &Proposal) -> Amount {
    let missing = gp.min_deposit.saturating_sub(p.total_deposit);
    let initial = min_initial_deposit(gp);
    if missing > 0 { initial.min(missing) } else { initial }
}

/// Proposals in their deposit or voting period.
pub fn active_proposals(state: &dyn StateRead) -> Result<u32, TxError> {
    Ok(read(state, keys::GOV_ACTIVE_COUNT)?.unwrap_or(0))
}

fn set_active_proposals(delta: &mut StateDelta<'_>, n: u32) {
    write(delta, keys::GOV_ACTIVE_COUNT.to_vec(), &n);
}

pub(crate) fn check_stateless(msg: &GovMsg) -> Result<(), TxError> {
    match msg {
        GovMsg::SubmitProposal { title, changes, deposit } => {
            if title.len() > 140 {
                return Err(bad("title longer than 140 bytes"));
            }
            if changes.is_empty() || changes.len() > 16 {
                return Err(bad("a proposal carries 1 to 16 changes"));
            }
            if *deposit == 0 {
                return Err(TxError::ZeroAmount);
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

/// `SubmitProposal`'s stateful checks: the changes apply and validate against the current
/// parameters, a slot is free under `max_active_proposals`, the deposit is at least
/// [`min_initial_deposit`].
fn check_submit(
    state: &dyn StateRead,
    changes: &[ParamChange],
    deposit: Amount,
) -> Result<(), TxError> {
    let mut cur = current_params(state)?;
    apply_changes(&mut cur, changes)
        .map_err(|e| TxError::Staking(StakingError::InvalidParamChange(e)))?;
    let gp = params(state)?;
    if active_proposals(state)? >= gp.max_active_proposals {
        return Err(TxError::Staking(StakingError::TooManyProposals(gp.max_active_proposals)));
    }
    let min = min_initial_deposit(&gp);
    if deposit < min {
        return Err(TxError::Staking(StakingError::DepositTooLow { min, got: deposit }));
    }
    Ok(())
}

/// `Deposit`'s stateful checks: the proposal is open and the amount is at least
/// [`min_added_deposit`].
fn check_deposit(state: &dyn StateRead, id: u64, amount: Amount) -> Result<Proposal, TxError> {
    let p = proposal(state, id)?.ok_or(TxError::Staking(StakingError::UnknownProposal(id)))?;
    if !matches!(p.status, ProposalStatus::DepositPeriod | ProposalStatus::VotingPeriod) {
        return Err(TxError::Staking(StakingError::ProposalClosed(id)));
    }
    let min = min_added_deposit(&params(state)?, &p);
    if amount < min {
        return Err(TxError::Staking(StakingError::DepositTooLow { min, got: amount }));
    }
    Ok(p)
}

pub(crate) fn check_stateful(
    state: &dyn StateRead,
    _ctx: &TxContext<'_>,
    msg: &GovMsg,
) -> Result<(), TxError> {
    match msg {
        GovMsg::SubmitProposal { changes, deposit, .. } => check_submit(state, changes, *deposit),
        GovMsg::Deposit { proposal: id, amount } => check_deposit(state, *id, *amount).map(|_| ()),
        GovMsg::Vote { proposal: id, .. } => proposal(state, *id)?
            .map(|_| ())
            .ok_or(TxError::Staking(StakingError::UnknownProposal(*id))),
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
        return Err(TxError::ZeroAmount);
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
        delta.delete(keys::deposit_queue(p.deposit_end_ms, p.id));
        write(delta, keys::voting_queue(p.voting_end_ms, p.id), &());
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
            check_submit(delta, changes, *deposit)?;
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
            set_active_proposals(delta, active_proposals(delta)?.saturating_add(1));
            write(delta, keys::deposit_queue(p.deposit_end_ms, id), &());
            events.push(Event::new(
                "gov.submit_proposal",
                vec![
                    ("proposal".into(), id.to_string()),
                    ("proposer".into(), ctx.sender.to_string()),
                ],
            ));
            add_deposit(delta, &mut p, &ctx.sender, *deposit, now, events)?;
            write(delta, keys::proposal(id), &p);
            Ok(())
        }
        GovMsg::Deposit { proposal: id, amount } => {
            let mut p = check_deposit(delta, *id, *amount)?;
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
///
/// Cost: the active set (≤ `max_validators` validator reads) plus, per vote, one prefix scan
/// of the voter's delegations (one per stored validator, so ≤ `max_candidates`).
pub fn tally(state: &dyn StateRead, id: u64) -> Result<(Tally, Amount), TxError> {
    let mut bonded = BTreeMap::new();
    for vi in staking::validator_set(state)? {
        if let Some(v) = staking::validator(state, &vi.operator)?
            && v.status == staking::BondStatus::Bonded
        {
            bonded.insert(v.operator, v);
        }
    }
    let total_bonded: Amount = bonded.values().map(|v| v.tokens).sum();
    let vs: BTreeMap<Address, VoteOption> = votes(state, id)?.into_iter().collect();
    let mut t = Tally::default();
    // Shares of each bonded validator not yet counted through a delegator's own vote.
    let mut left: BTreeMap<Address, Amount> = bonded.iter().map(|(a, v)| (*a, v.shares)).collect();
    for (voter, option) in &vs {
        for (val, d) in staking::delegations_of(state, voter)? {
            if let (Some(v), Some(l)) = (bonded.get(&val), left.get_mut(&val)) {
                *l = l.saturating_sub(d.shares);
                add_to(&mut t, *option, v.tokens_from_shares(d.shares));
            }
        }
    }
    for (op, v) in &bonded {
        if let Some(option) = vs.get(op) {
            let l = left.get(op).copied().unwrap_or(0);
            add_to(&mut t, *option, mul_div(l, v.tokens, v.shares).unwrap_or(0));
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

/// `(deadline, proposal id)` of a queue key.
fn queue_entry(key: &[u8], prefix: &[u8]) -> Option<(u64, u64)> {
    let rest = key.get(prefix.len()..)?;
    let time = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let id = u64::from_be_bytes(rest.get(8..16)?.try_into().ok()?);
    Some((time, id))
}

/// The queue keys of `prefix` whose deadline is at or before `now`, in deadline order.
fn due(delta: &StateDelta<'_>, prefix: &[u8], now: u64) -> Result<Vec<(Vec<u8>, u64)>, TxError> {
    let mut out = Vec::new();
    for (k, _) in delta.scan_prefix(prefix)? {
        match queue_entry(&k, prefix) {
            Some((t, _)) if t > now => break,
            Some((_, id)) => out.push((k, id)),
            None => out.push((k, u64::MAX)),
        }
    }
    Ok(out)
}

fn result_event(id: u64, status: ProposalStatus) -> Event {
    Event::new(
        "gov.proposal_result",
        vec![("proposal".into(), id.to_string()), ("status".into(), status.as_str().into())],
    )
}

/// Ends the deposit and voting periods that are over (only the proposals whose deadline passed
/// are visited: both periods are queues keyed by their end), tallies, applies passed proposals.
/// A proposal whose deposit period ends below `min_deposit` is deleted, its deposits refunded.
pub(crate) fn end_block(
    delta: &mut StateDelta<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<(), TxError> {
    for (k, id) in due(delta, keys::GOV_DEPOSIT_QUEUE, ctx.time_ms)? {
        delta.delete(k);
        let Some(p) = proposal(delta, id)? else { continue };
        if p.status != ProposalStatus::DepositPeriod {
            continue;
        }
        settle_deposits(delta, id, false)?;
        delta.delete(keys::proposal(id));
        set_active_proposals(delta, active_proposals(delta)?.saturating_sub(1));
        events.push(result_event(id, ProposalStatus::Expired));
    }
    for (k, id) in due(delta, keys::GOV_VOTING_QUEUE, ctx.time_ms)? {
        delta.delete(k);
        let Some(mut p) = proposal(delta, id)? else { continue };
        if p.status != ProposalStatus::VotingPeriod {
            continue;
        }
        let gp = params(delta)?;
        let (t, total) = tally(delta, id)?;
        let voted = t.yes.saturating_add(t.no).saturating_add(t.abstain).saturating_add(t.veto);
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
            // Checked again against the parameters in force now (another proposal may have
            // changed them since submission): a combination that no longer validates fails.
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
        write(delta, keys::proposal(id), &p);
        set_active_proposals(delta, active_proposals(delta)?.saturating_sub(1));
        events.push(result_event(id, p.status));
    }
    Ok(())
}

/// `gov` pool = Σ deposits of open proposals; the active-proposal counter = proposals in their
/// deposit or voting period.
pub(crate) fn check_invariants(state: &dyn StateRead) -> Result<(), String> {
    let mut total: Amount = 0;
    for (k, v) in state.scan_prefix(keys::GOV_DEPOSIT).map_err(|e| e.to_string())? {
        let a: Amount = borsh::from_slice(&v).map_err(|_| format!("corrupt deposit {k:?}"))?;
        total += a;
    }
    let pool = bank::module_balance(state, GOV_POOL).map_err(|e| e.to_string())?;
    if pool != total {
        return Err(format!("gov pool {pool} != deposits {total}"));
    }
    let open = proposals(state)
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|p| {
            matches!(p.status, ProposalStatus::DepositPeriod | ProposalStatus::VotingPeriod)
        })
        .count();
    let counted = active_proposals(state).map_err(|e| e.to_string())?;
    if open != counted as usize {
        return Err(format!("{open} open proposals but the counter says {counted}"));
    }
    Ok(())
}
