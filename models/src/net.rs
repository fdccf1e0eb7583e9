//! The network, in burn: learned embeddings for the categorical columns,
//! concatenated with the normalized numeric features, then a ReLU MLP to one
//! logit (`sigmoid` → fraud probability).
//!
//! ```text
//! numeric (n, normalized) ─┐
//! emb(mcc)     [V₁ × d]  ──┼─ concat ─ Linear ─ ReLU ─ … ─ Linear ─ ReLU ─ Linear → logit
//! emb(country) [V₂ × d]  ──┤
//! emb(channel) [V₃ × d]  ──┘
//! ```
//!
//! The module is generic over the burn backend: training runs on
//! `Autodiff<NdArray>`, the [`crate::BurnScorer`] runs on `NdArray` or, with
//! the `cuda` feature, on `Cuda`. Conversion to and from [`NetWeights`] is
//! exact (plain `f32` copies), so any backend serves the same model.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::weights::{Architecture, Dense, Matrix, NetWeights};

/// The tabular fraud network.
#[derive(Module, Debug)]
pub struct FraudNet<B: Backend> {
    embeddings: Vec<Embedding<B>>,
    hidden: Vec<Linear<B>>,
    output: Linear<B>,
}

impl<B: Backend> FraudNet<B> {
    /// A freshly initialized network (burn's default initializers; seed the
    /// backend first for determinism).
    pub fn init(arch: &Architecture, device: &B::Device) -> Self {
        let embeddings = arch
            .vocabulary_sizes
            .iter()
            .map(|&v| EmbeddingConfig::new(v, arch.embedding_dim).init(device))
            .collect();
        let mut width = arch.input_width();
        let mut hidden = Vec::with_capacity(arch.hidden.len());
        for &h in &arch.hidden {
            hidden.push(LinearConfig::new(width, h).init(device));
            width = h;
        }
        Self {
            embeddings,
            hidden,
            output: LinearConfig::new(width, 1).init(device),
        }
    }

    /// Logits `[batch, 1]` for normalized numeric inputs `[batch, n]` and one
    /// `[batch, 1]` index tensor per categorical column.
    pub fn forward(
        &self,
        numeric: Tensor<B, 2>,
        categories: Vec<Tensor<B, 2, Int>>,
    ) -> Tensor<B, 2> {
        let [batch, _] = numeric.dims();
        let mut parts = Vec::with_capacity(1 + categories.len());
        parts.push(numeric);
        for (embedding, index) in self.embeddings.iter().zip(categories) {
            let e = embedding.forward(index);
            let [_, _, d] = e.dims();
            parts.push(e.reshape([batch, d]));
        }
        let mut x = Tensor::cat(parts, 1);
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        self.output.forward(x)
    }

    /// Builds the module from plain weights.
    pub fn from_weights(weights: &NetWeights, device: &B::Device) -> Self {
        let embeddings = weights
            .embeddings
            .iter()
            .map(|m| Embedding {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(m.data.clone(), [m.rows, m.cols]),
                    device,
                )),
            })
            .collect();
        Self {
            embeddings,
            hidden: weights.hidden.iter().map(|d| linear(d, device)).collect(),
            output: linear(&weights.output, device),
        }
    }

    /// Copies the parameters out as plain `f32`.
    pub fn to_weights(&self) -> NetWeights {
        NetWeights {
            embeddings: self
                .embeddings
                .iter()
                .map(|e| {
                    let t = e.weight.val();
                    let [rows, cols] = t.dims();
                    Matrix {
                        rows,
                        cols,
                        data: to_vec(t),
                    }
                })
                .collect(),
            hidden: self.hidden.iter().map(dense).collect(),
            output: dense(&self.output),
        }
    }
}

fn linear<B: Backend>(d: &Dense, device: &B::Device) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(d.weight.clone(), [d.inputs, d.outputs]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(d.bias.clone(), [d.outputs]),
            device,
        ))),
    }
}

fn dense<B: Backend>(l: &Linear<B>) -> Dense {
    let w = l.weight.val();
    let [inputs, outputs] = w.dims();
    let bias = l
        .bias
        .as_ref()
        .map(|b| to_vec(b.val()))
        .unwrap_or_else(|| vec![0.0; outputs]);
    Dense {
        inputs,
        outputs,
        weight: to_vec(w),
        bias,
    }
}

pub(crate) fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("converted tensor data is f32")
}
