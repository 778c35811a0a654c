//! The row kernels (cross entropy, soft-capped too, NLL, softmax focal, softmax): max, sum of exponentials,
//! loss and gradient of one row in passes over data that stays in cache, written so that
//! LLVM vectorises them. Each returns the row's loss and a [`RowOutput`] describing its
//! output row, which the scheduler writes while the next row is computed.

mod cross_entropy;
mod focal;
mod lanes;
mod nll;
mod output;
mod probabilities;
mod softcap;
mod softmax;

pub(crate) use cross_entropy::{RowTarget, SoftmaxStats, class_index_terms, cross_entropy_row};
pub(crate) use focal::{FocalTarget, focal_row};
pub(crate) use nll::nll_row;
pub(crate) use output::{RowData, RowOutput, RowWriter};
pub(crate) use probabilities::{ProbTarget, probabilities_row};
pub(crate) use softcap::softcapped_cross_entropy_row;
pub(crate) use softmax::{softmax_backward_row, softmax_row};

use super::math::Real;
use super::simd::Fma;
use lanes::{lane_exp_into, lane_fold};

/// Something to run between the blocks of a row's exponential pass: the previous row's
/// output is written there, its stores overlapping this row's arithmetic.
pub(crate) trait Between {
    /// Runs once the first `upto` exponentials of the row are done.
    fn at(&mut self, upto: usize);
}

/// Nothing in between.
impl Between for () {
    #[inline(always)]
    fn at(&mut self, _: usize) {}
}

/// One row of input with a scratch row (at least as long) and what is read next, to prefetch.
pub(crate) struct Input<'a, T> {
    pub x: &'a [T],
    pub scratch: &'a mut [T],
    pub next: &'a [T],
}

/// What a row kernel returns: the row's loss and how to write its output row.
#[derive(Clone, Copy)]
pub(crate) struct RowResult<T> {
    pub loss: T,
    pub output: RowOutput<T>,
}

impl<T: Real> RowResult<T> {
    /// A row that holds a NaN or is all -inf: NaN everywhere.
    const fn nan() -> Self {
        Self {
            loss: T::NAN,
            output: RowOutput::Fill {
                value: T::NAN,
                target: None,
            },
        }
    }

    /// An ignored row: no loss, no gradient.
    const fn ignored() -> Self {
        Self {
            loss: T::ZERO,
            output: RowOutput::Fill {
                value: T::ZERO,
                target: None,
            },
        }
    }
}

/// A row's softmax statistics: its maximum, `sum_j e^(x_j - max)` and its logarithm, with
/// `e^(x_j - max)` written into the scratch row `e`.
struct Exps<'e, T> {
    max: T,
    sum: T,
    log_sum: T,
    e: &'e mut [T],
}

/// The softmax statistics of `x`, or `None` when the row holds a NaN or is all -inf (then
/// everything computed from it is NaN, as in PyTorch). `between`: see [`lane_exp_into`].
#[inline(always)]
fn exps<'e, T: Real>(
    fma: impl Fma,
    x: &[T],
    e: &'e mut [T],
    next: &[T],
    between: &mut impl Between,
) -> Option<Exps<'e, T>> {
    // A NaN needs no test of its own: it makes the sum of exponentials NaN, as does an
    // infinite maximum (inf - inf) and a row of -inf (-inf - -inf).
    let max = lane_fold(x, T::NEG_INFINITY, T::max);
    let e = &mut e[..x.len()];
    let sum = lane_exp_into(fma, x, e, max, next, between);
    if sum.is_nan() {
        return None;
    }
    Some(Exps {
        max,
        sum,
        log_sum: sum.ln(),
        e,
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use core::mem::MaybeUninit;

    use super::*;
    use crate::fused::mem::assume_init;

    /// Runs a row function and writes its output row, as the scheduler does.
    pub(crate) fn run_row<T: Real>(x: &[T], row: impl FnOnce(Input<'_, T>) -> RowResult<T>) -> (T, Vec<T>) {
        let mut scratch = vec![T::ZERO; x.len()];
        let result = row(Input {
            x,
            scratch: &mut scratch,
            next: &[],
        });
        let mut out = vec![MaybeUninit::uninit(); x.len()];
        let data = RowData {
            e: &scratch,
            x,
            other: &[],
            weights: None,
        };
        RowWriter::new(&mut out, false).finish(&result.output, data);
        // SAFETY: `finish` wrote every element.
        (result.loss, unsafe { assume_init(&mut out) }.to_vec())
    }
}
