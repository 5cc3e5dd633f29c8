//! One module per top-level command.

pub(crate) mod audit;
pub(crate) mod devnet;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod node;
pub(crate) mod participant;
pub(crate) mod query;
pub(crate) mod staking;
pub(crate) mod store;
pub(crate) mod task;
pub(crate) mod tx;
