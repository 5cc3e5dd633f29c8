//! chorus-node: the node daemon. It hosts the pure state machine (`chorus-chain`) for the
//! consensus engine (`chorus-consensus`), keeps the mempool, commits blocks into `chorus-db`,
//! serves the REST/WebSocket API and Prometheus metrics, and mounts the blob store.
//!
//! It must not contain protocol rules: what a transaction or block does to state is decided
//! in `chorus-chain`; this crate only moves bytes between the engine, the store and clients.

pub mod api;
pub mod api_learning;
pub mod api_staking;
pub mod app;
pub mod config;
pub mod events;
pub mod gossip;
pub mod ledger;
pub mod mempool;
pub mod metrics;
pub mod service;

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the protected data
/// structures stay consistent between operations).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
