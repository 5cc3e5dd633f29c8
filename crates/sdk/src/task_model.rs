//! How the SDK interprets a [`TaskSpec`]: model architecture, fixed-point scale, aggregation
//! rule, model/update blob formats, and the deterministic aggregation step
//! `model_{r+1} = model_r + aggregate(accepted deltas)`.
//!
//! Conventions (v1, `docs/sdk.md`):
//! - `spec.model.spec_id` is a `chorus_trainer::Arch` name (`logreg`, `mlp`, `cnn`, `cnn-small`).
//! - The task scale is `FixedScale::default()` (16 fractional bits).
//! - Model blobs and update blobs are `chorus_fl::Update` canonical bytes (`CHFU…`); a model blob
//!   holds absolute parameters, an update blob the delta `client − global`.
//! - `spec.aggregation` is mapped to a `chorus_fl::AggregationRule` by [`aggregation_rule`].

use std::str::FromStr;
use std::sync::Arc;

use chorus_fl::fixed::Micros;
use chorus_fl::{
    AggregateOptions, AggregationRule, Aggregator, FixedScale, ModelSpec, ServerAggregator,
    ServerState, SliceReader, Update, ValidationLimits, WeightedInput,
};
use chorus_trainer::Arch;
use chorus_types::learning::{RuleSpec, TaskSpec};

use crate::{Error, Result};

/// A task's model and numerics, resolved.
#[derive(Clone, Debug)]
pub struct TaskModel {
    /// Architecture.
    pub arch: Arch,
    /// Parameter layout.
    pub spec: Arc<ModelSpec>,
    /// Fixed-point scale.
    pub scale: FixedScale,
    /// Aggregation rule.
    pub rule: AggregationRule,
}

fn micros(p: &[i64], i: usize, default: Micros) -> Result<Micros> {
    match p.get(i) {
        None => Ok(default),
        Some(v) if *v >= 0 => Ok(Micros(*v as u64)),
        Some(v) => Err(Error::Unsupported(format!("negative rule parameter {v}"))),
    }
}

fn int(p: &[i64], i: usize, default: u32) -> Result<u32> {
    match p.get(i) {
        None => Ok(default),
        Some(v) => {
            u32::try_from(*v).map_err(|_| Error::Unsupported(format!("bad rule parameter {v}")))
        }
    }
}

/// Maps the chain's `RuleSpec` to a `chorus_fl` rule: the id with `_` read as `-`
/// (`trimmed_mean` → `trimmed-mean`), parameters positional, decimals in micro-units:
/// `trimmed_mean [trim]`, `krum [f]`, `multi_krum [f, m]`, `bulyan [f]`,
/// `centered_clipping [tau, iters]`, `fedavgm [lr, momentum]`,
/// `fedadam|fedyogi [eta, beta1, beta2, tau]`, `fedadagrad [eta, beta1, tau]`; `fedavg`, `median`,
/// `fednova` take none. Missing parameters take `chorus_fl`'s defaults. `scaffold` is refused
/// (it needs control-variate blobs the protocol does not carry yet).
pub fn aggregation_rule(r: &RuleSpec) -> Result<AggregationRule> {
    let name = r.id.replace('_', "-");
    let d = AggregationRule::default_for(&name)
        .ok_or_else(|| Error::Unsupported(format!("aggregation rule {:?}", r.id)))?;
    let p = &r.params;
    let rule = match d {
        AggregationRule::TrimmedMean { trim } => {
            AggregationRule::TrimmedMean { trim: micros(p, 0, trim)? }
        }
        AggregationRule::Krum { f } => AggregationRule::Krum { f: int(p, 0, f)? },
        AggregationRule::MultiKrum { f, m } => {
            AggregationRule::MultiKrum { f: int(p, 0, f)?, m: int(p, 1, m)? }
        }
        AggregationRule::Bulyan { f } => AggregationRule::Bulyan { f: int(p, 0, f)? },
        AggregationRule::CenteredClipping { tau, iters } => {
            AggregationRule::CenteredClipping { tau: micros(p, 0, tau)?, iters: int(p, 1, iters)? }
        }
        AggregationRule::FedAvgM { server_lr, momentum } => AggregationRule::FedAvgM {
            server_lr: micros(p, 0, server_lr)?,
            momentum: micros(p, 1, momentum)?,
        },
        AggregationRule::FedAdam { eta, beta1, beta2, tau } => AggregationRule::FedAdam {
            eta: micros(p, 0, eta)?,
            beta1: micros(p, 1, beta1)?,
            beta2: micros(p, 2, beta2)?,
            tau: micros(p, 3, tau)?,
        },
        AggregationRule::FedYogi { eta, beta1, beta2, tau } => AggregationRule::FedYogi {
            eta: micros(p, 0, eta)?,
            beta1: micros(p, 1, beta1)?,
            beta2: micros(p, 2, beta2)?,
            tau: micros(p, 3, tau)?,
        },
        AggregationRule::FedAdagrad { eta, beta1, tau } => AggregationRule::FedAdagrad {
            eta: micros(p, 0, eta)?,
            beta1: micros(p, 1, beta1)?,
            tau: micros(p, 2, tau)?,
        },
        AggregationRule::Scaffold { .. } => {
            return Err(Error::Unsupported("scaffold needs control-variate blobs".into()));
        }
        other => other,
    };
    rule.validate()?;
    Ok(rule)
}

/// The `RuleSpec` for a `chorus_fl` rule string such as `trimmed-mean:trim=0.2` (inverse of
/// [`aggregation_rule`]; used by task owners and the devnet).
pub fn rule_spec(rule: &str) -> Result<RuleSpec> {
    let r = AggregationRule::from_str(rule).map_err(|e| Error::Unsupported(e.to_string()))?;
    let m = |x: Micros| x.0 as i64;
    let params = match &r {
        AggregationRule::TrimmedMean { trim } => vec![m(*trim)],
        AggregationRule::Krum { f } | AggregationRule::Bulyan { f } => vec![i64::from(*f)],
        AggregationRule::MultiKrum { f, m: k } => vec![i64::from(*f), i64::from(*k)],
        AggregationRule::CenteredClipping { tau, iters } => vec![m(*tau), i64::from(*iters)],
        AggregationRule::FedAvgM { server_lr, momentum } => vec![m(*server_lr), m(*momentum)],
        AggregationRule::FedAdam { eta, beta1, beta2, tau }
        | AggregationRule::FedYogi { eta, beta1, beta2, tau } => {
            vec![m(*eta), m(*beta1), m(*beta2), m(*tau)]
        }
        AggregationRule::FedAdagrad { eta, beta1, tau } => vec![m(*eta), m(*beta1), m(*tau)],
        _ => vec![],
    };
    Ok(RuleSpec { id: r.name().replace('-', "_"), params })
}

impl TaskModel {
    /// Resolves a task spec.
    pub fn from_spec(spec: &TaskSpec) -> Result<TaskModel> {
        let arch = Arch::from_str(&spec.model.spec_id)?;
        Ok(TaskModel {
            arch,
            spec: Arc::new(arch.param_spec()),
            scale: FixedScale::default(),
            rule: aggregation_rule(&spec.aggregation)?,
        })
    }

    /// The initial model blob (version 0) for `arch` from an init seed, and its id.
    pub fn initial_model_blob(arch: Arch, seed: u64) -> Result<(Vec<u8>, chorus_types::Hash)> {
        let spec = Arc::new(arch.param_spec());
        let u = Update::from_f32_shared(spec, &arch.init_params(seed), FixedScale::default())?;
        let bytes = u.to_bytes();
        let id = crate::blobs::hash_of(&chorus_store::BlobId::of(&bytes));
        Ok((bytes, id))
    }

    /// Decodes a model (or update) blob and checks it has this task's layout and scale.
    pub fn decode(&self, bytes: &[u8]) -> Result<Update> {
        let limits = ValidationLimits { max_norm: None, max_bytes: None };
        Ok(chorus_fl::validate::validate_bytes(bytes, &self.spec, self.scale, &limits)?)
    }

    /// `base + delta` per coordinate, saturating to i32 (exact integers).
    pub fn apply_delta(&self, base: &Update, delta: &Update) -> Result<Update> {
        if base.values.len() != delta.values.len() {
            return Err(Error::Inconsistent("model and delta lengths differ".into()));
        }
        let values = base
            .values
            .iter()
            .zip(&delta.values)
            .map(|(a, b)| chorus_fl::fixed::sat_i32(i128::from(*a) + i128::from(*b)))
            .collect();
        Ok(Update::new(self.spec.clone(), self.scale, values)?)
    }

    /// The deterministic aggregation step: aggregates the accepted `(delta, weight)` pairs in
    /// order with the task's rule (carrying `state`), adds the step to `base`, and returns the new
    /// model's canonical bytes with the rule state after the round.
    pub fn aggregate(
        &self,
        base: &Update,
        deltas: &[(Update, u64)],
        state: ServerState,
    ) -> Result<(Vec<u8>, ServerState)> {
        let mut agg = ServerAggregator::with_state(self.rule.clone(), state);
        let mut inputs: Vec<WeightedInput<'_>> = deltas
            .iter()
            .map(|(u, w)| WeightedInput::new(SliceReader(&u.values), (*w).max(1)))
            .collect();
        let out =
            agg.aggregate(&self.spec, self.scale, &mut inputs, &AggregateOptions::default())?;
        let model = self.apply_delta(base, &out.aggregate)?;
        Ok((model.to_bytes(), agg.state))
    }

    /// Fixed-point L2 norm of an update (`⌊√Σq²⌋`, the `norm` of a `Reveal`).
    pub fn norm(u: &Update) -> u64 {
        u.norm_sq().isqrt().min(u128::from(u64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::learning::RuleSpec;

    fn tm(rule: &str) -> TaskModel {
        let arch = Arch::LogReg;
        TaskModel {
            arch,
            spec: Arc::new(arch.param_spec()),
            scale: FixedScale::default(),
            rule: aggregation_rule(&rule_spec(rule).unwrap()).unwrap(),
        }
    }

    fn delta(tm: &TaskModel, k: i32) -> Update {
        let n = tm.spec.num_params();
        let v = (0..n).map(|i| ((i as i32).wrapping_mul(31 + k) % 2001) - 1000 + k * 7).collect();
        Update::new(tm.spec.clone(), tm.scale, v).unwrap()
    }

    #[test]
    fn rule_specs_round_trip_through_the_chain_form() {
        let r = rule_spec("trimmed-mean:trim=0.1").unwrap();
        assert_eq!(r, RuleSpec { id: "trimmed_mean".into(), params: vec![100_000] });
        assert_eq!(
            aggregation_rule(&r).unwrap(),
            AggregationRule::TrimmedMean { trim: Micros(100_000) }
        );
        assert_eq!(
            aggregation_rule(&rule_spec("krum:f=1").unwrap()).unwrap(),
            AggregationRule::Krum { f: 1 }
        );
        assert!(aggregation_rule(&RuleSpec { id: "nope".into(), params: vec![] }).is_err());
        assert!(
            aggregation_rule(&RuleSpec { id: "trimmed_mean".into(), params: vec![-1] }).is_err()
        );
        assert!(aggregation_rule(&RuleSpec { id: "scaffold".into(), params: vec![] }).is_err());
    }

    #[test]
    fn the_chains_rule_list_and_this_codec_name_the_same_rules() {
        use chorus_types::learning::{AGGREGATION_RULES, SCORE_RULES};
        // Every rule the chain accepts maps onto a chorus-fl rule, with its defaults and with
        // its full parameter list (the parameters each rule's default carries).
        for (id, max) in AGGREGATION_RULES {
            let bare = aggregation_rule(&RuleSpec { id: (*id).into(), params: vec![] })
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(rule_spec(&bare.to_string()).unwrap().params.len(), *max, "{id}");
        }
        // Every chorus-fl rule but scaffold is on the chain's list.
        for name in AggregationRule::names() {
            let id = name.replace('-', "_");
            let listed = AGGREGATION_RULES.iter().any(|(i, _)| *i == id);
            assert_eq!(listed, *name != "scaffold", "{name}");
        }
        for id in SCORE_RULES {
            crate::validator::ScoreRule::from_id(id).unwrap();
        }
        assert!(crate::validator::ScoreRule::from_id("accuracy").is_err());
    }

    #[test]
    fn aggregate_recomputation_is_byte_identical_across_runs_and_rules() {
        for rule in ["fedavg", "median", "trimmed-mean:trim=0.2", "krum:f=1", "centered-clipping"] {
            let m = tm(rule);
            let (base_bytes, _) = TaskModel::initial_model_blob(Arch::LogReg, 3).unwrap();
            let base = m.decode(&base_bytes).unwrap();
            let inputs: Vec<(Update, u64)> =
                (0..5).map(|k| (delta(&m, k), 100 + k as u64)).collect();
            let (a, sa) = m.aggregate(&base, &inputs, ServerState::default()).unwrap();
            let (b, sb) = m.aggregate(&base, &inputs, ServerState::default()).unwrap();
            assert_eq!(a, b, "{rule}");
            assert_eq!(sa, sb);
            assert_ne!(a, base_bytes, "{rule}: the model moved");
            assert!(m.decode(&a).is_ok());
        }
    }

    #[test]
    fn apply_delta_saturates_and_rejects_wrong_lengths() {
        let m = tm("fedavg");
        let n = m.spec.num_params();
        let base = Update::new(m.spec.clone(), m.scale, vec![i32::MAX; n]).unwrap();
        let d = Update::new(m.spec.clone(), m.scale, vec![5; n]).unwrap();
        assert!(m.apply_delta(&base, &d).unwrap().values.iter().all(|v| *v == i32::MAX));
        let other = Update::new(Arc::new(ModelSpec::flat(3)), m.scale, vec![1, 2, 3]).unwrap();
        assert!(m.apply_delta(&base, &other).is_err());
    }
}
