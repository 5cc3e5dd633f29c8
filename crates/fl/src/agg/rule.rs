//! The serializable rule enum and its string syntax for the CLI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::fixed::Micros;

/// An aggregation rule with its parameters (decimals are [`Micros`]: no floats in hashed state).
///
/// String syntax: `name[:key=value,...]`, e.g. `fedavg`, `trimmed-mean:trim=0.1`, `krum:f=2`,
/// `multi-krum:f=2,m=5`, `bulyan:f=1`, `centered-clipping:tau=10,iters=1`,
/// `fedadam:eta=0.1,beta1=0.9,beta2=0.99,tau=0.000001`. Omitted keys take the defaults below
/// (Flower's defaults where Flower has the rule).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum AggregationRule {
    /// Weighted mean by `weight` (Flower `FedAvg`).
    FedAvg,
    /// FedAvg with server momentum (Flower `FedAvgM`): `u ← momentum·u + avg`, step `server_lr·u`.
    FedAvgM {
        /// Server learning rate (default 1).
        server_lr: Micros,
        /// Server momentum β (default 0).
        momentum: Micros,
    },
    /// FedNova normalised averaging using each input's `local_steps`.
    FedNova,
    /// SCAFFOLD server side: step `server_lr · mean(Δy)`, control `c += Σ Δc / total_clients`.
    Scaffold {
        /// Global learning rate η_g (default 1).
        server_lr: Micros,
        /// Total number of clients N (for the control-variate update).
        total_clients: u32,
    },
    /// Server Adam on the FedAvg pseudo-gradient (Flower `FedAdam`, with its bias-corrected η).
    FedAdam {
        /// Server learning rate η (default 0.1).
        eta: Micros,
        /// β1 (default 0.9).
        beta1: Micros,
        /// β2 (default 0.99).
        beta2: Micros,
        /// τ (default 1e-6; floored at one fixed-point unit).
        tau: Micros,
    },
    /// Server Yogi (Flower `FedYogi`).
    FedYogi {
        /// η (default 0.01).
        eta: Micros,
        /// β1 (default 0.9).
        beta1: Micros,
        /// β2 (default 0.99).
        beta2: Micros,
        /// τ (default 0.001).
        tau: Micros,
    },
    /// Server Adagrad (Flower `FedAdagrad`).
    FedAdagrad {
        /// η (default 0.1).
        eta: Micros,
        /// β1 (default 0).
        beta1: Micros,
        /// τ (default 1e-6; floored at one fixed-point unit).
        tau: Micros,
    },
    /// Coordinate-wise median (Flower `FedMedian`).
    Median,
    /// Coordinate-wise trimmed mean cutting `floor(trim·N)` from each side (Flower `FedTrimmedAvg`).
    TrimmedMean {
        /// Fraction cut per side, in [0, 0.5) (default 0.2).
        trim: Micros,
    },
    /// Krum with `f` Byzantine inputs (Flower `Krum`).
    Krum {
        /// Assumed Byzantine count.
        f: u32,
    },
    /// Multi-Krum: weighted mean of the `m` best Krum scores (Flower `MultiKrum`).
    MultiKrum {
        /// Assumed Byzantine count.
        f: u32,
        /// Number kept.
        m: u32,
    },
    /// Bulyan over Krum (Flower `Bulyan`), needs N ≥ 4f+3.
    Bulyan {
        /// Assumed Byzantine count.
        f: u32,
    },
    /// Centered clipping (Karimireddy et al. 2021), starting from the previous aggregate.
    CenteredClipping {
        /// Clipping radius τ (default 10).
        tau: Micros,
        /// Iterations l (default 1).
        iters: u32,
    },
}

const ALL: &[&str] = &[
    "fedavg",
    "fedavgm",
    "fednova",
    "scaffold",
    "fedadam",
    "fedyogi",
    "fedadagrad",
    "median",
    "trimmed-mean",
    "krum",
    "multi-krum",
    "bulyan",
    "centered-clipping",
];

impl AggregationRule {
    /// All rule names accepted by `FromStr`.
    pub fn names() -> &'static [&'static str] {
        ALL
    }

    /// The rule's canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FedAvg => "fedavg",
            Self::FedAvgM { .. } => "fedavgm",
            Self::FedNova => "fednova",
            Self::Scaffold { .. } => "scaffold",
            Self::FedAdam { .. } => "fedadam",
            Self::FedYogi { .. } => "fedyogi",
            Self::FedAdagrad { .. } => "fedadagrad",
            Self::Median => "median",
            Self::TrimmedMean { .. } => "trimmed-mean",
            Self::Krum { .. } => "krum",
            Self::MultiKrum { .. } => "multi-krum",
            Self::Bulyan { .. } => "bulyan",
            Self::CenteredClipping { .. } => "centered-clipping",
        }
    }

    /// The rule with default parameters.
    pub fn default_for(name: &str) -> Option<Self> {
        let m = |s: u64| Micros(s);
        Some(match name {
            "fedavg" => Self::FedAvg,
            "fedavgm" => Self::FedAvgM { server_lr: Micros::ONE, momentum: m(0) },
            "fednova" => Self::FedNova,
            "scaffold" => Self::Scaffold { server_lr: Micros::ONE, total_clients: 1 },
            "fedadam" => {
                Self::FedAdam { eta: m(100_000), beta1: m(900_000), beta2: m(990_000), tau: m(1) }
            }
            "fedyogi" => Self::FedYogi {
                eta: m(10_000),
                beta1: m(900_000),
                beta2: m(990_000),
                tau: m(1_000),
            },
            "fedadagrad" => Self::FedAdagrad { eta: m(100_000), beta1: m(0), tau: m(1) },
            "median" => Self::Median,
            "trimmed-mean" => Self::TrimmedMean { trim: m(200_000) },
            "krum" => Self::Krum { f: 0 },
            "multi-krum" => Self::MultiKrum { f: 0, m: 1 },
            "bulyan" => Self::Bulyan { f: 0 },
            "centered-clipping" => Self::CenteredClipping { tau: Micros::from_int(10), iters: 1 },
            _ => return None,
        })
    }

    /// Checks parameter ranges.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: &str| {
            Err(Error::InvalidParams { rule: self.name(), reason: reason.to_string() })
        };
        match self {
            Self::TrimmedMean { trim } if trim.0 >= 500_000 => bad("trim must be < 0.5"),
            Self::FedAdam { beta1, beta2, .. } | Self::FedYogi { beta1, beta2, .. }
                if beta1.0 > 1_000_000 || beta2.0 > 1_000_000 =>
            {
                bad("betas must be ≤ 1")
            }
            Self::FedAdagrad { beta1, .. } if beta1.0 > 1_000_000 => bad("beta1 must be ≤ 1"),
            Self::MultiKrum { m, .. } if *m == 0 => bad("m must be ≥ 1"),
            Self::Scaffold { total_clients, .. } if *total_clients == 0 => {
                bad("total_clients must be ≥ 1")
            }
            Self::CenteredClipping { iters, .. } if *iters == 0 => bad("iters must be ≥ 1"),
            _ => Ok(()),
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::FedAvg | Self::FedNova | Self::Median => vec![],
            Self::FedAvgM { server_lr, momentum } => {
                vec![("lr", server_lr.to_string()), ("momentum", momentum.to_string())]
            }
            Self::Scaffold { server_lr, total_clients } => {
                vec![("lr", server_lr.to_string()), ("total-clients", total_clients.to_string())]
            }
            Self::FedAdam { eta, beta1, beta2, tau } | Self::FedYogi { eta, beta1, beta2, tau } => {
                vec![
                    ("eta", eta.to_string()),
                    ("beta1", beta1.to_string()),
                    ("beta2", beta2.to_string()),
                    ("tau", tau.to_string()),
                ]
            }
            Self::FedAdagrad { eta, beta1, tau } => {
                vec![
                    ("eta", eta.to_string()),
                    ("beta1", beta1.to_string()),
                    ("tau", tau.to_string()),
                ]
            }
            Self::TrimmedMean { trim } => vec![("trim", trim.to_string())],
            Self::Krum { f } | Self::Bulyan { f } => vec![("f", f.to_string())],
            Self::MultiKrum { f, m } => vec![("f", f.to_string()), ("m", m.to_string())],
            Self::CenteredClipping { tau, iters } => {
                vec![("tau", tau.to_string()), ("iters", iters.to_string())]
            }
        }
    }
}

impl fmt::Display for AggregationRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let p = self.params();
        if !p.is_empty() {
            let s: Vec<String> = p.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(f, ":{}", s.join(","))?;
        }
        Ok(())
    }
}

impl FromStr for AggregationRule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (name, params) = s.trim().split_once(':').unwrap_or((s.trim(), ""));
        let lname = name.to_ascii_lowercase().replace('_', "-");
        let alias = match lname.as_str() {
            "trimmed-avg" | "trimmedmean" | "fedtrimmedavg" | "trimmed_mean" => "trimmed-mean",
            "multikrum" => "multi-krum",
            "fedmedian" => "median",
            "cc" | "centeredclipping" => "centered-clipping",
            other => other,
        };
        let mut rule = Self::default_for(alias).ok_or_else(|| Error::InvalidParams {
            rule: "rule",
            reason: format!("unknown rule {name:?}; known: {}", ALL.join(", ")),
        })?;
        let rname = rule.name();
        for kv in params.split(',').filter(|x| !x.trim().is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| Error::InvalidParams {
                rule: rname,
                reason: format!("expected key=value, got {kv:?}"),
            })?;
            let (k, v) = (k.trim(), v.trim());
            let bad = |e: String| Error::InvalidParams { rule: rname, reason: format!("{k}: {e}") };
            let dec = || v.parse::<Micros>().map_err(bad);
            let int = || v.parse::<u32>().map_err(|e| bad(e.to_string()));
            match (&mut rule, k) {
                (Self::FedAvgM { server_lr, .. } | Self::Scaffold { server_lr, .. }, "lr") => {
                    *server_lr = dec()?
                }
                (Self::FedAvgM { momentum, .. }, "momentum") => *momentum = dec()?,
                (Self::Scaffold { total_clients, .. }, "total-clients") => *total_clients = int()?,
                (
                    Self::FedAdam { eta, .. }
                    | Self::FedYogi { eta, .. }
                    | Self::FedAdagrad { eta, .. },
                    "eta",
                ) => *eta = dec()?,
                (
                    Self::FedAdam { beta1, .. }
                    | Self::FedYogi { beta1, .. }
                    | Self::FedAdagrad { beta1, .. },
                    "beta1",
                ) => *beta1 = dec()?,
                (Self::FedAdam { beta2, .. } | Self::FedYogi { beta2, .. }, "beta2") => {
                    *beta2 = dec()?
                }
                (
                    Self::FedAdam { tau, .. }
                    | Self::FedYogi { tau, .. }
                    | Self::FedAdagrad { tau, .. }
                    | Self::CenteredClipping { tau, .. },
                    "tau",
                ) => *tau = dec()?,
                (Self::TrimmedMean { trim }, "trim" | "beta") => *trim = dec()?,
                (Self::Krum { f } | Self::MultiKrum { f, .. } | Self::Bulyan { f }, "f") => {
                    *f = int()?
                }
                (Self::MultiKrum { m, .. }, "m") => *m = int()?,
                (Self::CenteredClipping { iters, .. }, "iters") => *iters = int()?,
                _ => {
                    return Err(Error::InvalidParams {
                        rule: rname,
                        reason: format!("unknown parameter {k:?}"),
                    });
                }
            }
        }
        rule.validate()?;
        Ok(rule)
    }
}
