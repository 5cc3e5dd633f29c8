//! Validation of incoming updates against the task's model spec, with typed rejection reasons.

use serde::{Deserialize, Serialize};

use crate::fixed::Micros;
use crate::{FixedScale, ModelSpec, Update};

/// Why an update was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ValidationError {
    /// Flat length differs from the spec.
    #[error("wrong number of values: expected {expected}, got {got}")]
    WrongLength {
        /// Expected count.
        expected: usize,
        /// Actual count.
        got: usize,
    },
    /// A tensor's shape differs from the spec.
    #[error("tensor {tensor}: shape {got:?} != expected {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        tensor: String,
        /// Spec shape.
        expected: Vec<usize>,
        /// Supplied shape.
        got: Vec<usize>,
    },
    /// A tensor has an unsupported dtype.
    #[error("tensor {tensor}: unsupported dtype {dtype}")]
    DtypeMismatch {
        /// Tensor name.
        tensor: String,
        /// Supplied dtype.
        dtype: String,
    },
    /// A spec tensor is absent.
    #[error("missing tensor {tensor}")]
    MissingTensor {
        /// Tensor name.
        tensor: String,
    },
    /// A tensor not in the spec is present.
    #[error("unexpected tensor {tensor}")]
    UnexpectedTensor {
        /// Tensor name.
        tensor: String,
    },
    /// NaN or ±Inf (detected before quantization).
    #[error("non-finite value in tensor {tensor} at flat index {index}")]
    NonFinite {
        /// Tensor name.
        tensor: String,
        /// Flat index.
        index: usize,
    },
    /// L2 norm above the task bound.
    #[error("L2 norm {norm_micros} µ exceeds bound {max_micros} µ")]
    NormTooLarge {
        /// Norm (millionths, rounded up).
        norm_micros: u64,
        /// Bound (millionths).
        max_micros: u64,
    },
    /// Encoded size above the task limit.
    #[error("size {bytes} B exceeds limit {limit} B")]
    TooLarge {
        /// Encoded size.
        bytes: u64,
        /// Limit.
        limit: u64,
    },
    /// Fixed-point scale differs from the task's.
    #[error("fixed-point scale mismatch: expected {expected} fractional bits, got {got:?}")]
    ScaleMismatch {
        /// Task frac bits.
        expected: u8,
        /// Supplied frac bits (None: not stated).
        got: Option<u8>,
    },
    /// Unsupported number of fractional bits.
    #[error("unsupported fixed-point scale: {frac_bits} fractional bits")]
    BadScale {
        /// Supplied frac bits.
        frac_bits: u8,
    },
    /// Undecodable bytes.
    #[error("malformed update: {0}")]
    Malformed(String),
}

/// Per-task acceptance limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationLimits {
    /// Maximum L2 norm of an update (None: unbounded).
    pub max_norm: Option<Micros>,
    /// Maximum encoded size in bytes (None: unbounded).
    pub max_bytes: Option<u64>,
}

/// Exact L2 norm check: `‖u‖ ≤ max` ⇔ `‖q‖² ≤ (max·2^f)²` in integers.
pub fn check_norm(u: &Update, max: Micros) -> Result<(), ValidationError> {
    let n2 = u.norm_sq();
    let bound = max.to_fixed(u.scale).max(0) as u128;
    if n2 > bound * bound {
        // Report the norm in millionths, rounded up.
        let q = n2.isqrt() + 1;
        let micros = (q * 1_000_000).div_ceil(u.scale.one() as u128);
        return Err(ValidationError::NormTooLarge {
            norm_micros: micros.min(u64::MAX as u128) as u64,
            max_micros: max.0,
        });
    }
    Ok(())
}

/// Validates an already-decoded update against the task: spec, scale and norm.
pub fn validate_update(
    u: &Update,
    spec: &ModelSpec,
    scale: FixedScale,
    limits: &ValidationLimits,
) -> Result<(), ValidationError> {
    if u.scale != scale {
        return Err(ValidationError::ScaleMismatch {
            expected: scale.frac_bits,
            got: Some(u.scale.frac_bits),
        });
    }
    if *u.spec != *spec {
        for t in &spec.tensors {
            match u.spec.tensors.iter().find(|x| x.name == t.name) {
                None => return Err(ValidationError::MissingTensor { tensor: t.name.clone() }),
                Some(x) if x.shape != t.shape => {
                    return Err(ValidationError::ShapeMismatch {
                        tensor: t.name.clone(),
                        expected: t.shape.clone(),
                        got: x.shape.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(x) =
            u.spec.tensors.iter().find(|x| !spec.tensors.iter().any(|t| t.name == x.name))
        {
            return Err(ValidationError::UnexpectedTensor { tensor: x.name.clone() });
        }
        return Err(ValidationError::Malformed("tensor order differs from the spec".into()));
    }
    if u.values.len() != spec.num_params() {
        return Err(ValidationError::WrongLength {
            expected: spec.num_params(),
            got: u.values.len(),
        });
    }
    if let Some(max) = limits.max_norm {
        check_norm(u, max)?;
    }
    Ok(())
}

/// Validates and decodes an uploaded blob: size limit first (before parsing), then the canonical
/// encoding or safetensors (detected by the `CHFU` magic), then [`validate_update`].
pub fn validate_bytes(
    bytes: &[u8],
    spec: &ModelSpec,
    scale: FixedScale,
    limits: &ValidationLimits,
) -> Result<Update, ValidationError> {
    if let Some(limit) = limits.max_bytes.filter(|&l| bytes.len() as u64 > l) {
        return Err(ValidationError::TooLarge { bytes: bytes.len() as u64, limit });
    }
    let u = if bytes.starts_with(b"CHFU") {
        Update::from_bytes(bytes)?
    } else {
        Update::from_safetensors(bytes, spec, scale)?
    };
    validate_update(&u, spec, scale, limits)?;
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorSpec;

    fn spec() -> ModelSpec {
        ModelSpec::new(vec![TensorSpec::new("w", vec![3]), TensorSpec::new("b", vec![1])])
    }

    #[test]
    fn validation_rejects_over_norm_and_over_size_with_typed_reasons() {
        let s = FixedScale::default();
        let u = Update::from_f32(&spec(), &[3.0, 4.0, 0.0, 0.0], s).unwrap();
        let ok = ValidationLimits { max_norm: Some(Micros::from_int(5)), max_bytes: Some(1000) };
        assert_eq!(validate_bytes(&u.to_bytes(), &spec(), s, &ok).unwrap(), u);
        let tight = ValidationLimits { max_norm: Some("4.99".parse().unwrap()), max_bytes: None };
        assert!(matches!(
            validate_update(&u, &spec(), s, &tight),
            Err(ValidationError::NormTooLarge { max_micros: 4_990_000, .. })
        ));
        let small = ValidationLimits { max_norm: None, max_bytes: Some(10) };
        assert!(matches!(
            validate_bytes(&u.to_bytes(), &spec(), s, &small),
            Err(ValidationError::TooLarge { limit: 10, .. })
        ));
    }

    #[test]
    fn validation_rejects_wrong_shape_and_scale() {
        let s = FixedScale::default();
        let other =
            ModelSpec::new(vec![TensorSpec::new("w", vec![1, 3]), TensorSpec::new("b", vec![1])]);
        let u = Update::from_f32(&other, &[1.0; 4], s).unwrap();
        assert!(matches!(
            validate_update(&u, &spec(), s, &ValidationLimits::default()),
            Err(ValidationError::ShapeMismatch { .. })
        ));
        let v = Update::from_f32(&spec(), &[1.0; 4], FixedScale::new(8).unwrap()).unwrap();
        assert!(matches!(
            validate_update(&v, &spec(), s, &ValidationLimits::default()),
            Err(ValidationError::ScaleMismatch { .. })
        ));
        assert!(matches!(
            validate_bytes(b"garbage", &spec(), s, &ValidationLimits::default()),
            Err(ValidationError::Malformed(_))
        ));
    }
}
