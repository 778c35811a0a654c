//! The elementwise BCE-with-logits and sigmoid focal kernel over flex tensors: chunks of
//! elements over threads, the reduction folded into each chunk.

use core::mem::MaybeUninit;

use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::mem::{assume_init, written};
use crate::fused::pointwise::sigmoid::{SigmoidFocal, sigmoid_element};
use crate::fused::simd::{Fma, multiversion};
use crate::fused::{LossForm, SigmoidCall};

/// Elements per task, and per buffer of a reduced call's losses (kept on the stack).
const CHUNK: usize = 8192;

/// What one chunk of the elementwise kernel needs besides its data.
#[derive(Clone, Copy)]
struct SigmoidParams<'a, T> {
    /// `pos_weight` and `weight` per last-dimension index (both of length `last`), or one
    /// value each.
    weights: Weights<'a, T>,
    focal: Option<SigmoidFocal<T>>,
    /// Factor on the gradient (the reduction's `1 / numel`, or 1).
    grad_scale: T,
}

/// The two weights of the elementwise kernel.
#[derive(Clone, Copy)]
enum Weights<'a, T> {
    /// One `pos_weight` and one `weight` for every element.
    Scalar { pos_weight: T, weight: T },
    /// One of each per index of the last dimension, whose length is `pos_weight.len()`.
    PerIndex { pos_weight: &'a [T], weight: &'a [T] },
}

pub(super) fn run_sigmoid<T: FlexReal>(
    logits: &FlexTensor,
    target: &FlexTensor,
    call: &SigmoidCall,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = logits.layout().shape().as_slice().to_vec();
    let last = dims.last().copied().unwrap_or(1).max(1);
    let (logits, target) = (contiguous::<T>(logits), contiguous::<T>(target));
    let (x, y) = (data::<T>(&logits), data::<T>(&target));
    assert_eq!(x.len(), y.len(), "the target has the logits' shape");
    let convert = |v: &Option<Vec<f64>>| match v {
        Some(v) => v.iter().map(|&u| T::from_f64(u)).collect::<Vec<T>>(),
        None => vec![T::ONE],
    };
    let (pos_weight, weight) = (convert(&call.pos_weight), convert(&call.weight));
    let per_index = pos_weight.len() > 1 || weight.len() > 1;
    // A weight that varies along the last dimension is spread to one value per index.
    let spread = |v: Vec<T>| if per_index && v.len() == 1 { vec![v[0]; last] } else { v };
    let (pos_weight, weight) = (spread(pos_weight), spread(weight));
    let weights = if per_index {
        assert!(pos_weight.len() == last && weight.len() == last, "one weight per last-dimension index");
        Weights::PerIndex { pos_weight: &pos_weight, weight: &weight }
    } else {
        Weights::Scalar { pos_weight: pos_weight[0], weight: weight[0] }
    };
    let focal = call.focal.map(|f| SigmoidFocal { gamma: T::from_f64(f.gamma), alpha: f.alpha.map(T::from_f64) });
    let params = SigmoidParams { weights, focal, grad_scale: T::from_f64(call.form.grad_scale()) };
    let n = x.len();
    let chunks = || x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)).enumerate();
    let LossForm::ScaledSum(factor) = call.form else {
        let mut grad = None;
        // SAFETY: every chunk's kernel writes all of its losses (and gradients).
        let loss = unsafe {
            written(n, |loss| {
                if with_grad {
                    grad = Some(written(n, |grad| {
                        loss.par_chunks_mut(CHUNK)
                            .zip(grad.par_chunks_mut(CHUNK))
                            .zip(chunks())
                            .for_each(|((ls, gs), (k, (xs, ys)))| simd_sigmoid(k * CHUNK, xs, ys, ls, Some(gs), params));
                    }));
                } else {
                    loss.par_chunks_mut(CHUNK)
                        .zip(chunks())
                        .for_each(|(ls, (k, (xs, ys)))| simd_sigmoid(k * CHUNK, xs, ys, ls, None, params));
                }
            })
        };
        return (tensor(loss, dims.clone()), gradient(grad, dims));
    };
    // Reduced: each task keeps its losses in a chunk-sized buffer and returns their sum, so
    // no loss tensor is written; the gradient carries the reduction's factor.
    let chunk_sum = |start: usize, xs: &[T], ys: &[T], gs: Option<&mut [MaybeUninit<T>]>| {
        let mut ls = [MaybeUninit::<T>::uninit(); CHUNK];
        let ls = &mut ls[..xs.len()];
        simd_sigmoid(start, xs, ys, ls, gs, params);
        // SAFETY: the elementwise kernel wrote every loss of the chunk.
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
                    .map(|(gs, (k, (xs, ys)))| chunk_sum(k * CHUNK, xs, ys, Some(gs)))
                    .sum();
            })
        }
    });
    if !with_grad {
        total = chunks().map(|(k, (xs, ys))| chunk_sum(k * CHUNK, xs, ys, None)).sum();
    }
    (tensor(vec![T::from_f64(factor * total)], vec![1]), gradient(grad, dims))
}

/// The sum of `values` in f64, in sixteen independent lanes: one running sum ties each
/// addition to the last, which cost the focal loss a fifth of its time.
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

multiversion! {
    /// The elementwise kernel on one chunk, the elements `start..start + xs.len()` of the
    /// tensor, compiled for the widest vector unit this processor has. Writes every element
    /// of `ls` (and `gs`), which must be as long as `xs` and `ys`.
    fn simd_sigmoid[T: FlexReal](
        fma,
        start: usize,
        xs: &[T],
        ys: &[T],
        ls: &mut [MaybeUninit<T>],
        gs: Option<&mut [MaybeUninit<T>]>,
        p: SigmoidParams<'_, T>,
    ) -> () {
        assert!(ys.len() == xs.len() && ls.len() == xs.len() && gs.as_ref().is_none_or(|g| g.len() == xs.len()));
        sigmoid_chunk(fma, start, xs, ys, ls, gs, p)
    }
}

/// One chunk, with the branches that do not depend on the element taken outside the loops:
/// each arm hands the loops a constant focal variant and target kind, which inlining folds.
#[inline(always)]
fn sigmoid_chunk<T: FlexReal>(
    fma: impl Fma,
    start: usize,
    xs: &[T],
    ys: &[T],
    ls: &mut [MaybeUninit<T>],
    gs: Option<&mut [MaybeUninit<T>]>,
    p: SigmoidParams<'_, T>,
) {
    let hard = p.focal.is_some() && ys.iter().fold(true, |all, &y| all & ((y == T::ZERO) | (y == T::ONE)));
    let chunk = Chunk { start, xs, ys, ls, gs };
    match (p.focal, hard) {
        (None, _) => sigmoid_loops(fma, chunk, SigmoidParams { focal: None, ..p }, false),
        (Some(SigmoidFocal { gamma, alpha: None }), true) => {
            sigmoid_loops(fma, chunk, SigmoidParams { focal: Some(SigmoidFocal { gamma, alpha: None }), ..p }, true)
        }
        (Some(SigmoidFocal { gamma, alpha: None }), false) => {
            sigmoid_loops(fma, chunk, SigmoidParams { focal: Some(SigmoidFocal { gamma, alpha: None }), ..p }, false)
        }
        (Some(SigmoidFocal { gamma, alpha: Some(alpha) }), true) => {
            let focal = Some(SigmoidFocal { gamma, alpha: Some(alpha) });
            sigmoid_loops(fma, chunk, SigmoidParams { focal, ..p }, true)
        }
        (Some(SigmoidFocal { gamma, alpha: Some(alpha) }), false) => {
            let focal = Some(SigmoidFocal { gamma, alpha: Some(alpha) });
            sigmoid_loops(fma, chunk, SigmoidParams { focal, ..p }, false)
        }
    }
}

/// One chunk's data: the elements `start..start + xs.len()`, all slices the same length.
struct Chunk<'a, T> {
    start: usize,
    xs: &'a [T],
    ys: &'a [T],
    ls: &'a mut [MaybeUninit<T>],
    gs: Option<&'a mut [MaybeUninit<T>]>,
}

/// The elementwise loops; `hard` promises every target is 0 or 1.
#[inline(always)]
fn sigmoid_loops<T: FlexReal>(fma: impl Fma, chunk: Chunk<'_, T>, p: SigmoidParams<'_, T>, hard: bool) {
    let Chunk { start, xs, ys, ls, gs } = chunk;
    let (focal, grad_scale) = (p.focal, p.grad_scale);
    let (pos_weight, weight) = match p.weights {
        Weights::Scalar { pos_weight, weight } => {
            segment(fma, xs, ys, ls, gs, core::iter::repeat((pos_weight, weight)), focal, grad_scale, hard);
            return;
        }
        Weights::PerIndex { pos_weight, weight } => (pos_weight, weight),
    };
    // The chunk in segments that each lie inside one row of the last dimension, so that
    // each segment's weights are one contiguous run.
    let last = pos_weight.len();
    let (mut done, mut index) = (0, start % last);
    let mut gs = gs;
    while done < xs.len() {
        let len = (xs.len() - done).min(last - index);
        let range = done..done + len;
        let (pw, w) = (&pos_weight[index..index + len], &weight[index..index + len]);
        let g = gs.as_mut().map(|g| &mut g[range.clone()]);
        let run = pw.iter().copied().zip(w.iter().copied());
        segment(fma, &xs[range.clone()], &ys[range.clone()], &mut ls[range], g, run, focal, grad_scale, hard);
        (done, index) = (done + len, 0);
    }
}

/// The elementwise loop over equally long slices, each element weighted by the next
/// (`pos_weight`, `weight`) of `weights`.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the loop's own parameters, kept apart so each inlines as a constant
fn segment<T: FlexReal>(
    fma: impl Fma,
    xs: &[T],
    ys: &[T],
    ls: &mut [MaybeUninit<T>],
    gs: Option<&mut [MaybeUninit<T>]>,
    weights: impl Iterator<Item = (T, T)>,
    focal: Option<SigmoidFocal<T>>,
    grad_scale: T,
    hard: bool,
) {
    match gs {
        Some(gs) => {
            for ((((l, g), &x), &y), (pw, w)) in ls.iter_mut().zip(gs.iter_mut()).zip(xs).zip(ys).zip(weights) {
                let e = sigmoid_element(fma, x, y, pw, w, focal, hard);
                l.write(e.loss);
                g.write(e.grad * grad_scale);
            }
        }
        None => {
            for (((l, &x), &y), (pw, w)) in ls.iter_mut().zip(xs).zip(ys).zip(weights) {
                l.write(sigmoid_element(fma, x, y, pw, w, focal, hard).loss);
            }
        }
    }
}
