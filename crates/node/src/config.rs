//! Node configuration: defaults, then `config.toml`, then `CHORUS__SECTION__KEY` environment
//! variables, then command-line flags (applied by the CLI). Protocol parameters are not here —
//! they live in genesis and chain state.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::mempool::MempoolConfig;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file or an override is not valid TOML for this schema.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything a node needs to run, apart from keys and genesis (which live in the home dir).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// A human name for logs and status.
    pub moniker: String,
    /// REST / WebSocket API.
    pub api: ApiConfig,
    /// Consensus networking and pacing.
    pub consensus: ConsensusConfig,
    /// Mempool gossip between validators.
    pub gossip: crate::gossip::GossipConfig,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// The embedded blob store.
    pub store: StoreConfig,
    /// `tracing` filter (e.g. `info,node=debug`).
    pub log: String,
}

/// REST / WebSocket API settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Largest request body accepted by the transaction routes.
    pub max_body_bytes: usize,
    /// Limit for one request (blob uploads excepted: they have the store's idle timeout and
    /// minimum rate), in milliseconds; 408 beyond.
    pub request_timeout_ms: u64,
    /// Requests handled at once, uploads included; 503 beyond.
    pub max_concurrent_requests: usize,
    /// Open `/v1/ws` subscriptions; 503 beyond.
    pub max_websockets: usize,
}

/// Consensus networking and pacing.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusConfig {
    /// Peer-to-peer listen address.
    pub listen: SocketAddr,
    /// Addresses of peers to dial.
    pub peers: Vec<SocketAddr>,
    /// Target time between blocks, in milliseconds.
    pub block_time_ms: u64,
    /// Most transactions per block.
    pub max_block_txs: usize,
}

/// The blob store mounted in the node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Mount the store under `/store` on the API listener.
    pub enabled: bool,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Blobs the ledger does not refer to are removed once older than this (`None`: never).
    /// Must exceed the longest commit-to-reveal window: a committed update is only referenced
    /// (pinned) once revealed.
    pub blob_ttl_secs: Option<u64>,
    /// How often the garbage-collection pass runs, in seconds.
    pub gc_interval_secs: u64,
    /// Bytes of blobs one signing account may own (413 beyond).
    pub quota_bytes_per_account: u64,
    /// Number of blobs one signing account may own.
    pub quota_objects_per_account: u64,
    /// Uploads are refused (507) when they would leave less free space than this on the store's
    /// volume, which also holds the chain database.
    pub min_free_bytes: u64,
    /// Store requests per client IP (`None`: unlimited).
    pub rate_per_ip: Option<chorus_store::RateLimit>,
    /// Signed store requests per account (`None`: unlimited).
    pub rate_per_account: Option<chorus_store::RateLimit>,
    /// Uploads in progress at once (503 beyond).
    pub max_uploads: usize,
    /// Uploads in progress at once from one client IP (429 beyond).
    pub max_uploads_per_ip: usize,
    /// An upload pausing longer than this is cut off (408), in milliseconds.
    pub upload_idle_timeout_ms: u64,
    /// After the grace period an upload must average at least this many bytes per second (408).
    pub upload_min_bytes_per_sec: u64,
    /// Time an upload may take before the minimum rate applies, in milliseconds.
    pub upload_grace_ms: u64,
    /// Who may list the `updates` namespace. Updates stay readable by id.
    pub updates_listable_by: UpdatesListing,
    /// Unsigned uploads to `models` from a loopback client (the task creator's tools on the
    /// node's own host, e.g. `chorus devnet`, which does not sign the initial model yet). `auto`:
    /// only while the API listens on a loopback address. Charged to a per-IP quota of
    /// `quota_bytes_per_account`.
    pub local_model_uploads: LocalUploads,
}

/// Who may list the `updates` namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatesListing {
    /// Signed requests from validator operators.
    #[default]
    Operators,
    /// Anyone.
    Public,
    /// Nobody (updates are fetched by the ids revealed on chain).
    Nobody,
}

/// Whether unsigned uploads from loopback clients are accepted (see
/// [`StoreConfig::local_model_uploads`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalUploads {
    /// Only while the API listens on a loopback address.
    #[default]
    Auto,
    /// Always (from loopback clients).
    On,
    /// Never.
    Off,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            moniker: "chorus-node".into(),
            api: ApiConfig::default(),
            consensus: ConsensusConfig::default(),
            gossip: crate::gossip::GossipConfig::default(),
            mempool: MempoolConfig::default(),
            store: StoreConfig::default(),
            log: "info".into(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 26657)),
            max_body_bytes: 1 << 20,
            request_timeout_ms: 30_000,
            max_concurrent_requests: 1024,
            max_websockets: 256,
        }
    }
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        ConsensusConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 26656)),
            peers: Vec::new(),
            block_time_ms: 1000,
            max_block_txs: 20_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            enabled: true,
            max_blob_bytes: 512 * 1024 * 1024,
            blob_ttl_secs: Some(7 * 24 * 3600),
            gc_interval_secs: 3600,
            quota_bytes_per_account: 1 << 30,
            quota_objects_per_account: 10_000,
            min_free_bytes: 1 << 30,
            rate_per_ip: Some(chorus_store::RateLimit { per_sec: 100.0, burst: 400.0 }),
            rate_per_account: Some(chorus_store::RateLimit { per_sec: 20.0, burst: 100.0 }),
            max_uploads: 256,
            max_uploads_per_ip: 32,
            upload_idle_timeout_ms: 10_000,
            upload_min_bytes_per_sec: 4096,
            upload_grace_ms: 10_000,
            updates_listable_by: UpdatesListing::Operators,
            local_model_uploads: LocalUploads::Auto,
        }
    }
}

impl NodeConfig {
    /// Defaults, overlaid with `path` if it exists, then with `CHORUS__…` variables from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, ConfigError> {
        let text = if path.exists() {
            Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?,
            )
        } else {
            None
        };
        let name = path.display().to_string();
        NodeConfig::overlay(text.as_deref().map(|t| (name.as_str(), t)), env)
    }

    /// Defaults, overlaid with the TOML `text` of a configuration file (if any), then with
    /// `CHORUS__…` variables from `env`: [`NodeConfig::load`] without the file system.
    pub fn from_toml(
        text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, ConfigError> {
        NodeConfig::overlay(text.map(|t| ("config.toml", t)), env)
    }

    /// `file` is `(name for errors, TOML text)`.
    fn overlay(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, ConfigError> {
        let mut value = toml::Value::try_from(NodeConfig::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some((name, text)) = file {
            let file: toml::Value =
                toml::from_str(text).map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
            merge(&mut value, file);
        }
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("CHORUS__") else { continue };
            let keys: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut value, &keys, parse_env_value(&v))?;
        }
        value.try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))
    }

    /// The configuration as TOML (for `--print-config` and `chorus init`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn parse_env_value(v: &str) -> toml::Value {
    // Numbers, booleans and arrays parse as TOML; anything else is a string.
    toml::from_str::<toml::Table>(&format!("v = {v}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_string()))
}

fn set_path(root: &mut toml::Value, keys: &[String], v: toml::Value) -> Result<(), ConfigError> {
    let Some((last, parents)) = keys.split_last() else { return Ok(()) };
    let mut cur = root;
    for k in parents {
        cur = cur
            .as_table_mut()
            .and_then(|t| t.get_mut(k))
            .ok_or_else(|| ConfigError::Invalid(format!("unknown config section `{k}`")))?;
    }
    let table = cur
        .as_table_mut()
        .ok_or_else(|| ConfigError::Invalid(format!("`{last}` is not in a section")))?;
    table.insert(last.clone(), v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_then_env_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "moniker = \"alice\"\n[consensus]\nblock_time_ms = 250\n").unwrap();
        let env = vec![
            ("CHORUS__API__LISTEN".to_string(), "127.0.0.1:9999".to_string()),
            ("CHORUS__CONSENSUS__MAX_BLOCK_TXS".to_string(), "7".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let c = NodeConfig::load(&path, env).unwrap();
        assert_eq!(c.moniker, "alice");
        assert_eq!(c.consensus.block_time_ms, 250);
        assert_eq!(c.consensus.max_block_txs, 7);
        assert_eq!(c.api.listen, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(c.mempool.max_txs, MempoolConfig::default().max_txs);
    }

    #[test]
    fn config_rejects_unknown_keys_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[consensus]\nblok_time_ms = 250\n").unwrap();
        let err = NodeConfig::load(&path, Vec::new()).unwrap_err().to_string();
        assert!(err.contains("blok_time_ms"), "{err}");
    }

    #[test]
    fn default_config_round_trips_through_toml() {
        let c = NodeConfig::default();
        let back: NodeConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back.to_toml(), c.to_toml());
    }
}
