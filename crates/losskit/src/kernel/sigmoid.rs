//! The fused elementwise kernel of BCE with logits and the sigmoid focal loss: loss and
//! gradient of each element from one exponential and one logarithm.

use super::rows::{Fma, Real};

/// The focal part of the elementwise loss: `(gamma, alpha)`, alpha `None` when off.
pub(crate) type Focal<T> = Option<(T, Option<T>)>;

/// Loss and d(loss)/dx of one element.
///
/// `softplus(+-x) = max(+-x, 0) + ln(1 + e^-|x|)`, `s(+-x)` from the same `e^-|x|`; the
/// focal factor `(1 - p_t)^gamma = exp(gamma ln(1 - p_t))` with `ln(1 - p_t)` exactly
/// `-softplus(+-x)` for hard targets, so saturated logits stay finite and accurate.
#[inline(always)]
/// `hard` promises `y` is 0 or 1, which spares the soft-target logarithm and division.
pub(crate) fn sigmoid_element<T: Real>(fma: impl Fma, x: T, y: T, pw: T, w: T, focal: Focal<T>, hard: bool) -> (T, T) {
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
    let Some((gamma, alpha)) = focal else {
        return (w * bce, w * dbce);
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
        (T::select(hard_one, zero - sp_pos, zero - sp_neg), T::select(hard_one, sig, sig_neg))
    } else {
        let log_q = T::select(hard_one, zero - sp_pos, T::select(hard_zero, zero - sp_neg, q.ln_positive(fma)));
        let r_soft = {
            let a = T::select(y > zero, y / sig, zero);
            let b = T::select(y < one, (one - y) / sig_neg, zero);
            one / (a + b)
        };
        (log_q, T::select(hard_one, sig, T::select(hard_zero, sig_neg, r_soft)))
    };
    let (m, dm) = if gamma == zero {
        (one, zero)
    } else {
        let m = (gamma * log_q).exp_with(fma);
        let m = T::select(log_q == T::NEG_INFINITY, zero, m);
        (m, gamma * m * (one - y - y) * r)
    };
    (w * alpha_t * bce * m, w * alpha_t * (dbce * m + bce * dm))
}
