//! BCE with logits and the sigmoid focal loss of one element, from one exponential and one
//! logarithm.

use super::ElementLoss;
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// The focal part of the sigmoid focal loss.
#[derive(Clone, Copy)]
pub(crate) struct SigmoidFocal<T> {
    pub gamma: T,
    /// `None` when the alpha factor is off.
    pub alpha: Option<T>,
}

/// Loss and d(loss)/dx of one element of BCE with logits (`focal: None`) or the sigmoid
/// focal loss, with `pos_weight` `pw` and `weight` `w`.
///
/// `softplus(+-x) = max(+-x, 0) + ln(1 + e^-|x|)`, `s(+-x)` from the same `e^-|x|`; the
/// focal factor `(1 - p_t)^gamma = exp(gamma ln(1 - p_t))` with `ln(1 - p_t)` exactly
/// `-softplus(+-x)` for hard targets, so saturated logits stay finite and accurate.
/// `hard` promises `y` is 0 or 1, which spares the soft-target logarithm and division.
#[inline(always)]
pub(crate) fn sigmoid_element<T: Real>(
    fma: impl Fma,
    x: T,
    y: T,
    pw: T,
    w: T,
    focal: Option<SigmoidFocal<T>>,
    hard: bool,
) -> ElementLoss<T> {
    let zero = T::ZERO;
    let one = T::ONE;
    let e = (zero - (x.max(zero - x))).exp_with(fma); // e^-|x|, in (0, 1]
    let log1p_e = e.ln_1p_unit(fma);
    let sp_pos = x.max(zero) + log1p_e; // softplus(x) = -ln s(-x)
    let sp_neg = (zero - x).max(zero) + log1p_e; // softplus(-x) = -ln s(x)
    let inv = one / (one + e);
    let nonneg = x >= zero;
    let sig = T::select(nonneg, inv, e * inv); // s(x)
    let sig_neg = T::select(nonneg, e * inv, inv); // s(-x)
    let bce = (one - y) * sp_pos + pw * y * sp_neg;
    let dbce = (one - y) * sig - pw * y * sig_neg;
    let Some(SigmoidFocal { gamma, alpha }) = focal else {
        return ElementLoss {
            loss: w * bce,
            grad: w * dbce,
        };
    };
    let alpha_t = match alpha {
        Some(a) => y * a + (one - y) * (one - a),
        None => one,
    };
    // 1 - p_t and its log; d(1 - p_t)/dx = (1 - 2y) s(x) s(-x) = (1 - 2y) q r.
    let q = y * sig_neg + (one - y) * sig;
    let hard_one = y == one;
    let hard_zero = y == zero;
    let (log_q, r) = if hard {
        (
            T::select(hard_one, zero - sp_pos, zero - sp_neg),
            T::select(hard_one, sig, sig_neg),
        )
    } else {
        let log_q = T::select(
            hard_one,
            zero - sp_pos,
            T::select(hard_zero, zero - sp_neg, q.ln_positive(fma)),
        );
        let r_soft = {
            let a = T::select(y > zero, y / sig, zero);
            let b = T::select(y < one, (one - y) / sig_neg, zero);
            one / (a + b)
        };
        (log_q, T::select(hard_one, sig, T::select(hard_zero, sig_neg, r_soft)))
    };
    if gamma == zero {
        // (1 - p_t)^0 is the constant 1 with no gradient (PyTorch's pow_backward returns 0
        // for a zero exponent, not inf * 0), so an infinite BCE term keeps its own slope.
        return ElementLoss {
            loss: w * alpha_t * bce,
            grad: w * alpha_t * dbce,
        };
    }
    let m = (gamma * log_q).exp_with(fma);
    let m = T::select(log_q == T::NEG_INFINITY, zero, m);
    let dm = gamma * m * (one - y - y) * r;
    // An infinite BCE term has no derivative through the focal factor: autograd (PyTorch's and
    // the composed path's) meets it as inf * 0, a NaN, whatever the factor's slope.
    let grad = T::select(bce == T::INFINITY, T::NAN, w * alpha_t * (dbce * m + bce * dm));
    ElementLoss {
        loss: w * alpha_t * bce * m,
        grad,
    }
}
