//! The kernels on flex: typed slices, rayon over rows.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use core::mem::MaybeUninit;

use super::rows::{Real, RowTarget, assume_init, cross_entropy_row};
use super::sigmoid::{Focal, sigmoid_element};
use super::{CrossEntropyRows, LossKernels, SigmoidLosses};

/// Defines a kernel function whose body is compiled three times, for AVX-512, for AVX2 with
/// FMA and for the baseline, and runs the widest one the processor has (checked at run time):
/// the binary stays portable and still uses the vector unit it finds.
macro_rules! multiversion {
    ($(#[$doc:meta])* fn $name:ident<$t:ident: Real>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$doc])*
        fn $name<$t: Real>($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body<$t: Real>($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512<$t: Real>($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$t: Real>($($arg: $ty),*) -> $ret {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the feature was detected at run time.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the features were detected at run time.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// Rows per rayon task: enough work (about 16k elements) to pay for the hand-off.
fn min_rows(classes: usize) -> usize {
    (16_384 / classes.max(1)).max(1)
}

fn run<T: Real + bytemuck::Pod + burn::tensor::Element>(
    logits: &FlexTensor,
    options: &CrossEntropyRows,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = logits.layout().shape().as_slice().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let contiguous;
    let x: &[T] = match logits.as_slice::<T>() {
        Some(s) => s,
        None => {
            contiguous = logits.to_contiguous();
            contiguous.storage::<T>()
        }
    };
    let weights: Option<Vec<T>> = options.weight.as_ref().map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
    let smooth = T::from_f64(options.label_smoothing / c as f64);
    let keep = T::from_f64(1.0 - options.label_smoothing);
    let grad_scale = T::from_f64(options.reduce_scale.unwrap_or(1.0));
    let target = |i: usize| {
        let y = options.targets[i];
        let class = (y != options.ignore_index).then_some(y as usize);
        let class_weight = match (&weights, class) {
            (Some(w), Some(y)) => w[y],
            _ => T::ONE,
        };
        RowTarget { class, class_weight, weights: weights.as_deref(), smooth, keep, grad_scale }
    };
    let mut losses = vec![T::ZERO; n];
    let mut grad: Vec<T> = Vec::with_capacity(if with_grad { n * c } else { 0 });
    let rows = min_rows(c);
    if c > 0 {
        if with_grad {
            losses
                .par_iter_mut()
                .zip(grad.spare_capacity_mut()[..n * c].par_chunks_mut(c))
                .zip(x.par_chunks(c))
                .enumerate()
                .with_min_len(rows)
                .for_each(|(i, ((l, g), xr))| *l = simd_row(xr, Some(g), target(i)));
        } else {
            losses
                .par_iter_mut()
                .zip(x.par_chunks(c))
                .enumerate()
                .with_min_len(rows)
                .for_each(|(i, (l, xr))| *l = simd_row(xr, None, target(i)));
        }
    }
    if with_grad {
        // SAFETY: the row kernel wrote every element of every row (n rows of c; for c = 0
        // there is nothing to write).
        unsafe { grad.set_len(n * c) };
    }
    let grad_dims = if with_grad { vec![n, c] } else { vec![0] };
    let loss = match options.reduce_scale {
        Some(scale) => {
            let total = losses.iter().fold(0.0f64, |acc, &l| acc + l.to_f64());
            FlexTensor::from_data(TensorData::new(vec![T::from_f64(scale * total)], [1]))
        }
        None => FlexTensor::from_data(TensorData::new(losses, [n])),
    };
    (loss, FlexTensor::from_data(TensorData::new(grad, grad_dims)))
}

/// A vector of `n` values written by `write` (which must write every element): the
/// kernels' outputs are never zeroed first, which would cost a whole extra pass.
fn written<T: Send>(n: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: `write` initialised all `n` elements.
    unsafe { v.set_len(n) };
    v
}

multiversion! {
    /// The row kernel compiled for the widest vector unit this processor has.
    fn simd_row<T: Real>(x: &[T], grad: Option<&mut [MaybeUninit<T>]>, t: RowTarget<'_, T>) -> T {
        cross_entropy_row(x, grad, t)
    }
}

/// Typed contiguous data of a flex tensor (copied only when it is a strided view).
fn contiguous<T: bytemuck::Pod + burn::tensor::Element>(t: &FlexTensor) -> std::borrow::Cow<'_, [T]> {
    match t.as_slice::<T>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().storage::<T>().to_vec()),
    }
}

const CHUNK: usize = 8192;

/// What one chunk of the elementwise kernel needs besides its data.
#[derive(Clone, Copy)]
struct SigmoidParams<'a, T> {
    /// `pos_weight` per last-dimension index (chunks then hold whole rows), or one value.
    pos_weight: &'a [T],
    /// `weight` per last-dimension index, or one value.
    weight: &'a [T],
    focal: Focal<T>,
    /// Factor on the gradient (the reduction's `1 / numel`, or 1).
    grad_scale: T,
}

fn run_sigmoid<T: Real + bytemuck::Pod + burn::tensor::Element>(
    logits: &FlexTensor,
    target: &FlexTensor,
    options: &SigmoidLosses,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = logits.layout().shape().as_slice().to_vec();
    let last = dims.last().copied().unwrap_or(1).max(1);
    let x = contiguous::<T>(logits);
    let y = contiguous::<T>(target);
    let convert = |v: &Option<Vec<f64>>| match v {
        Some(v) => v.iter().map(|&u| T::from_f64(u)).collect::<Vec<T>>(),
        None => vec![T::ONE],
    };
    let (pos_weight, weight) = (convert(&options.pos_weight), convert(&options.weight));
    let per_index = pos_weight.len() > 1 || weight.len() > 1;
    // A weight that varies along the last dimension is spread to one value per index.
    let spread = |v: Vec<T>| if per_index && v.len() == 1 { vec![v[0]; last] } else { v };
    let (pos_weight, weight) = (spread(pos_weight), spread(weight));
    let params = SigmoidParams {
        pos_weight: &pos_weight,
        weight: &weight,
        focal: options.focal.map(|(g, a)| (T::from_f64(g), a.filter(|a| *a >= 0.0).map(T::from_f64))),
        grad_scale: T::ONE,
    };
    // Chunks hold whole last-dimension rows when a weight varies along it.
    let chunk = if per_index { (CHUNK / last).max(1) * last } else { CHUNK };
    if chunk > CHUNK_MAX || options.reduce_scale.is_some_and(|_| chunk > CHUNK_MAX) {
        unreachable!("chunks are at most {CHUNK_MAX} elements");
    }
    let n = x.len();
    let grad_len = if with_grad { n } else { 0 };
    let grad_dims = if with_grad { dims.clone() } else { vec![0] };
    let Some(scale) = options.reduce_scale else {
        let mut grad = Vec::new();
        let loss = written(n, |loss| {
            if with_grad {
                grad = written(grad_len, |grad| {
                    loss.par_chunks_mut(chunk)
                        .zip(grad.par_chunks_mut(chunk))
                        .zip(x.par_chunks(chunk).zip(y.par_chunks(chunk)))
                        .for_each(|((ls, gs), (xs, ys))| simd_sigmoid(xs, ys, ls, Some(gs), params));
                });
            } else {
                loss.par_chunks_mut(chunk)
                    .zip(x.par_chunks(chunk).zip(y.par_chunks(chunk)))
                    .for_each(|(ls, (xs, ys))| simd_sigmoid(xs, ys, ls, None, params));
            }
        });
        return (
            FlexTensor::from_data(TensorData::new(loss, dims)),
            FlexTensor::from_data(TensorData::new(grad, grad_dims)),
        );
    };
    // Reduced: each task keeps its losses in a chunk-sized buffer and returns their sum, so
    // no loss tensor is written; the gradient carries the reduction's factor.
    let params = SigmoidParams { grad_scale: T::from_f64(scale), ..params };
    let chunk_sum = |xs: &[T], ys: &[T], gs: Option<&mut [MaybeUninit<T>]>| {
        let mut ls = [MaybeUninit::<T>::uninit(); CHUNK_MAX];
        let ls = &mut ls[..xs.len()];
        simd_sigmoid(xs, ys, ls, gs, params);
        // SAFETY: the elementwise kernel wrote every loss of the chunk.
        let ls = unsafe { assume_init(ls) };
        ls.iter().fold(0.0f64, |acc, &l| acc + l.to_f64())
    };
    let mut total = 0.0;
    let grad = written(grad_len, |grad| {
        total = if with_grad {
            grad.par_chunks_mut(chunk)
                .zip(x.par_chunks(chunk).zip(y.par_chunks(chunk)))
                .map(|(gs, (xs, ys))| chunk_sum(xs, ys, Some(gs)))
                .sum()
        } else {
            x.par_chunks(chunk).zip(y.par_chunks(chunk)).map(|(xs, ys)| chunk_sum(xs, ys, None)).sum()
        };
    });
    (
        FlexTensor::from_data(TensorData::new(vec![T::from_f64(scale * total)], [1])),
        FlexTensor::from_data(TensorData::new(grad, grad_dims)),
    )
}

/// One chunk, with the branches that do not depend on the element taken outside the loops:
/// each arm hands the loops a constant focal variant and target kind, which inlining folds.
#[inline(always)]
fn sigmoid_chunk<T: Real>(
    xs: &[T],
    ys: &[T],
    ls: &mut [MaybeUninit<T>],
    gs: Option<&mut [MaybeUninit<T>]>,
    p: SigmoidParams<'_, T>,
) {
    let hard = p.focal.is_some() && ys.iter().fold(true, |all, &y| all & ((y == T::ZERO) | (y == T::ONE)));
    match (p.focal, hard) {
        (None, _) => sigmoid_loops(xs, ys, ls, gs, SigmoidParams { focal: None, ..p }, false),
        (Some((gamma, None)), true) => sigmoid_loops(xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, None)), ..p }, true),
        (Some((gamma, None)), false) => sigmoid_loops(xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, None)), ..p }, false),
        (Some((gamma, Some(alpha))), true) => {
            sigmoid_loops(xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, Some(alpha))), ..p }, true)
        }
        (Some((gamma, Some(alpha))), false) => {
            sigmoid_loops(xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, Some(alpha))), ..p }, false)
        }
    }
}

/// The elementwise loops; `hard` promises every target is 0 or 1.
#[inline(always)]
fn sigmoid_loops<T: Real>(
    xs: &[T],
    ys: &[T],
    ls: &mut [MaybeUninit<T>],
    gs: Option<&mut [MaybeUninit<T>]>,
    p: SigmoidParams<'_, T>,
    hard: bool,
) {
    let (pos_weight, weight, focal, grad_scale) = (p.pos_weight, p.weight, p.focal, p.grad_scale);
    if pos_weight.len() == 1 && weight.len() == 1 {
        let (pw, w) = (pos_weight[0], weight[0]);
        match gs {
            Some(gs) => {
                for (((l, g), &x), &y) in ls.iter_mut().zip(gs.iter_mut()).zip(xs).zip(ys) {
                    let (loss, grad) = sigmoid_element(x, y, pw, w, focal, hard);
                    l.write(loss);
                    g.write(grad * grad_scale);
                }
            }
            None => {
                for ((l, &x), &y) in ls.iter_mut().zip(xs).zip(ys) {
                    l.write(sigmoid_element(x, y, pw, w, focal, hard).0);
                }
            }
        }
        return;
    }
    let last = pos_weight.len();
    let rows = ls.chunks_mut(last).zip(xs.chunks(last)).zip(ys.chunks(last));
    match gs {
        Some(gs) => {
            for (((l, x), y), g) in rows.zip(gs.chunks_mut(last)) {
                for (((((l, g), &x), &y), &pw), &w) in l.iter_mut().zip(g).zip(x).zip(y).zip(pos_weight).zip(weight) {
                    let (loss, grad) = sigmoid_element(x, y, pw, w, focal, hard);
                    l.write(loss);
                    g.write(grad * grad_scale);
                }
            }
        }
        None => {
            for ((l, x), y) in rows {
                for ((((l, &x), &y), &pw), &w) in l.iter_mut().zip(x).zip(y).zip(pos_weight).zip(weight) {
                    l.write(sigmoid_element(x, y, pw, w, focal, hard).0);
                }
            }
        }
    }
}

multiversion! {
    /// The elementwise kernel compiled for the widest vector unit this processor has.
    fn simd_sigmoid<T: Real>(
        xs: &[T],
        ys: &[T],
        ls: &mut [MaybeUninit<T>],
        gs: Option<&mut [MaybeUninit<T>]>,
        p: SigmoidParams<'_, T>,
    ) -> () {
        sigmoid_chunk(xs, ys, ls, gs, p)
    }
}

/// The largest chunk the reduced elementwise kernel keeps on the stack.
const CHUNK_MAX: usize = 16_384;

fn scale_in_place<T: Real + bytemuck::Pod + burn::tensor::Element>(grad: FlexTensor, upstream: &FlexTensor) -> FlexTensor {
    let factor = contiguous::<T>(upstream)[0];
    if factor == T::ONE {
        return grad;
    }
    let mut grad = grad.to_contiguous();
    grad.storage_mut::<T>().par_chunks_mut(CHUNK).for_each(|c| {
        for g in c {
            *g = *g * factor;
        }
    });
    grad
}

impl LossKernels for Flex {
    fn scale_gradient(grad: FloatTensor<Flex>, upstream: FloatTensor<Flex>) -> FloatTensor<Flex> {
        match grad.dtype() {
            DType::F32 => scale_in_place::<f32>(grad, &upstream),
            DType::F64 => scale_in_place::<f64>(grad, &upstream),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }

    fn sigmoid_losses(
        logits: FloatTensor<Flex>,
        target: FloatTensor<Flex>,
        options: SigmoidLosses,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        match logits.dtype() {
            DType::F32 => run_sigmoid::<f32>(&logits, &target, &options, with_grad),
            DType::F64 => run_sigmoid::<f64>(&logits, &target, &options, with_grad),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }

    fn cross_entropy_rows(
        logits: FloatTensor<Flex>,
        options: CrossEntropyRows,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        match logits.dtype() {
            DType::F32 => run::<f32>(&logits, &options, with_grad),
            DType::F64 => run::<f64>(&logits, &options, with_grad),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }
}
