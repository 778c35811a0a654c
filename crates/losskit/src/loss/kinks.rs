//! Piecewise functions whose gradient at the kink is the one PyTorch's autograd gives:
//! written with masks, so that burn's autodiff takes the same branch, and so that no
//! infinite slope meets a zero (a NaN the true derivative does not have).

use burn::tensor::Tensor;

/// `max(z, 0)` with gradient 1 where `z > 0` and 0 elsewhere, at `z = 0` too (PyTorch's
/// `clamp_min` in every hinge); NaN stays NaN.
pub(crate) fn relu<const D: usize>(z: Tensor<D>) -> Tensor<D> {
    let off = z.clone().lower_equal_elem(0.0);
    z.mask_fill(off, 0.0)
}

/// `|x|` with gradient `sign(x)`: 0 at 0 and at NaN, as PyTorch's.
pub(crate) fn abs<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    relu(x.clone()) + relu(x.neg())
}

/// The elementwise maximum, the gradient shared in halves at a tie (PyTorch's `maximum`).
pub(crate) fn maximum<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let tie = a.clone().equal(b.clone());
    let mean = (a.clone() + b.clone()).mul_scalar(0.5);
    let b_wins = b.clone().greater(a.clone());
    a.mask_where(b_wins, b).mask_where(tie, mean)
}

/// The elementwise minimum, the gradient shared in halves at a tie (PyTorch's `minimum`).
pub(crate) fn minimum<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    let tie = a.clone().equal(b.clone());
    let mean = (a.clone() + b.clone()).mul_scalar(0.5);
    let b_wins = b.clone().lower(a.clone());
    a.mask_where(b_wins, b).mask_where(tie, mean)
}

/// `sqrt(s)` for `s >= 0` with gradient 0 where `s = 0` (where PyTorch's norms mask it).
pub(crate) fn safe_sqrt<const D: usize>(s: Tensor<D>) -> Tensor<D> {
    let zero = s.clone().equal_elem(0.0);
    s.mask_fill(zero.clone(), 1.0).sqrt().mask_fill(zero, 0.0)
}

/// From this exponent on (2^53, where every `f64` is an integer) [`p_norm`] does not raise
/// through `powf_scalar`: burn takes an integral exponent as an integer power, which fails
/// past `i64` (a triplet margin loss with `p = 1e20` panicked there).
const LARGE_EXPONENT: f64 = 9_007_199_254_740_992.0;

/// The p-norm of `v` over its last dimension (kept with size 1), `(sum |v|^p)^(1/p)`, with
/// gradient `sign(v) |v|^(p-1) / norm^(p-1)` and 0 where the norm is 0, as PyTorch's
/// `norm`; `p > 0`.
pub(crate) fn p_norm<const D: usize>(v: Tensor<D>, p: f64) -> Tensor<D> {
    if p == 2.0 {
        return safe_sqrt(v.square().sum_dim(D - 1));
    }
    // Past 1e38 (within f32) the order changes no value: every `|x|^p` with `|x| != 1`
    // already overflows or underflows and every `s^(1/p)` of a finite `s > 0` is 1. Taken as
    // given, `p` would be inf in an f32 tensor and `1/p` 0, with NaN from `0 * inf`.
    let p = p.min(1e38);
    let powered = if p == 1.0 {
        abs(v)
    } else if p < LARGE_EXPONENT {
        abs(v).powf_scalar(p)
    } else {
        // `|x|^p` as `e^(p ln|x|)`, 0 (and its gradient 0) where `x` is 0.
        let a = abs(v);
        let zero = a.clone().equal_elem(0.0);
        a.mask_fill(zero.clone(), 1.0)
            .log()
            .mul_scalar(p)
            .exp()
            .mask_fill(zero, 0.0)
    };
    let s = powered.sum_dim(D - 1);
    if p == 1.0 {
        return s;
    }
    // s^(1/p) as exp(ln(s) / p): a scalar exponent may be taken through f32 by a backend
    // (burn-ndarray's powf_scalar), and 1/p is not exact there.
    let zero = s.clone().equal_elem(0.0);
    s.mask_fill(zero.clone(), 1.0)
        .log()
        .mul_scalar(1.0 / p)
        .exp()
        .mask_fill(zero, 0.0)
}

/// `max(x, min)` in value with the gradient of `x` itself, even where it is clamped: what
/// PyTorch gives when it clamps in place under `no_grad` (Gaussian NLL's variance, the
/// norms of `cosine_similarity`).
pub(crate) fn clamp_min_unrecorded<const D: usize>(x: Tensor<D>, min: f64) -> Tensor<D> {
    let below = x.clone().lower_elem(min);
    let lifted = x.clone() - x.clone().sub_scalar(min).detach();
    x.mask_where(below, lifted)
}
