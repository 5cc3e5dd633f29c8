//! A small JSON-over-HTTP helper for the commands that talk to a node's API.

use bytes::Bytes;
use eyre::{WrapErr, eyre};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Sends a request and returns (status, JSON body); a non-JSON body becomes a JSON string.
pub async fn request(
    method: &str,
    url: &str,
    body: Option<(Vec<u8>, &str)>,
) -> eyre::Result<(u16, Value)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    let payload = match body {
        Some((bytes, ct)) => {
            req = req.header("content-type", ct);
            bytes
        }
        None => Vec::new(),
    };
    let req = req.body(Full::new(Bytes::from(payload)))?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| eyre!("{method} {url}: timed out"))?
        .wrap_err_with(|| format!("{method} {url}: is the node running?"))?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, json))
}

/// GET that fails with the server's JSON error on a non-2xx status.
pub async fn get(url: &str) -> eyre::Result<Value> {
    let (status, json) = request("GET", url, None).await?;
    if !(200..300).contains(&status) {
        return Err(eyre!("GET {url}: {status}: {}", json["error"].as_str().unwrap_or("")));
    }
    Ok(json)
}
