//! Who may do what: signed (EIP-191) requests, namespace rules and the write policy.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Read,
    List,
    Write,
}

/// What [`authorize`] established.
pub(super) struct Access {
    pub(super) verified: Option<Verified>,
    /// Who an upload is charged to.
    pub(super) principal: Principal,
}

/// Looks up the namespace, checks the signature, the signer's rate and the access rules of `op`.
pub(super) fn authorize(
    state: &StoreState,
    ns: &str,
    method: &str,
    uri: &OriginalUri,
    headers: &HeaderMap,
    peer: IpAddr,
    op: Op,
) -> Result<Access, ApiError> {
    validate_namespace(ns)?;
    let cfg = state
        .namespace(ns)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown namespace {ns}")))?;
    let pq = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let verified = auth::verify_request(
        headers,
        method,
        pq,
        unix_now(),
        state.inner.config.max_skew_secs,
        &state.inner.nonces,
    )?;
    if let Some(v) = &verified
        && !state.inner.account_rate.allow(&v.address)
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate limit exceeded for account {}", v.address),
        ));
    }
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, m);
    let policy =
        || state.policy().ok_or_else(|| "no authorisation policy is installed".to_string());
    let policy_allows_write = |a: &Address| -> Result<(), String> {
        if cfg.policy_write { policy()?.may_write(a, ns) } else { Err("not a writer".into()) }
    };
    match op {
        Op::Read | Op::List => {
            if !cfg.public_read {
                let Some(v) = &verified else {
                    return Err(ApiError::new(StatusCode::UNAUTHORIZED, "signature required"));
                };
                let ok = cfg.may_read(&v.address)
                    || (cfg.policy_write
                        && policy().and_then(|p| p.may_list(&v.address, ns)).is_ok());
                if !ok {
                    return Err(forbidden(format!("{} may not read {ns}", v.address)));
                }
            }
            if op == Op::List {
                match cfg.listable {
                    Listable::Public => {}
                    Listable::Nobody => {
                        return Err(forbidden(format!("namespace {ns} is not listable")));
                    }
                    Listable::Writers => {
                        let Some(v) = &verified else {
                            return Err(ApiError::new(
                                StatusCode::UNAUTHORIZED,
                                format!("listing {ns} requires a signed request"),
                            ));
                        };
                        if !cfg.may_write(&v.address) {
                            let r = if cfg.policy_write {
                                policy().and_then(|p| p.may_list(&v.address, ns))
                            } else {
                                Err("not a writer".into())
                            };
                            r.map_err(|why| {
                                forbidden(format!("{} may not list {ns}: {why}", v.address))
                            })?;
                        }
                    }
                }
            }
        }
        Op::Write => match &verified {
            Some(v) => {
                if !(cfg.public_write || cfg.may_write(&v.address)) {
                    policy_allows_write(&v.address).map_err(|why| {
                        forbidden(format!("{} may not write {ns}: {why}", v.address))
                    })?;
                }
            }
            None => {
                if !cfg.public_write {
                    let r = if cfg.policy_write {
                        policy().and_then(|p| p.may_write_unsigned(peer, ns))
                    } else {
                        Err("signature required".into())
                    };
                    r.map_err(|why| {
                        ApiError::new(
                            StatusCode::UNAUTHORIZED,
                            format!("unsigned upload to {ns} refused: {why}"),
                        )
                    })?;
                }
            }
        },
    }
    let principal = match &verified {
        Some(v) => Principal::Account(v.address),
        None => Principal::Ip(peer),
    };
    Ok(Access { verified, principal })
}
