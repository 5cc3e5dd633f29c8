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
        ApiConfig { listen: SocketAddr::from(([127, 0, 0, 1], 26657)), max_body_bytes: 1 << 20 }
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
        }
    }
}

impl NodeConfig {
    /// Defaults, overlaid with `path` if it exists, then with `CHORUS__…` variables from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<NodeConfig, ConfigError> {
        let mut value = toml::Value::try_from(NodeConfig::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            let file: toml::Value = toml::from_str(&text)
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
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
