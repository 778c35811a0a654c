//! Softmax focal loss of one row of logits with a class index.

use super::lanes::lane_sum;
use super::output::TargetShift;
use super::{Between, Input, RowOutput, RowResult, exps};
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// What a softmax focal row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct FocalTarget<T> {
    /// The target class, `None` when the row is ignored.
    pub class: Option<usize>,
    /// `alpha` (scalar, or `alpha[y]`; 1 without alpha).
    pub alpha: T,
    pub gamma: T,
    /// Factor on the gradient.
    pub grad_scale: T,
}

/// Softmax focal loss of one row: `-alpha (1 - p)^gamma ln p` with `p = softmax(x)_y`, and
/// the gradient `K softmax(x) - K onehot(y)` with `K = alpha (1 - p)^gamma (1 - gamma ln(p) p / (1 - p))`.
///
/// Both `ln p = -ln(1 + r)` and `1 - p = r / (1 + r)` come from `r = sum_{j != y} e_j / e_y`,
/// the other classes summed apart from the target: `1 - p` keeps its digits as `p -> 1`,
/// where subtracting from one would leave none, and `ln(p) p / (1 - p) = -ln(1 + r) / r`
/// tends to -1.
#[inline(always)]
pub(crate) fn focal_row<T: Real>(
    fma: impl Fma,
    input: Input<'_, T>,
    between: &mut impl Between,
    t: FocalTarget<T>,
) -> RowResult<T> {
    let x = input.x;
    let Some(y) = t.class else { return RowResult::ignored() };
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else {
        return RowResult::nan();
    };
    let e_y = s.e[y];
    s.e[y] = T::ZERO;
    let others = lane_sum(s.e, |v| v);
    s.e[y] = e_y;
    let r = others / e_y;
    // ln p: from r while it is small (accurate as p -> 1), else from the log-sum (e_y may
    // have underflowed, r = inf).
    let log_p = if r <= T::ONE {
        T::ZERO - r.ln_1p_unit(fma)
    } else {
        (x[y] - s.max) - s.log_sum
    };
    if log_p == T::NEG_INFINITY && t.gamma != T::ZERO {
        // p = 0: an infinite loss whose derivative through the focal factor autograd meets as
        // inf * 0, a NaN over the row (PyTorch's and the composed path's answer).
        return RowResult {
            loss: T::ZERO - t.alpha * log_p,
            output: RowResult::<T>::nan().output,
        };
    }
    let log_p_over_r = if r == T::ZERO { T::ZERO - T::ONE } else { log_p / r };
    let modulating = if t.gamma == T::ZERO {
        T::ONE
    } else if others == T::ZERO {
        T::ZERO
    } else {
        (t.gamma * (others / s.sum).ln()).exp()
    };
    // gamma = 0 is cross entropy: no focal term, even where ln(p) / r is NaN (a target of
    // -inf, where r = inf).
    let focal_term = if t.gamma == T::ZERO {
        T::ZERO
    } else {
        t.gamma * log_p_over_r
    };
    let k = t.grad_scale * t.alpha * modulating * (T::ONE - focal_term);
    let output = RowOutput::Softmax {
        scale: k / s.sum,
        shift: T::ZERO,
        weighted: false,
        target: Some(TargetShift { class: y, delta: k }),
    };
    RowResult {
        loss: T::ZERO - t.alpha * modulating * log_p,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run_row;
    use super::*;
    use crate::fused::simd::Unfused;

    #[test]
    fn focal_row_keeps_its_digits_as_p_tends_to_one() {
        // p = 1 / (1 + 2 e^-20): 1 - p is 4e-9, below f32's resolution near 1.
        let x = [20.0f32, 0.0, 0.0];
        let t = FocalTarget {
            class: Some(0),
            alpha: 1.0,
            gamma: 2.0,
            grad_scale: 1.0,
        };
        let (loss, g) = run_row(&x, |input| focal_row(Unfused, input, &mut (), t));
        let r = 2.0 * (-20.0f64).exp();
        let (one_minus_p, ln_p) = (r / (1.0 + r), -r.ln_1p());
        let want = -one_minus_p.powi(2) * ln_p;
        assert!(((loss as f64 - want) / want).abs() < 1e-5, "{loss:e} vs {want:e}");
        // K = (1-p)^2 (1 - 2 ln(p) p / (1-p)) ~ 3 (1-p)^2; the other classes get K e_j / sum.
        let k = one_minus_p.powi(2) * (1.0 - 2.0 * ln_p / r);
        assert!(((g[1] as f64 - k * r / 2.0 / (1.0 + r)) / (k * r / 2.0)).abs() < 1e-5);
    }
}
