//! Configuration of the store server: namespaces and their access rules, limits, timeouts.

use super::*;

/// Access rules of one namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// Namespace name (`[a-z0-9][a-z0-9_-]{0,63}`).
    pub name: String,
    /// Anyone may read (GET/HEAD, and list when [`NamespaceConfig::listable`] is `Public`)
    /// without a signature.
    pub public_read: bool,
    /// Anyone may upload without a signature (charged to the client IP's quota). For standalone
    /// stores and tests; a validator node never sets it.
    pub public_write: bool,
    /// The owner: may read and write.
    pub owner: Option<Address>,
    /// Accounts allowed to read.
    #[serde(default)]
    pub readers: Vec<Address>,
    /// Accounts allowed to write (and read).
    #[serde(default)]
    pub writers: Vec<Address>,
    /// Signers not in the ACL are judged by the store's [`WritePolicy`] (no policy: refused).
    #[serde(default)]
    pub policy_write: bool,
    /// Who may list the namespace.
    #[serde(default)]
    pub listable: Listable,
}

impl NamespaceConfig {
    /// A namespace anyone can read, list and write (standalone stores and tests only).
    pub fn public(name: &str) -> Self {
        Self {
            name: name.into(),
            public_read: true,
            public_write: true,
            owner: None,
            readers: vec![],
            writers: vec![],
            policy_write: false,
            listable: Listable::Public,
        }
    }

    /// A private namespace: only `owner` (plus readers/writers added later) with signed requests;
    /// listable by its writers.
    pub fn private(name: &str, owner: Address) -> Self {
        Self {
            name: name.into(),
            public_read: false,
            public_write: false,
            owner: Some(owner),
            readers: vec![],
            writers: vec![],
            policy_write: false,
            listable: Listable::Writers,
        }
    }

    /// A namespace anyone may read by id, whose writers (and, for [`Listable::Writers`], listers)
    /// are decided by the store's [`WritePolicy`]: what a validator node mounts.
    pub fn policy(name: &str, listable: Listable) -> Self {
        Self {
            name: name.into(),
            public_read: true,
            public_write: false,
            owner: None,
            readers: vec![],
            writers: vec![],
            policy_write: true,
            listable,
        }
    }

    pub(super) fn may_read(&self, a: &Address) -> bool {
        self.owner.as_ref() == Some(a) || self.readers.contains(a) || self.writers.contains(a)
    }

    pub(super) fn may_write(&self, a: &Address) -> bool {
        self.owner.as_ref() == Some(a) || self.writers.contains(a)
    }
}

/// Server configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreConfig {
    /// Address for [`serve`].
    pub listen: SocketAddr,
    /// Filesystem root for [`serve`]; `None` keeps blobs in memory.
    pub data_dir: Option<PathBuf>,
    /// Largest accepted blob in bytes (413 beyond).
    pub max_blob_size: u64,
    /// Allowed clock skew of signed requests, in seconds.
    pub max_skew_secs: u64,
    /// Most (signer, nonce) pairs remembered within the skew window; beyond it signed requests
    /// are refused with 503 until entries expire.
    pub max_nonces: usize,
    /// Per-account quota, charged for every signed upload.
    pub quota: Quota,
    /// Per-client-IP quota, charged for unsigned uploads (where a namespace allows them).
    pub ip_quota: Quota,
    /// Requests per client IP; `None` disables.
    pub rate_limit: Option<RateLimit>,
    /// Signed requests per signing account; `None` disables.
    pub account_rate_limit: Option<RateLimit>,
    /// Uploads refused (507) when they would leave less than this many bytes free on the
    /// backend's volume (the node's chain database shares it).
    pub min_free_bytes: u64,
    /// Uploads in progress at once (503 beyond).
    pub max_uploads: usize,
    /// Uploads in progress at once from one client IP (429 beyond).
    pub max_uploads_per_ip: usize,
    /// An upload whose next body bytes take longer than this is cut off (408), in milliseconds.
    pub upload_idle_timeout_ms: u64,
    /// After [`StoreConfig::upload_grace_ms`], an upload must average at least this many bytes
    /// per second or it is cut off (408).
    pub upload_min_bytes_per_sec: u64,
    /// Time an upload may take before the minimum rate applies, in milliseconds.
    pub upload_grace_ms: u64,
    /// Limit for every request except uploads (which have the limits above), in milliseconds.
    pub request_timeout_ms: u64,
    /// Configured namespaces (unknown namespaces answer 404).
    pub namespaces: Vec<NamespaceConfig>,
    /// Unpinned blobs older than this are removed by GC; `None` keeps them forever.
    pub ttl_secs: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7070)),
            data_dir: None,
            max_blob_size: 1 << 30,
            max_skew_secs: 300,
            max_nonces: 65_536,
            quota: Quota::default(),
            ip_quota: Quota::default(),
            rate_limit: Some(RateLimit { per_sec: 200.0, burst: 400.0 }),
            account_rate_limit: Some(RateLimit { per_sec: 50.0, burst: 200.0 }),
            min_free_bytes: 1 << 30,
            max_uploads: 256,
            max_uploads_per_ip: 32,
            upload_idle_timeout_ms: 10_000,
            upload_min_bytes_per_sec: 4096,
            upload_grace_ms: 10_000,
            request_timeout_ms: 30_000,
            namespaces: vec![NamespaceConfig::public("public")],
            ttl_secs: Some(7 * 24 * 3600),
        }
    }
}

/// Largest page of `GET /blobs/{ns}`.
pub const MAX_LIST_LIMIT: usize = 1000;
/// Page size of `GET /blobs/{ns}` without `limit`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
