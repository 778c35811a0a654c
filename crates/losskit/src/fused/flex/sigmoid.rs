//! The elementwise BCE-with-logits and sigmoid focal kernel over flex tensors.

use core::mem::MaybeUninit;

use burn_flex::FlexTensor;

use super::FlexReal;
use super::elementwise::{Chunk, ElementKernel, run_elementwise};
use crate::fused::pointwise::sigmoid::{SigmoidFocal, sigmoid_element};
use crate::fused::simd::Fma;
use crate::fused::{LossForm, SigmoidCall};

/// The two weights of the elementwise kernel.
#[derive(Clone, Copy)]
enum Weights<'a, T> {
    /// One `pos_weight` and one `weight` for every element.
    Scalar { pos_weight: T, weight: T },
    /// One of each per index of the last dimension, whose length is `pos_weight.len()`.
    PerIndex { pos_weight: &'a [T], weight: &'a [T] },
}

/// BCE with logits (`focal: None`) or the sigmoid focal loss, with its weights.
#[derive(Clone, Copy)]
struct SigmoidKernel<'a, T> {
    weights: Weights<'a, T>,
    focal: Option<SigmoidFocal<T>>,
}

impl<T: FlexReal> ElementKernel<T> for SigmoidKernel<'_, T> {
    #[inline(always)]
    fn chunk(&self, fma: impl Fma, chunk: Chunk<'_, T>) {
        sigmoid_chunk(fma, chunk, *self)
    }
}

pub(super) fn run_sigmoid<T: FlexReal>(
    logits: &FlexTensor,
    target: &FlexTensor,
    call: &SigmoidCall,
    form: LossForm,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = logits.layout().shape().as_slice();
    let last = dims.last().copied().unwrap_or(1).max(1);
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
        assert!(
            pos_weight.len() == last && weight.len() == last,
            "one weight per last-dimension index"
        );
        Weights::PerIndex {
            pos_weight: &pos_weight,
            weight: &weight,
        }
    } else {
        Weights::Scalar {
            pos_weight: pos_weight[0],
            weight: weight[0],
        }
    };
    let focal = call.focal.map(|f| SigmoidFocal {
        gamma: T::from_f64(f.gamma),
        alpha: f.alpha.map(T::from_f64),
    });
    run_elementwise(logits, target, SigmoidKernel { weights, focal }, form, with_grad)
}

/// One chunk, with the branches that do not depend on the element taken outside the loops:
/// each arm hands the loops a constant focal variant and target kind, which inlining folds.
#[inline(always)]
fn sigmoid_chunk<T: FlexReal>(fma: impl Fma, chunk: Chunk<'_, T>, p: SigmoidKernel<'_, T>) {
    let hard = p.focal.is_some()
        && chunk
            .ys
            .iter()
            .fold(true, |all, &y| all & ((y == T::ZERO) | (y == T::ONE)));
    match (p.focal, hard) {
        (None, _) => sigmoid_loops(fma, chunk, SigmoidKernel { focal: None, ..p }, false),
        (Some(SigmoidFocal { gamma, alpha: None }), true) => sigmoid_loops(
            fma,
            chunk,
            SigmoidKernel {
                focal: Some(SigmoidFocal { gamma, alpha: None }),
                ..p
            },
            true,
        ),
        (Some(SigmoidFocal { gamma, alpha: None }), false) => sigmoid_loops(
            fma,
            chunk,
            SigmoidKernel {
                focal: Some(SigmoidFocal { gamma, alpha: None }),
                ..p
            },
            false,
        ),
        (
            Some(SigmoidFocal {
                gamma,
                alpha: Some(alpha),
            }),
            true,
        ) => {
            let focal = Some(SigmoidFocal {
                gamma,
                alpha: Some(alpha),
            });
            sigmoid_loops(fma, chunk, SigmoidKernel { focal, ..p }, true)
        }
        (
            Some(SigmoidFocal {
                gamma,
                alpha: Some(alpha),
            }),
            false,
        ) => {
            let focal = Some(SigmoidFocal {
                gamma,
                alpha: Some(alpha),
            });
            sigmoid_loops(fma, chunk, SigmoidKernel { focal, ..p }, false)
        }
    }
}

/// The elementwise loops; `hard` promises every target is 0 or 1.
#[inline(always)]
fn sigmoid_loops<T: FlexReal>(fma: impl Fma, chunk: Chunk<'_, T>, p: SigmoidKernel<'_, T>, hard: bool) {
    let Chunk {
        start,
        xs,
        ys,
        ls,
        gs,
        grad_scale,
    } = chunk;
    let focal = p.focal;
    let (pos_weight, weight) = match p.weights {
        Weights::Scalar { pos_weight, weight } => {
            segment(
                fma,
                xs,
                ys,
                ls,
                gs,
                core::iter::repeat((pos_weight, weight)),
                focal,
                grad_scale,
                hard,
            );
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
        segment(
            fma,
            &xs[range.clone()],
            &ys[range.clone()],
            &mut ls[range],
            g,
            run,
            focal,
            grad_scale,
            hard,
        );
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
