//! Update format: named tensors quantized to fixed-point `i32` with a per-task scale.
//!
//! # Fixed-point format
//! A real value `x` is stored as `q = sat_i32(round_half_away(x · 2^frac_bits))`. Dequantization is
//! `q / 2^frac_bits`, computed exactly in `f64`. For `|x · 2^frac_bits| ≤ i32::MAX` the error bound is
//! `|x − dequant(quant(x))| ≤ 2^-(frac_bits+1)`; outside that range the value saturates to
//! `i32::MIN`/`i32::MAX`. [`Update::to_f32`] additionally rounds the exact `f64` dequantized value to the
//! nearest `f32` (at most half an `f32` ulp of the value on top of the bound).
//!
//! # Canonical byte encoding ([`Update::to_bytes`])
//! All integers little-endian:
//! ```text
//! magic   b"CHFU"            4 bytes
//! version u8 = 1
//! frac_bits u8
//! reserved u16 = 0
//! num_tensors u32
//! per tensor: name_len u32, name (UTF-8), ndim u32, dims u64 × ndim
//! num_values u64
//! values  i32 × num_values
//! ```
//! Decoding rejects trailing bytes, wrong lengths and non-zero reserved bits, so the encoding is canonical
//! (one byte string per update).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Error, ValidationError};

/// One named tensor of a model.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Tensor name (unique within a model).
    pub name: String,
    /// Tensor shape; the number of elements is the product (1 for a scalar).
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Creates a tensor spec.
    pub fn new(name: impl Into<String>, shape: Vec<usize>) -> Self {
        Self { name: name.into(), shape }
    }
    /// Number of elements (product of the shape).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The ordered list of tensors making up a model; values are laid out tensor after tensor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Tensors in storage order.
    pub tensors: Vec<TensorSpec>,
}

impl ModelSpec {
    /// Creates a model spec from its tensors.
    pub fn new(tensors: Vec<TensorSpec>) -> Self {
        Self { tensors }
    }
    /// A model made of a single flat tensor named `"params"` with `n` elements.
    pub fn flat(n: usize) -> Self {
        Self { tensors: vec![TensorSpec::new("params", vec![n])] }
    }
    /// Total number of parameters.
    pub fn num_params(&self) -> usize {
        self.tensors.iter().map(TensorSpec::numel).sum()
    }
    /// Name of the tensor containing flat parameter index `index`, if any.
    pub fn tensor_of(&self, mut index: usize) -> Option<&str> {
        for t in &self.tensors {
            if index < t.numel() {
                return Some(&t.name);
            }
            index -= t.numel();
        }
        None
    }
}

/// Fixed-point scale: a value `x` is stored as `round(x · 2^frac_bits)` saturated to `i32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedScale {
    /// Number of fractional bits (at most [`FixedScale::MAX_FRAC_BITS`]).
    pub frac_bits: u8,
}

impl Default for FixedScale {
    fn default() -> Self {
        Self { frac_bits: 16 }
    }
}

impl FixedScale {
    /// Largest supported number of fractional bits.
    pub const MAX_FRAC_BITS: u8 = 30;

    /// Creates a scale, rejecting `frac_bits > MAX_FRAC_BITS`.
    pub fn new(frac_bits: u8) -> Result<Self, ValidationError> {
        if frac_bits > Self::MAX_FRAC_BITS {
            return Err(ValidationError::BadScale { frac_bits });
        }
        Ok(Self { frac_bits })
    }
    /// `2^frac_bits` as f64.
    pub fn factor(self) -> f64 {
        (1u64 << self.frac_bits) as f64
    }
    /// `2^frac_bits` as an integer.
    pub fn one(self) -> i64 {
        1i64 << self.frac_bits
    }
    /// Quantizes one finite value (round half away from zero, saturating). NaN maps to 0; callers
    /// validate first.
    pub fn quantize(self, x: f32) -> i32 {
        // x · 2^f is exact in f64 (f32 mantissa + power of two); `round` is exactly specified and
        // `as i32` saturates, so the result is identical on every platform.
        ((x as f64) * self.factor()).round() as i32
    }
    /// Exact dequantization to f64.
    pub fn dequantize_f64(self, q: i32) -> f64 {
        q as f64 / self.factor()
    }
    /// Dequantization to f32 (exact f64 value rounded to nearest f32).
    pub fn dequantize(self, q: i32) -> f32 {
        self.dequantize_f64(q) as f32
    }
    /// The documented absolute error bound `2^-(frac_bits+1)` for in-range values.
    pub fn error_bound(self) -> f64 {
        0.5 / self.factor()
    }
    /// Largest magnitude representable without saturation.
    pub fn max_abs(self) -> f64 {
        i32::MAX as f64 / self.factor()
    }
}

/// A quantized model update (or model): fixed-point values laid out as described by `spec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The model layout (shared: cloning an update does not copy the spec).
    pub spec: Arc<ModelSpec>,
    /// Fixed-point scale of `values`.
    pub scale: FixedScale,
    /// Flat values, `spec.num_params()` of them.
    pub values: Vec<i32>,
}

const MAGIC: &[u8; 4] = b"CHFU";
const VERSION: u8 = 1;

impl Update {
    /// Builds an update from already-quantized values, checking the length.
    pub fn new(
        spec: Arc<ModelSpec>,
        scale: FixedScale,
        values: Vec<i32>,
    ) -> Result<Self, ValidationError> {
        let expected = spec.num_params();
        if values.len() != expected {
            return Err(ValidationError::WrongLength { expected, got: values.len() });
        }
        if scale.frac_bits > FixedScale::MAX_FRAC_BITS {
            return Err(ValidationError::BadScale { frac_bits: scale.frac_bits });
        }
        Ok(Self { spec, scale, values })
    }

    /// An all-zero update.
    pub fn zeros(spec: Arc<ModelSpec>, scale: FixedScale) -> Self {
        let n = spec.num_params();
        Self { spec, scale, values: vec![0; n] }
    }

    /// Quantizes `values`, rejecting a wrong length or any NaN/Inf *before* quantizing.
    pub fn from_f32(
        spec: &ModelSpec,
        values: &[f32],
        scale: FixedScale,
    ) -> Result<Self, ValidationError> {
        Self::from_f32_shared(Arc::new(spec.clone()), values, scale)
    }

    /// Like [`Update::from_f32`] with a shared spec.
    pub fn from_f32_shared(
        spec: Arc<ModelSpec>,
        values: &[f32],
        scale: FixedScale,
    ) -> Result<Self, ValidationError> {
        let expected = spec.num_params();
        if values.len() != expected {
            return Err(ValidationError::WrongLength { expected, got: values.len() });
        }
        if scale.frac_bits > FixedScale::MAX_FRAC_BITS {
            return Err(ValidationError::BadScale { frac_bits: scale.frac_bits });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            let tensor = spec.tensor_of(index).unwrap_or_default().to_string();
            return Err(ValidationError::NonFinite { tensor, index });
        }
        let q = values.iter().map(|&v| scale.quantize(v)).collect();
        Ok(Self { spec, scale, values: q })
    }

    /// Dequantizes to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&q| self.scale.dequantize(q)).collect()
    }

    /// Dequantizes to f64 (exact).
    pub fn to_f64(&self) -> Vec<f64> {
        self.values.iter().map(|&q| self.scale.dequantize_f64(q)).collect()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.values.len()
    }

    /// Squared L2 norm in fixed-point units (exact).
    pub fn norm_sq(&self) -> u128 {
        crate::fixed::norm_sq(&self.values)
    }

    /// Canonical byte encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.values.len() * 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.scale.frac_bits);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(self.spec.tensors.len() as u32).to_le_bytes());
        for t in &self.spec.tensors {
            out.extend_from_slice(&(t.name.len() as u32).to_le_bytes());
            out.extend_from_slice(t.name.as_bytes());
            out.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for &d in &t.shape {
                out.extend_from_slice(&(d as u64).to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.values.len() as u64).to_le_bytes());
        for v in &self.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes [`Update::to_bytes`] output, rejecting anything non-canonical.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ValidationError> {
        let mut r = ByteReader { b: bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(ValidationError::Malformed("bad magic".into()));
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(ValidationError::Malformed(format!("unsupported version {version}")));
        }
        let frac_bits = r.take(1)?[0];
        let scale = FixedScale::new(frac_bits)?;
        if r.u16()? != 0 {
            return Err(ValidationError::Malformed("reserved bits set".into()));
        }
        let nt = r.u32()? as usize;
        let mut tensors = Vec::with_capacity(nt.min(1024));
        for _ in 0..nt {
            let nl = r.u32()? as usize;
            let name = std::str::from_utf8(r.take(nl)?)
                .map_err(|_| ValidationError::Malformed("tensor name is not UTF-8".into()))?
                .to_string();
            let nd = r.u32()? as usize;
            let mut shape = Vec::with_capacity(nd.min(64));
            for _ in 0..nd {
                let d = usize::try_from(r.u64()?)
                    .map_err(|_| ValidationError::Malformed("dimension overflow".into()))?;
                shape.push(d);
            }
            tensors.push(TensorSpec { name, shape });
        }
        let spec = ModelSpec { tensors };
        let n = usize::try_from(r.u64()?)
            .map_err(|_| ValidationError::Malformed("length overflow".into()))?;
        let expected = checked_num_params(&spec)
            .ok_or_else(|| ValidationError::Malformed("shape overflow".into()))?;
        if n != expected {
            return Err(ValidationError::WrongLength { expected, got: n });
        }
        let rest = &bytes[r.pos..];
        if rest.len()
            != n.checked_mul(4)
                .ok_or_else(|| ValidationError::Malformed("length overflow".into()))?
        {
            return Err(ValidationError::Malformed(format!(
                "expected {} value bytes, got {}",
                n * 4,
                rest.len()
            )));
        }
        let values =
            rest.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Self { spec: Arc::new(spec), scale, values })
    }

    /// Encodes as safetensors: one `I32` tensor per spec tensor, metadata
    /// `{"chorus.frac_bits": "<n>", "chorus.format": "fixed-i32"}`.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, Error> {
        let mut views = Vec::with_capacity(self.spec.tensors.len());
        let mut bytes: Vec<Vec<u8>> = Vec::with_capacity(self.spec.tensors.len());
        let mut off = 0;
        for t in &self.spec.tensors {
            let n = t.numel();
            let b: Vec<u8> =
                self.values[off..off + n].iter().flat_map(|v| v.to_le_bytes()).collect();
            bytes.push(b);
            off += n;
        }
        for (t, b) in self.spec.tensors.iter().zip(&bytes) {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::I32, t.shape.clone(), b)
                    .map_err(|e| Error::Encoding(e.to_string()))?;
            views.push((t.name.clone(), view));
        }
        let mut meta = std::collections::HashMap::new();
        meta.insert("chorus.frac_bits".to_string(), self.scale.frac_bits.to_string());
        meta.insert("chorus.format".to_string(), "fixed-i32".to_string());
        safetensors::tensor::serialize(views, Some(meta))
            .map_err(|e| Error::Encoding(e.to_string()))
    }

    /// Decodes safetensors against the task's `spec`. `I32` tensors must carry `chorus.frac_bits`
    /// equal to `scale`; `F32` tensors are validated (finite) and quantized with `scale`. Any other
    /// dtype, a missing/extra tensor or a shape mismatch is a typed rejection.
    pub fn from_safetensors(
        bytes: &[u8],
        spec: &ModelSpec,
        scale: FixedScale,
    ) -> Result<Self, ValidationError> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| ValidationError::Malformed(e.to_string()))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| ValidationError::Malformed(e.to_string()))?;
        let file_bits = meta.metadata().as_ref().and_then(|m| m.get("chorus.frac_bits")).cloned();
        if st.len() != spec.tensors.len() {
            for name in st.names() {
                if !spec.tensors.iter().any(|t| t.name == *name) {
                    return Err(ValidationError::UnexpectedTensor { tensor: name.to_string() });
                }
            }
        }
        let mut values = Vec::with_capacity(spec.num_params());
        for t in &spec.tensors {
            let view = st
                .tensor(&t.name)
                .map_err(|_| ValidationError::MissingTensor { tensor: t.name.clone() })?;
            if view.shape() != t.shape.as_slice() {
                return Err(ValidationError::ShapeMismatch {
                    tensor: t.name.clone(),
                    expected: t.shape.clone(),
                    got: view.shape().to_vec(),
                });
            }
            let data = view.data();
            match view.dtype() {
                safetensors::Dtype::I32 => {
                    let bits: Option<u8> = file_bits.as_deref().and_then(|s| s.parse().ok());
                    if bits != Some(scale.frac_bits) {
                        return Err(ValidationError::ScaleMismatch {
                            expected: scale.frac_bits,
                            got: bits,
                        });
                    }
                    values.extend(
                        data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    );
                }
                safetensors::Dtype::F32 => {
                    let base = values.len();
                    for (i, c) in data.chunks_exact(4).enumerate() {
                        let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                        if !x.is_finite() {
                            return Err(ValidationError::NonFinite {
                                tensor: t.name.clone(),
                                index: base + i,
                            });
                        }
                        values.push(scale.quantize(x));
                    }
                }
                other => {
                    return Err(ValidationError::DtypeMismatch {
                        tensor: t.name.clone(),
                        dtype: format!("{other:?}"),
                    });
                }
            }
        }
        Update::new(Arc::new(spec.clone()), scale, values)
    }
}

fn checked_num_params(spec: &ModelSpec) -> Option<usize> {
    spec.tensors.iter().try_fold(0usize, |acc, t| {
        let n = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))?;
        acc.checked_add(n)
    })
}

struct ByteReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ValidationError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| ValidationError::Malformed("truncated".into()))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, ValidationError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, ValidationError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, ValidationError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

/// Streaming input: a source of fixed-point values read chunk by chunk (the blob store implements it
/// over HTTP/disk). Aggregators read each chunk exactly once per pass, in increasing offsets, but may
/// make several passes (e.g. norm bounding, centered clipping).
pub trait UpdateReader: Send {
    /// Total number of parameters.
    fn num_params(&self) -> usize;
    /// Fills `out` with values `offset .. offset + out.len()`.
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error>;
    /// Values `offset .. offset + len` borrowed in place, when the reader holds them in memory
    /// (lets means skip a copy). `None` (the default) means "use [`read_chunk`](Self::read_chunk)".
    fn chunk_slice(&self, offset: usize, len: usize) -> Option<&[i32]> {
        let _ = (offset, len);
        None
    }
}

fn slice_read(values: &[i32], offset: usize, out: &mut [i32]) -> Result<(), Error> {
    let end = offset.checked_add(out.len()).filter(|&e| e <= values.len()).ok_or(Error::Read {
        offset,
        reason: format!("range of {} past end {}", out.len(), values.len()),
    })?;
    out.copy_from_slice(&values[offset..end]);
    Ok(())
}

impl UpdateReader for Update {
    fn num_params(&self) -> usize {
        self.values.len()
    }
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error> {
        slice_read(&self.values, offset, out)
    }
    fn chunk_slice(&self, offset: usize, len: usize) -> Option<&[i32]> {
        self.values.get(offset..offset.checked_add(len)?)
    }
}

/// Borrowed in-memory reader over fixed-point values.
#[derive(Clone, Copy, Debug)]
pub struct SliceReader<'a>(pub &'a [i32]);

impl UpdateReader for SliceReader<'_> {
    fn num_params(&self) -> usize {
        self.0.len()
    }
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error> {
        slice_read(self.0, offset, out)
    }
    fn chunk_slice(&self, offset: usize, len: usize) -> Option<&[i32]> {
        self.0.get(offset..offset.checked_add(len)?)
    }
}

impl<'a> From<&'a Update> for SliceReader<'a> {
    fn from(u: &'a Update) -> Self {
        SliceReader(&u.values)
    }
}

impl<R: UpdateReader + ?Sized> UpdateReader for Box<R> {
    fn num_params(&self) -> usize {
        (**self).num_params()
    }
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error> {
        (**self).read_chunk(offset, out)
    }
    fn chunk_slice(&self, offset: usize, len: usize) -> Option<&[i32]> {
        (**self).chunk_slice(offset, len)
    }
}

impl<R: UpdateReader + ?Sized> UpdateReader for &mut R {
    fn num_params(&self) -> usize {
        (**self).num_params()
    }
    fn read_chunk(&mut self, offset: usize, out: &mut [i32]) -> Result<(), Error> {
        (**self).read_chunk(offset, out)
    }
    fn chunk_slice(&self, offset: usize, len: usize) -> Option<&[i32]> {
        (**self).chunk_slice(offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ModelSpec {
        ModelSpec::new(vec![TensorSpec::new("w", vec![2, 2]), TensorSpec::new("b", vec![1])])
    }

    #[test]
    fn quantization_error_is_within_documented_bound() {
        let s = FixedScale::new(12).unwrap();
        let xs: Vec<f32> =
            (0..5000).map(|i| ((i as f32) * 0.7311).sin() * 100.0 + (i as f32) * 1e-3).collect();
        let sp = ModelSpec::flat(xs.len());
        let u = Update::from_f32(&sp, &xs, s).unwrap();
        for (x, y) in xs.iter().zip(u.to_f64()) {
            assert!((*x as f64 - y).abs() <= s.error_bound(), "{x} vs {y}");
        }
    }

    #[test]
    fn quantization_saturates_out_of_range_values() {
        let s = FixedScale::default();
        assert_eq!(s.quantize(1e9), i32::MAX);
        assert_eq!(s.quantize(-1e9), i32::MIN);
        assert_eq!(s.quantize(0.5 / 65536.0), 1); // half away from zero
        assert_eq!(s.quantize(-0.5 / 65536.0), -1);
    }

    #[test]
    fn from_f32_rejects_nan_inf_and_wrong_length_with_typed_reasons() {
        let sp = spec();
        let s = FixedScale::default();
        assert_eq!(
            Update::from_f32(&sp, &[0.0; 4], s),
            Err(ValidationError::WrongLength { expected: 5, got: 4 })
        );
        assert_eq!(
            Update::from_f32(&sp, &[0.0, 0.0, 0.0, 0.0, f32::NAN], s),
            Err(ValidationError::NonFinite { tensor: "b".into(), index: 4 })
        );
        assert_eq!(
            Update::from_f32(&sp, &[0.0, f32::INFINITY, 0.0, 0.0, 0.0], s),
            Err(ValidationError::NonFinite { tensor: "w".into(), index: 1 })
        );
    }

    #[test]
    fn byte_encoding_matches_golden_fixture_and_roundtrips() {
        let u =
            Update::from_f32(&spec(), &[1.0, -1.0, 0.5, 0.0, -2.25], FixedScale::new(8).unwrap())
                .unwrap();
        let b = u.to_bytes();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(
            hex,
            "43484655010800000200000001000000770200000002000000000000000200000000000000\
             010000006201000000010000000000000005000000000000000001000000ffffff80000000\
             00000000c0fdffff"
        );
        assert_eq!(Update::from_bytes(&b).unwrap(), u);
        let mut extra = b.clone();
        extra.push(0);
        assert!(matches!(Update::from_bytes(&extra), Err(ValidationError::Malformed(_))));
        assert!(matches!(
            Update::from_bytes(&b[..b.len() - 1]),
            Err(ValidationError::Malformed(_))
        ));
    }

    #[test]
    fn safetensors_roundtrip_and_rejections() {
        let s = FixedScale::default();
        let u = Update::from_f32(&spec(), &[1.0, -1.0, 0.5, 0.0, -2.25], s).unwrap();
        let st = u.to_safetensors().unwrap();
        assert_eq!(Update::from_safetensors(&st, &spec(), s).unwrap(), u);
        assert!(matches!(
            Update::from_safetensors(&st, &spec(), FixedScale::new(8).unwrap()),
            Err(ValidationError::ScaleMismatch { .. })
        ));
        let other =
            ModelSpec::new(vec![TensorSpec::new("w", vec![4]), TensorSpec::new("b", vec![1])]);
        assert!(matches!(
            Update::from_safetensors(&st, &other, s),
            Err(ValidationError::ShapeMismatch { .. })
        ));
        let missing =
            ModelSpec::new(vec![TensorSpec::new("w", vec![2, 2]), TensorSpec::new("c", vec![1])]);
        assert!(matches!(
            Update::from_safetensors(&st, &missing, s),
            Err(ValidationError::UnexpectedTensor { .. } | ValidationError::MissingTensor { .. })
        ));
        // f32 safetensors with a NaN is rejected before quantization; f64 is a dtype mismatch.
        let bad: Vec<u8> =
            [1.0f32, f32::NAN, 0.0, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b1: Vec<u8> = 0.0f32.to_le_bytes().to_vec();
        let v1 = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &bad)
            .unwrap();
        let v2 =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &b1).unwrap();
        let f = safetensors::tensor::serialize(vec![("w", v1), ("b", v2)], None).unwrap();
        assert_eq!(
            Update::from_safetensors(&f, &spec(), s),
            Err(ValidationError::NonFinite { tensor: "w".into(), index: 1 })
        );
        let d: Vec<u8> = [0.0f64; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
        let v3 =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2, 2], &d).unwrap();
        let v4 =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &b1).unwrap();
        let g = safetensors::tensor::serialize(vec![("w", v3), ("b", v4)], None).unwrap();
        assert!(matches!(
            Update::from_safetensors(&g, &spec(), s),
            Err(ValidationError::DtypeMismatch { .. })
        ));
    }

    #[test]
    fn readers_return_requested_chunks_and_reject_out_of_range() {
        let u =
            Update::new(Arc::new(ModelSpec::flat(5)), FixedScale::default(), vec![1, 2, 3, 4, 5])
                .unwrap();
        let mut r = SliceReader::from(&u);
        let mut out = [0; 2];
        r.read_chunk(3, &mut out).unwrap();
        assert_eq!(out, [4, 5]);
        assert!(r.read_chunk(4, &mut out).is_err());
        let mut owned = u.clone();
        owned.read_chunk(0, &mut out).unwrap();
        assert_eq!(out, [1, 2]);
    }
}
