//! Staking, rewards and governance queries (read-only, latest committed state).
//!
//! - `GET /v1/staking/validators?after=ADDR&limit=N` — validators by operator, one page (status,
//!   tokens, shares, commission, jail; `next` names the next page's `after`)
//! - `GET /v1/staking/validators/{addr}` — one validator, with its liveness info and rewards
//! - `GET /v1/delegator/{addr}/delegations` — delegations, unbonding and redelegation entries
//! - `GET /v1/delegator/{addr}/rewards` — pending rewards per validator and their total
//! - `GET /v1/gov/proposals?after=ID&limit=N` (one page, by id), `GET /v1/gov/proposals/{id}` —
//!   proposals with status and tally
//!
//! Errors are JSON `{"error": "...", "code": N}` like the rest of the API.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chorus_chain::components::staking::{self, Validator, gov};
use chorus_types::Address;
use serde_json::{Value, json};

use crate::api::{ApiError as Error, ApiState, PageQuery, blocking, paged};

/// Routes of this module (merged into the main router by `api::router`).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/staking/validators", get(validators))
        .route("/v1/staking/validators/{addr}", get(validator))
        .route("/v1/delegator/{addr}/delegations", get(delegations))
        .route("/v1/delegator/{addr}/rewards", get(rewards))
        .route("/v1/gov/proposals", get(proposals))
        .route("/v1/gov/proposals/{id}", get(proposal))
}

fn parse_addr(s: &str) -> Result<Address, Error> {
    s.parse().map_err(|e| Error::bad_request(format!("bad address {s:?}: {e}")))
}

type Res = Result<Json<Value>, Error>;

fn validator_json(v: &Validator) -> Value {
    json!({
        "operator": v.operator,
        "consensus_key": format!("0x{}", hex::encode(v.consensus_key)),
        "status": v.status.as_str(),
        "jailed": v.jailed,
        "tokens": v.tokens.to_string(),
        "shares": v.shares.to_string(),
        "commission": {
            "rate": v.commission.rate,
            "max_rate": v.commission.max_rate,
            "max_change_rate": v.commission.max_change_rate,
            "update_time_ms": v.commission.update_time_ms,
        },
        "min_self_delegation": v.min_self_delegation.to_string(),
        "description": v.description,
        "unbonding_time_ms": v.unbonding_time_ms,
    })
}

async fn validators(
    State(s): State<ApiState>,
    Query(q): Query<PageQuery>,
) -> Result<axum::response::Response, Error> {
    let after: Option<Address> = q.after("operator address")?;
    let (list, next) = blocking(move || {
        let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
        let vals = staking::validators(&snap).map_err(Error::internal)?;
        let (vals, next) = q.page(vals, |v| v.operator, after)?;
        let set = staking::validator_set(&snap).map_err(Error::internal)?;
        let power: std::collections::HashMap<Address, _> =
            set.iter().map(|x| (x.operator, x.power)).collect();
        let list: Vec<Value> = vals
            .iter()
            .map(|v| {
                let mut j = validator_json(v);
                j["power"] = json!(power.get(&v.operator).copied().unwrap_or(0));
                j
            })
            .collect();
        Ok((list, next))
    })
    .await?;
    let body = json!({ "validators": list, "next": next });
    Ok(paged(body, next))
}

async fn validator(State(s): State<ApiState>, Path(addr): Path<String>) -> Res {
    let op = parse_addr(&addr)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    let v = staking::validator(&snap, &op)
        .map_err(Error::internal)?
        .ok_or_else(|| Error::not_found(format!("no validator {op}")))?;
    let mut j = validator_json(&v);
    if let Some(si) = staking::signing_info(&snap, &op).map_err(Error::internal)? {
        j["signing_info"] = json!({
            "start_height": si.start_height,
            "missed_blocks": si.missed_blocks,
            "jailed_until_ms": si.jailed_until_ms,
            "tombstoned": si.tombstoned,
        });
    }
    let r = staking::validator_rewards(&snap, &op).map_err(Error::internal)?;
    j["rewards"] = json!({
        "outstanding": r.outstanding.to_string(),
        "commission": r.commission.to_string(),
        "period": r.period,
    });
    Ok(Json(j))
}

async fn delegations(State(s): State<ApiState>, Path(addr): Path<String>) -> Res {
    let del = parse_addr(&addr)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    let mut out = Vec::new();
    for (val, d) in staking::delegations_of(&snap, &del).map_err(Error::internal)? {
        let tokens = staking::validator(&snap, &val)
            .map_err(Error::internal)?
            .map_or(0, |v| v.tokens_from_shares(d.shares));
        out.push(json!({ "validator": val, "shares": d.shares.to_string(), "tokens": tokens.to_string() }));
    }
    let unbonding: Vec<Value> = staking::unbondings_of(&snap, &del)
        .map_err(Error::internal)?
        .into_iter()
        .flat_map(|(val, es)| {
            es.into_iter().map(move |e| {
                json!({
                    "validator": val,
                    "creation_height": e.creation_height,
                    "completion_time_ms": e.completion_time_ms,
                    "initial_balance": e.initial_balance.to_string(),
                    "balance": e.balance.to_string(),
                })
            })
        })
        .collect();
    let redelegations: Vec<Value> = staking::redelegations_of(&snap, &del)
        .map_err(Error::internal)?
        .into_iter()
        .flat_map(|(src, dst, es)| {
            es.into_iter().map(move |e| {
                json!({
                    "src": src,
                    "dst": dst,
                    "creation_height": e.creation_height,
                    "completion_time_ms": e.completion_time_ms,
                    "initial_balance": e.initial_balance.to_string(),
                })
            })
        })
        .collect();
    Ok(Json(json!({ "delegations": out, "unbonding": unbonding, "redelegations": redelegations })))
}

async fn rewards(State(s): State<ApiState>, Path(addr): Path<String>) -> Res {
    let del = parse_addr(&addr)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    let mut total: u128 = 0;
    let mut list = Vec::new();
    for (val, _) in staking::delegations_of(&snap, &del).map_err(Error::internal)? {
        let r = staking::pending_rewards(&snap, &del, &val).map_err(Error::internal)?;
        total = total.saturating_add(r);
        list.push(json!({ "validator": val, "amount": r.to_string() }));
    }
    Ok(Json(json!({ "rewards": list, "total": total.to_string() })))
}

fn proposal_json(p: &gov::Proposal) -> Value {
    json!({
        "id": p.id,
        "proposer": p.proposer,
        "title": p.title,
        "changes": p.changes,
        "status": p.status.as_str(),
        "submit_time_ms": p.submit_time_ms,
        "deposit_end_ms": p.deposit_end_ms,
        "voting_start_ms": p.voting_start_ms,
        "voting_end_ms": p.voting_end_ms,
        "total_deposit": p.total_deposit.to_string(),
        "tally": {
            "yes": p.tally.yes.to_string(),
            "no": p.tally.no.to_string(),
            "abstain": p.tally.abstain.to_string(),
            "veto": p.tally.veto.to_string(),
        },
    })
}

async fn proposals(
    State(s): State<ApiState>,
    Query(q): Query<PageQuery>,
) -> Result<axum::response::Response, Error> {
    let after: Option<u64> = q.after("proposal id")?;
    let (list, next) = blocking(move || {
        let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
        let all = gov::proposals(&snap).map_err(Error::internal)?;
        let (page, next) = q.page(all, |p| p.id, after)?;
        Ok((page.iter().map(proposal_json).collect::<Vec<Value>>(), next))
    })
    .await?;
    let body = json!({ "proposals": list, "next": next });
    Ok(paged(body, next))
}

async fn proposal(State(s): State<ApiState>, Path(id): Path<u64>) -> Res {
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    let p = gov::proposal(&snap, id)
        .map_err(Error::internal)?
        .ok_or_else(|| Error::not_found(format!("no proposal {id}")))?;
    let mut j = proposal_json(&p);
    if p.status == gov::ProposalStatus::VotingPeriod {
        let (t, bonded) = gov::tally(&snap, id).map_err(Error::internal)?;
        j["current_tally"] = json!({
            "yes": t.yes.to_string(), "no": t.no.to_string(),
            "abstain": t.abstain.to_string(), "veto": t.veto.to_string(),
            "bonded": bonded.to_string(),
        });
    }
    Ok(Json(j))
}
