//! Row preprocessing shared by every scorer: raw engine row → network input.
//!
//! Both scorers call exactly this code, so the burn path and the fused CPU
//! path see bit-identical inputs; they differ only in the matrix arithmetic.

use crate::manifest::{NumericStats, Transform};

/// Normalization and vocabulary bounds for one model.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    transform: Vec<Transform>,
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    clip: Vec<f32>,
    vocabulary_sizes: Vec<usize>,
}

impl Preprocessor {
    pub fn new(stats: &[NumericStats], vocabulary_sizes: &[usize]) -> Self {
        Self {
            transform: stats.iter().map(|s| s.transform).collect(),
            mean: stats.iter().map(|s| s.mean).collect(),
            inv_std: stats
                .iter()
                .map(|s| if s.std > 0.0 { 1.0 / s.std } else { 0.0 })
                .collect(),
            clip: stats.iter().map(|s| s.clip).collect(),
            vocabulary_sizes: vocabulary_sizes.to_vec(),
        }
    }

    pub fn numeric_len(&self) -> usize {
        self.mean.len()
    }

    pub fn categorical_len(&self) -> usize {
        self.vocabulary_sizes.len()
    }

    /// Raw row width: numeric then categorical slots.
    pub fn width(&self) -> usize {
        self.numeric_len() + self.categorical_len()
    }

    /// Writes the normalized numeric part of `row` into `out`.
    #[inline]
    pub fn normalize(&self, row: &[f32], out: &mut [f32]) {
        let n = self.mean.len();
        for (((((o, &x), &t), &m), &s), &c) in out[..n]
            .iter_mut()
            .zip(&row[..n])
            .zip(&self.transform)
            .zip(&self.mean)
            .zip(&self.inv_std)
            .zip(&self.clip)
        {
            *o = if x.is_nan() {
                0.0
            } else {
                ((t.apply(x) - m) * s).clamp(-c, c)
            };
        }
    }

    /// Vocabulary index of categorical column `column` in `row`; anything
    /// that is not a valid index (negative, NaN, too large) is the unknown bucket 0.
    #[inline]
    pub fn category(&self, row: &[f32], column: usize) -> usize {
        let v = row[self.mean.len() + column];
        if v >= 0.0 && (v as usize) < self.vocabulary_sizes[column] {
            v as usize
        } else {
            0
        }
    }
}
