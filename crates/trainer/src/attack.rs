//! Data-side attacks for tests and benchmarks: label flipping and a backdoor trigger patch with an
//! attack-success-rate evaluation. (Model-side attacks — sign flip, ALIE, IPM … — live in
//! `chorus_fl::attack`.)

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Model;

/// How a malicious client relabels its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LabelFlip {
    /// `y → perm[y]` for every sample (`perm` has one entry per class).
    Permutation(Vec<u8>),
    /// `y → num_classes − 1 − y` (the usual "reverse" flip).
    Reverse,
    /// Samples labelled `from` (or every sample when `None`) get label `to`.
    Target {
        /// Source class; `None` = all classes.
        from: Option<u8>,
        /// Target class.
        to: u8,
    },
}

impl LabelFlip {
    /// Returns a relabelled copy of `data`.
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        let c = data.num_classes;
        let check = |l: u8| {
            if (l as usize) < c {
                Ok(l)
            } else {
                Err(Error::InvalidArgument(format!("label {l} out of range 0..{c}")))
            }
        };
        let mut out = data.clone();
        match self {
            LabelFlip::Permutation(perm) => {
                if perm.len() != c {
                    return Err(Error::InvalidArgument(format!(
                        "permutation of {} labels for {c} classes",
                        perm.len()
                    )));
                }
                for &p in perm {
                    check(p)?;
                }
                out.labels.iter_mut().for_each(|l| *l = perm[*l as usize]);
            }
            LabelFlip::Reverse => {
                out.labels.iter_mut().for_each(|l| *l = (c - 1 - *l as usize) as u8)
            }
            LabelFlip::Target { from, to } => {
                let to = check(*to)?;
                out.labels
                    .iter_mut()
                    .filter(|l| from.is_none_or(|f| **l == f))
                    .for_each(|l| *l = to);
            }
        }
        Ok(out)
    }
}

/// A square trigger patch of constant intensity stamped into one corner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Side of the square (3 = a 3×3 patch).
    pub size: usize,
    /// Pixel value written (255 = white).
    pub value: u8,
    /// Distance from the bottom-right corner (0 = touching the corner).
    pub margin: usize,
}

impl Default for Trigger {
    fn default() -> Self {
        Self { size: 3, value: 255, margin: 1 }
    }
}

impl Trigger {
    /// Stamps the patch into one image (`rows × cols` bytes).
    pub fn stamp(&self, img: &mut [u8], rows: usize, cols: usize) {
        let r0 = rows.saturating_sub(self.size + self.margin);
        let c0 = cols.saturating_sub(self.size + self.margin);
        for r in r0..(r0 + self.size).min(rows) {
            for c in c0..(c0 + self.size).min(cols) {
                img[r * cols + c] = self.value;
            }
        }
    }
}

/// A backdoor attack: a `fraction` of the attacker's samples get the trigger and label `target`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backdoor {
    /// The trigger patch.
    pub trigger: Trigger,
    /// Label the trigger should cause.
    pub target: u8,
    /// Fraction of samples to poison, in `[0, 1]`.
    pub fraction: f32,
}

impl Backdoor {
    /// Returns a copy of `data` where a seeded random `fraction` of the samples carry the trigger and
    /// the target label.
    pub fn poison(&self, data: &Dataset, seed: u64) -> Result<Dataset> {
        if !(0.0..=1.0).contains(&self.fraction) || self.target as usize >= data.num_classes {
            return Err(Error::InvalidArgument(format!(
                "backdoor fraction {} / target {}",
                self.fraction, self.target
            )));
        }
        let mut out = data.clone();
        let mut idx: Vec<usize> = (0..data.len()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let k = (self.fraction as f64 * data.len() as f64).round() as usize;
        let p = data.pixels();
        for &i in &idx[..k] {
            self.trigger.stamp(&mut out.images[i * p..(i + 1) * p], data.rows, data.cols);
            out.labels[i] = self.target;
        }
        Ok(out)
    }

    /// The test samples whose true label is not the target, with the trigger stamped in (labels kept).
    pub fn triggered_test_set(&self, test: &Dataset) -> Result<Dataset> {
        let keep: Vec<u32> =
            (0..test.len() as u32).filter(|&i| test.labels[i as usize] != self.target).collect();
        let mut out = test.subset(&keep)?;
        let p = out.pixels();
        let (rows, cols) = (out.rows, out.cols);
        for img in out.images.chunks_mut(p) {
            self.trigger.stamp(img, rows, cols);
        }
        Ok(out)
    }

    /// Attack success rate: the fraction of triggered non-target test samples classified as `target`.
    pub fn attack_success_rate<M: Model + ?Sized>(&self, model: &M, test: &Dataset) -> Result<f32> {
        let t = self.triggered_test_set(test)?;
        if t.is_empty() {
            return Ok(0.0);
        }
        let mut hits = 0usize;
        let idx: Vec<u32> = (0..t.len() as u32).collect();
        let mut x = Vec::new();
        for batch in idx.chunks(1000) {
            t.gather_f32(batch, &mut x);
            let logits = model.logits(&x)?;
            hits += logits
                .chunks(crate::model::NUM_CLASSES)
                .filter(|row| crate::train::argmax_logsumexp(row).0 == self.target as usize)
                .count();
        }
        Ok(hits as f32 / t.len() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        Dataset::new("toy", 4, 4, 10, vec![0; 10 * 16], (0..10).collect()).unwrap()
    }

    #[test]
    fn label_flips_relabel_as_specified() {
        let d = toy();
        assert_eq!(
            LabelFlip::Reverse.apply(&d).unwrap().labels,
            vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
        );
        let t = LabelFlip::Target { from: Some(3), to: 8 }.apply(&d).unwrap();
        assert_eq!(t.labels[3], 8);
        assert_eq!(t.labels[4], 4);
        assert!(
            LabelFlip::Target { from: None, to: 1 }
                .apply(&d)
                .unwrap()
                .labels
                .iter()
                .all(|&l| l == 1)
        );
        let perm: Vec<u8> = (0..10).map(|i| (i + 1) % 10).collect();
        assert_eq!(LabelFlip::Permutation(perm).apply(&d).unwrap().labels[9], 0);
        assert!(LabelFlip::Permutation(vec![0; 3]).apply(&d).is_err());
        assert!(LabelFlip::Target { from: None, to: 10 }.apply(&d).is_err());
    }

    #[test]
    fn backdoor_poisons_the_requested_fraction_with_a_corner_patch() {
        let d = toy();
        let b = Backdoor {
            trigger: Trigger { size: 2, value: 255, margin: 0 },
            target: 7,
            fraction: 0.5,
        };
        let p = b.poison(&d, 1).unwrap();
        let poisoned: Vec<usize> = (0..10).filter(|&i| p.image(i)[15] == 255).collect();
        assert_eq!(poisoned.len(), 5);
        for &i in &poisoned {
            assert_eq!(p.labels[i], 7);
            let img = p.image(i);
            assert_eq!((img[10], img[11], img[14], img[15], img[0]), (255, 255, 255, 255, 0));
        }
        assert_eq!(b.poison(&d, 1).unwrap(), p, "seeded");
        assert_eq!(b.triggered_test_set(&d).unwrap().len(), 9);
        assert!(Backdoor { fraction: 1.5, ..b }.poison(&d, 0).is_err());
    }
}
