//! Who may write and list a namespace beyond its static ACL: a hook the embedding application
//! (a validator node) implements against its own state (e.g. registered participants and
//! validator operators in the latest committed chain state).

use std::net::IpAddr;

use chorus_types::Address;
use serde::{Deserialize, Serialize};

/// Who may list a namespace (`GET /blobs/{ns}`). Listing also needs read access.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Listable {
    /// Anyone who may read the namespace.
    #[default]
    Public,
    /// Signed requests from accounts allowed to write it: the owner, `writers`, or — when the
    /// namespace defers to the policy — accounts the [`WritePolicy`] lets list it.
    Writers,
    /// Nobody (blobs are fetched by id only).
    Nobody,
}

/// The store's authorisation hook for namespaces with `policy_write` set.
///
/// Implementations must be quick (they run on every signed upload and listing); an `Err` carries
/// the reason returned to the client with 403 (401 for unsigned requests).
pub trait WritePolicy: Send + Sync + 'static {
    /// May the (verified) `signer` upload into `ns`?
    fn may_write(&self, signer: &Address, ns: &str) -> Result<(), String>;

    /// May `signer` list `ns` (namespaces with [`Listable::Writers`])? Defaults to
    /// [`WritePolicy::may_write`].
    fn may_list(&self, signer: &Address, ns: &str) -> Result<(), String> {
        self.may_write(signer, ns)
    }

    /// May an unsigned request from `peer` upload into `ns`? Defaults to no. Writes admitted here
    /// are charged to the client IP's quota.
    fn may_write_unsigned(&self, peer: IpAddr, ns: &str) -> Result<(), String> {
        let _ = (peer, ns);
        Err("uploads must be signed (EIP-191 request signature)".into())
    }
}

impl<F> WritePolicy for F
where
    F: Fn(&Address, &str) -> Result<(), String> + Send + Sync + 'static,
{
    fn may_write(&self, signer: &Address, ns: &str) -> Result<(), String> {
        self(signer, ns)
    }
}
