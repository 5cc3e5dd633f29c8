#![allow(clippy::unwrap_used)]
//! The fuzz targets in the ordinary test run: the seed corpus replayed through every target, and
//! the generator of that corpus.

mod mutate;
mod replay;
mod seeds;
