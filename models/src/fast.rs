//! The fused CPU inference path.
//!
//! burn's ndarray backend spends most of a small MLP's time in per-op
//! dispatch and allocation (≈0.9 µs per event at batch 256). This scorer keeps
//! the trained weights as plain `f32` and runs the whole network per chunk of
//! rows in L1-resident scratch: build the input rows (normalize + embedding
//! copy), then for each dense layer a register-tiled `6 × 16` micro-kernel
//! (AVX2 + FMA when the CPU has it, detected once at load; a portable loop
//! otherwise) with bias and ReLU fused into the store, then the output dot
//! product and the sigmoid.
//!
//! Weights are packed at load into panels of 16 output columns
//! (`panel[k][0..16]`, zero-padded), so the kernel streams one contiguous
//! panel per tile. Results match the burn forward pass to ~1e-6 (summation
//! order and FMA rounding differ, nothing else).

use crate::preprocess::Preprocessor;
use crate::weights::{Dense, Matrix, NetWeights};

const LANES: usize = 16;
const TILE_ROWS: usize = 6;
/// Rows processed per chunk: activations of a chunk stay in L1/L2.
const CHUNK: usize = 64;

/// One dense layer packed for the micro-kernel.
#[derive(Debug, Clone)]
struct PackedDense {
    inputs: usize,
    /// Output width rounded up to a multiple of `LANES`.
    padded: usize,
    /// `padded / LANES` panels, each `inputs × LANES`.
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedDense {
    fn pack(d: &Dense, inputs_padded: usize) -> Self {
        let padded = d.outputs.div_ceil(LANES) * LANES;
        let mut panels = vec![0.0; padded * inputs_padded];
        for p in 0..padded / LANES {
            for k in 0..d.inputs {
                for j in 0..LANES {
                    let col = p * LANES + j;
                    if col < d.outputs {
                        panels[(p * inputs_padded + k) * LANES + j] = d.weight[k * d.outputs + col];
                    }
                }
            }
        }
        let mut bias = vec![0.0; padded];
        bias[..d.outputs].copy_from_slice(&d.bias);
        Self {
            inputs: inputs_padded,
            padded,
            panels,
            bias,
        }
    }
}

/// The network as plain packed `f32`, ready for the fused forward pass.
#[derive(Debug, Clone)]
pub struct FastNet {
    pre: Preprocessor,
    embeddings: Vec<Matrix>,
    embedding_dim: usize,
    input_width: usize,
    hidden: Vec<PackedDense>,
    /// Output weights zero-padded to the last hidden layer's padded width.
    output_weight: Vec<f32>,
    output_bias: f32,
    simd: bool,
}

impl FastNet {
    pub fn new(pre: Preprocessor, weights: &NetWeights) -> Self {
        let embedding_dim = weights.embeddings.first().map_or(0, |m| m.cols);
        let input_width = pre.numeric_len() + weights.embeddings.len() * embedding_dim;
        let mut hidden = Vec::with_capacity(weights.hidden.len());
        let mut width = input_width;
        for d in &weights.hidden {
            let packed = PackedDense::pack(d, width);
            width = packed.padded;
            hidden.push(packed);
        }
        let mut output_weight = vec![0.0; width];
        output_weight[..weights.output.inputs].copy_from_slice(&weights.output.weight);
        Self {
            pre,
            embeddings: weights.embeddings.clone(),
            embedding_dim,
            input_width,
            hidden,
            output_weight,
            output_bias: weights.output.bias[0],
            simd: simd_available(),
        }
    }

    /// Forces the portable kernel (used to test both paths on AVX2 machines).
    pub fn with_portable_kernel(mut self) -> Self {
        self.simd = false;
        self
    }

    pub fn uses_simd(&self) -> bool {
        self.simd
    }

    pub fn width(&self) -> usize {
        self.pre.width()
    }

    /// Scores `out.len()` rows of `rows` (row-major, `width()` values each).
    pub fn forward(&self, rows: &[f32], out: &mut [f32]) {
        let width = self.pre.width();
        debug_assert_eq!(rows.len(), out.len() * width);
        let max_width = self
            .hidden
            .iter()
            .map(|d| d.padded)
            .chain(std::iter::once(self.input_width))
            .max()
            .unwrap_or(self.input_width);
        let chunk = out.len().min(CHUNK);
        let mut a = vec![0.0f32; chunk * max_width];
        let mut b = vec![0.0f32; chunk * max_width];
        for (rows, out) in rows.chunks(CHUNK * width).zip(out.chunks_mut(CHUNK)) {
            let n = out.len();
            self.build_inputs(rows, n, &mut a);
            let mut width_in = self.input_width;
            let (mut src, mut dst) = (&mut a, &mut b);
            for layer in &self.hidden {
                debug_assert_eq!(layer.inputs, width_in);
                self.dense_relu(layer, &src[..n * width_in], n, &mut dst[..n * layer.padded]);
                width_in = layer.padded;
                std::mem::swap(&mut src, &mut dst);
            }
            for (r, o) in out.iter_mut().enumerate() {
                let h = &src[r * width_in..(r + 1) * width_in];
                let z = self.output_bias + self.dot(h, &self.output_weight);
                *o = sigmoid(z);
            }
        }
    }

    fn build_inputs(&self, rows: &[f32], n: usize, x: &mut [f32]) {
        let width = self.pre.width();
        let nn = self.pre.numeric_len();
        let d = self.embedding_dim;
        for r in 0..n {
            let row = &rows[r * width..(r + 1) * width];
            let dst = &mut x[r * self.input_width..(r + 1) * self.input_width];
            self.pre.normalize(row, dst);
            for (c, table) in self.embeddings.iter().enumerate() {
                let idx = self.pre.category(row, c);
                dst[nn + c * d..nn + (c + 1) * d]
                    .copy_from_slice(&table.data[idx * d..(idx + 1) * d]);
            }
        }
    }

    fn dense_relu(&self, layer: &PackedDense, x: &[f32], n: usize, y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is only true when AVX2 and FMA were detected at
            // runtime; slice bounds are checked by the callee's asserts.
            unsafe {
                avx2::dense_relu(
                    layer.inputs,
                    layer.padded,
                    &layer.panels,
                    &layer.bias,
                    x,
                    n,
                    y,
                )
            };
            return;
        }
        portable_dense_relu(
            layer.inputs,
            layer.padded,
            &layer.panels,
            &layer.bias,
            x,
            n,
            y,
        );
    }

    fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: AVX2 + FMA detected at runtime (see `simd_available`).
            return unsafe { avx2::dot(a, b) };
        }
        portable_dot(a, b)
    }
}

pub(crate) fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[inline]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn portable_dense_relu(
    k: usize,
    padded: usize,
    panels: &[f32],
    bias: &[f32],
    x: &[f32],
    n: usize,
    y: &mut [f32],
) {
    for p in 0..padded / LANES {
        let panel = &panels[p * k * LANES..(p + 1) * k * LANES];
        for r in 0..n {
            let mut acc = [0.0f32; LANES];
            acc.copy_from_slice(&bias[p * LANES..(p + 1) * LANES]);
            let xr = &x[r * k..(r + 1) * k];
            for (kk, &a) in xr.iter().enumerate() {
                let w = &panel[kk * LANES..(kk + 1) * LANES];
                for (acc, &w) in acc.iter_mut().zip(w) {
                    *acc += a * w;
                }
            }
            let dst = &mut y[r * padded + p * LANES..r * padded + (p + 1) * LANES];
            for (d, &v) in dst.iter_mut().zip(&acc) {
                *d = v.max(0.0);
            }
        }
    }
}

fn portable_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (ca, cb) in a.chunks(8).zip(b.chunks(8)) {
        for ((acc, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *acc += x * y;
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{LANES, TILE_ROWS};
    use std::arch::x86_64::*;

    /// `y[n × padded] = relu(x[n × k] · W + b)` with `W` packed in panels.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dense_relu(
        k: usize,
        padded: usize,
        panels: &[f32],
        bias: &[f32],
        x: &[f32],
        n: usize,
        y: &mut [f32],
    ) {
        unsafe {
            assert!(panels.len() >= padded * k && bias.len() >= padded);
            assert!(x.len() >= n * k && y.len() >= n * padded);
            for p in 0..padded / LANES {
                let w = panels.as_ptr().add(p * k * LANES);
                let b = bias.as_ptr().add(p * LANES);
                let mut r = 0;
                while r + TILE_ROWS <= n {
                    tile::<TILE_ROWS>(
                        k,
                        w,
                        b,
                        x.as_ptr().add(r * k),
                        y.as_mut_ptr().add(r * padded + p * LANES),
                        padded,
                    );
                    r += TILE_ROWS;
                }
                let (xr, yr) = (
                    x.as_ptr().add(r * k),
                    y.as_mut_ptr().add(r * padded + p * LANES),
                );
                match n - r {
                    0 => {}
                    1 => tile::<1>(k, w, b, xr, yr, padded),
                    2 => tile::<2>(k, w, b, xr, yr, padded),
                    3 => tile::<3>(k, w, b, xr, yr, padded),
                    4 => tile::<4>(k, w, b, xr, yr, padded),
                    _ => tile::<5>(k, w, b, xr, yr, padded),
                }
            }
        }
    }

    /// `R` rows × 16 columns, accumulators held in `2R` ymm registers.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(
        k: usize,
        w: *const f32,
        b: *const f32,
        x: *const f32,
        y: *mut f32,
        y_stride: usize,
    ) {
        unsafe {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            let mut acc0 = [b0; R];
            let mut acc1 = [b1; R];
            for kk in 0..k {
                let w0 = _mm256_loadu_ps(w.add(kk * LANES));
                let w1 = _mm256_loadu_ps(w.add(kk * LANES + 8));
                for r in 0..R {
                    let a = _mm256_broadcast_ss(&*x.add(r * k + kk));
                    acc0[r] = _mm256_fmadd_ps(a, w0, acc0[r]);
                    acc1[r] = _mm256_fmadd_ps(a, w1, acc1[r]);
                }
            }
            let zero = _mm256_setzero_ps();
            for r in 0..R {
                _mm256_storeu_ps(y.add(r * y_stride), _mm256_max_ps(acc0[r], zero));
                _mm256_storeu_ps(y.add(r * y_stride + 8), _mm256_max_ps(acc1[r], zero));
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        unsafe {
            let n = a.len().min(b.len());
            let mut acc = _mm256_setzero_ps();
            let mut i = 0;
            while i + 8 <= n {
                acc = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a.as_ptr().add(i)),
                    _mm256_loadu_ps(b.as_ptr().add(i)),
                    acc,
                );
                i += 8;
            }
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            let mut sum: f32 = lanes.iter().sum();
            while i < n {
                sum += a[i] * b[i];
                i += 1;
            }
            sum
        }
    }
}
