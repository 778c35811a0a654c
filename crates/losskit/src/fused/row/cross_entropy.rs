//! Cross entropy of one row of logits with a class index.

use super::lanes::{lane_sum, lane_sum2};
use super::output::TargetShift;
use super::{Between, Input, RowOutput, RowResult, exps};
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// What a class-index row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct RowTarget<'a, T> {
    /// The target class, `None` when the row is ignored.
    pub class: Option<usize>,
    /// `w[y]` (1 without class weights).
    pub class_weight: T,
    /// The class weights, or `None` for all-ones.
    pub weights: Option<&'a [T]>,
    /// `sum_c w_c` (C without class weights).
    pub weight_total: T,
    /// `label_smoothing / C`.
    pub smooth: T,
    /// `1 - label_smoothing`.
    pub keep: T,
    /// The z-loss coefficient of `lse^2`, in units of `grad_scale` (0: off).
    pub z: T,
    /// Factor on the gradient (the reduction's `1 / denominator`, or 1).
    pub grad_scale: T,
}

/// A class-index row's loss and its gradient with respect to the logits the softmax saw,
/// `scale e_j - shift w_j - delta onehot(y)` (`- shift` unless `weighted`).
pub(crate) struct ClassIndexTerms<T> {
    pub loss: T,
    pub scale: T,
    pub shift: T,
    pub weighted: bool,
    pub target: TargetShift<T>,
}

/// The loss and gradient of a row of logits `x` (those the softmax sees) with target class
/// `y` and target logit `x_y`, from its softmax statistics: with
/// `a = keep w[y] onehot(y) + smooth w`, `loss = sum_c a_c (lse - x_c) + z lse^2` and
/// gradient `(sum_c a_c + 2 z lse) softmax - a`. `smooth_sum` gives
/// `sum_c w_c (lse - x_c)` (`w = 1` without class weights), asked for only under label
/// smoothing: the caller sums it in whatever order its layout reads the row.
///
/// Without label smoothing the other classes' weights take no part, in value or gradient:
/// a NaN or infinite weight on a class no target uses leaves the row finite, as PyTorch's.
#[inline(always)]
pub(crate) fn class_index_terms<T: Real>(
    y: usize,
    target_logit: T,
    smooth_sum: impl FnOnce() -> T,
    stats: SoftmaxStats<T>,
    t: &RowTarget<'_, T>,
) -> ClassIndexTerms<T> {
    // Losses are taken relative to the maximum, `lse - x_c = ln(sum) - (x_c - max)`: at
    // logits of 1e4 the absolute `lse` has no f32 digits left for the difference.
    let SoftmaxStats { max, sum, log_sum } = stats;
    let nll = t.class_weight * (log_sum - (target_logit - max));
    let smoothing = t.smooth != T::ZERO;
    let target_part = t.keep * t.class_weight;
    let (smooth_sum, mut total) = if smoothing {
        (smooth_sum(), target_part + t.smooth * t.weight_total)
    } else {
        (T::ZERO, target_part)
    };
    let mut loss = t.keep * nll + t.smooth * smooth_sum;
    // The z term needs the absolute log-sum-exp; a branch per row keeps the plain loss's
    // arithmetic (and its bits) exactly as without it.
    if t.z != T::ZERO {
        let lse = max + log_sum;
        loss = loss + t.z * lse * lse;
        total = total + (t.z + t.z) * lse;
    }
    ClassIndexTerms {
        loss,
        scale: t.grad_scale * total / sum,
        shift: t.grad_scale * t.smooth,
        weighted: smoothing && t.weights.is_some(),
        target: TargetShift {
            class: y,
            delta: t.grad_scale * target_part,
        },
    }
}

/// `sum_c w_c (lse - x_c)` of a row stored contiguously (`w = 1` without weights), each
/// term taken relative to the maximum as in [`class_index_terms`].
#[inline(always)]
pub(super) fn row_smooth_sum<T: Real>(x: &[T], weights: Option<&[T]>, max: T, log_sum: T) -> T {
    match weights {
        Some(w) => lane_sum2(x, w, |v, wj| wj * (log_sum - (v - max))),
        None => lane_sum(x, |v| log_sum - (v - max)),
    }
}

/// A row's `max_j x_j`, `sum_j e^(x_j - max)` and `ln` of that sum.
#[derive(Clone, Copy)]
pub(crate) struct SoftmaxStats<T> {
    pub max: T,
    pub sum: T,
    pub log_sum: T,
}

/// Cross entropy of one row of logits with a class index (see [`class_index_terms`]).
#[inline(always)]
pub(crate) fn cross_entropy_row<T: Real>(
    fma: impl Fma,
    input: Input<'_, T>,
    between: &mut impl Between,
    t: RowTarget<'_, T>,
) -> RowResult<T> {
    let x = input.x;
    let Some(y) = t.class else { return RowResult::ignored() };
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else {
        return RowResult::nan();
    };
    let terms = class_index_terms(
        y,
        x[y],
        || row_smooth_sum(x, t.weights, s.max, s.log_sum),
        SoftmaxStats {
            max: s.max,
            sum: s.sum,
            log_sum: s.log_sum,
        },
        &t,
    );
    let output = RowOutput::Softmax {
        scale: terms.scale,
        shift: terms.shift,
        weighted: terms.weighted,
        target: Some(terms.target),
    };
    RowResult {
        loss: terms.loss,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run_row;
    use super::*;
    use crate::fused::simd::Unfused;

    #[test]
    fn row_matches_the_textbook_formula() {
        let x = [2.0f64, 1.0, 0.1];
        let t = RowTarget {
            class: Some(0),
            class_weight: 1.0,
            weights: None,
            weight_total: 3.0,
            smooth: 0.0,
            keep: 1.0,
            z: 0.0,
            grad_scale: 1.0,
        };
        let (loss, g) = run_row(&x, |input| cross_entropy_row(Unfused, input, &mut (), t));
        let s: f64 = x.iter().map(|v| v.exp()).sum();
        assert!((loss - (s.ln() - 2.0)).abs() < 1e-15);
        assert!((g[0] - (2f64.exp() / s - 1.0)).abs() < 1e-15);
        assert!((g[1] - 1f64.exp() / s).abs() < 1e-15);
    }

    #[test]
    fn a_non_finite_weight_of_another_class_leaves_the_row_finite() {
        let x = [2.0f64, 1.0, 0.1];
        let weights = [1.0, f64::NAN, 1.0];
        for total in [f64::NAN, f64::INFINITY] {
            let t = RowTarget {
                class: Some(0),
                class_weight: 1.0,
                weights: Some(&weights),
                weight_total: total,
                smooth: 0.0,
                keep: 1.0,
                z: 0.0,
                grad_scale: 1.0,
            };
            let (loss, g) = run_row(&x, |input| cross_entropy_row(Unfused, input, &mut (), t));
            assert!(loss.is_finite() && g.iter().all(|v| v.is_finite()), "{loss} {g:?}");
        }
    }
}
