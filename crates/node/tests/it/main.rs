//! Node integration tests: the real API server over a real database, with blocks produced by
//! driving the ledger host directly (the consensus engine is exercised by the multi-process
//! tests of `chorus-cli`).
#![allow(clippy::unwrap_used)]

mod api;
mod attacks;
mod store;
