//! Reads: listing (paginated), blobs (with byte ranges), bao outboards and storage challenges.

use super::*;

/// Query of `GET /blobs/{ns}`.
#[derive(Deserialize)]
pub(super) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// Body of `GET /blobs/{ns}`: one page, by id.
#[derive(Serialize, Deserialize)]
pub(crate) struct ListBody {
    pub(crate) namespace: String,
    pub(crate) blobs: Vec<BlobMeta>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(default)]
    pub(crate) next: Option<BlobId>,
}

pub(super) async fn list_blobs(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    Query(q): Query<ListQuery>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::List)?;
    let after = q.after.as_deref().map(parse_id).transpose()?;
    let limit = match q.limit {
        Some(0) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "limit must be ≥ 1")),
        Some(n) => n.min(MAX_LIST_LIMIT),
        None => DEFAULT_LIST_LIMIT,
    };
    let backend = state.inner.backend.clone();
    let ns2 = ns.clone();
    let blobs = blocking(move || backend.list_page(&ns2, after.as_ref(), limit)).await?;
    let next = if blobs.len() == limit { blobs.last().map(|m| m.id) } else { None };
    Ok(Json(ListBody { namespace: ns, blobs, next }).into_response())
}

pub(super) fn parse_id(id: &str) -> Result<BlobId, ApiError> {
    id.parse().map_err(|e: Error| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))
}

/// Parses a single `bytes=` range against `size`. `Ok(None)`: no (or an ignored multi-) range.
pub(super) fn parse_range(h: Option<&HeaderValue>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = h.and_then(|v| v.to_str().ok()) else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| ())?;
        if n == 0 || size == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let s: u64 = a.parse().map_err(|_| ())?;
        let e: u64 =
            if b.is_empty() { size.saturating_sub(1) } else { b.parse().map_err(|_| ())? };
        if s >= size || e < s {
            return Err(());
        }
        (s, e.min(size - 1))
    };
    Ok(Some(range))
}

pub(super) async fn get_blob(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    method: Method,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let m = if method == Method::HEAD { "HEAD" } else { "GET" };
    authorize(&state, &ns, m, &uri, &headers, peer_ip(&ext), Op::Read)?;
    let id = parse_id(&id)?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, format!("no blob {id} in {ns}"));
    let backend = state.inner.backend.clone();
    let (ns2, id2) = (ns.clone(), id);
    let (meta, data) = blocking(move || {
        let meta = backend.stat(&ns2, &id2)?;
        let data = backend.open(&ns2, &id2)?;
        Ok((meta, data))
    })
    .await?;
    let (meta, data) = match (meta, data) {
        (Some(m), Some(d)) => (m, d),
        _ => return Err(not_found()),
    };
    let size = meta.size;
    let range = match parse_range(headers.get(header::RANGE), size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable")
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let (start, len, status) = match range {
        Some((s, e)) => (s, e - s + 1, StatusCode::PARTIAL_CONTENT),
        None => (0, size, StatusCode::OK),
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match data {
            BlobData::Bytes(b) => Body::from(b.slice(start as usize..(start + len) as usize)),
            BlobData::File(f) => {
                let mut f = tokio::fs::File::from_std(f);
                f.seek(std::io::SeekFrom::Start(start)).await.map_err(Error::from)?;
                let stream = futures_util::stream::unfold((f, len), |(mut f, rem)| async move {
                    if rem == 0 {
                        return None;
                    }
                    let n = rem.min(BATCH as u64) as usize;
                    let mut buf = vec![0u8; n];
                    match f.read_exact(&mut buf).await {
                        Ok(_) => {
                            Some((Ok::<_, std::io::Error>(Bytes::from(buf)), (f, rem - n as u64)))
                        }
                        Err(e) => Some((Err(e), (f, 0))),
                    }
                });
                Body::from_stream(stream)
            }
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let mut put = |name: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(name, v);
        }
    };
    put("etag", format!("\"{id}\""));
    put("x-chorus-blob-size", size.to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        put("content-range", format!("bytes {start}-{}/{size}", start + len - 1));
    }
    Ok(resp)
}

pub(super) async fn get_outboard(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::Read)?;
    let id = parse_id(&id)?;
    let backend = state.inner.backend.clone();
    let ns2 = ns.clone();
    match blocking(move || backend.outboard(&ns2, &id)).await? {
        Some(ob) => {
            Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))], ob)
                .into_response())
        }
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no blob {id} in {ns}"))),
    }
}

#[derive(Deserialize)]
pub(super) struct ChallengeQuery {
    seed: String,
    count: u32,
}

pub(super) async fn get_challenge(
    State(state): State<StoreState>,
    Path((ns, id)): Path<(String, String)>,
    Query(q): Query<ChallengeQuery>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &ns, "GET", &uri, &headers, peer_ip(&ext), Op::Read)?;
    let id = parse_id(&id)?;
    let seed: [u8; 32] = hex_decode(&q.seed, false)
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "seed must be 64 hex digits"))?;
    if q.count == 0 || q.count > 1024 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "count must be 1..=1024"));
    }
    let st = state.clone();
    let proof = blocking(move || st.challenge(&ns, &id, &seed, q.count)).await?;
    Ok(Json(proof).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing_follows_rfc_9110() {
        assert_eq!(parse_range(None, 10), Ok(None));
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(parse_range(Some(&h("bytes=0-3")), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some(&h("bytes=5-")), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some(&h("bytes=-4")), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some(&h("bytes=8-100")), 10), Ok(Some((8, 9))));
        assert_eq!(parse_range(Some(&h("bytes=10-")), 10), Err(()));
        assert_eq!(parse_range(Some(&h("bytes=0-0")), 0), Err(()));
        assert_eq!(parse_range(Some(&h("bytes=0-1,3-4")), 10), Ok(None));
    }
}
