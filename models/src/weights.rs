//! Plain-`f32` network weights and the `model.bin` record format.
//!
//! Training happens in burn; serving on the CPU does not need burn's tensor
//! machinery, so the trained parameters are exported into [`NetWeights`]
//! (row-major `Vec<f32>`) and written as a small self-describing little-endian
//! file. Both scorers (the fused CPU path and the burn path used for CUDA) are
//! built from the same `NetWeights`, which is what makes "save → load →
//! identical scores" hold by construction.
//!
//! Layout of `model.bin` (all integers `u32` LE, all floats `f32` LE):
//! `b"VRDMODL1"`, embedding count, then per embedding `rows cols data`,
//! hidden-layer count, then per dense layer (hidden layers, then the output
//! layer) `inputs outputs weight[inputs*outputs] bias[outputs]`. The decoder
//! checks every length against the bytes left, so a truncated file is an
//! error, never a panic; the manifest's blake3 checksum catches the rest.

use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"VRDMODL1";
/// Upper bound on any one dimension, so a corrupt header cannot ask for GBs.
const MAX_DIM: usize = 1 << 20;

/// An embedding table, `rows × cols`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

/// A dense layer `y = x · W + b` with `W` stored `[inputs][outputs]` row-major
/// (burn's `Linear` layout).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Every trained parameter of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetWeights {
    /// One table per categorical column, in schema order.
    pub embeddings: Vec<Matrix>,
    /// Hidden layers (ReLU after each).
    pub hidden: Vec<Dense>,
    /// Final layer to one logit.
    pub output: Dense,
}

/// Shape of the network, stored in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    pub numeric_inputs: usize,
    pub vocabulary_sizes: Vec<usize>,
    pub embedding_dim: usize,
    pub hidden: Vec<usize>,
}

impl Architecture {
    /// Width of the first dense layer's input.
    pub fn input_width(&self) -> usize {
        self.numeric_inputs + self.vocabulary_sizes.len() * self.embedding_dim
    }

    pub fn parameter_count(&self) -> usize {
        let mut count: usize = self.vocabulary_sizes.iter().sum::<usize>() * self.embedding_dim;
        let mut width = self.input_width();
        for &h in &self.hidden {
            count += width * h + h;
            width = h;
        }
        count + width + 1
    }
}

/// `model.bin` could not be decoded or does not match the manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsError {
    #[error("not a Verdict model record (bad magic)")]
    BadMagic,
    #[error("model record truncated at byte {0}")]
    Truncated(usize),
    #[error("model record has {0} trailing bytes")]
    TrailingBytes(usize),
    #[error("model record dimension {0} out of range")]
    BadDimension(usize),
    #[error("model record does not match the manifest architecture: {0}")]
    ArchitectureMismatch(String),
}

impl NetWeights {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * self.parameter_count() + 64);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, self.embeddings.len());
        for m in &self.embeddings {
            put_u32(&mut out, m.rows);
            put_u32(&mut out, m.cols);
            put_f32s(&mut out, &m.data);
        }
        put_u32(&mut out, self.hidden.len());
        for d in self.hidden.iter().chain(std::iter::once(&self.output)) {
            put_u32(&mut out, d.inputs);
            put_u32(&mut out, d.outputs);
            put_f32s(&mut out, &d.weight);
            put_f32s(&mut out, &d.bias);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WeightsError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(WeightsError::BadMagic);
        }
        let n_emb = r.dim()?;
        let mut embeddings = Vec::with_capacity(n_emb.min(64));
        for _ in 0..n_emb {
            let rows = r.dim()?;
            let cols = r.dim()?;
            let data = r.f32s(rows * cols)?;
            embeddings.push(Matrix { rows, cols, data });
        }
        let n_hidden = r.dim()?;
        let mut layers = Vec::with_capacity(n_hidden.min(64) + 1);
        for _ in 0..=n_hidden {
            let inputs = r.dim()?;
            let outputs = r.dim()?;
            let weight = r.f32s(inputs * outputs)?;
            let bias = r.f32s(outputs)?;
            layers.push(Dense {
                inputs,
                outputs,
                weight,
                bias,
            });
        }
        if r.pos != bytes.len() {
            return Err(WeightsError::TrailingBytes(bytes.len() - r.pos));
        }
        let output = layers.pop().ok_or(WeightsError::Truncated(r.pos))?;
        Ok(Self {
            embeddings,
            hidden: layers,
            output,
        })
    }

    pub fn parameter_count(&self) -> usize {
        self.embeddings.iter().map(|m| m.data.len()).sum::<usize>()
            + self
                .hidden
                .iter()
                .chain(std::iter::once(&self.output))
                .map(|d| d.weight.len() + d.bias.len())
                .sum::<usize>()
    }

    /// Checks that the shapes chain together and agree with `arch`.
    pub fn validate(&self, arch: &Architecture) -> Result<(), WeightsError> {
        let fail = |msg: String| Err(WeightsError::ArchitectureMismatch(msg));
        if self.embeddings.len() != arch.vocabulary_sizes.len() {
            return fail(format!(
                "{} embedding tables for {} categorical columns",
                self.embeddings.len(),
                arch.vocabulary_sizes.len()
            ));
        }
        for (i, (m, &vocab)) in self
            .embeddings
            .iter()
            .zip(&arch.vocabulary_sizes)
            .enumerate()
        {
            if m.rows != vocab || m.cols != arch.embedding_dim {
                return fail(format!(
                    "embedding {i} is {}x{}, expected {vocab}x{}",
                    m.rows, m.cols, arch.embedding_dim
                ));
            }
        }
        if self.hidden.len() != arch.hidden.len() {
            return fail(format!(
                "{} hidden layers, expected {}",
                self.hidden.len(),
                arch.hidden.len()
            ));
        }
        let mut width = arch.input_width();
        for (i, (d, &h)) in self.hidden.iter().zip(&arch.hidden).enumerate() {
            if d.inputs != width || d.outputs != h {
                return fail(format!(
                    "hidden layer {i} is {}->{}, expected {width}->{h}",
                    d.inputs, d.outputs
                ));
            }
            width = h;
        }
        if self.output.inputs != width || self.output.outputs != 1 {
            return fail(format!(
                "output layer is {}->{}, expected {width}->1",
                self.output.inputs, self.output.outputs
            ));
        }
        Ok(())
    }
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_le_bytes());
}

fn put_f32s(out: &mut Vec<u8>, values: &[f32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WeightsError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(WeightsError::Truncated(self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn dim(&mut self) -> Result<usize, WeightsError> {
        let b = self.take(4)?;
        let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if v > MAX_DIM {
            return Err(WeightsError::BadDimension(v));
        }
        Ok(v)
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, WeightsError> {
        let bytes = self.take(n.checked_mul(4).ok_or(WeightsError::Truncated(self.pos))?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> NetWeights {
        NetWeights {
            embeddings: vec![Matrix {
                rows: 2,
                cols: 1,
                data: vec![0.5, -0.5],
            }],
            hidden: vec![Dense {
                inputs: 2,
                outputs: 2,
                weight: vec![1.0, 2.0, 3.0, 4.0],
                bias: vec![0.1, 0.2],
            }],
            output: Dense {
                inputs: 2,
                outputs: 1,
                weight: vec![1.0, -1.0],
                bias: vec![0.0],
            },
        }
    }

    #[test]
    fn round_trips_and_rejects_truncation() {
        let w = tiny();
        let bytes = w.encode();
        assert_eq!(NetWeights::decode(&bytes).unwrap(), w);
        for cut in [0, 7, 12, bytes.len() - 1] {
            assert!(NetWeights::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            NetWeights::decode(&longer),
            Err(WeightsError::TrailingBytes(1))
        );
        let arch = Architecture {
            numeric_inputs: 1,
            vocabulary_sizes: vec![2],
            embedding_dim: 1,
            hidden: vec![2],
        };
        w.validate(&arch).unwrap();
        assert_eq!(arch.parameter_count(), w.parameter_count());
    }
}
