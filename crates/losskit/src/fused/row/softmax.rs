//! Softmax and log-softmax of one row, and their backward.

use super::lanes::{lane_sum, lane_sum2};
use super::{Between, Input, RowOutput, RowResult, exps};
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// Softmax (or, with `log`, log-softmax) of one row.
#[inline(always)]
pub(crate) fn softmax_row<T: Real>(
    fma: impl Fma,
    input: Input<'_, T>,
    between: &mut impl Between,
    log: bool,
) -> RowOutput<T> {
    let Some(s) = exps(fma, input.x, input.scratch, input.next, between) else {
        return RowResult::nan().output;
    };
    if log {
        RowOutput::Shifted {
            max: s.max,
            log_sum: s.log_sum,
        }
    } else {
        RowOutput::Softmax {
            scale: T::ONE / s.sum,
            shift: T::ZERO,
            weighted: false,
            target: None,
        }
    }
}

/// The gradient of one softmax row with respect to its input, from the output `y` and the
/// upstream gradient `g`: `y (g - sum_k g_k y_k)`; with `log` (`y` = log-softmax),
/// `g - e^y sum_k g_k`.
#[inline(always)]
pub(crate) fn softmax_backward_row<T: Real>(y: &[T], g: &[T], log: bool) -> RowOutput<T> {
    if log {
        RowOutput::LogSoftmaxGrad {
            total: lane_sum(g, |v| v),
        }
    } else {
        RowOutput::SoftmaxGrad {
            dot: lane_sum2(y, g, |yj, gj| yj * gj),
        }
    }
}
