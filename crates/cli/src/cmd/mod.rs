//! One module per top-level command.

pub(crate) mod bench;
pub(crate) mod init;
pub(crate) mod keys;
pub(crate) mod store;
