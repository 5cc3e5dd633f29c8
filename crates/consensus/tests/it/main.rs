#![allow(clippy::unwrap_used)]
//! Integration tests for chorus-consensus: one validator in-process, four validators and a
//! kill -9 restart as separate processes (the test binary re-executes itself as a node).

mod app;
mod procs;
mod single;
