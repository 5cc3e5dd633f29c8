//! The node's Prometheus metrics: one struct, registered once, rendered at `/metrics`.
//! Names use `chorus_` + component, base units, no rates.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of rejected transactions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RejectLabels {
    /// Short reason code (e.g. `nonce_gap`).
    pub reason: String,
}

/// Labels of API requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct RouteLabels {
    /// Route template.
    pub route: String,
    /// HTTP status code.
    pub status: u16,
}

/// Labels of transactions received by gossip.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct GossipLabels {
    /// `accepted`, `ignored`, `rejected` or `overloaded`.
    pub result: String,
}

/// All metrics of a node.
pub struct Metrics {
    registry: Registry,
    /// Latest committed height.
    pub height: Gauge,
    /// Blocks committed since start.
    pub blocks_committed: Counter,
    /// Transactions committed since start (successful or failed).
    pub txs_committed: Counter,
    /// Transactions accepted into the mempool.
    pub txs_accepted: Counter,
    /// Transactions refused at submission, by reason.
    pub txs_rejected: Family<RejectLabels, Counter>,
    /// Pending transactions.
    pub mempool_size: Gauge,
    /// Time to execute a block on a scratch copy (propose or validate).
    pub block_execution_seconds: Histogram,
    /// Time to write a decided block (block, certificate, state, indices) in one transaction.
    pub block_commit_seconds: Histogram,
    /// Time to admit one submitted transaction (decode, signature recovery, stateful checks,
    /// mempool insert), accepted or refused.
    pub tx_admission_seconds: Histogram,
    /// API requests served.
    pub api_requests: Family<RouteLabels, Counter>,
    /// Transactions published to mempool gossip.
    pub gossip_published: Counter,
    /// Transactions received by mempool gossip, by outcome.
    pub gossip_received: Family<GossipLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("chorus");
        let height = Gauge::default();
        let blocks_committed = Counter::default();
        let txs_committed = Counter::default();
        let txs_accepted = Counter::default();
        let txs_rejected = Family::<RejectLabels, Counter>::default();
        let mempool_size = Gauge::default();
        let block_execution_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let block_commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let tx_admission_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 16));
        let api_requests = Family::<RouteLabels, Counter>::default();
        let gossip_published = Counter::default();
        let gossip_received = Family::<GossipLabels, Counter>::default();
        registry.register("chain_height", "Latest committed height", height.clone());
        registry.register("chain_blocks_committed", "Blocks committed", blocks_committed.clone());
        registry.register("chain_txs_committed", "Transactions committed", txs_committed.clone());
        registry.register("mempool_txs_accepted", "Transactions accepted", txs_accepted.clone());
        registry.register("mempool_txs_rejected", "Transactions refused", txs_rejected.clone());
        registry.register("mempool_size", "Pending transactions", mempool_size.clone());
        registry.register(
            "chain_block_execution_seconds",
            "Block execution time",
            block_execution_seconds.clone(),
        );
        registry.register(
            "chain_block_commit_seconds",
            "Time to write a decided block",
            block_commit_seconds.clone(),
        );
        registry.register(
            "mempool_tx_admission_seconds",
            "Time to admit one submitted transaction",
            tx_admission_seconds.clone(),
        );
        registry.register("api_requests", "API requests served", api_requests.clone());
        registry.register(
            "gossip_txs_published",
            "Transactions published to mempool gossip",
            gossip_published.clone(),
        );
        registry.register(
            "gossip_txs_received",
            "Transactions received by mempool gossip",
            gossip_received.clone(),
        );
        Metrics {
            registry,
            height,
            blocks_committed,
            txs_committed,
            txs_accepted,
            txs_rejected,
            mempool_size,
            block_execution_seconds,
            block_commit_seconds,
            tx_admission_seconds,
            api_requests,
            gossip_published,
            gossip_received,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
