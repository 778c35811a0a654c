//! Negative log likelihood of one row of log-probabilities.

use super::output::TargetShift;
use super::{RowOutput, RowResult, RowTarget};
use crate::fused::math::Real;

/// Negative log likelihood of one row of log-probabilities: `-w[y] x_y` (0 when ignored),
/// and the gradient `-w[y] onehot(y)`.
#[inline(always)]
pub(crate) fn nll_row<T: Real>(x: &[T], t: RowTarget<'_, T>) -> RowResult<T> {
    let Some(y) = t.class else { return RowResult::ignored() };
    let target = Some(TargetShift {
        class: y,
        delta: t.grad_scale * t.class_weight,
    });
    RowResult {
        loss: T::ZERO - t.class_weight * x[y],
        output: RowOutput::Fill { value: T::ZERO, target },
    }
}
