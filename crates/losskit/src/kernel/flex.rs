//! The kernels on flex: typed slices, rayon over rows.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use core::mem::MaybeUninit;

use super::rows::{
    BASELINE, Between, Fma, Fused, FocalTarget, Input, ProbTarget, Real, RowData, RowTarget, RowWriter, Write, assume_init,
    cross_entropy_row, focal_row, nll_row, probabilities_row, softmax_backward_row, softmax_row, stream_fence,
};
use super::sigmoid::{Focal, sigmoid_element};
use super::{LossKernels, RowLoss, RowLosses, SigmoidLosses};

/// Defines a kernel function whose body is compiled three times, for AVX-512, for AVX2 with
/// FMA and for the baseline, and runs the widest one the processor has (checked at run time):
/// the binary stays portable and still uses the vector unit it finds. The body's first
/// parameter (no type) is the [`Fma`] marker of the unit it is compiled for.
macro_rules! multiversion {
    ($(#[$doc:meta])* fn $name:ident[$($gen:tt)*]($fma:ident, $($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$doc])*
        fn $name<$($gen)*>($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body<F: Fma, $($gen)*>($fma: F, $($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512<$($gen)*>($($arg: $ty),*) -> $ret {
                    body(Fused, $($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2<$($gen)*>($($arg: $ty),*) -> $ret {
                    body(Fused, $($arg),*)
                }
                let fma = std::arch::is_x86_feature_detected!("fma");
                if fma && std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the features were detected at run time.
                    return unsafe { avx512($($arg),*) };
                }
                if fma && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the features were detected at run time.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body(BASELINE, $($arg),*)
        }
    };
}

/// Rows per rayon task: enough work (about 16k elements) to pay for the hand-off.
fn min_rows(classes: usize) -> usize {
    (16_384 / classes.max(1)).max(1)
}

/// Outputs at least this large are streamed to memory ([`super::rows::RowWriter`]): with
/// the input beside them they crowd out the last-level cache (32 MiB on the machine this
/// was measured on, where streaming paid from 16 MB up), so caching them mostly costs a
/// read of every line.
const STREAM_BYTES: usize = 8 << 20;

/// Whether an `(n, c)` output of `T` is written with non-temporal stores: large, and in
/// rows long enough for whole blocks.
fn streams<T>(n: usize, c: usize) -> bool {
    n * c * core::mem::size_of::<T>() >= STREAM_BYTES && c >= 256
}

/// What [`map_rows`] computes on each row; `row` is inlined into the row loop, which is
/// compiled once per vector unit.
trait RowKernel<T: Real>: Sync {
    /// What a row returns (its loss, or nothing).
    type Output: Send + Copy + Default;

    /// Row `i`'s result and what it writes into its output row; `between` runs inside the
    /// row's exponential pass.
    fn row(&self, fma: impl Fma, i: usize, input: Input<'_, T>, between: &mut impl Between) -> (Self::Output, Write<T>);

    /// The second row a [`Write`] of row `i` reads (probabilities, upstream gradient).
    fn other(&self, _i: usize) -> &[T] {
        &[]
    }

    /// The class weights a [`Write`] reads.
    fn weights(&self) -> Option<&[T]> {
        None
    }
}

/// Runs `kernel` over the rows of the `(n, c)` data `x` in parallel, with two scratch rows
/// per rayon task (reused for the task's rows) and the output rows when there is an
/// output; returns what each row returns.
fn map_rows<T: Real, K: RowKernel<T>>(x: &[T], c: usize, out: Option<&mut [MaybeUninit<T>]>, kernel: &K) -> Vec<K::Output> {
    let n = x.len().checked_div(c).unwrap_or(0);
    let mut results = vec![K::Output::default(); n];
    if n == 0 {
        return results;
    }
    let stream = out.is_some() && streams::<T>(n, c);
    // A row's stores overlap the next row's arithmetic, so tasks hold several rows.
    let per_task = min_rows(c).max(8.min(n.div_ceil(16)));
    let init = Vec::<T>::new;
    let task = |scratch: &mut Vec<T>, t: usize, rs: &mut [K::Output], outs: Option<&mut [MaybeUninit<T>]>| {
        scratch.resize(2 * c, T::ZERO);
        let rows = Rows { x, c, first: t * per_task, stream };
        simd_rows(kernel, rows, rs, outs, scratch);
    };
    match out {
        Some(out) => results
            .par_chunks_mut(per_task)
            .zip(out.par_chunks_mut(per_task * c))
            .enumerate()
            .for_each_init(init, |scratch, (t, (rs, os))| task(scratch, t, rs, Some(os))),
        None => results
            .par_chunks_mut(per_task)
            .enumerate()
            .for_each_init(init, |scratch, (t, rs)| task(scratch, t, rs, None)),
    }
    results
}

/// The rows one task runs: all of `x`, `(n, c)`, from row `first` on.
#[derive(Clone, Copy)]
struct Rows<'a, T> {
    x: &'a [T],
    c: usize,
    first: usize,
    stream: bool,
}

/// A row whose output is still to be written.
struct Pending<'a, T> {
    write: Write<T>,
    writer: RowWriter<'a, T>,
}

/// The previous row's output, written block by block between this row's exponentials.
struct Previous<'w, 'd, T> {
    pending: Option<Pending<'w, T>>,
    data: RowData<'d, T>,
}

impl<T: Real> Between for Previous<'_, '_, T> {
    #[inline(always)]
    fn at(&mut self, upto: usize) {
        if let Some(p) = &mut self.pending {
            p.writer.advance(upto, &p.write, self.data);
        }
    }
}

/// What a [`Write`] of row `i` reads, with the row's exponentials `e`.
#[inline(always)]
fn row_data<'a, T: Real, K: RowKernel<T>>(kernel: &'a K, x: &'a [T], c: usize, i: usize, e: &'a [T]) -> RowData<'a, T> {
    RowData { e, x: &x[i * c..(i + 1) * c], other: kernel.other(i), weights: kernel.weights() }
}

multiversion! {
    /// One task's rows through `kernel`, compiled for the widest vector unit this processor
    /// has: one result per element of `results`, one output row per row of `outs`. Each
    /// row's output is written while the next row's exponentials are computed (software
    /// pipelining over two scratch rows), so that its stores overlap that arithmetic.
    fn simd_rows[T: Real, K: RowKernel<T>](
        fma,
        kernel: &K,
        rows: Rows<'_, T>,
        results: &mut [K::Output],
        outs: Option<&mut [MaybeUninit<T>]>,
        scratch: &mut [T],
    ) -> () {
        let Rows { x, c, first, stream } = rows;
        let (mut current, mut previous) = scratch.split_at_mut(c);
        let mut out_rows = outs.map(|o| o.chunks_mut(c));
        let mut pending: Option<Pending<'_, T>> = None;
        let mut pending_row = first;
        for (k, result) in results.iter_mut().enumerate() {
            let i = first + k;
            let next = x.get((i + 1) * c..(i + 2) * c).unwrap_or(&[]);
            let input = Input { x: &x[i * c..(i + 1) * c], scratch: &mut *current, next };
            let mut before = Previous { pending: pending.take(), data: row_data(kernel, x, c, pending_row, &*previous) };
            let (value, write) = kernel.row(fma, i, input, &mut before);
            if let Some(mut p) = before.pending {
                p.writer.finish(&p.write, before.data);
            }
            *result = value;
            if let Some(rows) = out_rows.as_mut() {
                let out = rows.next().expect("one output row per row");
                pending = Some(Pending { write, writer: RowWriter::new(out, stream) });
                pending_row = i;
            }
            core::mem::swap(&mut current, &mut previous);
        }
        if let Some(mut p) = pending {
            p.writer.finish(&p.write, row_data(kernel, x, c, pending_row, &*previous));
        }
        if stream {
            stream_fence();
        }
    }
}

/// The row losses of [`RowLosses`], with the per-class values converted once.
struct LossRows<'a, T> {
    options: &'a RowLosses,
    weights: Option<Vec<T>>,
    weight_total: T,
    /// The probability rows of [`RowLoss::Probabilities`] (empty otherwise).
    probabilities: &'a [T],
    c: usize,
    grad_scale: T,
    smooth: T,
    keep: T,
}

impl<T: Real> LossRows<'_, T> {
    #[inline(always)]
    fn class(&self, i: usize) -> Option<usize> {
        let y = self.options.targets[i];
        (y != self.options.ignore_index).then_some(y as usize)
    }

    #[inline(always)]
    fn weight(&self, class: Option<usize>) -> T {
        match (&self.weights, class) {
            (Some(w), Some(y)) => w[y],
            _ => T::ONE,
        }
    }

    #[inline(always)]
    fn index_target(&self, i: usize) -> RowTarget<'_, T> {
        let class = self.class(i);
        RowTarget {
            class,
            class_weight: self.weight(class),
            weights: self.weights.as_deref(),
            weight_total: self.weight_total,
            smooth: self.smooth,
            keep: self.keep,
            grad_scale: self.grad_scale,
        }
    }
}

impl<T: Real> RowKernel<T> for LossRows<'_, T> {
    type Output = T;

    #[inline(always)]
    fn row(&self, fma: impl Fma, i: usize, input: Input<'_, T>, between: &mut impl Between) -> (T, Write<T>) {
        match self.options.loss {
            RowLoss::CrossEntropy { .. } => cross_entropy_row(fma, input, between, self.index_target(i)),
            RowLoss::Nll => nll_row(input.x, self.index_target(i)),
            RowLoss::Probabilities { .. } => {
                let t = ProbTarget {
                    target: self.other(i),
                    weights: self.weights.as_deref(),
                    smooth: self.smooth,
                    keep: self.keep,
                    grad_scale: self.grad_scale,
                };
                probabilities_row(fma, input, between, t)
            }
            RowLoss::Focal { gamma, alpha } => {
                let class = self.class(i);
                let alpha = T::from_f64(alpha) * self.weight(class);
                focal_row(fma, input, between, FocalTarget { class, alpha, gamma: T::from_f64(gamma), grad_scale: self.grad_scale })
            }
        }
    }

    #[inline(always)]
    fn other(&self, i: usize) -> &[T] {
        self.probabilities.get(i * self.c..(i + 1) * self.c).unwrap_or(&[])
    }

    #[inline(always)]
    fn weights(&self) -> Option<&[T]> {
        self.weights.as_deref()
    }
}

/// The row losses of `options` over `(n, c)` data, and the gradient when `with_grad`.
fn run_rows<T: Real + bytemuck::Pod + burn::tensor::Element>(
    input: &FlexTensor,
    target: &FlexTensor,
    options: &RowLosses,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = input.layout().shape().as_slice().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let input = contiguous::<T>(input);
    let x = data::<T>(&input);
    // Only probability rows are read from `target` (the other losses get the input there).
    let target = matches!(options.loss, RowLoss::Probabilities { .. }).then(|| contiguous::<T>(target));
    let probabilities = target.as_deref().map_or(&[][..], data::<T>);
    let label_smoothing = match options.loss {
        RowLoss::CrossEntropy { label_smoothing } | RowLoss::Probabilities { label_smoothing } => label_smoothing,
        RowLoss::Nll | RowLoss::Focal { .. } => 0.0,
    };
    let weights: Option<Vec<T>> = options.weight.as_ref().map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
    let weight_total = match &weights {
        Some(w) => w.iter().fold(T::ZERO, |a, &v| a + v),
        None => T::from_f64(c as f64),
    };
    let kernel = LossRows {
        options,
        weights,
        weight_total,
        probabilities,
        c,
        grad_scale: T::from_f64(options.reduce_scale.unwrap_or(1.0)),
        smooth: T::from_f64(label_smoothing / c as f64),
        keep: T::from_f64(1.0 - label_smoothing),
    };
    let mut row_losses = Vec::new();
    let grad = if with_grad {
        written(n * c, |g| row_losses = map_rows(x, c, Some(g), &kernel))
    } else {
        row_losses = map_rows(x, c, None, &kernel);
        Vec::new()
    };
    let grad_dims = if with_grad { vec![n, c] } else { vec![0] };
    let loss = match options.reduce_scale {
        Some(scale) => {
            let total = row_losses.iter().fold(0.0f64, |acc, &l| acc + l.to_f64());
            FlexTensor::from_data(TensorData::new(vec![T::from_f64(scale * total)], [1]))
        }
        None => FlexTensor::from_data(TensorData::new(row_losses, [n])),
    };
    (loss, FlexTensor::from_data(TensorData::new(grad, grad_dims)))
}

/// Softmax rows (`log`: log-softmax).
struct SoftmaxRows {
    log: bool,
}

impl<T: Real> RowKernel<T> for SoftmaxRows {
    type Output = ();

    #[inline(always)]
    fn row(&self, fma: impl Fma, _: usize, input: Input<'_, T>, between: &mut impl Between) -> ((), Write<T>) {
        ((), softmax_row(fma, input, between, self.log))
    }
}

/// The backward of softmax rows: the input rows are the forward's output, `grad` the
/// upstream gradient `(n, c)`.
struct SoftmaxBackwardRows<'a, T> {
    grad: &'a [T],
    c: usize,
    log: bool,
}

impl<T: Real> RowKernel<T> for SoftmaxBackwardRows<'_, T> {
    type Output = ();

    #[inline(always)]
    fn row(&self, _: impl Fma, i: usize, input: Input<'_, T>, _: &mut impl Between) -> ((), Write<T>) {
        ((), softmax_backward_row(input.x, self.other(i), self.log))
    }

    #[inline(always)]
    fn other(&self, i: usize) -> &[T] {
        &self.grad[i * self.c..(i + 1) * self.c]
    }
}

/// Softmax or log-softmax of the rows of `(n, c)` data.
fn run_softmax<T: Real + bytemuck::Pod + burn::tensor::Element>(input: &FlexTensor, log: bool) -> FlexTensor {
    let dims = input.layout().shape().as_slice().to_vec();
    let input = contiguous::<T>(input);
    let x = data::<T>(&input);
    let out = written(x.len(), |o| {
        map_rows(x, dims[1], Some(o), &SoftmaxRows { log });
    });
    FlexTensor::from_data(TensorData::new(out, dims))
}

/// The input gradient of softmax or log-softmax rows from their output and upstream gradient.
fn run_softmax_backward<T: Real + bytemuck::Pod + burn::tensor::Element>(
    output: &FlexTensor,
    grad: &FlexTensor,
    log: bool,
) -> FlexTensor {
    let dims = output.layout().shape().as_slice().to_vec();
    let c = dims[1];
    let (output, grad) = (contiguous::<T>(output), contiguous::<T>(grad));
    let (y, g) = (data::<T>(&output), data::<T>(&grad));
    let out = written(y.len(), |o| {
        map_rows(y, c, Some(o), &SoftmaxBackwardRows { grad: g, c, log });
    });
    FlexTensor::from_data(TensorData::new(out, dims))
}

/// A vector of `n` values written by `write` (which must write every element): the
/// kernels' outputs are never zeroed first, which would cost a whole extra pass.
fn written<T: Send>(n: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&mut v);
    write(&mut v.spare_capacity_mut()[..n]);
    // SAFETY: `write` initialised all `n` elements.
    unsafe { v.set_len(n) };
    v
}

/// Asks Linux to back a large fresh output with 2 MiB pages. glibc maps every buffer over
/// 32 MiB fresh and unmaps it when freed, so each 4 KiB page of an output faults on its
/// first write: 32,000 faults for a (1024, 32000) gradient, about two thirds of the fused
/// cross entropy's time under perf; with 2 MiB pages they are 62 (criterion: 31 ms -> 15
/// ms per call; 8 ms when the memory is reused). Advice only: contents are unchanged, and
/// nothing happens where huge pages are off or the memory is already mapped.
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * core::mem::size_of::<T>();
        if bytes >= 4 * HUGE {
            let start = v.as_mut_ptr() as usize;
            let (first, end) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
            // SAFETY: [first, end) lies inside `v`'s allocation; MADV_HUGEPAGE changes how
            // its pages are backed, never their contents.
            unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
        }
    }
}

/// A flex tensor in row-major order: itself when it already is, else a contiguous copy
/// (one copy: a broadcast upstream gradient, a moved dimension).
fn contiguous<T: bytemuck::Pod + burn::tensor::Element>(t: &FlexTensor) -> std::borrow::Cow<'_, FlexTensor> {
    match t.as_slice::<T>() {
        Some(_) => std::borrow::Cow::Borrowed(t),
        None => std::borrow::Cow::Owned(t.to_contiguous()),
    }
}

/// The typed data of a tensor [`contiguous`] returned.
fn data<T: bytemuck::Pod + burn::tensor::Element>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>().expect("a contiguous tensor reads as one slice")
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
    let (logits, target) = (contiguous::<T>(logits), contiguous::<T>(target));
    let (x, y) = (data::<T>(&logits), data::<T>(&target));
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
        sum_f64(ls)
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

/// The sum of `values` in f64, in sixteen independent lanes: one running sum ties each
/// addition to the last (a fifth of a fused focal loss's time went there).
fn sum_f64<T: Real>(values: &[T]) -> f64 {
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

/// One chunk, with the branches that do not depend on the element taken outside the loops:
/// each arm hands the loops a constant focal variant and target kind, which inlining folds.
#[inline(always)]
fn sigmoid_chunk<T: Real>(
    fma: impl Fma,
    xs: &[T],
    ys: &[T],
    ls: &mut [MaybeUninit<T>],
    gs: Option<&mut [MaybeUninit<T>]>,
    p: SigmoidParams<'_, T>,
) {
    let hard = p.focal.is_some() && ys.iter().fold(true, |all, &y| all & ((y == T::ZERO) | (y == T::ONE)));
    match (p.focal, hard) {
        (None, _) => sigmoid_loops(fma, xs, ys, ls, gs, SigmoidParams { focal: None, ..p }, false),
        (Some((gamma, None)), true) => sigmoid_loops(fma, xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, None)), ..p }, true),
        (Some((gamma, None)), false) => sigmoid_loops(fma, xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, None)), ..p }, false),
        (Some((gamma, Some(alpha))), true) => {
            sigmoid_loops(fma, xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, Some(alpha))), ..p }, true)
        }
        (Some((gamma, Some(alpha))), false) => {
            sigmoid_loops(fma, xs, ys, ls, gs, SigmoidParams { focal: Some((gamma, Some(alpha))), ..p }, false)
        }
    }
}

/// The elementwise loops; `hard` promises every target is 0 or 1.
#[inline(always)]
fn sigmoid_loops<T: Real>(
    fma: impl Fma,
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
                    let (loss, grad) = sigmoid_element(fma, x, y, pw, w, focal, hard);
                    l.write(loss);
                    g.write(grad * grad_scale);
                }
            }
            None => {
                for ((l, &x), &y) in ls.iter_mut().zip(xs).zip(ys) {
                    l.write(sigmoid_element(fma, x, y, pw, w, focal, hard).0);
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
                    let (loss, grad) = sigmoid_element(fma, x, y, pw, w, focal, hard);
                    l.write(loss);
                    g.write(grad * grad_scale);
                }
            }
        }
        None => {
            for ((l, x), y) in rows {
                for ((((l, &x), &y), &pw), &w) in l.iter_mut().zip(x).zip(y).zip(pos_weight).zip(weight) {
                    l.write(sigmoid_element(fma, x, y, pw, w, focal, hard).0);
                }
            }
        }
    }
}

multiversion! {
    /// The elementwise kernel compiled for the widest vector unit this processor has.
    fn simd_sigmoid[T: Real](
        fma,
        xs: &[T],
        ys: &[T],
        ls: &mut [MaybeUninit<T>],
        gs: Option<&mut [MaybeUninit<T>]>,
        p: SigmoidParams<'_, T>,
    ) -> () {
        sigmoid_chunk(fma, xs, ys, ls, gs, p)
    }
}

/// The largest chunk the reduced elementwise kernel keeps on the stack.
const CHUNK_MAX: usize = 16_384;

fn scale_in_place<T: Real + bytemuck::Pod + burn::tensor::Element>(grad: FlexTensor, upstream: &FlexTensor) -> FlexTensor {
    let factor = data::<T>(&contiguous::<T>(upstream))[0];
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

    fn row_losses(
        input: FloatTensor<Flex>,
        target: FloatTensor<Flex>,
        options: RowLosses,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        match input.dtype() {
            DType::F32 => run_rows::<f32>(&input, &target, &options, with_grad),
            DType::F64 => run_rows::<f64>(&input, &target, &options, with_grad),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }

    fn softmax_rows(input: FloatTensor<Flex>, log: bool) -> FloatTensor<Flex> {
        match input.dtype() {
            DType::F32 => run_softmax::<f32>(&input, log),
            DType::F64 => run_softmax::<f64>(&input, log),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }

    fn softmax_rows_backward(output: FloatTensor<Flex>, grad: FloatTensor<Flex>, log: bool) -> FloatTensor<Flex> {
        match output.dtype() {
            DType::F32 => run_softmax_backward::<f32>(&output, &grad, log),
            DType::F64 => run_softmax_backward::<f64>(&output, &grad, log),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::written;

    /// Kilobytes of the mapping holding `addr` that are backed by transparent huge pages
    /// (`AnonHugePages` in /proc/self/smaps).
    fn huge_kb_at(addr: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            // A mapping starts with its address range, "lo-hi perms ...", in hex.
            let first = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = first.split_once('-')
                && let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
                return kb.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        0
    }

    #[test]
    fn large_outputs_are_backed_by_huge_pages() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
        if thp.is_empty() || thp.contains("[never]") {
            eprintln!("transparent huge pages are off on this machine: nothing to check");
            return;
        }
        let out = written::<f32>(8 << 20, |o| o.iter_mut().for_each(|v| _ = v.write(1.0)));
        assert!(huge_kb_at(out.as_ptr() as usize + (16 << 20)) >= 2048, "a 32 MiB output has no huge page");
    }
}
