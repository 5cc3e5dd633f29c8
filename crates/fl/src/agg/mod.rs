//! Aggregation rules behind one trait, streaming over chunked readers.
//!
//! Inputs are [`WeightedInput`]s: an [`UpdateReader`] plus an integer weight (number of examples).
//! Every rule reads parameters chunk by chunk (`AggregateOptions::chunk`), so means need O(P)
//! accumulators, order statistics O(N × chunk) and Krum/Bulyan an N × N Gram matrix accumulated
//! exactly (i64 blocks flushed to i128) over chunks. All arithmetic is integer; divisions round half
//! away from zero ([`crate::fixed::div_round`]); results saturate to `i32`. Rayon parallelism is over
//! inputs and coordinate blocks only, and integer sums are associative, so the output is bit-identical
//! for any thread count.

mod clip;
mod krum;
mod mean;
mod order;
mod rule;
mod simd;

use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::fixed::{Micros, div_round, sat_i32};
use crate::{Error, FixedScale, ModelSpec, Update, UpdateReader};

pub use rule::AggregationRule;

/// Default number of parameters per streamed chunk (64 Ki).
pub const DEFAULT_CHUNK: usize = 64 * 1024;

/// One client's contribution to a round.
pub struct WeightedInput<'a> {
    /// The update (delta = client model − global model), streamed.
    pub reader: Box<dyn UpdateReader + 'a>,
    /// Integer weight, normally the number of training examples.
    pub weight: u64,
    /// Local steps τ_i (FedNova); 1 if unknown.
    pub local_steps: u32,
    /// SCAFFOLD control-variate delta Δc_i (required by `Scaffold`, ignored otherwise).
    pub control_delta: Option<Box<dyn UpdateReader + 'a>>,
}

impl<'a> WeightedInput<'a> {
    /// An input with a weight and default extras.
    pub fn new(reader: impl UpdateReader + 'a, weight: u64) -> Self {
        Self { reader: Box::new(reader), weight, local_steps: 1, control_delta: None }
    }
    /// Borrowed in-memory inputs from updates and weights.
    pub fn from_updates(updates: &'a [Update], weights: &[u64]) -> Vec<WeightedInput<'a>> {
        updates
            .iter()
            .zip(weights.iter().copied().chain(std::iter::repeat(1)))
            .map(|(u, w)| WeightedInput::new(crate::SliceReader(&u.values), w))
            .collect()
    }
}

/// Options common to all rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateOptions {
    /// Norm bounding pre-step: inputs with L2 norm above this are scaled down to it (any rule).
    pub norm_bound: Option<Micros>,
    /// Parameters per streamed chunk.
    pub chunk: usize,
}

impl Default for AggregateOptions {
    fn default() -> Self {
        Self { norm_bound: None, chunk: DEFAULT_CHUNK }
    }
}

/// What happened to one input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputReport {
    /// The input contributed to the aggregate (e.g. selected by Krum/Bulyan; always true for means).
    pub included: bool,
    /// The input was scaled down by norm bounding.
    pub norm_clipped: bool,
    /// Krum score (sum of squared distances to its nearest neighbours, fixed-point units²).
    pub score: Option<i128>,
}

/// Result of one aggregation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AggregateOutcome {
    /// The server step to add to the global model (fixed point, same scale as the inputs).
    pub aggregate: Update,
    /// One report per input, in input order.
    pub inputs: Vec<InputReport>,
}

/// Server state carried between rounds (momentum, optimiser moments, SCAFFOLD control variate,
/// centered-clipping centre). Fixed-point integers only, so it can be hashed and stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerState {
    /// Rounds aggregated so far.
    pub round: u64,
    /// First moment / momentum (scale 2^f); empty until first used.
    pub m: Vec<i64>,
    /// Second moment (scale 2^(2f)); empty until first used.
    pub v: Vec<i64>,
    /// SCAFFOLD global control variate (scale 2^f).
    pub control: Vec<i64>,
    /// Centered-clipping centre (previous aggregate).
    pub center: Vec<i32>,
}

/// An aggregation rule.
pub trait Aggregator: Send {
    /// Aggregates `inputs` (each of `spec.num_params()` values at `scale`).
    fn aggregate(
        &mut self,
        spec: &Arc<ModelSpec>,
        scale: FixedScale,
        inputs: &mut [WeightedInput<'_>],
        opts: &AggregateOptions,
    ) -> Result<AggregateOutcome, Error>;
}

/// The standard aggregator: a rule plus its carried state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAggregator {
    /// The rule.
    pub rule: AggregationRule,
    /// State carried between rounds.
    pub state: ServerState,
}

impl ServerAggregator {
    /// A fresh aggregator (empty state).
    pub fn new(rule: AggregationRule) -> Self {
        Self { rule, state: ServerState::default() }
    }
    /// Resumes with stored state.
    pub fn with_state(rule: AggregationRule, state: ServerState) -> Self {
        Self { rule, state }
    }
}

impl Aggregator for ServerAggregator {
    fn aggregate(
        &mut self,
        spec: &Arc<ModelSpec>,
        scale: FixedScale,
        inputs: &mut [WeightedInput<'_>],
        opts: &AggregateOptions,
    ) -> Result<AggregateOutcome, Error> {
        self.rule.validate()?;
        if inputs.is_empty() {
            return Err(Error::NotEnoughInputs { rule: self.rule.name(), need: 1, got: 0 });
        }
        let p = spec.num_params();
        for (index, inp) in inputs.iter().enumerate() {
            if inp.reader.num_params() != p {
                return Err(Error::LengthMismatch {
                    index,
                    expected: p,
                    got: inp.reader.num_params(),
                });
            }
        }
        // H4: every weight in 1..=MAX_INPUT_WEIGHT, and no input above MAX_WEIGHT_SHARE.
        if let Some((index, w)) = inputs
            .iter()
            .map(|i| i.weight)
            .enumerate()
            .find(|(_, w)| *w == 0 || *w > MAX_INPUT_WEIGHT)
        {
            return Err(Error::InvalidParams {
                rule: "weights",
                reason: format!("input {index} has weight {w}, allowed 1..={MAX_INPUT_WEIGHT}"),
            });
        }
        let weights: Vec<u64> = inputs.iter().map(|i| i.weight).collect();
        let (num, den) = MAX_WEIGHT_SHARE;
        for (inp, w) in inputs.iter_mut().zip(clamp_weight_shares(&weights, num, den)) {
            inp.weight = w;
        }
        let chunk = opts.chunk.max(1);
        let mut s = Stream { inputs, prescale: Vec::new(), p, chunk };
        s.prescale = vec![None; s.inputs.len()];
        let mut reports =
            vec![InputReport { included: true, ..Default::default() }; s.inputs.len()];
        if let Some(max) = opts.norm_bound {
            let max_q = max.to_fixed(scale).max(0);
            let norms = s.norms_sq(None)?;
            for (i, n2) in norms.into_iter().enumerate() {
                if n2 > (max_q as u128) * (max_q as u128) {
                    s.prescale[i] = Some((max_q, ceil_sqrt(n2) as i128));
                    reports[i].norm_clipped = true;
                }
            }
        }
        let values = match self.rule {
            AggregationRule::FedAvg => mean::fedavg(&mut s, None)?,
            AggregationRule::FedAvgM { server_lr, momentum } => {
                mean::fedavgm(&mut s, &mut self.state, server_lr, momentum)?
            }
            AggregationRule::FedNova => mean::fednova(&mut s)?,
            AggregationRule::Scaffold { server_lr, total_clients } => {
                mean::scaffold(&mut s, &mut self.state, server_lr, total_clients)?
            }
            AggregationRule::FedAdam { .. }
            | AggregationRule::FedYogi { .. }
            | AggregationRule::FedAdagrad { .. } => {
                mean::fedopt(&mut s, &mut self.state, &self.rule, scale)?
            }
            AggregationRule::Median => order::median(&mut s)?,
            AggregationRule::TrimmedMean { trim } => order::trimmed_mean(&mut s, trim)?,
            AggregationRule::Krum { f } => krum::krum(&mut s, f as usize, None, &mut reports)?,
            AggregationRule::MultiKrum { f, m } => {
                krum::krum(&mut s, f as usize, Some(m as usize), &mut reports)?
            }
            AggregationRule::Bulyan { f } => krum::bulyan(&mut s, f as usize, &mut reports)?,
            AggregationRule::CenteredClipping { tau, iters } => {
                clip::centered_clipping(&mut s, &mut self.state, tau.to_fixed(scale), iters)?
            }
        };
        self.state.round += 1;
        Ok(AggregateOutcome {
            aggregate: Update { spec: spec.clone(), scale, values },
            inputs: reports,
        })
    }
}

/// `ceil(sqrt(n))` (crate-internal re-export).
pub(crate) fn ceil_sqrt_pub(n: u128) -> u128 {
    ceil_sqrt(n)
}

/// `ceil(sqrt(n))`.
pub(crate) fn ceil_sqrt(n: u128) -> u128 {
    let r = n.isqrt();
    if r * r == n { r } else { r + 1 }
}

/// Streaming view over the inputs with the per-input norm-bound factor (`num/den`).
pub(crate) struct Stream<'s, 'a> {
    pub(crate) inputs: &'s mut [WeightedInput<'a>],
    pub(crate) prescale: Vec<Option<(i128, i128)>>,
    pub(crate) p: usize,
    pub(crate) chunk: usize,
}

pub(crate) fn apply_prescale(row: &mut [i32], ps: Option<(i128, i128)>) {
    if let Some((num, den)) = ps {
        for x in row.iter_mut() {
            *x = sat_i32(div_round(*x as i128 * num, den));
        }
    }
}

impl Stream<'_, '_> {
    pub(crate) fn n(&self) -> usize {
        self.inputs.len()
    }

    /// Chunk boundaries `(offset, len)` for a given chunk size.
    pub(crate) fn chunks(&self, chunk: usize) -> Vec<(usize, usize)> {
        let c = chunk.max(1);
        (0..self.p.div_ceil(c)).map(|k| (k * c, c.min(self.p - k * c))).collect()
    }

    /// Reads `[off, off+len)` of the inputs selected by `sel` (all if None) into `buf` (row-major).
    pub(crate) fn read_matrix(
        &mut self,
        sel: Option<&[usize]>,
        off: usize,
        len: usize,
        buf: &mut Vec<i32>,
    ) -> Result<(), Error> {
        let rows = sel.map_or(self.inputs.len(), <[usize]>::len);
        buf.resize(rows * len, 0);
        let prescale = &self.prescale;
        match sel {
            None => self
                .inputs
                .par_iter_mut()
                .zip(buf.par_chunks_mut(len))
                .zip(prescale.par_iter())
                .try_for_each(|((inp, row), ps)| {
                    inp.reader.read_chunk(off, row)?;
                    apply_prescale(row, *ps);
                    Ok(())
                }),
            Some(sel) => {
                // Sequential over the selected readers (they are distinct but not contiguous).
                for (k, &i) in sel.iter().enumerate() {
                    let row = &mut buf[k * len..(k + 1) * len];
                    self.inputs[i].reader.read_chunk(off, row)?;
                    apply_prescale(row, prescale[i]);
                }
                Ok(())
            }
        }
    }

    /// Exact squared L2 norms `‖x_i − center‖²` of all inputs (after prescale).
    pub(crate) fn norms_sq(&mut self, center: Option<&[i32]>) -> Result<Vec<u128>, Error> {
        let n = self.n();
        let mut acc = vec![0u128; n];
        let mut buf = Vec::new();
        for (off, len) in self.chunks(self.chunk) {
            self.read_matrix(None, off, len, &mut buf)?;
            let part: Vec<u128> = buf
                .par_chunks(len)
                .map(|row| match center {
                    None => crate::fixed::norm_sq(row),
                    Some(c) => row
                        .iter()
                        .zip(&c[off..off + len])
                        .map(|(&x, &y)| {
                            let d = x as i128 - y as i128;
                            (d * d) as u128
                        })
                        .sum(),
                })
                .collect();
            for (a, b) in acc.iter_mut().zip(part) {
                *a += b;
            }
        }
        Ok(acc)
    }

    pub(crate) fn total_weight(&self, sel: Option<&[usize]>) -> Result<i64, Error> {
        let total: u128 = match sel {
            None => self.inputs.iter().map(|i| i.weight as u128).sum(),
            Some(s) => s.iter().map(|&i| self.inputs[i].weight as u128).sum(),
        };
        if total == 0 {
            return Err(Error::InvalidParams {
                rule: "weights",
                reason: "total weight is zero".into(),
            });
        }
        if total > MAX_TOTAL_WEIGHT as u128 {
            return Err(Error::WeightTooLarge { total, limit: MAX_TOTAL_WEIGHT });
        }
        Ok(total as i64)
    }
}

/// Largest total weight per round: keeps `Σ w_i · x_i` exact in i64 (2^32 · 2^31 = 2^63).
pub const MAX_TOTAL_WEIGHT: u64 = 1 << 32;

/// Largest weight one input may carry (2^20, the chain's `MAX_EXAMPLES_PER_UPDATE`): with at most
/// 4096 inputs the total stays within [`MAX_TOTAL_WEIGHT`]. [`Aggregator::aggregate`] refuses a
/// weight of 0 or above this (security review H4).
pub const MAX_INPUT_WEIGHT: u64 = 1 << 20;

/// Largest share of the total weight one input may carry, as `(numerator, denominator)`: 1/2.
/// Even a participant whose claimed example count is within the chain's cap cannot make its
/// update more than half of a weighted aggregate (security review H4). Half, rather than 1/k,
/// keeps honest FedAvg weighting intact for any realistic spread of data sizes (it only binds
/// when one input claims more than all the others together) while making sure the others always
/// keep at least half of the mean.
pub const MAX_WEIGHT_SHARE: (u64, u64) = (1, 2);

/// Caps weights so that no input carries more than `num/den` of the (capped) total (`num < den`;
/// a single input keeps its weight). Integer water-filling: the `m` largest weights are lowered
/// to the common cap `c = ⌊num · R / (den − num · m)⌋`, `R` = the sum of the others, for the
/// smallest `m` at which the next weight is ≤ `c`; when no such `m` exists every weight becomes
/// the smallest one. Deterministic (ties by position), so every validator recomputes the same
/// weights. Weights must be ≥ 1.
pub fn clamp_weight_shares(weights: &[u64], num: u64, den: u64) -> Vec<u64> {
    let n = weights.len();
    let mut out = weights.to_vec();
    if n < 2 || num >= den || num == 0 {
        return out;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| weights[b].cmp(&weights[a]).then(a.cmp(&b)));
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let (num, den) = (u128::from(num), u128::from(den));
    if u128::from(weights[order[0]]) * den <= num * total {
        return out;
    }
    let mut rest = total;
    for m in 1..n {
        rest -= u128::from(weights[order[m - 1]]);
        let room = den.saturating_sub(num * m as u128);
        if room == 0 {
            break;
        }
        let cap = num * rest / room;
        if u128::from(weights[order[m]]) <= cap {
            for &i in &order[..m] {
                out[i] = u64::try_from(cap).unwrap_or(u64::MAX).max(1);
            }
            return out;
        }
    }
    let min = weights[order[n - 1]];
    out.iter_mut().for_each(|w| *w = min);
    out
}

#[cfg(test)]
mod tests;
