//! chorus-consensus
