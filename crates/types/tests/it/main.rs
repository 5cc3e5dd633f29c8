//! Golden fixtures: the canonical encodings and hashes below are consensus-critical. If one of
//! these tests fails, the wire/state format changed: that is a hard fork, not a test to update.
#![allow(clippy::unwrap_used)]

mod golden;
