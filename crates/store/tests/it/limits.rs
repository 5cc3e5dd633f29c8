//! Listing, write policy, quotas per principal and the free-space reserve.

use std::sync::Arc;

use chorus_crypto::AccountKey;
use chorus_store::*;
use serde_json::Value;

use super::{config, fast_opts, raw, signed, start, tmpdir, unix_now};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}

fn ids(v: &Value) -> Vec<String> {
    v["blobs"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn listing_is_paginated_in_id_order_and_private_namespaces_are_not_listable_by_strangers() {
    let owner = AccountKey::from_seed(b"list-owner");
    let alice = AccountKey::from_seed(b"list-alice");
    let stranger = AccountKey::from_seed(b"list-stranger");
    let mut cfg = config();
    cfg.namespaces.push(NamespaceConfig::private("priv", owner.address()));
    cfg.namespaces.push(NamespaceConfig::policy("hooked", Listable::Writers));
    cfg.namespaces
        .push(NamespaceConfig { listable: Listable::Nobody, ..NamespaceConfig::public("dark") });
    let state = StoreState::new(MemBackend::new(), cfg).unwrap();
    let allowed = alice.address();
    state.set_policy(Arc::new(move |a: &chorus_types::Address, _ns: &str| {
        if *a == allowed { Ok(()) } else { Err("not on the list".to_string()) }
    }));
    let srv = start(state.clone()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    let mut all = Vec::new();
    for i in 0..25u8 {
        all.push(c.put("pub", vec![i; 100]).await.unwrap().to_string());
    }
    all.sort();

    // Three pages of 10, 10 and 5 in id order; `next` chains them and is absent at the end.
    let mut got = Vec::new();
    let mut path = "/blobs/pub?limit=10".to_string();
    for want in [10, 10, 5] {
        let (st, body) = raw(srv.addr, "GET", &path, &[], b"").await;
        assert_eq!(st, 200, "{body}");
        let v = json(&body);
        let page = ids(&v);
        assert_eq!(page.len(), want);
        got.extend(page);
        match v["next"].as_str() {
            Some(n) => path = format!("/blobs/pub?limit=10&after={n}"),
            None => assert_eq!(want, 5),
        }
    }
    assert_eq!(got, all);
    // No limit: the default page; an absurd limit is clamped; zero is refused.
    let (_, body) = raw(srv.addr, "GET", "/blobs/pub", &[], b"").await;
    assert_eq!(ids(&json(&body)).len(), 25.min(DEFAULT_LIST_LIMIT));
    let (st, body) = raw(srv.addr, "GET", "/blobs/pub?limit=1000000", &[], b"").await;
    assert_eq!((st, ids(&json(&body)).len()), (200, 25));
    assert_eq!(raw(srv.addr, "GET", "/blobs/pub?limit=0", &[], b"").await.0, 400);
    // The client follows the pages.
    assert_eq!(c.list("pub").await.unwrap().len(), 25);
    let (page, next) = c.list_page("pub", None, 7).await.unwrap();
    assert_eq!((page.len(), next.map(|n| n.to_string())), (7, Some(all[6].clone())));

    // A private namespace: strangers cannot list it, signed or not; the owner can.
    let owner_c = StoreClient::new(
        vec![srv.url()],
        ClientOptions { signer: Some(Arc::new(owner.clone())), ..fast_opts() },
    )
    .unwrap();
    owner_c.put("priv", b"private".to_vec()).await.unwrap();
    let now = unix_now();
    let (st, body) = raw(srv.addr, "GET", "/blobs/priv", &[], b"").await;
    assert_eq!(st, 401, "{body}");
    let h = signed(&stranger, "GET", "/blobs/priv", b"", now, "list-0001");
    let (st, body) = raw(srv.addr, "GET", "/blobs/priv", &h, b"").await;
    assert_eq!(st, 403, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("may not read"), "{body}");
    assert_eq!(owner_c.list("priv").await.unwrap().len(), 1);

    // A namespace listable by its writers per the policy hook: publicly readable by id, but only
    // the hook's writers may list it.
    let alice_c = StoreClient::new(
        vec![srv.url()],
        ClientOptions { signer: Some(Arc::new(alice.clone())), ..fast_opts() },
    )
    .unwrap();
    let id = alice_c.put("hooked", b"an update".to_vec()).await.unwrap();
    assert_eq!(c.get("hooked", &id).await.unwrap(), b"an update");
    assert_eq!(raw(srv.addr, "GET", "/blobs/hooked", &[], b"").await.0, 401);
    let h = signed(&stranger, "GET", "/blobs/hooked", b"", now, "list-0002");
    let (st, body) = raw(srv.addr, "GET", "/blobs/hooked", &h, b"").await;
    assert_eq!(st, 403, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("not on the list"), "{body}");
    assert_eq!(alice_c.list("hooked").await.unwrap().len(), 1);
    // ...and the hook decides uploads: a stranger's is refused with its reason, unsigned is 401.
    let h = signed(&stranger, "PUT", "/blobs/hooked", b"junk", now, "list-0003");
    let (st, body) = raw(srv.addr, "PUT", "/blobs/hooked", &h, b"junk").await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("not on the list"), "{body}");
    assert_eq!(raw(srv.addr, "PUT", "/blobs/hooked", &[], b"junk").await.0, 401);
    assert!(state.backend().stat("hooked", &BlobId::of(b"junk")).unwrap().is_none());

    // A namespace nobody may list.
    c.put("dark", b"x".to_vec()).await.unwrap();
    let (st, body) = raw(srv.addr, "GET", "/blobs/dark", &[], b"").await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("not listable"), "{body}");
    srv.shutdown().await;
}

#[tokio::test]
async fn unsigned_uploads_are_charged_to_the_client_ip_quota() {
    let cfg = StoreConfig { ip_quota: Quota { max_bytes: 1000, max_objects: 10 }, ..config() };
    let state = StoreState::new(MemBackend::new(), cfg).unwrap();
    let srv = start(state.clone()).await;
    let c = StoreClient::new(vec![srv.url()], fast_opts()).unwrap();
    c.put("pub", vec![1u8; 900]).await.unwrap();
    let r = c.put("pub", vec![2u8; 200]).await;
    assert!(
        matches!(&r, Err(Error::Http { status: 413, message }) if message.contains("client 127.0.0.1")),
        "{r:?}"
    );
    assert!(state.backend().stat("pub", &BlobId::of(&[2u8; 200])).unwrap().is_none());
    // the same bytes again cost nothing
    c.put("pub", vec![1u8; 900]).await.unwrap();
    srv.shutdown().await;
}

#[tokio::test]
async fn a_store_whose_volume_is_full_refuses_uploads_with_507_and_keeps_serving_reads() {
    let dir = tmpdir("full");
    // First a store with room: one blob goes in.
    let be = FsBackend::open(&dir).unwrap();
    let free = be.available_space().unwrap().unwrap();
    assert!(free > 0);
    let roomy = StoreConfig { min_free_bytes: 0, ..config() };
    let state = StoreState::new(be.clone(), roomy).unwrap();
    let kept = state.put_bytes("pub", b"stored while there was room".to_vec().into(), None).await;
    let kept = kept.unwrap().id;
    drop(state);

    // The same volume with a reserve larger than its free space: "full".
    let full = StoreConfig { min_free_bytes: free.saturating_mul(2), ..config() };
    let state = StoreState::new(be.clone(), full).unwrap();
    let srv = start(state.clone()).await;
    let c = StoreClient::new(vec![srv.url()], ClientOptions { max_attempts: 1, ..fast_opts() })
        .unwrap();
    let (st, body) = raw(srv.addr, "PUT", "/blobs/pub", &[], b"one more blob").await;
    assert_eq!(st, 507, "{body}");
    assert!(body.contains("insufficient storage") && body.contains("reserve"), "{body}");
    // streamed without a length: refused as well, before anything is written
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..4).map(|_| Ok(bytes::Bytes::from(vec![3u8; 1000]))).collect();
    let r = c.put_stream("pub", futures_util::stream::iter(chunks), None).await;
    assert!(matches!(&r, Err(Error::Http { status: 507, .. })), "{r:?}");
    // in-process writes too
    let r = state.put_bytes("pub", b"in-process".to_vec().into(), None).await;
    assert!(matches!(r, Err(Error::InsufficientStorage(_))), "{r:?}");
    // nothing new is stored, no temp file is left, and reads keep working
    assert_eq!(be.list("pub").unwrap().len(), 1);
    assert_eq!(std::fs::read_dir(be.tmp_dir()).unwrap().count(), 0);
    assert_eq!(c.get("pub", &kept).await.unwrap(), b"stored while there was room");
    assert_eq!(c.list("pub").await.unwrap().len(), 1);
    assert_eq!(raw(srv.addr, "GET", "/health", &[], b"").await.0, 200);
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
