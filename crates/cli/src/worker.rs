//! The validator worker of `chorus-sdk` (score updates, commit and reveal scores, aggregate,
//! propose and attest models) as a tokio task. `chorus node --worker` runs one next to its node;
//! `chorus devnet` with a single in-process validator runs the same one itself, so both paths
//! share one configuration.

use std::path::PathBuf;

/// Starts a validator worker signing with `operator` against `client`'s node, scoring on
/// `data.0` and evaluating on `data.1`, its progress in `state_path` (the devnet's in-process
/// validator uses it too).
pub(crate) fn spawn_worker(
    client: std::sync::Arc<chorus_sdk::NodeClient>,
    blobs: std::sync::Arc<chorus_sdk::blobs::Replicated>,
    operator: chorus_crypto::AccountKey,
    data: (std::sync::Arc<chorus_trainer::Dataset>, std::sync::Arc<chorus_trainer::Dataset>),
    (state_path, chain_id): (PathBuf, u64),
    stop: tokio::sync::watch::Receiver<bool>,
) -> eyre::Result<tokio::task::JoinHandle<chorus_sdk::Result<()>>> {
    let cfg = chorus_sdk::ValidatorConfig {
        score_data: data.0,
        eval_data: data.1,
        max_update_norm: None,
        seal_secret: None,
        fee: 0,
        chain_id: Some(chain_id),
        state_path: Some(state_path),
        poll: std::time::Duration::from_millis(300),
    };
    let events = client.subscribe();
    let w = chorus_sdk::ValidatorWorker::new(client, blobs, operator, cfg)?;
    Ok(tokio::spawn(w.run_until(stop, Some(events))))
}
