//! Rows over threads: the `(n, c)` data cut into rayon tasks of whole rows, each task's
//! rows run through a [`RowKernel`] with two scratch rows, each row's output written
//! between the next row's exponential blocks (software pipelining), into an output of its
//! own ([`map_rows`]).

use core::mem::MaybeUninit;

use rayon::prelude::*;

use super::math::Real;
use super::row::{Between, Input, RowData, RowOutput, RowResult, RowWriter};
use super::simd::{multiversion, stream_fence};

/// Rows per rayon task: enough work (about 16k elements) to pay for the hand-off.
fn min_rows(classes: usize) -> usize {
    (16_384 / classes.max(1)).max(1)
}

/// Outputs at least this large are streamed to memory ([`RowWriter`]): with the input
/// beside them they crowd out the last-level cache, so caching them mostly costs a read of
/// every line (docs/performance.md: where streaming started to pay).
const STREAM_BYTES: usize = 8 << 20;

/// Whether an `(n, c)` output of `T` is written with non-temporal stores: large, and in
/// rows long enough for whole blocks.
fn streams<T>(n: usize, c: usize) -> bool {
    n * c * core::mem::size_of::<T>() >= STREAM_BYTES && c >= 256
}

/// What [`map_rows`] computes on each row; `row` is inlined into the row loop, which is
/// compiled once per vector unit.
pub(crate) trait RowKernel<T: Real>: Sync {
    /// Row `i`'s loss (0 for kernels without one) and what it writes into its output row;
    /// `between` runs inside the row's exponential pass.
    fn row(
        &self,
        fma: impl super::simd::Fma,
        i: usize,
        input: Input<'_, T>,
        between: &mut impl Between,
    ) -> RowResult<T>;

    /// The second row a [`RowOutput`] of row `i` reads (probabilities, upstream gradient).
    fn other(&self, _i: usize) -> &[T] {
        &[]
    }

    /// The class weights a [`RowOutput`] reads.
    fn weights(&self) -> Option<&[T]> {
        None
    }
}

/// Runs `kernel` over the rows of the `(n, c)` data `x` in parallel, with two scratch rows
/// per rayon task (reused for the task's rows), writing every element of the output rows
/// when there is an output; returns each row's loss.
///
/// `out`, when given, must hold exactly `x.len()` elements; `c` must be at least 1 when
/// `x` is not empty.
pub(crate) fn map_rows<T: Real, K: RowKernel<T>>(
    x: &[T],
    c: usize,
    out: Option<&mut [MaybeUninit<T>]>,
    kernel: &K,
) -> Vec<T> {
    let n = x.len().checked_div(c).unwrap_or(0);
    let mut losses = vec![T::ZERO; n];
    if n == 0 {
        return losses;
    }
    assert!(
        n * c == x.len() && out.as_ref().is_none_or(|o| o.len() == x.len()),
        "whole rows in and out"
    );
    let stream = out.is_some() && streams::<T>(n, c);
    let per_task = rows_per_task(n, c);
    let init = Vec::<T>::new;
    let task = |scratch: &mut Vec<T>, t: usize, ls: &mut [T], outs: Option<&mut [MaybeUninit<T>]>| {
        scratch.resize(2 * c, T::ZERO);
        let rows = Rows {
            x,
            c,
            first: t * per_task,
            stream,
        };
        simd_rows(kernel, rows, ls, outs, scratch);
    };
    match out {
        Some(out) => losses
            .par_chunks_mut(per_task)
            .zip(out.par_chunks_mut(per_task * c))
            .enumerate()
            .for_each_init(init, |scratch, (t, (ls, os))| task(scratch, t, ls, Some(os))),
        None => losses
            .par_chunks_mut(per_task)
            .enumerate()
            .for_each_init(init, |scratch, (t, ls)| task(scratch, t, ls, None)),
    }
    losses
}

/// Rows per rayon task: a row's stores overlap the next row's arithmetic, so tasks hold
/// several rows.
fn rows_per_task(n: usize, c: usize) -> usize {
    min_rows(c).max(8.min(n.div_ceil(16)))
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
    output: RowOutput<T>,
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
            p.writer.advance(upto, &p.output, self.data);
        }
    }
}

/// What a [`RowOutput`] of row `i` reads, with the row's exponentials `e`.
#[inline(always)]
fn row_data<'a, T: Real, K: RowKernel<T>>(kernel: &'a K, x: &'a [T], c: usize, i: usize, e: &'a [T]) -> RowData<'a, T> {
    RowData {
        e,
        x: &x[i * c..(i + 1) * c],
        other: kernel.other(i),
        weights: kernel.weights(),
    }
}

multiversion! {
    /// One task's rows through `kernel`, compiled for the widest vector unit this processor
    /// has: one loss per element of `losses`, one output row per row of `outs` (every
    /// element written). Each row's output is written while the next row's exponentials
    /// are computed (software pipelining over two scratch rows), so that its stores overlap
    /// that arithmetic.
    fn simd_rows[T: Real, K: RowKernel<T>](
        fma,
        kernel: &K,
        rows: Rows<'_, T>,
        losses: &mut [T],
        outs: Option<&mut [MaybeUninit<T>]>,
        scratch: &mut [T],
    ) -> () {
        let Rows { x, c, first, stream } = rows;
        let (mut current, mut previous) = scratch.split_at_mut(c);
        let mut out_rows = outs.map(|o| o.chunks_mut(c));
        let mut pending: Option<Pending<'_, T>> = None;
        let mut pending_row = first;
        for (k, loss) in losses.iter_mut().enumerate() {
            let i = first + k;
            let next = x.get((i + 1) * c..(i + 2) * c).unwrap_or(&[]);
            let input = Input { x: &x[i * c..(i + 1) * c], scratch: &mut *current, next };
            let mut before = Previous { pending: pending.take(), data: row_data(kernel, x, c, pending_row, &*previous) };
            let result = kernel.row(fma, i, input, &mut before);
            if let Some(mut p) = before.pending {
                p.writer.finish(&p.output, before.data);
            }
            *loss = result.loss;
            if let Some(rows) = out_rows.as_mut() {
                let out = rows.next().expect("one output row per row");
                pending = Some(Pending { output: result.output, writer: RowWriter::new(out, stream) });
                pending_row = i;
            }
            core::mem::swap(&mut current, &mut previous);
        }
        if let Some(mut p) = pending {
            p.writer.finish(&p.output, row_data(kernel, x, c, pending_row, &*previous));
        }
        if stream {
            stream_fence();
        }
    }
}
