//! The linear cross entropy on flex storage, one chunk of rows at a time: the chunk's logits
//! by one matrix product into a reused buffer, stored class-major ([`linear_rows`]), the
//! cross-entropy statistics of its rows over them, then the chunk's input gradient and its
//! share of the classifier's and bias's gradients, the logits' gradient written block by
//! block on the way ([`chunk_gradients`]). Peak memory beyond the inputs: one chunk's
//! logits (and its input rows, copied when ignored rows fall between them), the sweep's
//! per-task partial input gradients `(m, h)` and per-thread gradient blocks `(256, m)`, and
//! the gradients asked for.
//!
//! When the classifier's gradient `(v, h)` is asked for and the batch has no more counted
//! rows than it has columns (`N <= H`: a few sequences over a large vocabulary), the whole
//! batch is one chunk whose logits are held in that gradient, class `j`'s in the first
//! columns of row `j`, until the sweep reads each block of them and writes the block's
//! gradient rows over them: no logits buffer at all, and the classifier and its gradient
//! are each passed over once rather than once per chunk (docs/performance.md).
//!
//! [`linear_rows`]: super::linear_rows

use burn::backend::Flex;
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::linear_backward::{ChunkGradients, InputRows, Logits, chunk_gradients};
use super::linear_rows::chunk_losses;
use super::rows::{ClassOptions, LossRows};
use super::{FlexReal, contiguous, data, gradient, scaled_sum, tensor};
use crate::fused::LossForm;
use crate::fused::default_chunk_rows;
use crate::fused::gemm::{MatMut, MatRef, Write, matmul};
use crate::fused::linear::{LinearCall, LinearOutput};

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
    /// Its logits, class-major: `(v, rows)`; `None` when they are held in the classifier's
    /// gradient.
    logits: Option<Vec<T>>,
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
    // One chunk with its logits in the classifier's gradient where they fit there (see the
    // module's docs), unless a smaller chunk was asked for. Otherwise chunks of equal size
    // (within one row), as few as `chunk_rows` allows: a short last chunk would cost a
    // whole pass over the classifier for a few rows.
    let all = counted.len();
    let in_gradient =
        grads.classifier.is_some() && (1..=h).contains(&all) && call.chunk_rows.is_none_or(|rows| rows >= all);
    let chunk_rows = call
        .chunk_rows
        .unwrap_or_else(|| default_chunk_rows(n, v, size_of::<T>()));
    let chunks = if in_gradient {
        1
    } else {
        all.div_ceil(chunk_rows.max(1)).max(1)
    };
    let rows = all.div_ceil(chunks).max(1);
    let mut chunk = Chunk {
        x: Vec::new(),
        logits: (!in_gradient).then(|| vec![T::ZERO; rows * v]),
        targets: Vec::with_capacity(rows),
        upstream: Vec::with_capacity(rows),
        first: true,
    };
    let options = ClassOptions::new(&call.rows, v);
    let mut losses = vec![T::ZERO; n];
    for indices in counted.chunks(rows) {
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
    let (logits, stride): (&mut [T], usize) = match &mut chunk.logits {
        Some(buffer) => (&mut buffer[..v * m], m),
        None => {
            let dw = grads.classifier.as_deref_mut();
            (dw.expect("logits held in the classifier's gradient come with it"), h)
        }
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
    let logits = match &chunk.logits {
        Some(buffer) => Logits::Buffer(&buffer[..v * m]),
        None => Logits::InClassifierGradient,
    };
    chunk_gradients(logits, &gradient, x, ops.w, out);
}
