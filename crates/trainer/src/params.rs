//! Parameter exchange formats: `f32` safetensors (one tensor per [`ModelSpec`] entry, metadata
//! `{"chorus.format": "f32"}`; `chorus_fl::Update::from_safetensors` reads the same files) and the
//! fixed-point [`Update`] of `chorus_fl`.
//!
//! Round trips: safetensors is exact (bit-identical `f32`). The fixed-point format with `frac_bits = f`
//! is within `2^-(f+1)` per value (plus half an `f32` ulp of the value) for `|x| < 2^(31-f)` — the bound
//! documented in `chorus_fl::update`.

use std::collections::HashMap;

use chorus_fl::update::{FixedScale, ModelSpec, Update};

use crate::error::{Error, Result};
use crate::model::Model;

/// Encodes flat `f32` parameters laid out by `spec` as safetensors bytes.
pub fn to_safetensors(spec: &ModelSpec, params: &[f32]) -> Result<Vec<u8>> {
    if params.len() != spec.num_params() {
        return Err(Error::ParamMismatch(format!(
            "{} values for a spec of {}",
            params.len(),
            spec.num_params()
        )));
    }
    let mut bufs = Vec::with_capacity(spec.tensors.len());
    let mut off = 0;
    for t in &spec.tensors {
        let n = t.numel();
        bufs.push(params[off..off + n].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        off += n;
    }
    let views = spec
        .tensors
        .iter()
        .zip(&bufs)
        .map(|(t, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::SafeTensors(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("chorus.format".to_string(), "f32".to_string())]);
    safetensors::tensor::serialize(views, Some(meta)).map_err(|e| Error::SafeTensors(e.to_string()))
}

/// Decodes safetensors bytes into flat `f32` parameters laid out by `spec`: every spec tensor must be
/// present as `F32` with the spec's shape, no extra tensors, all values finite.
pub fn from_safetensors(bytes: &[u8], spec: &ModelSpec) -> Result<Vec<f32>> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| Error::SafeTensors(e.to_string()))?;
    if let Some(extra) =
        st.names().into_iter().find(|n| !spec.tensors.iter().any(|t| t.name == **n))
    {
        return Err(Error::ParamMismatch(format!("unexpected tensor {extra:?}")));
    }
    let mut out = Vec::with_capacity(spec.num_params());
    for t in &spec.tensors {
        let v = st
            .tensor(&t.name)
            .map_err(|_| Error::ParamMismatch(format!("missing tensor {:?}", t.name)))?;
        if v.dtype() != safetensors::Dtype::F32 {
            return Err(Error::ParamMismatch(format!(
                "tensor {:?} is {:?}, expected F32",
                t.name,
                v.dtype()
            )));
        }
        if v.shape() != t.shape.as_slice() {
            return Err(Error::ParamMismatch(format!(
                "tensor {:?} has shape {:?}, expected {:?}",
                t.name,
                v.shape(),
                t.shape
            )));
        }
        let base = out.len();
        out.extend(v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        if let Some(i) = out[base..].iter().position(|x| !x.is_finite()) {
            return Err(Error::ParamMismatch(format!("non-finite value in {:?} at {i}", t.name)));
        }
    }
    Ok(out)
}

/// The model's parameters as safetensors bytes.
pub fn model_to_safetensors<M: Model + ?Sized>(model: &M) -> Result<Vec<u8>> {
    to_safetensors(&model.param_spec(), &model.params()?)
}

/// Loads safetensors bytes into the model.
pub fn model_from_safetensors<M: Model + ?Sized>(model: &mut M, bytes: &[u8]) -> Result<()> {
    let p = from_safetensors(bytes, &model.param_spec())?;
    model.set_params(&p)
}

/// Quantizes flat parameters (or a delta) to a fixed-point [`Update`].
pub fn to_update(spec: &ModelSpec, values: &[f32], scale: FixedScale) -> Result<Update> {
    Ok(Update::from_f32(spec, values, scale)?)
}

/// Dequantizes an [`Update`] laid out by `spec` (the specs must be equal).
pub fn from_update(update: &Update, spec: &ModelSpec) -> Result<Vec<f32>> {
    if update.spec.as_ref() != spec {
        return Err(Error::ParamMismatch("update was made for a different model spec".into()));
    }
    Ok(update.to_f32())
}

/// The model's parameters as a fixed-point [`Update`] (e.g. to publish a global model).
pub fn model_to_update<M: Model + ?Sized>(model: &M, scale: FixedScale) -> Result<Update> {
    to_update(&model.param_spec(), &model.params()?, scale)
}

/// Sets the model's parameters from a fixed-point [`Update`] holding a full model (the global model).
pub fn set_model_from_update<M: Model + ?Sized>(model: &mut M, update: &Update) -> Result<()> {
    let p = from_update(update, &model.param_spec())?;
    model.set_params(&p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, BurnModel};

    #[test]
    fn safetensors_round_trip_is_bit_exact() {
        let mut m = BurnModel::new(Arch::Mlp, 4).unwrap();
        let p = m.params().unwrap();
        let bytes = model_to_safetensors(&m).unwrap();
        m.set_params(&vec![0.0; p.len()]).unwrap();
        model_from_safetensors(&mut m, &bytes).unwrap();
        let q = m.params().unwrap();
        assert!(p.iter().zip(&q).all(|(a, b)| a.to_bits() == b.to_bits()));
        // chorus-fl reads the same file and quantizes it.
        let u = Update::from_safetensors(&bytes, &Arch::Mlp.param_spec(), FixedScale::default())
            .unwrap();
        assert_eq!(u.num_params(), p.len());
    }

    #[test]
    fn safetensors_rejects_a_different_model() {
        let bytes =
            to_safetensors(&Arch::LogReg.param_spec(), &Arch::LogReg.init_params(0)).unwrap();
        assert!(matches!(
            from_safetensors(&bytes, &Arch::Mlp.param_spec()),
            Err(Error::ParamMismatch(_))
        ));
        assert!(from_safetensors(&bytes[..bytes.len() - 1], &Arch::LogReg.param_spec()).is_err());
        assert!(to_safetensors(&Arch::LogReg.param_spec(), &[0.0; 4]).is_err());
    }

    #[test]
    fn fixed_point_round_trip_is_within_the_documented_bound() {
        for frac_bits in [8u8, 16, 24] {
            let scale = FixedScale::new(frac_bits).unwrap();
            let mut m = BurnModel::new(Arch::Mlp, 2).unwrap();
            let p = m.params().unwrap();
            let u = model_to_update(&m, scale).unwrap();
            set_model_from_update(&mut m, &u).unwrap();
            let q = m.params().unwrap();
            let bound = scale.error_bound();
            for (a, b) in p.iter().zip(&q) {
                let slack = (a.abs() as f64) * f32::EPSILON as f64;
                assert!(((a - b).abs() as f64) <= bound + slack, "{a} vs {b} at {frac_bits} bits");
            }
        }
    }

    #[test]
    fn update_for_another_spec_or_with_nan_is_rejected() {
        let spec = Arch::LogReg.param_spec();
        let u = to_update(&spec, &Arch::LogReg.init_params(0), FixedScale::default()).unwrap();
        assert!(from_update(&u, &Arch::Mlp.param_spec()).is_err());
        let mut bad = Arch::LogReg.init_params(0);
        bad[7] = f32::NAN;
        assert!(matches!(to_update(&spec, &bad, FixedScale::default()), Err(Error::Update(_))));
    }
}
