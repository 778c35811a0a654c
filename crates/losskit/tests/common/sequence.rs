//! The sequence losses from plain vectors: a loss's values and the gradient of their sum (so
//! each sample's own gradient for a per-sample output), on flex with autodiff, fused or
//! composed; and a small deterministic generator of their inputs.

use burn::tensor::{DType, Int, Tensor};
use losskit::{CtcLoss, CtcTargets, LossError, RnntLoss, with_composed};

use super::{float, ints, read};

/// A loss's output values and the gradient of their sum with respect to its input.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub loss: Vec<f64>,
    pub grad: Vec<f64>,
}

/// `f` of a leaf holding `x` in `dims` and `dtype`, and its gradient (zeros when the output
/// does not depend on it).
pub fn run<const D: usize>(
    x: &[f64],
    dims: [usize; D],
    dtype: DType,
    f: impl Fn(Tensor<D>) -> Result<Tensor<1>, LossError>,
) -> Result<Run, LossError> {
    let leaf = float(x, dims, dtype).require_grad();
    let out = f(leaf.clone())?;
    let loss = read(out.clone());
    let grad = leaf
        .grad(&out.sum().backward())
        .map_or_else(|| vec![0.0; x.len()], read);
    Ok(Run { loss, grad })
}

/// [`run`] with the fused kernels and on the composed path.
pub fn both_paths<const D: usize>(
    x: &[f64],
    dims: [usize; D],
    dtype: DType,
    f: impl Fn(Tensor<D>) -> Result<Tensor<1>, LossError>,
) -> [Result<Run, LossError>; 2] {
    [run(x, dims, dtype, &f), with_composed(|| run(x, dims, dtype, &f))]
}

/// CTC's labels from plain vectors, padded `(N, width)` or concatenated.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    Padded { labels: &'a [i64], width: usize },
    Concatenated(&'a [i64]),
}

impl Labels<'_> {
    pub fn tensor(self) -> CtcTargets {
        match self {
            Labels::Padded { labels, width } => CtcTargets::Padded(ints(labels, [labels.len() / width.max(1), width])),
            Labels::Concatenated(labels) => CtcTargets::Concatenated(ints(labels, [labels.len()])),
        }
    }
}

/// A CTC call's targets and lengths.
#[derive(Debug, Clone, Copy)]
pub struct CtcInputs<'a> {
    pub labels: Labels<'a>,
    pub input_lengths: &'a [i64],
    pub target_lengths: &'a [i64],
}

fn lengths(values: &[i64]) -> Tensor<1, Int> {
    ints(values, [values.len()])
}

impl CtcInputs<'_> {
    /// `loss.forward_no_reduction` of `log_probs` `(T, N, C)`.
    pub fn per_sample(&self, loss: &CtcLoss, log_probs: Tensor<3>) -> Result<Tensor<1>, LossError> {
        loss.forward_no_reduction(
            log_probs,
            self.labels.tensor(),
            lengths(self.input_lengths),
            lengths(self.target_lengths),
        )
    }

    /// `loss.forward` of `log_probs` `(T, N, C)`.
    pub fn reduced(&self, loss: &CtcLoss, log_probs: Tensor<3>) -> Result<Tensor<1>, LossError> {
        loss.forward(
            log_probs,
            self.labels.tensor(),
            lengths(self.input_lengths),
            lengths(self.target_lengths),
        )
    }
}

/// An RNN-T call's targets `(N, U)` and lengths.
#[derive(Debug, Clone, Copy)]
pub struct RnntInputs<'a> {
    pub targets: &'a [i64],
    pub max_target: usize,
    pub logit_lengths: &'a [i64],
    pub target_lengths: &'a [i64],
}

impl RnntInputs<'_> {
    fn targets(&self) -> Tensor<2, Int> {
        let rows = self
            .targets
            .len()
            .checked_div(self.max_target)
            .unwrap_or(self.target_lengths.len());
        ints(self.targets, [rows, self.max_target])
    }

    /// `loss.forward_no_reduction` of `logits` `(N, T, U + 1, V)`.
    pub fn per_sample(&self, loss: &RnntLoss, logits: Tensor<4>) -> Result<Tensor<1>, LossError> {
        loss.forward_no_reduction(
            logits,
            self.targets(),
            lengths(self.logit_lengths),
            lengths(self.target_lengths),
        )
    }

    /// `loss.forward` of `logits` `(N, T, U + 1, V)`.
    pub fn reduced(&self, loss: &RnntLoss, logits: Tensor<4>) -> Result<Tensor<1>, LossError> {
        loss.forward(
            logits,
            self.targets(),
            lengths(self.logit_lengths),
            lengths(self.target_lengths),
        )
    }
}

/// A small deterministic generator (SplitMix64) of the tests' random inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Roughly normal (a sum of four uniforms), scaled.
    pub fn normal(&mut self, scale: f64) -> f64 {
        scale * ((0..4).map(|_| self.uniform()).sum::<f64>() - 2.0) * 3f64.sqrt()
    }

    /// A label in 0..classes other than `blank`.
    pub fn label(&mut self, classes: usize, blank: usize) -> i64 {
        let c = self.below(classes - 1);
        (if c >= blank { c + 1 } else { c }) as i64
    }

    /// Random log-probabilities over groups of `classes`, `count` values.
    pub fn log_probs(&mut self, count: usize, classes: usize, scale: f64) -> Vec<f64> {
        let mut x: Vec<f64> = (0..count).map(|_| self.normal(scale)).collect();
        log_softmax(&mut x, classes);
        x
    }
}

/// Log-softmax over consecutive groups of `classes`, in place.
pub fn log_softmax(x: &mut [f64], classes: usize) {
    for row in x.chunks_mut(classes) {
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        row.iter_mut().for_each(|v| *v -= lse);
    }
}
