//! The linear cross entropy on flex storage, one chunk of rows at a time: the chunk's logits
//! by one matrix product into a reused buffer, stored class-major ([`linear_rows`]), the
//! cross-entropy statistics of its rows over them, then the chunk's input gradient and its
//! share of the classifier's and bias's gradients, the logits' gradient written block by
//! block on the way ([`chunk_gradients`]). Peak memory beyond the inputs: one chunk's
//! logits (and its input rows, copied when ignored rows fall between them), the sweep's
//! per-task partial input gradients `(m, h)` and per-thread gradient blocks `(256, m)`, and
//! the gradients asked for.
//!
//! When the classifier's gradient `(v, h)` is asked for, the first chunk holds its logits
//! in that gradient instead, class `j`'s in the first columns of row `j`, until the sweep
//! reads each block of them and writes the block's gradient rows over them (the first
//! chunk's products overwrite the gradient). Such a chunk can take as many rows as the
//! gradient has columns (`H`) with no logits buffer: a batch of at most `H` counted rows (a
//! few sequences over a large vocabulary) is one chunk, with one pass over the classifier
//! and its gradient instead of one per chunk, and a larger one has its first `H` rows in
//! one such pass before the chunks of the rest (docs/performance.md). It takes fewer when
//! `chunk_rows` asks for fewer, or when the sweep's scratch for them (its per-task partial
//! input gradients grow with the threads and `H`) would pass the bytes a chunk's logits
//! may take by default.
//!
//! [`linear_rows`]: super::linear_rows

use burn::backend::Flex;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::linear_backward::{ChunkGradients, InputRows, Logits, chunk_gradients, sweep_scratch};
use super::linear_rows::chunk_losses;
use super::rows::{ClassOptions, LossRows};
use super::{FlexReal, contiguous, data, gradient, scaled_sum, tensor};
use crate::fused::LossForm;
use crate::fused::default_chunk_rows;
use crate::fused::gemm::{MatMut, MatRef, Write, matmul};
use crate::fused::linear::{CHUNK_BYTES, LinearCall, LinearOutput};

/// The operands of a pass, as slices.
struct Operands<'a, T> {
    /// `(n, h)`.
    x: &'a [T],
    /// `(v, h)`.
    w: &'a [T],
    /// `(v)`, or `None`.
    b: Option<&'a [T]>,
    /// `(n)` factors on the rows' gradients, or `None`.
    upstream: Option<&'a [T]>,
    h: usize,
    v: usize,
}

/// The gradients being accumulated, each present when asked for.
struct Gradients<T> {
    input: Option<Vec<T>>,
    classifier: Option<Vec<T>>,
    bias: Option<Vec<T>>,
}

/// A chunk's buffers, reused from chunk to chunk.
struct Chunk<T> {
    /// The chunk's input rows, `(rows, h)`, gathered when they are not adjacent in the
    /// input (some rows between them ignored); empty until then.
    x: Vec<T>,
    /// Its logits, class-major: `(v, rows)`, unless `held`.
    logits: Vec<T>,
    /// Whether the chunk's logits are held in the classifier's gradient instead (the first
    /// chunk only).
    held: bool,
    targets: Vec<i64>,
    upstream: Vec<T>,
    /// Whether no chunk has run yet.
    first: bool,
}

/// The losses `(n)` (or their scaled sum) and the asked-for gradients of `call` over
/// `input` `(n, h)`, `classifier` `(v, h)`, `bias` `(v)` or empty, and `upstream` `(n)` or
/// empty.
pub(super) fn run_linear<T: FlexReal>(
    input: &FlexTensor,
    classifier: &FlexTensor,
    bias: &FlexTensor,
    upstream: &FlexTensor,
    call: &LinearCall,
) -> LinearOutput<Flex> {
    let (n, h) = (input.layout().shape()[0], input.layout().shape()[1]);
    let v = classifier.layout().shape()[0];
    let (input, classifier) = (contiguous::<T>(input), contiguous::<T>(classifier));
    let (bias, upstream) = (contiguous::<T>(bias), contiguous::<T>(upstream));
    let b = data::<T>(&bias);
    let up = data::<T>(&upstream);
    let ops = Operands {
        x: data::<T>(&input),
        w: data::<T>(&classifier),
        b: (!b.is_empty()).then_some(b),
        upstream: (!up.is_empty()).then_some(up),
        h,
        v,
    };
    let wants = call.grads;
    let mut grads = Gradients {
        input: wants.input.then(|| vec![T::ZERO; n * h]),
        classifier: wants.classifier.then(|| vec![T::ZERO; v * h]),
        bias: wants.bias.then(|| vec![T::ZERO; v]),
    };
    let targets = &call.rows.targets;
    // Ignored rows have no loss and no gradient: they take no part in any product.
    let counted: Vec<usize> = (0..n).filter(|&i| targets[i] != call.rows.ignore_index).collect();
    // The first chunk's logits in the classifier's gradient (see the module's docs), then
    // the other rows in chunks of equal size (within one row), as few as `chunk_rows`
    // allows: a short last chunk would cost a whole pass over the classifier for a few rows.
    let held = if wants.classifier {
        held_rows(counted.len(), h, v, call.chunk_rows, wants.input, size_of::<T>())
    } else {
        0
    };
    let (first, rest) = counted.split_at(held);
    let chunk_rows = call
        .chunk_rows
        .unwrap_or_else(|| default_chunk_rows(n, v, size_of::<T>()));
    let chunks = rest.len().div_ceil(chunk_rows.max(1)).max(1);
    let rows = rest.len().div_ceil(chunks).max(1);
    let mut chunk = Chunk {
        x: Vec::new(),
        logits: Vec::new(),
        held: true,
        targets: Vec::with_capacity(rows.max(held)),
        upstream: Vec::with_capacity(rows.max(held)),
        first: true,
    };
    let options = ClassOptions::new(&call.rows, v);
    let mut losses = vec![T::ZERO; n];
    if !first.is_empty() {
        run_chunk(&ops, &options, targets, first, &mut chunk, &mut losses, &mut grads);
    }
    chunk.held = false;
    // Allocated after the held chunk, whose sweep's scratch is freed by then.
    if !rest.is_empty() {
        chunk.logits = vec![T::ZERO; rows * v];
    }
    for indices in rest.chunks(rows) {
        run_chunk(&ops, &options, targets, indices, &mut chunk, &mut losses, &mut grads);
    }
    let loss = match call.rows.form {
        LossForm::ScaledSum(factor) => scaled_sum(&losses, factor),
        LossForm::PerItem => tensor(losses, vec![n]),
    };
    LinearOutput {
        loss,
        input: gradient(grads.input, vec![n, h]),
        classifier: gradient(grads.classifier, vec![v, h]),
        bias: gradient(grads.bias, vec![v]),
    }
}

/// The rows of a batch of `counted` rows (not ignored) whose logits the first chunk holds in
/// the classifier's gradient `(v, h)`: as many as its rows have columns (`h`), no more than
/// `chunk_rows` when asked, and no more than keep the sweep's scratch for them (which grows
/// with the threads and `h`) within the bytes a chunk's logits may take by default.
fn held_rows(
    counted: usize,
    h: usize,
    v: usize,
    chunk_rows: Option<usize>,
    input_gradient: bool,
    element: usize,
) -> usize {
    let per_row = sweep_scratch(1, h, v, input_gradient).saturating_mul(element).max(1);
    counted
        .min(h)
        .min(chunk_rows.unwrap_or(usize::MAX))
        .min(CHUNK_BYTES / per_row)
}

/// One chunk: the rows `indices` of the operands.
fn run_chunk<T: FlexReal>(
    ops: &Operands<'_, T>,
    options: &ClassOptions<T>,
    targets: &[i64],
    indices: &[usize],
    chunk: &mut Chunk<T>,
    losses: &mut [T],
    grads: &mut Gradients<T>,
) {
    let (m, h, v) = (indices.len(), ops.h, ops.v);
    let adjacent = indices.last().is_some_and(|&last| last + 1 == indices[0] + m);
    let x: &[T] = if adjacent {
        &ops.x[indices[0] * h..(indices[0] + m) * h]
    } else {
        chunk.x.resize(m * h, T::ZERO);
        for (row, &i) in chunk.x.chunks_exact_mut(h.max(1)).zip(indices) {
            row.copy_from_slice(&ops.x[i * h..(i + 1) * h]);
        }
        &chunk.x[..m * h]
    };
    chunk.targets.clear();
    chunk.targets.extend(indices.iter().map(|&i| targets[i]));
    chunk.upstream.clear();
    if let Some(up) = ops.upstream {
        chunk.upstream.extend(indices.iter().map(|&i| up[i]));
    }
    // Class `j`'s logits from element `j * stride` on.
    let (logits, stride): (&mut [T], usize) = if chunk.held {
        let dw = grads.classifier.as_deref_mut();
        (dw.expect("logits held in the classifier's gradient come with it"), h)
    } else {
        (&mut chunk.logits[..v * m], m)
    };
    let write = match ops.b {
        Some(b) => {
            logits
                .par_chunks_mut(stride)
                .zip(b)
                .for_each(|(class, &bj)| class[..m].fill(bj));
            Write::Accumulate
        }
        None => Write::Overwrite,
    };
    // `classifier @ x^T`, `(v, m)`: the product's fast layout (see `linear_rows`).
    let x = MatRef::row_major(x, m, h);
    matmul(
        MatMut::with_row_stride(&mut *logits, v, m, stride),
        write,
        MatRef::row_major(ops.w, v, h),
        x.t(),
    );
    let kernel = LossRows {
        options,
        targets: &chunk.targets,
        probabilities: &[],
        c: v,
        row_scale: ops.upstream.map(|_| &chunk.upstream[..]),
    };
    let (chunk_losses, gradient) = chunk_losses(logits, m, stride, &kernel);
    for (&i, &l) in indices.iter().zip(&chunk_losses) {
        losses[i] = l;
    }
    if grads.input.is_none() && grads.classifier.is_none() && grads.bias.is_none() {
        return;
    }
    let out = ChunkGradients {
        input: grads.input.as_deref_mut().map(|dx| InputRows { dx, indices }),
        classifier: grads.classifier.as_deref_mut(),
        bias: grads.bias.as_deref_mut(),
        first: chunk.first,
    };
    chunk.first = false;
    let logits = if chunk.held {
        Logits::InClassifierGradient
    } else {
        Logits::Buffer(&chunk.logits[..v * m])
    };
    chunk_gradients(logits, &gradient, x, ops.w, out);
}
