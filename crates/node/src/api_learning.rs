//! Learning and registry queries (read-only, latest committed state), served as the JSON views
//! of `chorus_chain::views` so the SDK, the CLI and the dashboard read one shape.
//!
//! - `GET /v1/learning/tasks` — every task
//! - `GET /v1/learning/tasks/{id}` — one task (spec, status, escrow, current model)
//! - `GET /v1/learning/tasks/{id}/rounds/{round}` — one round: selection, commits, reveals,
//!   scores, outcome, aggregate proposals
//! - `GET /v1/learning/tasks/{id}/versions` — model versions, oldest first
//! - `GET /v1/registry/participants` — every registration
//!
//! Errors are JSON `{"error": "...", "code": N}` like the rest of the API.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chorus_chain::views::{self, RegistrationView, RoundView, TaskView, VersionView};

use crate::api::{ApiError as Error, ApiState};

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

async fn tasks(State(s): State<ApiState>) -> Result<Json<Vec<TaskView>>, Error> {
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    Ok(Json(views::task_views(&snap).map_err(Error::internal)?))
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

async fn participants(State(s): State<ApiState>) -> Result<Json<Vec<RegistrationView>>, Error> {
    let snap = s.ledger.db().snapshot().map_err(Error::internal)?;
    Ok(Json(views::registration_views(&snap).map_err(Error::internal)?))
}
