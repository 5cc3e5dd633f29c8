//! Local data of a simulated network: the partition schemes (`--partition`), the validators'
//! held-out scoring split (the last training samples) and the participants' parts of the rest.
//! `chorus devnet`, `chorus participant` and `chorus node --worker` all cut the same data set
//! the same way through these helpers, so a participant process and an in-process participant
//! with the same flags train on the same samples.

use chorus_trainer::{Dataset, Scheme};
use eyre::{bail, eyre};

/// Parses `--partition`: iid, dirichlet:ALPHA, shards:K, quantity:BETA.
pub(crate) fn parse_partition(s: &str) -> eyre::Result<Scheme> {
    let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
    let num = |d: f64| -> eyre::Result<f64> {
        arg.map_or(Ok(d), |a| a.parse().map_err(|_| eyre!("bad partition parameter {a:?}")))
    };
    Ok(match name {
        "iid" => Scheme::Iid,
        "dirichlet" => Scheme::Dirichlet { alpha: num(0.5)? },
        "shards" => Scheme::Shards { shards_per_client: num(2.0)? as usize },
        "quantity" => Scheme::QuantitySkew { beta: num(0.5)?, min_size: 10 },
        _ => bail!("unknown partition {s:?} (iid, dirichlet:ALPHA, shards:K, quantity:BETA)"),
    })
}

/// The last `n` training samples: the validators' held-out scoring split, which no participant's
/// local data includes.
pub(crate) fn holdout_split(train: &Dataset, n: usize) -> eyre::Result<Dataset> {
    let len = train.len();
    if n == 0 || n >= len {
        bail!("the held-out split must be 1..{len} samples, got {n}");
    }
    let idx: Vec<u32> = ((len - n) as u32..len as u32).collect();
    Ok(train.subset(&idx)?)
}

/// File prefix of a validator's private scoring set: `scoring-images-idx3-ubyte[.gz]` and
/// `scoring-labels-idx1-ubyte[.gz]` (written e.g. by `chorus_trainer::data::write_idx_pair`).
pub(crate) const PRIVATE_SCORING_PREFIX: &str = "scoring";

/// Where a validator worker's scoring split comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ScoringSource {
    /// A set only this validator holds (`--worker-scoring-data DIR`).
    Private,
    /// The last training samples of the public data set, which participants can also read and
    /// fit (security review L10): fine for a devnet, not among strangers.
    PublicHoldout,
}

/// The scoring split of a validator worker: the IDX pair in `private_dir` when given (it must
/// have the data set's image shape), else the public tail of the training set
/// ([`holdout_split`]).
pub(crate) fn scoring_split(
    splits: &chorus_trainer::Splits,
    private_dir: Option<&std::path::Path>,
    public_holdout: usize,
) -> eyre::Result<(Dataset, ScoringSource)> {
    let Some(dir) = private_dir else {
        return Ok((holdout_split(&splits.train, public_holdout)?, ScoringSource::PublicHoldout));
    };
    let fix = format!(
        "put {PRIVATE_SCORING_PREFIX}-images-idx3-ubyte and {PRIVATE_SCORING_PREFIX}-labels-idx1-ubyte \
         (optionally .gz) in {}",
        dir.display()
    );
    let d = chorus_trainer::data::load_idx_pair(
        &splits.train.name,
        dir,
        PRIVATE_SCORING_PREFIX,
        &fix,
        None,
    )?;
    if (d.rows, d.cols) != (splits.train.rows, splits.train.cols) {
        bail!(
            "the private scoring set in {} has {}×{} images, the data set {} has {}×{}",
            dir.display(),
            d.rows,
            d.cols,
            splits.train.name,
            splits.train.rows,
            splits.train.cols
        );
    }
    if d.is_empty() {
        bail!("the private scoring set in {} is empty", dir.display());
    }
    Ok((d, ScoringSource::Private))
}

/// Drops the last `holdout` training samples of `splits`, partitions the rest with `scheme` into
/// `clients` parts and returns them (deterministic from `seed`).
pub(crate) fn local_parts(
    splits: &chorus_trainer::Splits,
    holdout: usize,
    scheme: &str,
    clients: usize,
    seed: u64,
) -> eyre::Result<Vec<Dataset>> {
    let n = splits.train.len();
    if n <= holdout + clients {
        bail!("{} has too few training samples for {clients} parts", splits.train.name);
    }
    let pool: Vec<u32> = (0..(n - holdout) as u32).collect();
    let pool_set = splits.train.subset(&pool)?;
    let scheme = parse_partition(scheme)?;
    let p =
        chorus_trainer::partition(&pool_set.labels, pool_set.num_classes, clients, &scheme, seed)?;
    Ok(p.clients.iter().map(|c| pool_set.subset(c)).collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(n: usize, rows: usize) -> Dataset {
        Dataset {
            name: "mnist".into(),
            rows,
            cols: rows,
            num_classes: 10,
            images: (0..n * rows * rows).map(|i| i as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
        }
    }

    #[test]
    fn a_private_scoring_set_replaces_the_public_holdout() {
        let splits = chorus_trainer::Splits { train: tiny(50, 4), test: tiny(10, 4) };
        let (public, source) = scoring_split(&splits, None, 5).unwrap();
        assert_eq!((public.len(), source), (5, ScoringSource::PublicHoldout));
        let dir = tempfile::tempdir().unwrap();
        let private = tiny(8, 4);
        chorus_trainer::data::write_idx_pair(&private, dir.path(), PRIVATE_SCORING_PREFIX).unwrap();
        let (got, source) = scoring_split(&splits, Some(dir.path()), 5).unwrap();
        assert_eq!(source, ScoringSource::Private);
        assert_eq!((got.images, got.labels), (private.images, private.labels));
    }

    #[test]
    fn a_private_scoring_set_of_another_shape_or_missing_is_refused() {
        let splits = chorus_trainer::Splits { train: tiny(50, 4), test: tiny(10, 4) };
        let dir = tempfile::tempdir().unwrap();
        let err = scoring_split(&splits, Some(dir.path()), 5).unwrap_err().to_string();
        assert!(err.contains("scoring-images-idx3-ubyte"), "{err}");
        chorus_trainer::data::write_idx_pair(&tiny(8, 3), dir.path(), PRIVATE_SCORING_PREFIX)
            .unwrap();
        let err = scoring_split(&splits, Some(dir.path()), 5).unwrap_err().to_string();
        assert!(err.contains("3×3"), "{err}");
    }
}
