//! `Reduction` and the denominators of every mean, in one place.

use core::fmt;
use core::str::FromStr;

use burn::tensor::Tensor;

/// How the per-element losses are combined, as PyTorch's `reduction` argument.
///
/// | variant | PyTorch | result |
/// | --- | --- | --- |
/// | `None` | `reduction='none'` | one loss per element (or per sample for class losses) |
/// | `Mean` (default) | `reduction='mean'` | sum divided by the loss's own denominator |
/// | `Sum` | `reduction='sum'` | sum of the per-element losses |
///
/// The denominator of `Mean` is not always the element count: class-index
/// cross entropy and NLL divide by the summed class weights of the targets
/// that are not ignored, softmax focal loss by the count of targets that are
/// not ignored. A mean over nothing is NaN, as in PyTorch; a sum over nothing is 0.
///
/// Reduced results keep the rank of the unreduced loss with every dimension 1
/// (for a rank-1 loss that is burn's `[1]` scalar shape), so one function
/// returns one tensor type whatever the reduction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// No reduction: the per-element losses.
    None,
    /// The mean, with the denominator PyTorch uses for the loss at hand.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        })
    }
}

impl FromStr for Reduction {
    type Err = String;

    /// Parses PyTorch's spelling: `"none"`, `"mean"` or `"sum"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Reduction::None),
            "mean" => Ok(Reduction::Mean),
            "sum" => Ok(Reduction::Sum),
            other => Err(format!(
                "unknown reduction '{other}' (expected 'none', 'mean' or 'sum')"
            )),
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

/// Applies `reduction` to per-element losses; reduced results have shape `[1; D]`.
pub(crate) fn reduce<const D: usize>(
    loss: Tensor<D>,
    reduction: Reduction,
    denominator: Denominator,
) -> Tensor<D> {
    match reduction {
        Reduction::None => loss,
        Reduction::Sum => loss.sum().reshape([1; D]),
        Reduction::Mean => {
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
