//! The SDK's runtimes against the in-process `MemLedger` (real state machine, real training).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fees;
mod hiding;
mod light;
mod sealed;
