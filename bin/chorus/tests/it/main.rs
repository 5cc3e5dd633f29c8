//! End-to-end tests of the `chorus` binary: real processes on loopback.
#![allow(clippy::unwrap_used)]

mod cluster;
mod devnet;
mod light;
mod multi_validator;
mod stake_cli;
mod staking;
mod tasks;
