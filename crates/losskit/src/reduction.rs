//! `Reduction` and the denominators of every mean, in one place.

use core::fmt;
use core::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::LossError;

/// How `forward` reduces the per-element losses, as PyTorch's `reduction` argument.
///
/// | variant | PyTorch | `forward` returns, shape `[1]` |
/// | --- | --- | --- |
/// | `Mean` (default) | `reduction='mean'` | the sum divided by the loss's own denominator |
/// | `Sum` | `reduction='sum'` | the sum of the per-element losses |
///
/// PyTorch's `reduction='none'` is each loss's `forward_no_reduction`, which returns
/// PyTorch's unreduced shape (as burn's own losses do).
///
/// The denominator of `Mean` is not always the element count: class-index cross entropy
/// and NLL divide by the summed class weights of the targets that are not ignored, softmax
/// focal loss by the count of targets that are not ignored. A mean over nothing is NaN, as
/// in PyTorch; a sum over nothing is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// The mean, with the denominator PyTorch uses for the loss at hand.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        })
    }
}

impl FromStr for Reduction {
    type Err = LossError;

    /// Parses PyTorch's spelling, `"mean"` or `"sum"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(LossError::Reduction(other.to_string())),
        }
    }
}

/// What a `Mean` divides by.
#[allow(clippy::large_enum_variant)] // built once per call, never stored
pub(crate) enum Denominator {
    /// The number of elements of the unreduced loss (BCE, focal, probability-target CE).
    Numel,
    /// A fixed number (KL divergence's `batchmean` divides by the batch size).
    Value(f64),
    /// A computed total: summed target weights, or the count of non-ignored targets.
    Total(Tensor<1>),
}

/// Applies `reduction` (`None`: unreduced) to per-element losses; reduced results have
/// shape `[1; D]`.
pub(crate) fn reduce<const D: usize>(
    loss: Tensor<D>,
    reduction: Option<Reduction>,
    denominator: Denominator,
) -> Tensor<D> {
    match reduction {
        None => loss,
        Some(Reduction::Sum) => loss.sum().reshape([1; D]),
        Some(Reduction::Mean) => {
            let numel = loss.shape().num_elements();
            let sum = loss.sum();
            // Divided by a tensor, not `div_scalar`: burn 0.22.1's autodiff takes the
            // reciprocal of a scalar divisor in f32, which costs f64 gradients 1e-8.
            let constant = |v: f64| Tensor::full([1], v, (&sum.device(), sum.dtype()));
            let total = match denominator {
                Denominator::Numel => constant(numel as f64),
                Denominator::Value(v) => constant(v),
                Denominator::Total(total) => total,
            };
            // 0 / 0 is NaN: PyTorch's mean over an empty or fully ignored batch.
            sum.div(total).reshape([1; D])
        }
    }
}

/// The factor of a sum that makes it the reduction, when the denominator is known on the
/// host: the fused kernels fold it into their pass. `None` for a mean over nothing, which
/// the composed path gives exactly (NaN, or the loss's own convention, as the box losses' 0).
pub(crate) fn sum_factor(reduction: Reduction, denominator: f64) -> Option<f64> {
    match reduction {
        Reduction::Sum => Some(1.0),
        Reduction::Mean if denominator > 0.0 => Some(1.0 / denominator),
        Reduction::Mean => None,
    }
}
