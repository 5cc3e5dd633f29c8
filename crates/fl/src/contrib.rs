//! Contribution.
