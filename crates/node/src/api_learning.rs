//! Learning and registry queries (read-only, latest committed state), served as the JSON views
//! of `chorus_chain::views` so the SDK, the CLI and the dashboard read one shape.
//!
//! - `GET /v1/learning/tasks?after=ID&limit=N` — tasks by id, one page (next: `x-next-after`)
//! - `GET /v1/learning/tasks/{id}` — one task (spec, status, escrow, current model)
//! - `GET /v1/learning/tasks/{id}/rounds/{round}` — one round: selection, commits, reveals,
//!   scores, outcome, aggregate proposals
//! - `GET /v1/learning/tasks/{id}/versions` — model versions, oldest first
//! - `GET /v1/registry/participants?after=ADDR&limit=N` — registrations by address, one page
//!
//! Errors are JSON `{"error": "...", "code": N}` like the rest of the API.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use chorus_chain::views::{self, RoundView, TaskView, VersionView};
use chorus_types::Address;

use crate::api::{ApiError as Error, ApiState, PageQuery, blocking, paged};

/// Routes of this module (merged into the main router by `api::router`).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/learning/tasks", get(tasks))
        .route("/v1/learning/tasks/{id}", get(task))
        .route("/v1/learning/tasks/{id}/rounds/{round}", get(round))
        .route("/v1/learning/tasks/{id}/versions", get(versions))
        .route("/v1/registry/participants", get(participants))
}

fn number<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, Error> {
    s.parse().map_err(|_| Error::bad_request(format!("bad {what} {s:?}")))
}

async fn tasks(State(s): State<ApiState>, Query(q): Query<PageQuery>) -> Result<Response, Error> {
    let after: Option<u64> = q.after("task id")?;
    let (page, next) = blocking(move || {
        let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
        let all = chorus_chain::components::learning::tasks(&snap).map_err(Error::internal)?;
        let ids: Vec<u64> = all.iter().map(|t| t.id).collect();
        let (ids, next) = q.page(ids, |id| *id, after)?;
        // views (which read each task's rounds) only for the page
        let mut page = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = views::task_view(&snap, id).map_err(Error::internal)? {
                page.push(v);
            }
        }
        Ok((page, next))
    })
    .await?;
    Ok(paged(page, next))
}

async fn task(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<TaskView>, Error> {
    let id = number("task id", &id)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    views::task_view(&snap, id)
        .map_err(Error::internal)?
        .map(Json)
        .ok_or_else(|| Error::not_found(format!("no task {id}")))
}

async fn round(
    State(s): State<ApiState>,
    Path((id, round)): Path<(String, String)>,
) -> Result<Json<RoundView>, Error> {
    let id = number("task id", &id)?;
    let round = number("round", &round)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    views::round_view(&snap, id, round)
        .map_err(Error::internal)?
        .map(Json)
        .ok_or_else(|| Error::not_found(format!("no round {round} of task {id}")))
}

async fn versions(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<VersionView>>, Error> {
    let id = number("task id", &id)?;
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    Ok(Json(views::version_views(&snap, id).map_err(Error::internal)?))
}

async fn participants(
    State(s): State<ApiState>,
    Query(q): Query<PageQuery>,
) -> Result<Response, Error> {
    let after: Option<Address> = q.after("address")?;
    let (page, next) = blocking(move || {
        let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
        let all = views::registration_views(&snap).map_err(Error::internal)?;
        q.page(all, |r| r.address, after)
    })
    .await?;
    Ok(paged(page, next))
}
