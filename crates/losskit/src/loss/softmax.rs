//! Softmax, log-softmax, entropy and KL divergence.

use burn::tensor::{Tensor, activation};

use crate::kernel;
use crate::operand::{cast, check_same_shape};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Resolves a PyTorch-style dimension (negative counts from the end) against rank `D`.
pub fn resolve_dim<const D: usize>(dim: i64) -> Result<usize, LossError> {
    let rank = D as i64;
    if dim < -rank || dim >= rank {
        return Err(LossError::DimOutOfRange { dim, rank: D });
    }
    Ok(if dim < 0 { (dim + rank) as usize } else { dim as usize })
}

/// Softmax along `dim`: `exp(x - max) / sum(exp(x - max))`, as `torch.softmax(x, dim)`.
///
/// Subtracting the row maximum first keeps `exp` from overflowing: logits of 1e4 are fine.
/// `dim` may be negative. Same shape as the input. Errors on a `dim` out of range.
pub fn softmax<const D: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<D>, LossError> {
    let dim = resolve_dim::<D>(dim)?;
    if input.dims()[dim] == 0 {
        return Ok(input); // nothing to normalise: the empty result, as PyTorch's
    }
    Ok(fused_softmax(&input, dim, false).unwrap_or_else(|| activation::softmax(input, dim)))
}

/// Log-softmax along `dim`: `x - max - ln(sum(exp(x - max)))`, as `torch.log_softmax(x, dim)`.
///
/// `dim` may be negative. Same shape as the input. Errors on a `dim` out of range.
pub fn log_softmax<const D: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<D>, LossError> {
    let dim = resolve_dim::<D>(dim)?;
    if input.dims()[dim] == 0 {
        return Ok(input); // nothing to normalise: the empty result, as PyTorch's
    }
    Ok(fused_softmax(&input, dim, true).unwrap_or_else(|| activation::log_softmax(input, dim)))
}

/// Softmax or log-softmax along `dim` through the fused row kernel (`dim` moved last, one
/// row per position); `None` off flex.
fn fused_softmax<const D: usize>(input: &Tensor<D>, dim: usize, log: bool) -> Option<Tensor<D>> {
    let moved = if dim == D - 1 { input.clone() } else { input.clone().movedim(dim, D - 1) };
    let moved_dims = moved.dims();
    let classes = moved_dims[D - 1];
    let rows = moved_dims.iter().product::<usize>() / classes;
    let out = kernel::softmax_rows(&moved.reshape([rows, classes]), log)?.reshape(moved_dims);
    Some(if dim == D - 1 { out } else { out.movedim(D - 1, dim) })
}

/// Shannon entropy of probabilities along `dim`: `H = -sum(p ln p)`, with `0 ln 0 = 0`.
///
/// As `torch.distributions.Categorical(probs=p).entropy()` along `dim`. The gradient is
/// `-(ln p + 1)`, and 0 where `p = 0` (instead of PyTorch's clamped logits). Returns the
/// input's shape with `dim` kept at size 1 (as burn's `sum_dim`). Errors on a `dim` out of
/// range.
pub fn entropy<const D: usize>(input: Tensor<D>, dim: i64) -> Result<Tensor<D>, LossError> {
    let dim = resolve_dim::<D>(dim)?;
    // ln of 1 where p = 0, so that p ln p is 0 there in value and gradient alike.
    let zero = input.clone().equal_elem(0.0);
    let log_p = input.clone().mask_fill(zero, 1.0).log();
    Ok(input.mul(log_p).sum_dim(dim).neg())
}

/// The reduction of [`kl_div`]: PyTorch's four, with `batchmean`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KlReduction {
    /// The pointwise terms.
    None,
    /// Sum divided by the element count (PyTorch's default, which it warns about).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// Sum divided by the batch size `input.dims()[0]`: the true KL divergence per sample.
    BatchMean,
}

impl From<Reduction> for KlReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlReduction::None,
            Reduction::Mean => KlReduction::Mean,
            Reduction::Sum => KlReduction::Sum,
        }
    }
}

/// Kullback-Leibler divergence of `target` from the distribution whose log-probabilities
/// are `input`.
///
/// ```text
/// l = t (ln t - x)         (0 where t = 0)          log_target = false
/// l = e^t (t - x)                                   log_target = true
/// ```
/// as `torch.nn.functional.kl_div(input, target, reduction=..., log_target=...)`.
/// Same shape as the input under `None`, `[1; D]` otherwise. Errors when the shapes differ.
pub fn kl_div<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    reduction: KlReduction,
    log_target: bool,
) -> Result<Tensor<D>, LossError> {
    let dims = input.dims();
    check_same_shape(&dims, &target.dims())?;
    let t = cast(target, input.dtype());
    let loss = if log_target {
        t.clone().exp().mul(t - input)
    } else {
        let zero = t.clone().equal_elem(0.0);
        let t_log_t = t.clone().mul(t.clone().mask_fill(zero, 1.0).log());
        t_log_t - t.mul(input)
    };
    Ok(match reduction {
        KlReduction::None => loss,
        KlReduction::Mean => reduce(loss, Reduction::Mean, Denominator::Numel),
        KlReduction::Sum => reduce(loss, Reduction::Sum, Denominator::Numel),
        KlReduction::BatchMean => {
            reduce(loss, Reduction::Mean, Denominator::Value(dims[0] as f64))
        }
    })
}
