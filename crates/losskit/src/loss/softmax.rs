//! Softmax, log-softmax and entropy along a dimension.

use burn::tensor::{Tensor, activation};

use crate::LossError;
use crate::fused;

/// Resolves a PyTorch-style dimension (negative counts from the end) against rank `D`.
pub(crate) fn resolve_dim<const D: usize>(dim: i64) -> Result<usize, LossError> {
    let rank = D as i64;
    if dim < -rank || dim >= rank {
        return Err(LossError::DimOutOfRange { dim, rank: D });
    }
    Ok(if dim < 0 { (dim + rank) as usize } else { dim as usize })
}

/// Softmax along `dim`, `exp(x - max) / sum(exp(x - max))`, as `torch.softmax(input, dim)`.
///
/// Subtracting the maximum first keeps `exp` from overflowing: logits of 1e4 are fine.
/// `dim` may be negative. Same shape as the input. Errors on a `dim` out of range.
pub fn softmax<const D: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<D>, LossError> {
    along(input, dim, false)
}

/// Log-softmax along `dim`, `x - max - ln(sum(exp(x - max)))`, as
/// `torch.log_softmax(input, dim)`.
///
/// `dim` may be negative. Same shape as the input. Errors on a `dim` out of range.
pub fn log_softmax<const D: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<D>, LossError> {
    along(input, dim, true)
}

/// Softmax or log-softmax along `dim`: through the fused row kernel (`dim` moved last, one
/// row per position) where it can run, else burn's activation.
fn along<const D: usize>(input: Tensor<D>, dim: i64, log: bool) -> Result<Tensor<D>, LossError> {
    let dim = resolve_dim::<D>(dim)?;
    if input.shape().num_elements() == 0 {
        return Ok(input); // nothing to normalise: the empty result, as PyTorch's
    }
    let moved = if dim == D - 1 {
        input.clone()
    } else {
        input.clone().movedim(dim, D - 1)
    };
    let moved_dims = moved.dims();
    let classes = moved_dims[D - 1];
    let rows = moved_dims.iter().product::<usize>() / classes;
    if let Some(out) = fused::softmax_rows(&moved.reshape([rows, classes]), log) {
        let out = out.reshape(moved_dims);
        return Ok(if dim == D - 1 { out } else { out.movedim(D - 1, dim) });
    }
    Ok(if log {
        activation::log_softmax(input, dim)
    } else {
        activation::softmax(input, dim)
    })
}

/// Shannon entropy of probabilities along `dim`, `H = -sum(p ln p)` with `0 ln 0 = 0`, as
/// `torch.distributions.Categorical(probs=p).entropy()` along `dim`.
///
/// The gradient is `-(ln p + 1)`, and 0 where `p = 0` (instead of PyTorch's clamped logits).
/// Returns the input's shape without `dim` (`O = D - 1`). Errors on a `dim` out of range.
pub fn entropy<const D: usize, const O: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<O>, LossError> {
    const {
        assert!(
            O + 1 == D,
            "the entropy has the input's rank less the dimension summed over"
        )
    };
    let dim = resolve_dim::<D>(dim)?;
    // ln of 1 where p = 0, so that p ln p is 0 there in value and gradient alike.
    let zero = input.clone().equal_elem(0.0);
    let log_p = input.clone().mask_fill(zero, 1.0).log();
    Ok(input.mul(log_p).sum_dim(dim).neg().squeeze_dim::<O>(dim))
}
