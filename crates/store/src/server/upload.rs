//! `PUT /blobs/{ns}`: streamed, size- and rate-limited uploads, verified and content-addressed.

use super::*;

/// Bytes buffered in memory before they are handed to the (blocking) writer.
pub(super) const BATCH: usize = 1 << 20;

/// Appends `data` to the upload, starting the writer on the first batch. Runs on a blocking
/// thread only for the duration of the write (never while waiting for the client), after checking
/// that the volume keeps its free-space reserve.
pub(super) async fn write_batch(
    backend: Arc<dyn BlobBackend>,
    ns: String,
    writer: Option<Box<dyn BlobWriter>>,
    data: Bytes,
    reserve: u64,
    finish: bool,
) -> Result<(Box<dyn BlobWriter>, Option<BlobId>), Error> {
    blocking(move || {
        check_space(backend.as_ref(), data.len() as u64, reserve)?;
        let mut w = match writer {
            Some(w) => w,
            None => backend.begin_write(&ns)?,
        };
        if !data.is_empty() {
            w.write(&data)?;
        }
        let id = if finish { Some(w.finish()?) } else { None };
        Ok((w, id))
    })
    .await
}

pub(super) async fn put_blob(
    State(state): State<StoreState>,
    Path(ns): Path<String>,
    uri: OriginalUri,
    ext: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let peer = peer_ip(&ext);
    let access = authorize(&state, &ns, "PUT", &uri, &headers, peer, Op::Write)?;
    let declared: Option<BlobId> = match &access.verified {
        Some(v) => Some(v.digest),
        None => match headers.get(HDR_DIGEST) {
            Some(h) => Some(
                h.to_str()
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad content digest"))?,
            ),
            None => None,
        },
    };
    let principal = access.principal;
    let cfgs = &state.inner.config;
    let quota = match principal {
        Principal::Account(_) => cfgs.quota,
        Principal::Ip(_) => cfgs.ip_quota,
    };
    let limit = cfgs.max_blob_size;
    let reserve = cfgs.min_free_bytes;
    // re-uploading a blob the namespace already holds is idempotent and charges nothing
    let exists = |id: &BlobId| matches!(state.inner.backend.stat(&ns, id), Ok(Some(_)));
    let already = declared.as_ref().is_some_and(exists);
    let quota_left = if already {
        u64::MAX
    } else {
        let (b, n) = state.inner.usage.get(&principal);
        if n >= quota.max_objects { 0 } else { quota.max_bytes.saturating_sub(b) }
    };
    let quota_err = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "quota exceeded for {principal}: at most {} bytes in {} blobs",
                quota.max_bytes, quota.max_objects
            ),
        )
    };
    let too_large =
        || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("blob exceeds {limit} bytes"));
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if let Some(len) = declared_len {
        if len > limit {
            return Err(too_large());
        }
        if len > quota_left {
            return Err(quota_err());
        }
    }
    if quota_left == 0 {
        return Err(quota_err());
    }
    {
        let backend = state.inner.backend.clone();
        let incoming = declared_len.unwrap_or(0);
        blocking(move || check_space(backend.as_ref(), incoming, reserve)).await?;
    }
    let _slot = match state.inner.uploads.acquire(peer) {
        Ok(()) => UploadSlot { state: state.clone(), ip: peer },
        Err(true) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many uploads in progress; retry later",
            ));
        }
        Err(false) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many concurrent uploads from {peer}"),
            ));
        }
    };

    // Body bytes are gathered asynchronously; a blocking thread is used only while a full batch
    // is written. Dropping the writer (error, limit, timeout, client gone) removes its temp file.
    let idle = Duration::from_millis(cfgs.upload_idle_timeout_ms.max(1));
    let grace = Duration::from_millis(cfgs.upload_grace_ms);
    let min_rate = cfgs.upload_min_bytes_per_sec;
    let started = Instant::now();
    let backend = state.inner.backend.clone();
    let mut writer: Option<Box<dyn BlobWriter>> = None;
    let mut total: u64 = 0;
    let mut buf = BytesMut::new();
    let mut stream = body.into_data_stream();
    loop {
        // The next bytes must come within the idle timeout, and soon enough to keep the average
        // rate above the minimum once the grace period is over.
        let mut until = Instant::now() + idle;
        if min_rate > 0 {
            let need = Duration::from_secs_f64((total + 1) as f64 / min_rate as f64);
            until = until.min(started + grace + need);
        }
        let next = match tokio::time::timeout_at(until, stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "upload too slow: {total} bytes in {:.1} s (at least {min_rate} bytes/s \
                         after {} s, and no pause over {} s)",
                        started.elapsed().as_secs_f64(),
                        grace.as_secs(),
                        idle.as_secs_f64()
                    ),
                ));
            }
        };
        let Some(chunk) = next else { break };
        let chunk =
            chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large());
        }
        if total > quota_left {
            return Err(quota_err());
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= BATCH {
            let b = buf.split().freeze();
            let (w, _) =
                write_batch(backend.clone(), ns.clone(), writer.take(), b, reserve, false).await?;
            writer = Some(w);
        }
    }
    let (writer, id) =
        write_batch(backend.clone(), ns.clone(), writer.take(), buf.freeze(), reserve, true)
            .await?;
    let id = id.ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no blob id"))?;
    if let Some(d) = declared
        && d != id
    {
        return Err(Error::DigestMismatch { declared: d, actual: id }.into());
    }
    let size = writer.written();
    let charge = !exists(&id);
    if charge && !state.inner.usage.try_add(principal, size, &quota) {
        return Err(quota_err());
    }
    let owner = match principal {
        Principal::Account(a) => Some(a),
        Principal::Ip(_) => None,
    };
    let res = state.commit(&ns, writer, id, owner.filter(|_| charge)).await;
    if charge && !matches!(res, Ok(PutResponse { created: true, .. })) {
        // quota was reserved above; release it unless this request created the blob
        state.inner.usage.remove(&principal, size);
    }
    let res = res?;
    let status = if res.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(res)).into_response())
}
