//! The box losses over flex tensors: pairs of boxes over threads, both gradients written
//! with each loss.

use core::mem::MaybeUninit;

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::BoxCall;
use crate::fused::boxes::{BoxKind, box_loss};
use crate::fused::mem::written;

/// Boxes per task.
const CHUNK: usize = 2048;

/// A chunk's gradient outputs for the first and the second box set, four per box.
type BoxGradients<'a, T> = (&'a mut [MaybeUninit<T>], &'a mut [MaybeUninit<T>]);

/// What CIoU's IoU and DIoU terms use, whatever the call's `eps` (as torchvision's).
const CIOU_EPS: f64 = 1e-7;

/// The losses `(N)` of boxes `a` against `b` (both `(N, 4)`) and, when `with_grad`, the
/// gradient of each box set.
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
    let kind = call.kind;
    let corners = |s: &[T]| [s[0], s[1], s[2], s[3]];
    let run = |k: usize, ls: &mut [MaybeUninit<T>], grads: Option<BoxGradients<T>>| {
        let first = k * CHUNK;
        match grads {
            Some((ga, gb)) => {
                for (j, ((l, ga), gb)) in ls.iter_mut().zip(ga.chunks_mut(4)).zip(gb.chunks_mut(4)).enumerate() {
                    let i = first + j;
                    let out = box_loss(kind, eps, alpha_eps, corners(&xa[4 * i..]), corners(&xb[4 * i..]), true);
                    l.write(out.loss);
                    ga.iter_mut().zip(out.grad_a).for_each(|(g, v)| _ = g.write(v));
                    gb.iter_mut().zip(out.grad_b).for_each(|(g, v)| _ = g.write(v));
                }
            }
            None => {
                for (j, l) in ls.iter_mut().enumerate() {
                    let i = first + j;
                    l.write(
                        box_loss(
                            kind,
                            eps,
                            alpha_eps,
                            corners(&xa[4 * i..]),
                            corners(&xb[4 * i..]),
                            false,
                        )
                        .loss,
                    );
                }
            }
        }
    };
    let mut grads = None;
    // SAFETY: each task writes the loss of every box of its chunk, and both boxes'
    // gradients (four values each) when asked for them.
    let loss = unsafe {
        written(n, |loss| {
            if with_grad {
                let mut gb_out = None;
                let ga_out = written(4 * n, |ga| {
                    gb_out = Some(written(4 * n, |gb| {
                        loss.par_chunks_mut(CHUNK)
                            .zip(ga.par_chunks_mut(4 * CHUNK).zip(gb.par_chunks_mut(4 * CHUNK)))
                            .enumerate()
                            .for_each(|(k, (ls, (ga, gb)))| run(k, ls, Some((ga, gb))));
                    }));
                });
                grads = gb_out.map(|gb| (ga_out, gb));
            } else {
                loss.par_chunks_mut(CHUNK)
                    .enumerate()
                    .for_each(|(k, ls)| run(k, ls, None));
            }
        })
    };
    let (ga, gb) = grads.unzip();
    [tensor(loss, vec![n]), gradient(ga, dims.clone()), gradient(gb, dims)]
}
