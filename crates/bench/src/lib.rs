//! chorus-bench: the benchmark code of every Chorus crate, run by the `chorus-bench` binary —
//! aggregation throughput and peak heap against Flower ([`fl`]), blob store throughput
//! ([`store`]), local training against PyTorch and the centralised check ([`trainer`]), ledger
//! throughput and latency on real node processes ([`ledger`]), one learning round in the state
//! machine ([`chain`]) and authenticated state commits ([`db`]).
//!
//! It may do what the library crates must not: time things, spawn processes and scripts, count
//! heap bytes. Nothing in the product links it.

pub mod chain;
pub mod db;
pub mod fl;
pub mod ledger;
pub mod store;
pub mod trainer;
