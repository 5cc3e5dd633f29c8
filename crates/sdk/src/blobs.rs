//! Blob access for the runtimes and the audit: [`BlobStore`] over `chorus_store::StoreClient`
//! (verified against the id on every read) or [`MemBlobs`] (tests, in-process devnets).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use chorus_crypto::AccountKey;
use chorus_store::{BlobId, StoreClient};
use chorus_types::Hash;

use crate::{Error, Result};

/// Namespace of update blobs (a node takes uploads signed by registered participants and serves
/// them by id to anyone).
pub const UPDATES_NAMESPACE: &str = "updates";
/// Namespace of model blobs.
pub const MODELS_NAMESPACE: &str = "models";

/// The chain's 32-byte `Hash` of a blob id (both are the BLAKE3 root).
pub fn hash_of(id: &BlobId) -> Hash {
    Hash(*id.as_bytes())
}

/// The blob id behind a chain `Hash`.
pub fn blob_id(h: &Hash) -> BlobId {
    BlobId::from_bytes(h.0)
}

/// Where blobs come from and go to.
pub trait BlobStore: Send + Sync {
    /// Stores `data` in `ns` without signing; returns its id (a validator node refuses this).
    fn put(&self, ns: &str, data: Vec<u8>) -> impl Future<Output = Result<Hash>> + Send;
    /// Stores `data` in `ns` with the request signed by `signer` (EIP-191), as a validator node
    /// requires: participants sign update uploads with their account key, validator workers sign
    /// model uploads with the operator key. Stores that do not check signatures just store.
    fn put_signed(
        &self,
        ns: &str,
        data: Vec<u8>,
        signer: &AccountKey,
    ) -> impl Future<Output = Result<Hash>> + Send {
        let _ = signer;
        self.put(ns, data)
    }
    /// Fetches blob `id` from `ns` (implementations may or may not verify; callers that must be
    /// sure re-hash, as the audit does).
    fn get(&self, ns: &str, id: &Hash) -> impl Future<Output = Result<Vec<u8>>> + Send;
}

impl BlobStore for StoreClient {
    async fn put(&self, ns: &str, data: Vec<u8>) -> Result<Hash> {
        Ok(hash_of(&StoreClient::put(self, ns, data).await?))
    }
    async fn put_signed(&self, ns: &str, data: Vec<u8>, signer: &AccountKey) -> Result<Hash> {
        Ok(hash_of(&StoreClient::put_as(self, ns, data, signer).await?))
    }
    async fn get(&self, ns: &str, id: &Hash) -> Result<Vec<u8>> {
        Ok(StoreClient::get(self, ns, &blob_id(id)).await?)
    }
}

/// An in-memory blob store (no verification on read, so tests can corrupt blobs).
#[derive(Debug, Default)]
pub struct MemBlobs {
    blobs: Mutex<BTreeMap<(String, Hash), Vec<u8>>>,
}

impl MemBlobs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// Every id stored in `ns` (tests: what a reader listing the store would find).
    pub fn ids(&self, ns: &str) -> Vec<Hash> {
        self.blobs
            .lock()
            .map(|m| m.keys().filter(|(n, _)| n == ns).map(|(_, id)| *id).collect())
            .unwrap_or_default()
    }
    /// Replaces the bytes stored under `id` (tests: simulate corruption).
    pub fn overwrite(&self, ns: &str, id: &Hash, data: Vec<u8>) {
        if let Ok(mut m) = self.blobs.lock() {
            m.insert((ns.to_string(), *id), data);
        }
    }
}

impl BlobStore for MemBlobs {
    async fn put(&self, ns: &str, data: Vec<u8>) -> Result<Hash> {
        let id = hash_of(&BlobId::of(&data));
        let mut m =
            self.blobs.lock().map_err(|_| Error::Inconsistent("blob map poisoned".into()))?;
        m.entry((ns.to_string(), id)).or_insert(data);
        Ok(id)
    }
    async fn get(&self, ns: &str, id: &Hash) -> Result<Vec<u8>> {
        let m = self.blobs.lock().map_err(|_| Error::Inconsistent("blob map poisoned".into()))?;
        m.get(&(ns.to_string(), *id)).cloned().ok_or_else(|| {
            Error::Store(chorus_store::Error::Invalid(format!("blob {id} not found")))
        })
    }
}

/// Blobs replicated over several stores (e.g. every validator's node): a put goes to every
/// endpoint and succeeds when at least one accepted it (failures are logged); a get tries the
/// endpoints in order and verifies what it reads against the id.
pub struct Replicated {
    each: Vec<(String, StoreClient)>,
    reader: StoreClient,
}

impl std::fmt::Debug for Replicated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.each.iter().map(|(e, _)| e)).finish()
    }
}

impl Replicated {
    /// A replicated store over `endpoints` (store base URLs, e.g. `http://host:port/store`).
    pub fn new(endpoints: Vec<String>) -> Result<Replicated> {
        let opts = chorus_store::ClientOptions::default;
        let each = endpoints
            .iter()
            .map(|e| Ok((e.clone(), StoreClient::new(vec![e.clone()], opts())?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Replicated { each, reader: StoreClient::new(endpoints, opts())? })
    }
}

impl Replicated {
    async fn put_each(&self, ns: &str, data: Vec<u8>, signer: Option<&AccountKey>) -> Result<Hash> {
        let data = bytes::Bytes::from(data);
        let puts = self.each.iter().map(|(_, c)| {
            let data = data.clone();
            async move {
                match signer {
                    Some(k) => c.put_as(ns, data, k).await,
                    None => c.put(ns, data).await,
                }
            }
        });
        let results = futures_util::future::join_all(puts).await;
        let mut ok = None;
        let mut last_err = None;
        for ((endpoint, _), r) in self.each.iter().zip(results) {
            match r {
                Ok(id) => ok = Some(hash_of(&id)),
                Err(e) => {
                    tracing::warn!(%endpoint, "blob put failed: {e}");
                    last_err = Some(e);
                }
            }
        }
        match (ok, last_err) {
            (Some(id), _) => Ok(id),
            (None, Some(e)) => Err(e.into()),
            (None, None) => Err(Error::Inconsistent("no blob store endpoints".into())),
        }
    }
}

impl BlobStore for Replicated {
    async fn put(&self, ns: &str, data: Vec<u8>) -> Result<Hash> {
        self.put_each(ns, data, None).await
    }
    async fn put_signed(&self, ns: &str, data: Vec<u8>, signer: &AccountKey) -> Result<Hash> {
        self.put_each(ns, data, Some(signer)).await
    }
    async fn get(&self, ns: &str, id: &Hash) -> Result<Vec<u8>> {
        Ok(self.reader.get(ns, &blob_id(id)).await?)
    }
}
