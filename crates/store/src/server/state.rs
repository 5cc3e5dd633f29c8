//! The server's shared state (backend, namespaces, write policy, nonce cache, limiters, quotas, in-flight uploads) and the operations handlers call on it.

use super::*;

pub(super) struct Inner {
    pub(super) backend: Arc<dyn BlobBackend>,
    pub(super) config: StoreConfig,
    pub(super) namespaces: RwLock<HashMap<String, NamespaceConfig>>,
    pub(super) policy: RwLock<Option<Arc<dyn WritePolicy>>>,
    pub(super) nonces: NonceCache,
    pub(super) ip_rate: KeyedLimiter<IpAddr>,
    pub(super) account_rate: KeyedLimiter<Address>,
    pub(super) uploads: UploadSlots,
    pub(super) usage: Usage,
    pub(super) in_flight: Mutex<HashMap<(String, BlobId), usize>>,
}

/// Shared server state: backend, configuration, nonce cache, rate limiters, quotas. Cheap to clone.
#[derive(Clone)]
pub struct StoreState {
    pub(super) inner: Arc<Inner>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Response body of a successful PUT.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PutResponse {
    /// The blob id.
    pub id: BlobId,
    /// Size in bytes.
    pub size: u64,
    /// True when this request created the blob (201), false when it already existed (200).
    pub created: bool,
}

/// Marks (ns, id) as in flight while alive; GC skips in-flight blobs.
pub(super) struct InFlight {
    pub(super) state: StoreState,
    pub(super) key: (String, BlobId),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut m = self.state.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Holds one upload slot of a client IP while alive.
pub(super) struct UploadSlot {
    pub(super) state: StoreState,
    pub(super) ip: IpAddr,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.state.inner.uploads.release(self.ip);
    }
}

impl StoreState {
    /// Builds the state; charges existing blobs to their owners' quotas.
    pub fn new(backend: impl BlobBackend, config: StoreConfig) -> Result<Self, Error> {
        Self::from_arc(Arc::new(backend), config)
    }

    /// Like [`StoreState::new`] with a shared backend.
    pub fn from_arc(backend: Arc<dyn BlobBackend>, config: StoreConfig) -> Result<Self, Error> {
        let usage = Usage::default();
        for ns in backend.namespaces()? {
            for m in backend.list(&ns)? {
                if let Some(o) = m.owner {
                    usage.add(Principal::Account(o), m.size);
                }
            }
        }
        let mut namespaces = HashMap::new();
        for n in &config.namespaces {
            validate_namespace(&n.name)?;
            namespaces.insert(n.name.clone(), n.clone());
        }
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                ip_rate: KeyedLimiter::new(config.rate_limit),
                account_rate: KeyedLimiter::new(config.account_rate_limit),
                uploads: UploadSlots::new(config.max_uploads, config.max_uploads_per_ip),
                nonces: NonceCache::new(config.max_nonces, unix_now()),
                config,
                namespaces: RwLock::new(namespaces),
                policy: RwLock::new(None),
                usage,
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Installs the authorisation hook consulted for namespaces with `policy_write`.
    pub fn set_policy(&self, policy: Arc<dyn WritePolicy>) {
        *self.inner.policy.write().unwrap_or_else(|p| p.into_inner()) = Some(policy);
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn BlobBackend> {
        &self.inner.backend
    }

    /// The configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Adds or replaces a namespace's access rules.
    pub fn set_namespace(&self, cfg: NamespaceConfig) -> Result<(), Error> {
        validate_namespace(&cfg.name)?;
        let mut m = self.inner.namespaces.write().unwrap_or_else(|p| p.into_inner());
        m.insert(cfg.name.clone(), cfg);
        Ok(())
    }

    /// Bytes and objects currently charged to `account`.
    pub fn usage(&self, account: &Address) -> (u64, u64) {
        self.inner.usage.get(&Principal::Account(*account))
    }

    pub(super) fn namespace(&self, ns: &str) -> Option<NamespaceConfig> {
        let m = self.inner.namespaces.read().unwrap_or_else(|p| p.into_inner());
        m.get(ns).cloned()
    }

    pub(super) fn policy(&self) -> Option<Arc<dyn WritePolicy>> {
        self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn in_flight(&self, ns: &str, id: BlobId) -> InFlight {
        let key = (ns.to_string(), id);
        let mut m = self.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(key.clone()).or_insert(0) += 1;
        InFlight { state: self.clone(), key }
    }

    pub(crate) fn is_in_flight(&self, ns: &str, id: &BlobId) -> bool {
        let m = self.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        m.contains_key(&(ns.to_string(), *id))
    }

    /// Stores `data` in-process (no HTTP, no ACL, no quota): for a node that embeds the store.
    /// Still refuses to eat into the free-space reserve.
    pub async fn put_bytes(
        &self,
        ns: &str,
        data: Bytes,
        owner: Option<Address>,
    ) -> Result<PutResponse, Error> {
        validate_namespace(ns)?;
        let backend = self.inner.backend.clone();
        let ns2 = ns.to_string();
        let reserve = self.inner.config.min_free_bytes;
        let (writer, id) = blocking(move || {
            check_space(backend.as_ref(), data.len() as u64, reserve)?;
            let mut w = backend.begin_write(&ns2)?;
            w.write(&data)?;
            let id = w.finish()?;
            Ok((w, id))
        })
        .await?;
        let res = self.commit(ns, writer, id, owner).await?;
        if res.created
            && let Some(o) = owner
        {
            self.inner.usage.add(Principal::Account(o), res.size);
        }
        Ok(res)
    }

    pub(super) async fn commit(
        &self,
        ns: &str,
        writer: Box<dyn BlobWriter>,
        id: BlobId,
        owner: Option<Address>,
    ) -> Result<PutResponse, Error> {
        let size = writer.written();
        let _guard = self.in_flight(ns, id);
        let meta = BlobMeta { id, size, created_ms: now_ms(), owner };
        let created = blocking(move || writer.commit(&meta)).await?;
        Ok(PutResponse { id, size, created })
    }

    /// Removes unpinned blobs older than the configured TTL (never in-flight ones).
    pub fn gc(&self, pins: &dyn PinSet, now_ms: u64) -> Result<GcReport, Error> {
        let Some(ttl) = self.inner.config.ttl_secs else { return Ok(GcReport::default()) };
        let skip = |ns: &str, id: &BlobId| self.is_in_flight(ns, id);
        let report = gc::gc(self.inner.backend.as_ref(), pins, ttl * 1000, now_ms, &skip)?;
        for m in &report.removed_metas {
            if let Some(o) = m.owner {
                self.inner.usage.remove(&Principal::Account(o), m.size);
            }
        }
        Ok(report)
    }

    /// Answers a storage challenge for a blob held here.
    pub fn challenge(
        &self,
        ns: &str,
        id: &BlobId,
        seed: &[u8; 32],
        count: u32,
    ) -> Result<ChallengeProof, Error> {
        let b = &self.inner.backend;
        let ob = b.outboard(ns, id)?.ok_or_else(|| Error::NotFound(id.to_string()))?;
        match b.open(ns, id)?.ok_or_else(|| Error::NotFound(id.to_string()))? {
            BlobData::Bytes(d) => challenge::challenge(id, &d[..], &ob, seed, count),
            BlobData::File(f) => challenge::challenge(id, &f, &ob, seed, count),
        }
    }
}

/// Refuses (507) when writing `incoming` more bytes would leave less than `reserve` free.
pub(super) fn check_space(
    backend: &dyn BlobBackend,
    incoming: u64,
    reserve: u64,
) -> Result<(), Error> {
    if let Some(avail) = backend.available_space()?
        && avail < incoming.saturating_add(reserve)
    {
        return Err(Error::InsufficientStorage(format!(
            "{avail} bytes free on the store's volume; {incoming} more would leave less than \
             the {reserve}-byte reserve"
        )));
    }
    Ok(())
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}
