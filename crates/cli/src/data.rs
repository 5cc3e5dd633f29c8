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
