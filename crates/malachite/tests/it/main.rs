//! Integration tests for `chorus-consensus`: real Malachite engines over loopback TCP
//! (one validator, four validators, restart, value sync) and certificate verification.
#![allow(clippy::unwrap_used)]

mod certificate;
mod common;
mod network;
mod single;
