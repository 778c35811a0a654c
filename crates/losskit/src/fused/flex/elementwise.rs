//! The elementwise kernels' driver over flex tensors: chunks of elements over threads,
//! each chunk's losses summed in place when the call is reduced, so that no loss tensor is
//! written then.

use core::mem::MaybeUninit;

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::LossForm;
use crate::fused::mem::{assume_init, written};
use crate::fused::simd::{Fma, multiversion};

/// Elements per task, and per buffer of a reduced call's losses (kept on the stack).
const CHUNK: usize = 8192;

/// One chunk's data: the elements `start..start + xs.len()` of the tensors, all slices the
/// same length (checked before any kernel runs).
pub(super) struct Chunk<'a, T> {
    pub start: usize,
    pub xs: &'a [T],
    pub ys: &'a [T],
    pub ls: &'a mut [MaybeUninit<T>],
    pub gs: Option<&'a mut [MaybeUninit<T>]>,
    /// Factor on the gradient (the reduction's, or 1).
    pub grad_scale: T,
}

/// What an elementwise loss computes on a chunk; `chunk` is inlined into a loop compiled
/// once per vector unit, and must write every element of `ls` (and `gs`).
pub(super) trait ElementKernel<T: FlexReal>: Sync + Copy {
    fn chunk(&self, fma: impl Fma, chunk: Chunk<'_, T>);
}

multiversion! {
    /// One chunk through `kernel`, compiled for the widest vector unit this processor has.
    fn simd_chunk[T: FlexReal, K: ElementKernel<T>](fma, kernel: K, chunk: Chunk<'_, T>) -> () {
        let n = chunk.xs.len();
        assert!(chunk.ys.len() == n && chunk.ls.len() == n && chunk.gs.as_ref().is_none_or(|g| g.len() == n));
        kernel.chunk(fma, chunk)
    }
}

/// The losses of `kernel` over `input` and `target` (same shape), and the gradient when
/// `with_grad`: per element, or `factor * sum` as a `[1]` tensor.
pub(super) fn run_elementwise<T: FlexReal, K: ElementKernel<T>>(
    input: &FlexTensor,
    target: &FlexTensor,
    kernel: K,
    form: LossForm,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = input.layout().shape().as_slice().to_vec();
    let (input, target) = (contiguous::<T>(input), contiguous::<T>(target));
    let (x, y) = (data::<T>(&input), data::<T>(&target));
    assert_eq!(x.len(), y.len(), "the target has the input's shape");
    let n = x.len();
    let grad_scale = T::from_f64(form.grad_scale());
    let chunks = || x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)).enumerate();
    let LossForm::ScaledSum(factor) = form else {
        let mut grad = None;
        let run = |ls: &mut [MaybeUninit<T>], gs: Option<&mut [MaybeUninit<T>]>, k: usize, xs: &[T], ys: &[T]| {
            simd_chunk(
                kernel,
                Chunk {
                    start: k * CHUNK,
                    xs,
                    ys,
                    ls,
                    gs,
                    grad_scale,
                },
            );
        };
        // SAFETY: every chunk's kernel writes all of its losses (and gradients).
        let loss = unsafe {
            written(n, |loss| {
                if with_grad {
                    grad = Some(written(n, |grad| {
                        loss.par_chunks_mut(CHUNK)
                            .zip(grad.par_chunks_mut(CHUNK))
                            .zip(chunks())
                            .for_each(|((ls, gs), (k, (xs, ys)))| run(ls, Some(gs), k, xs, ys));
                    }));
                } else {
                    loss.par_chunks_mut(CHUNK)
                        .zip(chunks())
                        .for_each(|(ls, (k, (xs, ys)))| run(ls, None, k, xs, ys));
                }
            })
        };
        return (tensor(loss, dims.clone()), gradient(grad, dims));
    };
    let chunk_sum = |k: usize, xs: &[T], ys: &[T], gs: Option<&mut [MaybeUninit<T>]>| {
        let mut ls = [MaybeUninit::<T>::uninit(); CHUNK];
        let ls = &mut ls[..xs.len()];
        simd_chunk(
            kernel,
            Chunk {
                start: k * CHUNK,
                xs,
                ys,
                ls: &mut *ls,
                gs,
                grad_scale,
            },
        );
        // SAFETY: the kernel wrote every loss of the chunk.
        sum_f64(unsafe { assume_init(ls) })
    };
    let mut total = 0.0;
    let grad = with_grad.then(|| {
        // SAFETY: every chunk's kernel writes all of its gradients.
        unsafe {
            written(n, |grad| {
                total = grad
                    .par_chunks_mut(CHUNK)
                    .zip(chunks())
                    .map(|(gs, (k, (xs, ys)))| chunk_sum(k, xs, ys, Some(gs)))
                    .sum();
            })
        }
    });
    if !with_grad {
        total = chunks().map(|(k, (xs, ys))| chunk_sum(k, xs, ys, None)).sum();
    }
    (tensor(vec![T::from_f64(factor * total)], vec![1]), gradient(grad, dims))
}

/// The sum of `values` in f64, in sixteen independent lanes: one running sum ties each
/// addition to the last (docs/performance.md has what that cost).
fn sum_f64<T: FlexReal>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 16];
    let mut blocks = values.chunks_exact(16);
    for block in &mut blocks {
        for (lane, &v) in lanes.iter_mut().zip(block) {
            *lane += v.to_f64();
        }
    }
    let tail: f64 = blocks.remainder().iter().map(|v| v.to_f64()).sum();
    lanes.iter().sum::<f64>() + tail
}
