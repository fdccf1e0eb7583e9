//! Score explanations: which inputs pushed one event's score up.
//!
//! Gradient × input against the manifest's baseline. The baseline is the
//! training mean of every numeric column (0 after normalization, which is
//! also where a missing value lands) and, for a categorical column, the
//! mean of its embedding table. The contribution of an input is the logit's
//! gradient at the event times the input's distance from the baseline,
//! summed over the dimensions of an embedding: for a network that is linear
//! between the event and the baseline the contributions add up to the
//! logit's difference exactly, and for the ReLU network they are its first
//! order. Positive means "towards fraud".
//!
//! One event costs a forward pass that keeps its activations and a backward
//! pass through the same layers (about twice the scoring work), on plain
//! `f32` loops the compiler vectorizes: the engine explains only the events
//! it reviews or declines.

use crate::preprocess::Preprocessor;
use crate::weights::NetWeights;

/// One input's share of an event's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribution {
    /// Model column: numeric columns first, then the categorical ones
    /// (the order of [`crate::FeatureSchema`]).
    pub column: usize,
    /// The input's raw value in the row (a vocabulary index for a
    /// categorical column; NaN when missing).
    pub value: f32,
    /// Logit units; positive pushes the score up.
    pub contribution: f32,
}

/// A dense layer with its weights kept both ways: `[inputs][outputs]` for
/// the forward pass and `[outputs][inputs]` for the backward one, so both
/// loops run over contiguous memory.
#[derive(Debug, Clone)]
struct Layer {
    inputs: usize,
    weight: Vec<f32>,
    transposed: Vec<f32>,
    bias: Vec<f32>,
}

/// Explains rows of one model (see the module docs).
#[derive(Debug, Clone)]
pub struct Explainer {
    pre: Preprocessor,
    embeddings: Vec<(Vec<f32>, usize)>,
    /// Each embedding table's mean row: the categorical baseline.
    baselines: Vec<Vec<f32>>,
    embedding_dim: usize,
    hidden: Vec<Layer>,
    output: Vec<f32>,
    simd: bool,
}

/// Buffers an explanation reuses from one event to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    activations: Vec<Vec<f32>>,
    gradient: Vec<f32>,
    next: Vec<f32>,
    contributions: Vec<f32>,
    order: Vec<usize>,
    padded: Vec<f32>,
}

impl Explainer {
    pub fn new(pre: Preprocessor, weights: &NetWeights) -> Explainer {
        let embedding_dim = weights.embeddings.first().map_or(0, |m| m.cols);
        let baselines = weights
            .embeddings
            .iter()
            .map(|m| {
                let mut mean = vec![0.0f32; m.cols];
                for row in m.data.chunks(m.cols.max(1)) {
                    for (s, v) in mean.iter_mut().zip(row) {
                        *s += v;
                    }
                }
                let rows = m.rows.max(1) as f32;
                mean.iter_mut().for_each(|s| *s /= rows);
                mean
            })
            .collect();
        let hidden = weights
            .hidden
            .iter()
            .map(|d| {
                let mut transposed = vec![0.0; d.weight.len()];
                for k in 0..d.inputs {
                    for j in 0..d.outputs {
                        transposed[j * d.inputs + k] = d.weight[k * d.outputs + j];
                    }
                }
                Layer {
                    inputs: d.inputs,
                    weight: d.weight.clone(),
                    transposed,
                    bias: d.bias.clone(),
                }
            })
            .collect();
        Explainer {
            pre,
            embeddings: weights
                .embeddings
                .iter()
                .map(|m| (m.data.clone(), m.rows))
                .collect(),
            baselines,
            embedding_dim,
            hidden,
            output: weights.output.weight.clone(),
            simd: crate::fast::simd_available(),
        }
    }

    /// For each row of `rows` (raw model rows, as
    /// [`crate::Scorer::score_batch`] takes them), the `top` inputs that
    /// pushed its score up the most, largest first (fewer when fewer pushed
    /// it up), in `out[row]`.
    pub fn explain(
        &self,
        rows: &[f32],
        top: usize,
        scratch: &mut Scratch,
        out: &mut Vec<Vec<Attribution>>,
    ) {
        let width = self.pre.width();
        let n = rows.len() / width.max(1);
        out.resize_with(n, Vec::new);
        #[cfg(target_arch = "x86_64")]
        if self.simd {
            // SAFETY: `simd` is true only when AVX2 and FMA were detected.
            unsafe { self.explain_avx2(rows, top, scratch, &mut out[..n]) };
            return;
        }
        self.explain_with::<false>(rows, top, scratch, &mut out[..n]);
    }

    /// The same code, compiled for AVX2 and FMA (the loops vectorize 8 wide).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn explain_avx2(
        &self,
        rows: &[f32],
        top: usize,
        scratch: &mut Scratch,
        out: &mut [Vec<Attribution>],
    ) {
        self.explain_with::<true>(rows, top, scratch, out);
    }

    /// Rows [`GROUP`] at a time: each weight loaded serves every row of the
    /// group (a short last group is padded with zero rows, not explained).
    #[inline(always)]
    fn explain_with<const FMA: bool>(
        &self,
        rows: &[f32],
        top: usize,
        scratch: &mut Scratch,
        out: &mut [Vec<Attribution>],
    ) {
        let width = self.pre.width();
        for (group, out) in rows.chunks(GROUP * width).zip(out.chunks_mut(GROUP)) {
            if group.len() == GROUP * width {
                self.explain_group::<FMA>(group, top, scratch, out);
            } else {
                scratch.padded.clear();
                scratch.padded.extend_from_slice(group);
                scratch.padded.resize(GROUP * width, 0.0);
                let padded = std::mem::take(&mut scratch.padded);
                self.explain_group::<FMA>(&padded, top, scratch, out);
                scratch.padded = padded;
            }
        }
    }

    /// [`GROUP`] rows; `out` may be shorter (padding rows are not reported).
    #[inline(always)]
    fn explain_group<const FMA: bool>(
        &self,
        rows: &[f32],
        top: usize,
        scratch: &mut Scratch,
        out: &mut [Vec<Attribution>],
    ) {
        let raw = self.pre.width();
        let nn = self.pre.numeric_len();
        let d = self.embedding_dim;
        let width = nn + self.embeddings.len() * d;
        let layers = self.hidden.len();
        scratch.activations.resize_with(layers + 1, Vec::new);
        // The network's input: normalized numbers, then embeddings.
        let x = &mut scratch.activations[0];
        x.clear();
        x.resize(GROUP * width, 0.0);
        for (row, x) in rows.chunks(raw).zip(x.chunks_mut(width)) {
            self.pre.normalize(row, &mut x[..nn]);
            for (c, (table, _)) in self.embeddings.iter().enumerate() {
                let idx = self.pre.category(row, c);
                x[nn + c * d..nn + (c + 1) * d].copy_from_slice(&table[idx * d..(idx + 1) * d]);
            }
        }
        // Forward, keeping every layer's activations.
        for (l, layer) in self.hidden.iter().enumerate() {
            let (done, rest) = scratch.activations.split_at_mut(l + 1);
            let y = &mut rest[0];
            y.clear();
            for _ in 0..GROUP {
                y.extend_from_slice(&layer.bias);
            }
            add_product::<FMA>(&done[l], &layer.weight, y, layer.inputs, layer.bias.len());
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        // Backward: the logit's gradient, layer by layer, down to the input.
        let last = &scratch.activations[layers];
        scratch.gradient.clear();
        for a in last.chunks(self.output.len()) {
            scratch.gradient.extend(
                self.output
                    .iter()
                    .zip(a)
                    .map(|(&w, &a)| if a > 0.0 || layers == 0 { w } else { 0.0 }),
            );
        }
        for l in (0..layers).rev() {
            let layer = &self.hidden[l];
            scratch.next.clear();
            scratch.next.resize(GROUP * layer.inputs, 0.0);
            let outputs = layer.bias.len();
            add_product::<FMA>(
                &scratch.gradient,
                &layer.transposed,
                &mut scratch.next,
                outputs,
                layer.inputs,
            );
            if l > 0 {
                for (g, &a) in scratch.next.iter_mut().zip(&scratch.activations[l]) {
                    if a <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            std::mem::swap(&mut scratch.gradient, &mut scratch.next);
        }
        // Gradient × (input − baseline), per model column; the largest.
        for (r, out) in out.iter_mut().enumerate() {
            let g = &scratch.gradient[r * width..(r + 1) * width];
            let x = &scratch.activations[0][r * width..(r + 1) * width];
            let row = &rows[r * raw..(r + 1) * raw];
            let c = &mut scratch.contributions;
            c.clear();
            c.extend((0..nn).map(|j| g[j] * x[j]));
            for (e, baseline) in self.baselines.iter().enumerate() {
                let at = nn + e * d;
                let dims = g[at..at + d].iter().zip(&x[at..at + d]).zip(baseline);
                c.push(dims.map(|((g, x), b)| g * (x - b)).sum());
            }
            let order = &mut scratch.order;
            order.clear();
            order.extend((0..c.len()).filter(|&j| c[j] > 0.0));
            order.sort_unstable_by(|&a, &b| c[b].total_cmp(&c[a]).then(a.cmp(&b)));
            out.clear();
            out.extend(order.iter().take(top).map(|&column| Attribution {
                column,
                value: row[column],
                contribution: c[column],
            }));
        }
    }
}

/// Rows explained together (`add_product` is written for four).
const GROUP: usize = 4;
/// Output columns accumulated in registers at a time (× [`GROUP`] rows:
/// eight 8-wide sums).
const BLOCK: usize = 16;

/// `y += x · w` for [`GROUP`] rows: `x` is `GROUP × inputs`, `w` row-major
/// `inputs × cols`, `y` is `GROUP × cols`. Each block of [`BLOCK`] columns
/// of every row is summed in registers over all inputs, so a weight is
/// loaded once for the group. `FMA`: fused multiply-adds (the AVX2 build).
#[inline(always)]
fn add_product<const FMA: bool>(x: &[f32], w: &[f32], y: &mut [f32], inputs: usize, cols: usize) {
    debug_assert_eq!(x.len(), GROUP * inputs);
    debug_assert_eq!(w.len(), inputs * cols);
    debug_assert_eq!(y.len(), GROUP * cols);
    let (x0, rest) = x.split_at(inputs);
    let (x1, rest) = rest.split_at(inputs);
    let (x2, x3) = rest.split_at(inputs);
    let mut at = 0;
    while at + BLOCK <= cols {
        let load = |g: usize| -> [f32; BLOCK] {
            y[g * cols + at..g * cols + at + BLOCK]
                .try_into()
                .expect("BLOCK wide")
        };
        let (mut a0, mut a1, mut a2, mut a3) = (load(0), load(1), load(2), load(3));
        let inputs = w.chunks_exact(cols).zip(x0).zip(x1).zip(x2).zip(x3);
        for ((((row, &v0), &v1), &v2), &v3) in inputs {
            let row: &[f32; BLOCK] = row[at..at + BLOCK].try_into().expect("BLOCK wide");
            for t in 0..BLOCK {
                a0[t] = mul_add::<FMA>(v0, row[t], a0[t]);
                a1[t] = mul_add::<FMA>(v1, row[t], a1[t]);
                a2[t] = mul_add::<FMA>(v2, row[t], a2[t]);
                a3[t] = mul_add::<FMA>(v3, row[t], a3[t]);
            }
        }
        for (g, a) in [a0, a1, a2, a3].iter().enumerate() {
            y[g * cols + at..g * cols + at + BLOCK].copy_from_slice(a);
        }
        at += BLOCK;
    }
    for g in 0..GROUP {
        let x = &x[g * inputs..(g + 1) * inputs];
        let y = &mut y[g * cols + at..(g + 1) * cols];
        for (row, &v) in w.chunks_exact(cols).zip(x) {
            for (a, &w) in y.iter_mut().zip(&row[at..]) {
                *a = mul_add::<FMA>(v, w, *a);
            }
        }
    }
}

#[inline(always)]
fn mul_add<const FMA: bool>(v: f32, w: f32, acc: f32) -> f32 {
    if FMA { v.mul_add(w, acc) } else { acc + v * w }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::NumericStats;
    use crate::weights::{Dense, Matrix};

    fn stats(n: usize) -> Vec<NumericStats> {
        (0..n)
            .map(|_| NumericStats {
                transform: Default::default(),
                mean: 1.0,
                std: 2.0,
                clip: 10.0,
                missing_rate: 0.0,
            })
            .collect()
    }

    /// 3 numeric inputs, one categorical column of 3 entries × 2 dims.
    fn weights(hidden: Vec<Dense>, output: Vec<f32>) -> NetWeights {
        NetWeights {
            embeddings: vec![Matrix {
                rows: 3,
                cols: 2,
                data: vec![0.0, 0.0, 1.0, -1.0, 2.0, 1.0],
            }],
            hidden,
            output: Dense {
                inputs: output.len(),
                outputs: 1,
                weight: output,
                bias: vec![0.3],
            },
        }
    }

    fn logit(w: &NetWeights, pre: &Preprocessor, row: &[f32]) -> f32 {
        let nn = pre.numeric_len();
        let mut x = vec![0.0; nn];
        pre.normalize(row, &mut x);
        let idx = pre.category(row, 0);
        x.extend_from_slice(&w.embeddings[0].data[idx * 2..idx * 2 + 2]);
        for d in &w.hidden {
            let mut y = d.bias.clone();
            for (k, &v) in x.iter().enumerate() {
                for (j, y) in y.iter_mut().enumerate() {
                    *y += v * d.weight[k * d.outputs + j];
                }
            }
            x = y.into_iter().map(|v| v.max(0.0)).collect();
        }
        w.output.bias[0]
            + x.iter()
                .zip(&w.output.weight)
                .map(|(a, b)| a * b)
                .sum::<f32>()
    }

    #[test]
    fn a_linear_model_s_contributions_add_up_to_its_logit_above_the_baseline() {
        let w = weights(Vec::new(), vec![0.5, -1.0, 2.0, 1.5, 0.25]);
        let pre = Preprocessor::new(&stats(3), &[3]);
        let explainer = Explainer::new(pre.clone(), &w);
        let row = [5.0, 3.0, f32::NAN, 2.0];
        let mut out = Vec::new();
        explainer.explain(&row, 4, &mut Scratch::default(), &mut out);
        let all = out.remove(0);
        // Numeric: (x - 1) / 2 → 2, 1, missing (0); times 0.5, -1, 2.
        // Category 2: ([2, 1] - mean [1, 0]) · [1.5, 0.25] = 1.75.
        assert_eq!(
            all,
            vec![
                Attribution {
                    column: 3,
                    value: 2.0,
                    contribution: 1.75
                },
                Attribution {
                    column: 0,
                    value: 5.0,
                    contribution: 1.0
                },
            ],
            "largest first, only what pushed the score up"
        );
        // The baseline row: mean numbers, and an embedding at the table's mean.
        let baseline = 0.3 + 1.0 * 1.5 + 0.0 * 0.25;
        let negative = -1.0; // column 1's share, left out of the list
        let total: f32 = all.iter().map(|a| a.contribution).sum::<f32>() + negative;
        assert!((logit(&w, &pre, &row) - baseline - total).abs() < 1e-5);
    }

    #[test]
    fn the_gradient_through_hidden_layers_matches_finite_differences() {
        let hidden = vec![
            Dense {
                inputs: 5,
                outputs: 4,
                weight: (0..20)
                    .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
                    .collect(),
                bias: vec![0.1, -0.2, 0.3, 0.05],
            },
            Dense {
                inputs: 4,
                outputs: 3,
                weight: (0..12).map(|i| ((i * 17 % 7) as f32 - 3.0) / 5.0).collect(),
                bias: vec![0.2, 0.1, -0.1],
            },
        ];
        let w = weights(hidden, vec![1.0, -0.5, 0.8]);
        let pre = Preprocessor::new(&stats(3), &[3]);
        let explainer = Explainer::new(pre.clone(), &w);
        let row = [4.0, -2.0, 6.0, 1.0];
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        explainer.explain(&row, 3, &mut scratch, &mut out);
        let out = &out[0];
        // Each numeric contribution is d(logit)/d(x_normalized) × x_normalized:
        // check the gradient by nudging the raw value (x = (raw - 1) / 2).
        for j in 0..3 {
            let h = 1e-2;
            let (mut up, mut down) = (row, row);
            up[j] += h;
            down[j] -= h;
            let slope = (logit(&w, &pre, &up) - logit(&w, &pre, &down)) / (2.0 * h) * 2.0;
            let expected = slope * (row[j] - 1.0) / 2.0;
            assert!(
                (scratch.contributions[j] - expected).abs() < 1e-3,
                "column {j}: {} vs {expected}",
                scratch.contributions[j]
            );
        }
        assert!(
            out.windows(2)
                .all(|p| p[0].contribution >= p[1].contribution)
        );
        assert!(out.iter().all(|a| a.contribution > 0.0));
    }

    #[test]
    fn rows_explained_together_are_explained_as_alone() {
        let hidden = vec![Dense {
            inputs: 5,
            outputs: 20,
            weight: (0..100)
                .map(|i| ((i * 37 % 11) as f32 - 5.0) / 7.0)
                .collect(),
            bias: (0..20).map(|i| (i % 3) as f32 / 10.0 - 0.1).collect(),
        }];
        let w = weights(
            hidden,
            (0..20).map(|i| (i % 5) as f32 / 4.0 - 0.4).collect(),
        );
        let explainer = Explainer::new(Preprocessor::new(&stats(3), &[3]), &w);
        let rows: Vec<f32> = (0..6 * 4)
            .map(|i| {
                if i % 4 == 3 {
                    (i % 3) as f32
                } else {
                    (i * 7 % 9) as f32 - 3.0
                }
            })
            .collect();
        let (mut scratch, mut together) = (Scratch::default(), Vec::new());
        explainer.explain(&rows, 3, &mut scratch, &mut together);
        assert_eq!(together.len(), 6);
        for (r, row) in rows.chunks(4).enumerate() {
            let mut alone = Vec::new();
            explainer.explain(row, 3, &mut scratch, &mut alone);
            assert_eq!(alone, vec![together[r].clone()], "row {r}");
        }
        assert!(together.iter().any(|r| !r.is_empty()));
    }
}
