//! A chunk's share of the linear cross entropy's gradients from its class-major logits
//! `(v, m)`, in one sweep over blocks of classes: each block's logit gradient `g_b`
//! `(classes, m)` is written into a scratch block of the thread's, then
//! `d_input += g_b^T @ classifier_b`, `d_classifier_b += g_b @ x` and
//! `d_bias_b += g_b`'s row sums, so that each block of logits, of the classifier and of its
//! gradient is read from memory once for all three. Logits held in the classifier's
//! gradient ([`Logits::InClassifierGradient`]) are read into the scratch block before the
//! block's gradient rows, where they are, are written.

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;

use super::FlexReal;
use super::linear_rows::ChunkGradient;
use crate::fused::gemm::{MatMut, MatRef, Write, matmul_on_this_thread};

/// Classes per block: a block of `g` (`256 x m`), of the classifier and of its gradient
/// (`256 x H` each) stay in a core's L2 for the block's two products at the shapes of
/// language models (`H` up to a few thousand).
const CLASS_BLOCK: usize = 256;

/// Tasks per thread: blocks are dealt to tasks in contiguous runs, each task summing its
/// own `d_input`; more than one per thread evens out threads slowed by others, and the
/// partial sums are added in task order, so the result does not depend on which thread ran
/// what. Each partial sum is `(m, h)`, held with the chunk's logits: two per thread keep
/// the peak within an eighth of the unfused path's at (1024, 512, 32000), four did not
/// (a chunk whose logits are held in the classifier's gradient takes only as many rows as
/// keep these sums small: see [`sweep_scratch`]).
const TASKS_PER_THREAD: usize = 2;

/// Blocks per task, for `blocks` blocks over the threads.
fn blocks_per_task(blocks: usize) -> usize {
    blocks.div_ceil(rayon::current_num_threads() * TASKS_PER_THREAD).max(1)
}

/// The elements the sweep of a chunk of `m` rows over `v` classes of `h` hidden units
/// allocates: a partial input gradient `(m, h)` per task when the input's gradient is
/// wanted, and a gradient block `(256, m)` per thread.
pub(super) fn sweep_scratch(m: usize, h: usize, v: usize, input: bool) -> usize {
    let blocks = v.div_ceil(CLASS_BLOCK);
    let tasks = blocks.div_ceil(blocks_per_task(blocks));
    let partials = if input {
        tasks.saturating_mul(m).saturating_mul(h)
    } else {
        0
    };
    let threads = rayon::current_num_threads().min(tasks);
    partials.saturating_add(threads.saturating_mul(CLASS_BLOCK).saturating_mul(m))
}

/// Where a chunk's class-major logits `(v, m)` are.
#[derive(Clone, Copy)]
pub(super) enum Logits<'a, T> {
    /// In a buffer of their own.
    Buffer(&'a [T]),
    /// In the first `m` columns of the classifier's gradient `(v, h)` (`m <= h`, the first
    /// chunk: its products overwrite the gradient).
    InClassifierGradient,
}

/// Where a chunk's gradients go: its rows of `input` are overwritten, the others added to
/// (overwritten by the first chunk).
pub(super) struct ChunkGradients<'a, T> {
    pub input: Option<InputRows<'a, T>>,
    /// `(v, h)`.
    pub classifier: Option<&'a mut [T]>,
    /// `(v)`.
    pub bias: Option<&'a mut [T]>,
    /// Whether this is the first chunk. Its products write the classifier's gradient
    /// without reading it (which logits held there need too): a fresh allocation's pages
    /// are then mapped by a write, not by a read (which maps the shared zero page) and a
    /// write (which then copies it and stops every thread to flush their address
    /// translations).
    pub first: bool,
}

/// The input gradient `(n, h)` and which of its rows are the chunk's, in order.
pub(super) struct InputRows<'a, T> {
    pub dx: &'a mut [T],
    pub indices: &'a [usize],
}

/// One task's run of blocks and its rows of the classifier and bias gradients.
struct Task<'a, T> {
    first_block: usize,
    blocks: usize,
    classifier: Option<&'a mut [T]>,
    bias: Option<&'a mut [T]>,
}

/// The gradients of a chunk with class-major logits `(v, m)` (soft-capped, if capped),
/// their gradient's description `gradient`, input rows `x` `(m, h)` and classifier `w`
/// `(v, h)`.
pub(super) fn chunk_gradients<T: FlexReal>(
    logits: Logits<'_, T>,
    gradient: &ChunkGradient<'_, T>,
    x: MatRef<'_, T>,
    w: &[T],
    out: ChunkGradients<'_, T>,
) {
    let (m, h) = (x.rows(), x.cols());
    let v = match logits {
        Logits::Buffer(logits) => logits.len() / m.max(1),
        // `h >= m >= 1` here.
        Logits::InClassifierGradient => w.len() / h.max(1),
    };
    let blocks = v.div_ceil(CLASS_BLOCK);
    let threads = rayon::current_num_threads();
    let per_task = blocks_per_task(blocks);
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
    // One block of `g` per thread (a thread runs one task at a time: the products inside
    // stay on it); what a scratch block holds does not outlive its block.
    let scratch: Vec<Mutex<Vec<T>>> = (0..threads).map(|_| Mutex::new(Vec::new())).collect();
    let want_input = out.input.is_some();
    let first = out.first;
    let write = if first { Write::Overwrite } else { Write::Accumulate };
    let partials: Vec<Option<Vec<T>>> = tasks
        .into_par_iter()
        .map(|mut task| {
            let slot = rayon::current_thread_index().unwrap_or(0) % threads;
            let mut g = scratch[slot].lock().unwrap_or_else(PoisonError::into_inner);
            g.resize(CLASS_BLOCK * m, T::ZERO);
            let mut input = want_input.then(|| vec![T::ZERO; m * h]);
            for b in 0..task.blocks {
                let j0 = (task.first_block + b) * CLASS_BLOCK;
                let classes = CLASS_BLOCK.min(v - j0);
                let local = b * CLASS_BLOCK;
                let block = match logits {
                    Logits::Buffer(logits) => &logits[j0 * m..(j0 + classes) * m],
                    Logits::InClassifierGradient => {
                        let dw = task.classifier.as_deref();
                        &dw.expect("logits held in the classifier's gradient come with it")
                            [local * h..(local + classes) * h]
                    }
                };
                gradient.write_block(block, j0, &mut g);
                let gb = MatRef::row_major(&g[..], classes, m);
                if let Some(dx) = &mut input {
                    let wb = MatRef::row_major(&w[j0 * h..], classes, h);
                    matmul_on_this_thread(MatMut::row_major(dx, m, h), Write::Accumulate, gb.t(), wb);
                }
                if let Some(dw) = &mut task.classifier {
                    let dwb = MatMut::row_major(&mut dw[local * h..], classes, h);
                    matmul_on_this_thread(dwb, write, gb, x);
                }
                if let Some(db) = &mut task.bias {
                    for (d, row) in db[local..local + classes].iter_mut().zip(g.chunks_exact(m.max(1))) {
                        let start = if first { T::ZERO } else { *d };
                        *d = row.iter().fold(start, |s, &gj| s + gj);
                    }
                }
            }
            input
        })
        .collect();
    if let Some(InputRows { dx, indices }) = out.input {
        for (r, &i) in indices.iter().enumerate() {
            let row = &mut dx[i * h..(i + 1) * h];
            row.fill(T::ZERO);
            for part in partials.iter().flatten() {
                for (d, &p) in row.iter_mut().zip(&part[r * h..]) {
                    *d = *d + p;
                }
            }
        }
    }
}
