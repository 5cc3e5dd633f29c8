#![allow(clippy::unwrap_used)]
//! Integration tests for chorus-store.
