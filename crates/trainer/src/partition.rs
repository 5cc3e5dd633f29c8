//! Deterministic partitioning of a training set across simulated clients.
//!
//! Every scheme is a pure function of (labels, number of clients, scheme, seed): the randomness is a
//! ChaCha8 stream seeded from `seed`, never entropy. Every sample index is assigned to exactly one
//! client. Dirichlet draws use floating point (`rand_distr::Gamma`), so partitions are reproducible on
//! one platform; the consensus-relevant shard *assignment* lives in [`crate::pool`] and is integer-only.

use std::fmt;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How samples are spread over clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scheme {
    /// Uniformly shuffled, (almost) equal sizes.
    Iid,
    /// Per class, the class's samples are split across clients by proportions drawn from
    /// Dirichlet(α, …, α) (Hsu et al. 2019). Small α (0.1) is very skewed, large α (100) close to IID.
    Dirichlet {
        /// Concentration α > 0.
        alpha: f64,
    },
    /// Sort by label, cut into `num_clients · shards_per_client` equal shards and give each client
    /// `shards_per_client` random shards (McMahan et al. 2017's pathological non-IID split).
    Shards {
        /// Shards per client (2 in the paper).
        shards_per_client: usize,
    },
    /// IID labels, client sizes proportional to Dirichlet(β) draws (every client gets at least
    /// `min_size` samples).
    QuantitySkew {
        /// Concentration β > 0 of the size proportions.
        beta: f64,
        /// Minimum samples per client.
        min_size: usize,
    },
}

/// The result of partitioning: sample indices per client (sorted ascending within a client).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// `clients[c]` = the indices of client `c`.
    pub clients: Vec<Vec<u32>>,
}

/// Splits `labels.len()` samples across `num_clients` clients.
///
/// ```
/// use chorus_trainer::partition::{partition, Scheme};
/// let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
/// let p = partition(&labels, 10, 4, &Scheme::Dirichlet { alpha: 0.5 }, 7)?;
/// assert_eq!(p.clients.iter().map(Vec::len).sum::<usize>(), 100);
/// # Ok::<(), chorus_trainer::Error>(())
/// ```
pub fn partition(
    labels: &[u8],
    num_classes: usize,
    num_clients: usize,
    scheme: &Scheme,
    seed: u64,
) -> Result<Partition> {
    let n = labels.len();
    if num_clients == 0 {
        return Err(Error::InvalidArgument("num_clients must be positive".into()));
    }
    if n > u32::MAX as usize {
        return Err(Error::InvalidArgument("too many samples for u32 indices".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut clients: Vec<Vec<u32>> = vec![Vec::new(); num_clients];
    match scheme {
        Scheme::Iid => {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.shuffle(&mut rng);
            for (k, chunk) in split_even(&idx, num_clients).into_iter().enumerate() {
                clients[k] = chunk.to_vec();
            }
        }
        Scheme::Dirichlet { alpha } => {
            let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); num_classes];
            for (i, &l) in labels.iter().enumerate() {
                let c = by_class.get_mut(l as usize).ok_or_else(|| {
                    Error::InvalidArgument(format!("label {l} out of range 0..{num_classes}"))
                })?;
                c.push(i as u32);
            }
            for class in &mut by_class {
                class.shuffle(&mut rng);
                let p = dirichlet(&mut rng, *alpha, num_clients)?;
                for (k, chunk) in split_by_proportions(class, &p).into_iter().enumerate() {
                    clients[k].extend_from_slice(chunk);
                }
            }
        }
        Scheme::Shards { shards_per_client } => {
            let s = num_clients * shards_per_client;
            if *shards_per_client == 0 || s > n {
                return Err(Error::InvalidArgument(format!("{s} shards for {n} samples")));
            }
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.shuffle(&mut rng);
            // Stable sort by label keeps the seeded order inside a class.
            idx.sort_by_key(|&i| labels[i as usize]);
            let shards = split_even(&idx, s);
            let mut order: Vec<usize> = (0..s).collect();
            order.shuffle(&mut rng);
            for (j, &shard) in order.iter().enumerate() {
                clients[j / shards_per_client].extend_from_slice(shards[shard]);
            }
        }
        Scheme::QuantitySkew { beta, min_size } => {
            if min_size * num_clients > n {
                return Err(Error::InvalidArgument(format!(
                    "min_size {min_size} x {num_clients} clients > {n} samples"
                )));
            }
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.shuffle(&mut rng);
            let (base, rest) = idx.split_at(min_size * num_clients);
            for (k, chunk) in base.chunks((*min_size).max(1)).enumerate().take(num_clients) {
                if *min_size > 0 {
                    clients[k].extend_from_slice(chunk);
                }
            }
            let p = dirichlet(&mut rng, *beta, num_clients)?;
            for (k, chunk) in split_by_proportions(rest, &p).into_iter().enumerate() {
                clients[k].extend_from_slice(chunk);
            }
        }
    }
    for c in &mut clients {
        c.sort_unstable();
    }
    Ok(Partition { clients })
}

impl Partition {
    /// Samples per class for every client.
    pub fn histograms(&self, labels: &[u8], num_classes: usize) -> Vec<Vec<usize>> {
        self.clients
            .iter()
            .map(|c| {
                let mut h = vec![0; num_classes];
                for &i in c {
                    if let Some(slot) = labels.get(i as usize).and_then(|&l| h.get_mut(l as usize))
                    {
                        *slot += 1;
                    }
                }
                h
            })
            .collect()
    }
    /// A per-client label histogram report (implements `Display` as a table).
    pub fn report(&self, labels: &[u8], num_classes: usize) -> LabelReport {
        LabelReport { histograms: self.histograms(labels, num_classes) }
    }
}

/// Per-client label counts, printable as a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelReport {
    /// `histograms[client][class]`.
    pub histograms: Vec<Vec<usize>>,
}

impl fmt::Display for LabelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes = self.histograms.first().map_or(0, Vec::len);
        write!(f, "{:>6} {:>7}", "client", "total")?;
        for c in 0..classes {
            write!(f, " {:>6}", format!("c{c}"))?;
        }
        writeln!(f)?;
        for (k, h) in self.histograms.iter().enumerate() {
            write!(f, "{k:>6} {:>7}", h.iter().sum::<usize>())?;
            for v in h {
                write!(f, " {v:>6}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Splits into `k` contiguous chunks whose sizes differ by at most one.
fn split_even<T>(v: &[T], k: usize) -> Vec<&[T]> {
    let (q, r) = (v.len() / k, v.len() % k);
    let mut out = Vec::with_capacity(k);
    let mut at = 0;
    for i in 0..k {
        let len = q + usize::from(i < r);
        out.push(&v[at..at + len]);
        at += len;
    }
    out
}

/// Cuts `v` at the rounded cumulative proportions (the last cut is always `v.len()`).
fn split_by_proportions<'a, T>(v: &'a [T], p: &[f64]) -> Vec<&'a [T]> {
    let n = v.len();
    let mut out = Vec::with_capacity(p.len());
    let (mut acc, mut at) = (0.0f64, 0usize);
    for (k, &pk) in p.iter().enumerate() {
        acc += pk;
        let end =
            if k + 1 == p.len() { n } else { ((acc * n as f64).round() as usize).clamp(at, n) };
        out.push(&v[at..end]);
        at = end;
    }
    out
}

/// One Dirichlet(α, …, α) draw of dimension `k` (normalised Gamma(α, 1) draws).
fn dirichlet(rng: &mut ChaCha8Rng, alpha: f64, k: usize) -> Result<Vec<f64>> {
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(Error::InvalidArgument(format!(
            "Dirichlet concentration must be > 0, got {alpha}"
        )));
    }
    let g = Gamma::new(alpha, 1.0).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let mut x: Vec<f64> = (0..k).map(|_| g.sample(rng)).collect();
    let s: f64 = x.iter().sum();
    if s > 0.0 && s.is_finite() {
        x.iter_mut().for_each(|v| *v /= s);
    } else {
        // All draws underflowed (tiny α): put everything on one random client.
        x.iter_mut().for_each(|v| *v = 0.0);
        let j = rng.random_range(0..k);
        x[j] = 1.0;
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 7 + i / 13) % 10) as u8).collect()
    }

    fn assert_covers_once(p: &Partition, n: usize) {
        let mut all: Vec<u32> = p.clients.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n as u32).collect::<Vec<_>>());
    }

    #[test]
    fn every_scheme_is_deterministic_and_covers_every_sample_once() {
        let l = labels(2_000);
        let schemes = [
            Scheme::Iid,
            Scheme::Dirichlet { alpha: 0.3 },
            Scheme::Dirichlet { alpha: 100.0 },
            Scheme::Shards { shards_per_client: 2 },
            Scheme::QuantitySkew { beta: 0.5, min_size: 10 },
        ];
        for s in &schemes {
            let a = partition(&l, 10, 17, s, 42).unwrap();
            let b = partition(&l, 10, 17, s, 42).unwrap();
            let c = partition(&l, 10, 17, s, 43).unwrap();
            assert_eq!(a, b, "{s:?} not deterministic");
            assert_ne!(a, c, "{s:?} ignores the seed");
            assert_eq!(a.clients.len(), 17);
            assert_covers_once(&a, l.len());
        }
    }

    #[test]
    fn iid_sizes_differ_by_at_most_one() {
        let p = partition(&labels(1_003), 10, 10, &Scheme::Iid, 1).unwrap();
        let sizes: Vec<usize> = p.clients.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap(), 1);
    }

    #[test]
    fn small_alpha_dirichlet_is_label_skewed() {
        let l = labels(5_000);
        let skewed =
            partition(&l, 10, 10, &Scheme::Dirichlet { alpha: 0.1 }, 3).unwrap().histograms(&l, 10);
        let flat = partition(&l, 10, 10, &Scheme::Dirichlet { alpha: 1000.0 }, 3)
            .unwrap()
            .histograms(&l, 10);
        let max_share = |h: &Vec<Vec<usize>>| {
            h.iter()
                .map(|c| *c.iter().max().unwrap() as f64 / c.iter().sum::<usize>().max(1) as f64)
                .sum::<f64>()
                / 10.0
        };
        assert!(max_share(&skewed) > 0.5, "{}", max_share(&skewed));
        assert!(max_share(&flat) < 0.2, "{}", max_share(&flat));
    }

    #[test]
    fn two_shards_per_client_give_at_most_four_labels() {
        let l = labels(2_000);
        let h = partition(&l, 10, 20, &Scheme::Shards { shards_per_client: 2 }, 9)
            .unwrap()
            .histograms(&l, 10);
        for c in h {
            assert!(c.iter().filter(|&&x| x > 0).count() <= 4, "{c:?}");
        }
    }

    #[test]
    fn quantity_skew_respects_the_minimum_size() {
        let p =
            partition(&labels(2_000), 10, 8, &Scheme::QuantitySkew { beta: 0.2, min_size: 25 }, 5)
                .unwrap();
        assert!(p.clients.iter().all(|c| c.len() >= 25));
    }

    #[test]
    fn invalid_arguments_are_rejected() {
        let l = labels(100);
        assert!(partition(&l, 10, 0, &Scheme::Iid, 0).is_err());
        assert!(partition(&l, 10, 5, &Scheme::Dirichlet { alpha: 0.0 }, 0).is_err());
        assert!(partition(&l, 10, 60, &Scheme::Shards { shards_per_client: 2 }, 0).is_err());
        assert!(
            partition(&l, 10, 5, &Scheme::QuantitySkew { beta: 1.0, min_size: 30 }, 0).is_err()
        );
        assert!(partition(&[11], 10, 1, &Scheme::Dirichlet { alpha: 1.0 }, 0).is_err());
    }

    #[test]
    fn label_report_prints_one_row_per_client() {
        let l = labels(100);
        let p = partition(&l, 10, 3, &Scheme::Iid, 0).unwrap();
        let s = p.report(&l, 10).to_string();
        assert_eq!(s.lines().count(), 4);
        assert!(s.starts_with("client"));
    }
}
