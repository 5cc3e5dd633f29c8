//! chorus-node: the node daemon. It hosts the pure state machine (`chorus-chain`) for the
//! consensus engine (`chorus-consensus`), keeps the mempool, commits blocks into `chorus-db`,
//! serves the REST/WebSocket API and Prometheus metrics, and mounts the blob store.
//!
//! It must not contain protocol rules: what a transaction or block does to state is decided
//! in `chorus-chain`; this crate only moves bytes between the engine, the store and clients.

pub mod mempool;
