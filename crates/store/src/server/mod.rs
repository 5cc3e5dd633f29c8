//! The HTTP server: axum router and middleware ([`router`], [`serve`]); configuration in
//! `config`, shared state in `state`, access rules in `access`, handlers in `upload` and `read`,
//! JSON errors in `errors`. The submodules share this module's imports (`use super::*`), so the
//! split changed no code: each handler reads as it did in the single file.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Path, Query, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::{Bytes, BytesMut};
use chorus_types::Address;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;

use crate::auth::{self, AuthError, HDR_DIGEST, NonceCache, Verified};
use crate::backend::{BlobBackend, BlobData, BlobMeta, BlobWriter, FsBackend, MemBackend};
use crate::challenge::{self, ChallengeProof};
use crate::error::Error;
use crate::gc::{self, GcReport, PinSet};
use crate::id::{BlobId, hex_decode, validate_namespace};
use crate::limits::{KeyedLimiter, Principal, Quota, RateLimit, UploadSlots, Usage};
use crate::policy::{Listable, WritePolicy};

mod access;
mod config;
mod errors;
mod read;
mod state;
mod upload;

use access::*;
pub use config::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, NamespaceConfig, StoreConfig};
pub(crate) use errors::{ApiError, ErrorBody};
pub(crate) use read::ListBody;
use read::*;
pub(crate) use state::now_ms;
use state::*;
pub use state::{PutResponse, StoreState};
use upload::*;

/// The store's routes (mount with `Router::nest("/store", router(state))` inside a node).
///
/// Per-IP limits need the server to run with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does); without it all
/// peers count as `0.0.0.0`. Every request except uploads is limited to
/// [`StoreConfig::request_timeout_ms`]; uploads have their own idle timeout and minimum rate.
pub fn router(state: StoreState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/blobs/{ns}", get(list_blobs).put(put_blob))
        .route("/blobs/{ns}/{id}", get(get_blob))
        .route("/blobs/{ns}/{id}/outboard", get(get_outboard))
        .route("/blobs/{ns}/{id}/challenge", get(get_challenge))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .with_state(state)
}

/// Serves a store standalone per `config` until the process ends (`chorus store serve`).
pub async fn serve(config: StoreConfig) -> Result<(), Error> {
    let state = match &config.data_dir {
        Some(dir) => StoreState::new(FsBackend::open(dir)?, config.clone())?,
        None => StoreState::new(MemBackend::new(), config.clone())?,
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(addr = %config.listen, "chorus store listening");
    serve_listener(state, listener, std::future::pending()).await
}

/// Serves `state` on an already bound listener until `shutdown` resolves (tests, benches, nodes).
pub async fn serve_listener(
    state: StoreState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

pub(super) fn peer_ip(ext: &Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

pub(super) async fn rate_limit(
    State(state): State<StoreState>,
    req: Request,
    next: Next,
) -> Response {
    let ip = peer_ip(req.extensions());
    if !state.inner.ip_rate.allow(&ip) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for {ip}"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Limits every request but uploads to the configured request timeout (408).
pub(super) async fn deadline(
    State(state): State<StoreState>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() == Method::PUT {
        return next.run(req).await;
    }
    let limit = Duration::from_millis(state.inner.config.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "request timed out").into_response(),
    }
}

pub(super) fn unix_now() -> u64 {
    now_ms() / 1000
}
