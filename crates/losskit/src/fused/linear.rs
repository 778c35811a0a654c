//! The fused linear cross entropy's call: what it computes, how many rows a chunk holds,
//! and the entry point that decides whether the kernels take it.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, ExtensionType};
use burn::tensor::Tensor;

use super::switch::kernels_can_take_with_weights;
use super::{Counted, LossKernels, RowLoss, RowLossCall, absent_operand, loss_form, with_z_in_form_units};
use crate::Reduction;
use crate::input::class_index::ClassWeight;

/// Which gradients a linear cross-entropy pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct LinearGrads {
    pub input: bool,
    pub classifier: bool,
    pub bias: bool,
}

/// One fused linear cross-entropy pass: `rows` is the cross entropy of the logits
/// `input @ classifier^T + bias` (its targets one per input row), `chunk_rows` the most logit
/// rows held at once (at least 1), `None` for the backend's choice.
#[derive(Debug, Clone)]
pub(crate) struct LinearCall {
    pub rows: RowLossCall,
    pub chunk_rows: Option<usize>,
    pub grads: LinearGrads,
}

/// What a linear cross-entropy pass returns: the losses, and each gradient it was asked for
/// (an empty tensor otherwise).
#[derive(ExtensionType)]
pub struct LinearOutput<B: Backend> {
    /// `(N)` per row, or `[1]` their scaled sum.
    pub loss: FloatTensor<B>,
    /// `(N, H)`.
    pub input: FloatTensor<B>,
    /// `(V, H)`.
    pub classifier: FloatTensor<B>,
    /// `(V)`.
    pub bias: FloatTensor<B>,
}

/// The most bytes of logits a chunk holds by default: past this, more rows per chunk buy
/// little (the chunk's products are already long) for memory that grows with them.
pub(crate) const CHUNK_BYTES: usize = 64 << 20;

/// The fewest rows a chunk holds by default (unless the batch is smaller): the chunk's
/// products run along its rows, and below about 96 of them lose a tenth or more of their
/// speed (docs/performance.md), while every chunk reads the classifier twice and reads and
/// writes its gradient.
const MIN_CHUNK_ROWS: usize = 96;

/// The most chunks a batch is cut into by default, unless [`CHUNK_BYTES`] asks for more.
const MAX_CHUNKS: usize = 6;

/// The default rows per chunk of a batch of `rows` rows of `classes` logits of `element`
/// bytes: the batch cut into `k = clamp(rows / 96, 1, 6)` chunks of `ceil(rows / k)` rows,
/// fewer rows if a chunk's logits would pass [`CHUNK_BYTES`] (at least one row).
///
/// Six chunks (from 576 rows) keep a chunk's logits, with the threads' partial sums of the
/// input gradient, within an eighth of the unfused path's peak (its `(N, V)` logits and
/// their gradient); fewer chunks, for smaller batches, hold more of it (a half to a fifth),
/// where more would cost time in short products for memory that is small already. The
/// hidden size does not enter: a chunk's input rows are `H / V` of its logits, and each
/// chunk's traffic over the classifier weighs the same against its arithmetic
/// (`element / rows` bytes per multiply-add) whatever `H`.
pub(crate) fn default_chunk_rows(rows: usize, classes: usize, element: usize) -> usize {
    let by_memory = CHUNK_BYTES / classes.saturating_mul(element).max(1);
    let chunks = (rows / MIN_CHUNK_ROWS).clamp(1, MAX_CHUNKS);
    rows.div_ceil(chunks).min(by_memory).max(1)
}

/// A linear cross entropy as the fused kernels take it.
pub(crate) struct LinearRows<'a> {
    /// One class index per input row, read and checked on the host.
    pub targets: &'a [i64],
    pub weight: Option<&'a ClassWeight>,
    pub ignore_index: i64,
    pub label_smoothing: f64,
    pub softcap: Option<f64>,
    pub z_loss: f64,
    /// `None`: unreduced.
    pub reduction: Option<Reduction>,
    /// The most rows per chunk; `None` for the backend's choice ([`default_chunk_rows`], and
    /// on the CPU kernels a first chunk of up to `H` rows held in the classifier's gradient).
    pub chunk_rows: Option<usize>,
}

/// The linear cross entropy of `input` `(N, H)`, `classifier` `(V, H)` and `bias` `(V)`
/// through the fused kernels, `(N)` unreduced or `[1]`, with every tracked operand's
/// gradient kept for autodiff; `None` where the kernels cannot take it (another backend or
/// dtype, an empty batch, a mean over nothing).
pub(crate) fn linear_cross_entropy(
    input: &Tensor<2>,
    classifier: &Tensor<2>,
    bias: Option<&Tensor<1>>,
    rows: LinearRows<'_>,
) -> Option<Tensor<1>> {
    if !kernels_can_take_with_weights(input, classifier, bias) {
        return None;
    }
    let weight = rows.weight.map(|w| w.host().to_vec());
    let counted = Counted::of(rows.targets, rows.ignore_index, weight.as_deref());
    let form = loss_form(rows.reduction, counted.weights)?;
    let loss = RowLoss::CrossEntropy {
        label_smoothing: rows.label_smoothing,
        softcap: rows.softcap,
        z_loss: rows.z_loss,
    };
    let loss = with_z_in_form_units(loss, rows.reduction, form, counted.rows)?;
    let call = RowLossCall {
        loss,
        targets: rows.targets.to_vec(),
        weight,
        ignore_index: rows.ignore_index,
        form,
    };
    // Autodiff decides which gradients the pass computes, from what is tracked.
    let call = LinearCall {
        rows: call,
        chunk_rows: rows.chunk_rows.map(|rows| rows.max(1)),
        grads: LinearGrads::default(),
    };
    let bias = bias.cloned().unwrap_or_else(|| absent_operand(input));
    let output = <Dispatch as LossKernels>::linear_cross_entropy(
        input.clone().into_dispatch(),
        classifier.clone().into_dispatch(),
        bias.into_dispatch(),
        absent_operand(input).into_dispatch(),
        call,
    );
    // `(N)` per row, or the scaled sum as `[1]`.
    Some(Tensor::<1>::from_dispatch(output.loss))
}
