//! Cross entropy of one row of logits with a row of class probabilities.

use super::lanes::{lane_sum, lane_sum2, lane_sum3};
use super::{Between, Input, RowOutput, RowResult, exps};
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// What a probability-target row's loss depends on besides its logits.
#[derive(Clone, Copy)]
pub(crate) struct ProbTarget<'a, T> {
    /// The target row.
    pub target: &'a [T],
    /// The class weights, or `None` for all-ones.
    pub weights: Option<&'a [T]>,
    /// `label_smoothing / C`.
    pub smooth: T,
    /// `1 - label_smoothing`.
    pub keep: T,
    /// Factor on the gradient.
    pub grad_scale: T,
}

/// Cross entropy of one row of logits with a probability row `t`: with
/// `a_j = w_j (keep t_j + smooth)` and `A = sum_j a_j`, the loss
/// `-sum_j a_j lp_j = A ln(sum) - sum_j a_j (x_j - max)` and the gradient `A softmax(x) - a`.
#[inline(always)]
pub(crate) fn probabilities_row<T: Real>(
    fma: impl Fma,
    input: Input<'_, T>,
    between: &mut impl Between,
    t: ProbTarget<'_, T>,
) -> RowResult<T> {
    let x = input.x;
    let Some(s) = exps(fma, x, input.scratch, input.next, between) else {
        return RowResult::nan();
    };
    let (max, keep, smooth) = (s.max, t.keep, t.smooth);
    let (total, dot) = match t.weights {
        Some(w) => (
            lane_sum2(t.target, w, |tj, wj| wj * (keep * tj + smooth)),
            lane_sum3(x, t.target, w, |v, tj, wj| wj * (keep * tj + smooth) * (v - max)),
        ),
        None => (
            lane_sum(t.target, |tj| keep * tj + smooth),
            lane_sum2(x, t.target, |v, tj| (keep * tj + smooth) * (v - max)),
        ),
    };
    let output = RowOutput::Probabilities {
        scale: t.grad_scale * total / s.sum,
        gs: t.grad_scale,
        keep,
        smooth,
    };
    RowResult {
        loss: total * s.log_sum - dot,
        output,
    }
}
