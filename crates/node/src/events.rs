//! Events the node publishes to in-process subscribers and WebSocket clients.

use chorus_types::{Event, Hash, Height, Receipt};
use serde::Serialize;

/// Something that happened on this node's view of the chain.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A block was committed.
    NewBlock {
        /// Its height.
        height: Height,
        /// Its hash.
        hash: Hash,
        /// Its timestamp (ms since the Unix epoch).
        time_ms: u64,
        /// Number of transactions it carried.
        num_txs: usize,
        /// Block-level events (begin/end block hooks: rounds opened, rewards paid, …).
        events: Vec<Event>,
    },
    /// A transaction was committed (successfully or not).
    TxResult(Box<Receipt>),
}
