//! The box losses over flex tensors: pairs of boxes over threads, both gradients written
//! with each loss, and a reduction folded into the same pass (each task's sum in f64, the
//! factor on the gradients as they are written). The loop over a task's pairs is compiled
//! per vector unit and has no branch, so that it runs on as many pairs at once as the unit
//! holds.

use core::mem::MaybeUninit;

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::boxes::{BoxKind, box_loss};
use crate::fused::math::Real;
use crate::fused::mem::{assume_init, written};
use crate::fused::simd::{Fma, multiversion};
use crate::fused::{BoxCall, LossForm};

/// Boxes per task.
const CHUNK: usize = 2048;

/// What CIoU's IoU and DIoU terms use, whatever the call's `eps` (as torchvision's).
const CIOU_EPS: f64 = 1e-7;

/// The constants of a call's pairs.
#[derive(Clone, Copy)]
struct PairOptions<T> {
    kind: BoxKind,
    /// The IoU's and the distance term's `eps`.
    eps: T,
    /// CIoU's `alpha` term's `eps` (the call's).
    alpha_eps: T,
    /// The form's factor on the gradients.
    scale: T,
}

/// Where a task writes: a loss per pair (its slice of the output, or the task's own buffer
/// for a reduced call) and, when asked for, four gradient values per box of each set.
struct PairOutputs<'a, T> {
    losses: &'a mut [MaybeUninit<T>],
    grads: Option<[&'a mut [MaybeUninit<T>]; 2]>,
}

/// The losses of boxes `a` against `b` (both `(N, 4)`), `(N)` or their scaled sum `[1]` by
/// the call's form, and, when `with_grad`, the gradient of each box set (with the form's
/// factor).
pub(super) fn run_boxes<T: FlexReal>(
    a: &FlexTensor,
    b: &FlexTensor,
    call: &BoxCall,
    with_grad: bool,
) -> [FlexTensor; 3] {
    let dims = a.layout().shape().as_slice().to_vec();
    let (a, b) = (contiguous::<T>(a), contiguous::<T>(b));
    let (xa, xb) = (data::<T>(&a), data::<T>(&b));
    assert!(
        xa.len() == xb.len() && xa.len().is_multiple_of(4),
        "two (N, 4) box sets"
    );
    let n = xa.len() / 4;
    let (eps, alpha_eps) = match call.kind {
        BoxKind::Complete => (T::from_f64(CIOU_EPS), T::from_f64(call.eps)),
        _ => (T::from_f64(call.eps), T::ZERO),
    };
    let per_item = call.form == LossForm::PerItem;
    let options = PairOptions {
        kind: call.kind,
        eps,
        alpha_eps,
        scale: T::from_f64(call.form.grad_scale()),
    };
    // Task `k`'s pairs into `losses` (its slice of the output, or its own buffer for a
    // reduced call) and `grads`; for a reduced call, the sum of its losses in f64.
    let task = |k: usize, losses: Option<&mut [MaybeUninit<T>]>, grads: Option<[&mut [MaybeUninit<T>]; 2]>| {
        let pairs = k * CHUNK..(k * CHUNK + CHUNK).min(n);
        let (a, b) = (&xa[4 * pairs.start..4 * pairs.end], &xb[4 * pairs.start..4 * pairs.end]);
        let mut own = [MaybeUninit::<T>::uninit(); CHUNK];
        let losses = losses.unwrap_or(&mut own[..pairs.len()]);
        // The outputs' `written` promises hold only if every slice covers the task's pairs
        // exactly (the loops write what `losses` spans).
        assert_eq!(losses.len(), pairs.len(), "a loss per pair");
        if let Some([ga, gb]) = &grads {
            assert!(
                ga.len() == 4 * pairs.len() && gb.len() == 4 * pairs.len(),
                "four gradient values per box"
            );
        }
        run_pairs(options, a, b, PairOutputs { losses, grads });
        if per_item {
            return 0.0;
        }
        // SAFETY: `run_pairs` wrote every loss of its pairs.
        lane_sum(unsafe { assume_init(losses) })
    };
    let tasks = n.div_ceil(CHUNK);
    let mut sums: Vec<f64> = Vec::new();
    let mut grads = None;
    // SAFETY: each task writes the loss of every pair of its chunk (into the output where
    // the call is unreduced, which has no element otherwise), and both boxes' gradients
    // (four values each) when asked for them.
    let losses = unsafe {
        written(if per_item { n } else { 0 }, |losses| {
            let loss_slices: Vec<Option<&mut [MaybeUninit<T>]>> = if per_item {
                losses.chunks_mut(CHUNK).map(Some).collect()
            } else {
                (0..tasks).map(|_| None).collect()
            };
            if with_grad {
                let mut gb_out = None;
                let ga_out = written(4 * n, |ga| {
                    gb_out = Some(written(4 * n, |gb| {
                        sums = ga
                            .par_chunks_mut(4 * CHUNK)
                            .zip(gb.par_chunks_mut(4 * CHUNK))
                            .zip(loss_slices)
                            .enumerate()
                            .map(|(k, ((ga, gb), losses))| task(k, losses, Some([ga, gb])))
                            .collect();
                    }));
                });
                grads = gb_out.map(|gb| (ga_out, gb));
            } else {
                sums = loss_slices
                    .into_par_iter()
                    .enumerate()
                    .map(|(k, losses)| task(k, losses, None))
                    .collect();
            }
        })
    };
    let loss = match call.form {
        LossForm::PerItem => tensor(losses, vec![n]),
        // Task sums added in task order: the result does not depend on the threads.
        LossForm::ScaledSum(factor) => tensor(vec![T::from_f64(factor * sums.iter().sum::<f64>())], vec![1]),
    };
    let (ga, gb) = grads.unzip();
    [loss, gradient(ga, dims.clone()), gradient(gb, dims)]
}

multiversion! {
    /// The pairs of boxes `a[4i..4i + 4]` against `b[4i..4i + 4]`: every `losses[i]`, and
    /// with `grads` both boxes' gradients times the form's factor. One loop per kind and
    /// per need of gradients, so that each compiles without a branch.
    fn run_pairs[T: Real](fma, options: PairOptions<T>, a: &[T], b: &[T], out: PairOutputs<'_, T>) -> () {
        match (options.kind, out.grads) {
            (BoxKind::Generalized, None) => losses_only(fma, BoxKind::Generalized, options, a, b, out.losses),
            (BoxKind::Distance, None) => losses_only(fma, BoxKind::Distance, options, a, b, out.losses),
            (BoxKind::Complete, None) => losses_only(fma, BoxKind::Complete, options, a, b, out.losses),
            (BoxKind::Generalized, Some([ga, gb])) => {
                with_gradients(fma, BoxKind::Generalized, options, a, b, out.losses, ga, gb)
            }
            (BoxKind::Distance, Some([ga, gb])) => {
                with_gradients(fma, BoxKind::Distance, options, a, b, out.losses, ga, gb)
            }
            (BoxKind::Complete, Some([ga, gb])) => {
                with_gradients(fma, BoxKind::Complete, options, a, b, out.losses, ga, gb)
            }
        }
    }
}

/// The four corners of pair `i` of `boxes`.
#[inline(always)]
fn corners<T: Real>(boxes: &[T], i: usize) -> [T; 4] {
    [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]]
}

#[inline(always)]
fn losses_only<T: Real>(
    m: impl Fma,
    kind: BoxKind,
    o: PairOptions<T>,
    a: &[T],
    b: &[T],
    losses: &mut [MaybeUninit<T>],
) {
    let n = losses.len();
    let (a, b) = (&a[..4 * n], &b[..4 * n]);
    for (i, loss) in losses.iter_mut().enumerate() {
        let pair = box_loss(m, kind, o.eps, o.alpha_eps, corners(a, i), corners(b, i), false);
        loss.write(pair.loss);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)] // one loop body, inlined into its three callers
fn with_gradients<T: Real>(
    m: impl Fma,
    kind: BoxKind,
    o: PairOptions<T>,
    a: &[T],
    b: &[T],
    losses: &mut [MaybeUninit<T>],
    ga: &mut [MaybeUninit<T>],
    gb: &mut [MaybeUninit<T>],
) {
    let n = losses.len();
    let (a, b, ga, gb) = (&a[..4 * n], &b[..4 * n], &mut ga[..4 * n], &mut gb[..4 * n]);
    for (i, loss) in losses.iter_mut().enumerate() {
        let pair = box_loss(m, kind, o.eps, o.alpha_eps, corners(a, i), corners(b, i), true);
        loss.write(pair.loss);
        for c in 0..4 {
            ga[4 * i + c].write(pair.grad_a[c] * o.scale);
            gb[4 * i + c].write(pair.grad_b[c] * o.scale);
        }
    }
}

/// The sum of `values` in f64, in eight lanes (which vectorise) added in a fixed order.
fn lane_sum<T: Real>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let blocks = values.chunks_exact(8);
    let tail: f64 = blocks.remainder().iter().map(|v| v.to_f64()).sum();
    for block in blocks {
        for (lane, v) in lanes.iter_mut().zip(block) {
            *lane += v.to_f64();
        }
    }
    lanes.iter().sum::<f64>() + tail
}
