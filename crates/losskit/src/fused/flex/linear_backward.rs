//! A chunk's share of the linear cross entropy's gradients from its logits' gradient `g`
//! `(m, v)`: `d_input = g @ classifier`, `d_classifier += g^T @ x`, `d_bias += sum_rows g`,
//! in one sweep over blocks of classes, so that each block of `g`, of the classifier and of
//! its gradient is read from memory once for all three.

use rayon::prelude::*;

use super::FlexReal;
use crate::fused::gemm::{MatMut, MatRef, Write, matmul_on_this_thread};

/// Classes per block: a block of `g` (`m x 256`), of the classifier and of its gradient
/// (`256 x H` each) stay in a core's L2 for the block's two products at the shapes of
/// language models (`H` up to a few thousand).
const CLASS_BLOCK: usize = 256;

/// Tasks per thread: blocks are dealt to tasks in contiguous runs, each task summing its
/// own `d_input`; several per thread even out threads slowed by others, and the partial
/// sums are added in task order, so the result does not depend on which thread ran what.
const TASKS_PER_THREAD: usize = 4;

/// Where a chunk's gradients go: `input` `(m, h)` is overwritten, the others added to.
pub(super) struct ChunkGradients<'a, T> {
    pub input: Option<&'a mut [T]>,
    /// `(v, h)`.
    pub classifier: Option<&'a mut [T]>,
    /// `(v)`.
    pub bias: Option<&'a mut [T]>,
}

/// One task's run of blocks and its rows of the classifier and bias gradients.
struct Task<'a, T> {
    first_block: usize,
    blocks: usize,
    classifier: Option<&'a mut [T]>,
    bias: Option<&'a mut [T]>,
}

/// The gradients of a chunk with logits' gradient `g` `(m, v)`, input rows `x` `(m, h)` and
/// classifier `w` `(v, h)`.
pub(super) fn chunk_gradients<T: FlexReal>(g: &[T], x: MatRef<'_, T>, w: &[T], v: usize, out: ChunkGradients<'_, T>) {
    let (m, h) = (x.rows(), x.cols());
    let blocks = v.div_ceil(CLASS_BLOCK);
    let per_task = blocks.div_ceil(rayon::current_num_threads() * TASKS_PER_THREAD).max(1);
    let mut classifier = out.classifier.map(|d| d.chunks_mut(per_task * CLASS_BLOCK * h.max(1)));
    let mut bias = out.bias.map(|d| d.chunks_mut(per_task * CLASS_BLOCK));
    let tasks: Vec<Task<'_, T>> = (0..blocks.div_ceil(per_task))
        .map(|t| Task {
            first_block: t * per_task,
            blocks: per_task.min(blocks - t * per_task),
            classifier: classifier.as_mut().and_then(Iterator::next),
            bias: bias.as_mut().and_then(Iterator::next),
        })
        .collect();
    let want_input = out.input.is_some();
    let partials: Vec<Option<Vec<T>>> = tasks
        .into_par_iter()
        .map(|mut task| {
            let mut input = want_input.then(|| vec![T::ZERO; m * h]);
            for b in 0..task.blocks {
                let j0 = (task.first_block + b) * CLASS_BLOCK;
                let classes = CLASS_BLOCK.min(v - j0);
                let gb = MatRef::strided(&g[j0..], m, classes, v, 1);
                if let Some(dx) = &mut input {
                    let wb = MatRef::row_major(&w[j0 * h..], classes, h);
                    matmul_on_this_thread(MatMut::row_major(dx, m, h), Write::Accumulate, gb, wb);
                }
                let local = b * CLASS_BLOCK;
                if let Some(dw) = &mut task.classifier {
                    let dwb = MatMut::row_major(&mut dw[local * h..], classes, h);
                    matmul_on_this_thread(dwb, Write::Accumulate, gb.t(), x);
                }
                if let Some(db) = &mut task.bias {
                    add_column_sums(&mut db[local..local + classes], &g[j0..], m, v);
                }
            }
            input
        })
        .collect();
    if let Some(dx) = out.input {
        dx[..m * h].fill(T::ZERO);
        for part in partials.iter().flatten() {
            for (d, &p) in dx.iter_mut().zip(part) {
                *d = *d + p;
            }
        }
    }
}

/// `sums[j] += sum_i g[i * v + j]` over the `m` rows, in row order.
fn add_column_sums<T: FlexReal>(sums: &mut [T], g: &[T], m: usize, v: usize) {
    for i in 0..m {
        for (s, &gj) in sums.iter_mut().zip(&g[i * v..]) {
            *s = *s + gj;
        }
    }
}
