//! Fused CPU loss kernels: loss and input gradient in one pass, on burn's flex backend,
//! plugged into burn's autodiff through a backend extension.
//!
//! The kernels are a fast path. Each entry point here answers `None` where it cannot run
//! (another backend, a dtype other than f32/f64, an operand that needs its own gradient,
//! an option the kernel does not take, [`with_composed`]), and the loss then runs its
//! composed tensor-op path, which gives the same numbers: that decision is made here and
//! nowhere else.
//!
//! Layers, from the loss down: this file (the extension trait, the entry points; the
//! options of each call in [`calls`], the class-index entry points in [`class_index`]) -> [`autodiff`] (the backward nodes) -> `flex` (typed slices, one
//! dtype dispatch) -> [`scheduler`] and the kernels' math ([`row`], [`pointwise`],
//! [`sequence`], [`boxes`]) -> [`simd`], [`mem`], [`math`], [`atan`].

mod atan;
mod autodiff;
mod boxes;
mod calls;
mod class_index;
mod dense;
mod flex;
mod gemm;
mod linear;
mod math;
mod mem;
mod pointwise;
mod row;
mod scheduler;
mod sequence;
mod simd;
mod switch;

pub(crate) use boxes::BoxKind;
pub(crate) use calls::*;
pub(crate) use class_index::{
    ClassIndexRows, Counted, MeanOver, class_index_rows, probability_rows, with_z_in_form_units,
};
pub(crate) use linear::{LinearRows, default_chunk_rows, linear_cross_entropy};
pub(crate) use sequence::ctc::{CtcPlan, CtcShape};
pub(crate) use sequence::rnnt::{RnntPlan, RnntShape};
pub use switch::with_composed;
pub(crate) use switch::{first_outside_unit, kernels_can_take};

use burn::backend::Dispatch;
use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::{Tensor, TensorData};

use crate::input::broadcast::Broadcast;
use crate::input::checks::cast;
use crate::reduction::sum_factor;
use crate::{LossError, Reduction};
use dense::{DenseGradients, DenseGrads};
use linear::{LinearCall, LinearOutput};

pub(crate) use dense::dense;

/// Loss kernels a backend can run fused.
#[backend_extension(Flex, Autodiff)]
pub trait LossKernels: Backend {
    /// Per-row losses `(N)` of `input` `(N, C)` (or their scaled sum `[1]`) and, when
    /// `with_grad`, the gradient of that output's sum with respect to `input` (otherwise an
    /// empty tensor). `target` holds the probability rows of [`RowLoss::Probabilities`] and
    /// is not read for the other losses.
    fn row_losses(
        input: FloatTensor<Self>,
        target: FloatTensor<Self>,
        call: RowLossCall,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// `input @ weight + bias`, then ReLU with `relu`, in burn's `Linear` layout: `input`
    /// `(N, K)`, `weight` `(K, M)`, `bias` `(M)` or empty; each large product split over
    /// the threads along its longer side.
    fn dense(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// The gradients [`LossKernels::dense`]'s backward is asked for (`wants`), from the
    /// upstream `grad` `(N, M)` and the forward's `output` (read only after a ReLU); each
    /// gradient not asked for is an empty tensor.
    fn dense_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        wants: DenseGrads,
    ) -> DenseGradients<Self>;

    /// Softmax of each row of `input` `(N, C)`, or log-softmax with `log`.
    fn softmax_rows(input: FloatTensor<Self>, log: bool) -> FloatTensor<Self>;

    /// The gradient of [`LossKernels::softmax_rows`] with respect to its input, from its
    /// `output` and the upstream gradient `grad`.
    fn softmax_rows_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, log: bool) -> FloatTensor<Self>;

    /// Elementwise losses of `input` against `target` (same shape) and, when `with_grad`,
    /// their gradient with respect to `input`.
    fn pointwise_losses(
        input: FloatTensor<Self>,
        target: FloatTensor<Self>,
        call: PointwiseCall,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// IoU losses of boxes `boxes1` against `boxes2` (both `(N, 4)`) in the call's
    /// [`LossForm`] and, when `with_grad`, the gradient of each box set (empty tensors
    /// otherwise).
    fn box_losses(
        boxes1: FloatTensor<Self>,
        boxes2: FloatTensor<Self>,
        call: BoxCall,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// CTC losses of `log_probs` `(T, N, C)` in the plan's [`SampleForm`] and, when
    /// `with_grad`, their gradient in PyTorch's convention (otherwise an empty tensor).
    fn ctc_losses(
        log_probs: FloatTensor<Self>,
        plan: CtcPlan,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// RNN-T costs of `logits` `(N, T, U + 1, V)` in the plan's [`SampleForm`] and, when
    /// `with_grad`, torchaudio's gradient (otherwise an empty tensor).
    fn rnnt_losses(
        logits: FloatTensor<Self>,
        plan: RnntPlan,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// `grad * upstream` for a one-element `upstream`, in place when `grad` is not shared,
    /// and free when `upstream` is 1 (the usual `loss.backward()`).
    fn scale_gradient(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The cross entropy of the logits `input @ classifier^T + bias` (`input` `(N, H)`,
    /// `classifier` `(V, H)`, `bias` `(V)` or empty for none) over chunks of at most
    /// `call.chunk_rows` rows (or as many as the backend chooses), never all `(N, V)` logits
    /// in a buffer of their own: the per-row losses `(N)`
    /// (or their scaled sum `[1]`), and the gradients `call.grads` asks for with respect to
    /// `input`, `classifier` and `bias` (each an empty tensor otherwise). `upstream` `(N)`
    /// multiplies each row's gradient (the backward of the unreduced loss), or is empty.
    fn linear_cross_entropy(
        input: FloatTensor<Self>,
        classifier: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        upstream: FloatTensor<Self>,
        call: LinearCall,
    ) -> LinearOutput<Self>;
}

/// The form of a fused call's output for `reduction` (`None`: unreduced) over a known
/// denominator; `None` when the kernels leave it to the composed path (a mean over nothing).
fn loss_form(reduction: Option<Reduction>, denominator: f64) -> Option<LossForm> {
    match reduction {
        None => Some(LossForm::PerItem),
        Some(r) => sum_factor(r, denominator).map(LossForm::ScaledSum),
    }
}

/// A fused result in the caller's rank: the scaled sum as `[1; D]`, or the per-item losses
/// in `shape`.
fn shaped<const I: usize, const D: usize>(loss: Tensor<I>, form: LossForm, shape: [usize; D]) -> Tensor<D> {
    match form {
        LossForm::PerItem => loss.reshape(shape),
        LossForm::ScaledSum(_) => loss.reshape([1; D]),
    }
}

/// An empty tensor on `like`'s device, in its dtype: what a kernel call is given for an
/// operand it does not have (no bias, no upstream).
fn absent_operand(like: &Tensor<2>) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(Vec::<f64>::new(), [0]), (&like.device(), like.dtype()))
}

/// The weights of the sigmoid losses.
#[derive(Clone, Copy)]
pub(crate) struct SigmoidWeights<'a> {
    pub weight: Option<&'a Broadcast>,
    pub pos_weight: Option<&'a Broadcast>,
}

/// Elementwise BCE-with-logits / sigmoid focal losses (`focal: None` for BCE), unreduced or
/// reduced to `[1; D]`, through the fused kernel with the gradient kept for autodiff;
/// `None` where the kernels cannot take it (a weight that varies along more than the last
/// dimension, among others).
pub(crate) fn sigmoid_losses<const D: usize>(
    logits: &Tensor<D>,
    target: &Tensor<D>,
    weights: SigmoidWeights<'_>,
    focal: Option<SigmoidFocalOptions>,
    reduction: Option<Reduction>,
) -> Option<Tensor<D>> {
    let last = logits.dims().last().copied().unwrap_or(1);
    let along = |b: Option<&Broadcast>| match b {
        None => Some(None),
        Some(b) => b.along_last_dim(last).map(Some),
    };
    let call = SigmoidCall {
        pos_weight: along(weights.pos_weight)?,
        weight: along(weights.weight)?,
        focal,
    };
    pointwise(logits, target, PointwiseLoss::Sigmoid(call), reduction)
}

/// A regression loss of `input - target` (same shape), unreduced or reduced to `[1; D]`,
/// through the fused kernel; `None` where the kernels cannot take it.
pub(crate) fn regression<const D: usize>(
    input: &Tensor<D>,
    target: &Tensor<D>,
    loss: RegressionLoss,
    reduction: Option<Reduction>,
) -> Option<Tensor<D>> {
    pointwise(input, target, PointwiseLoss::Regression(loss), reduction)
}

/// An elementwise loss through the fused kernel (the mean over every element).
fn pointwise<const D: usize>(
    input: &Tensor<D>,
    target: &Tensor<D>,
    loss: PointwiseLoss,
    reduction: Option<Reduction>,
) -> Option<Tensor<D>> {
    if !kernels_can_take(input, &[target.is_require_grad()]) {
        return None;
    }
    let form = loss_form(reduction, input.shape().num_elements() as f64)?;
    let target = cast(target.clone(), input.dtype());
    let (loss, _) = <Dispatch as LossKernels>::pointwise_losses(
        input.clone().into_dispatch(),
        target.into_dispatch(),
        PointwiseCall { loss, form },
        input.is_require_grad(),
    );
    Some(match form {
        LossForm::PerItem => Tensor::from_dispatch(loss),
        LossForm::ScaledSum(_) => Tensor::<1>::from_dispatch(loss).reshape([1; D]),
    })
}

/// IoU losses of boxes `(N, 4)` through the fused kernel, `(N)` unreduced or `[1]` reduced
/// by `reduction` in the same pass, with both box sets' gradients kept for autodiff; `None`
/// where the kernels cannot take it (an empty batch among others).
pub(crate) fn box_iou(
    boxes1: &Tensor<2>,
    boxes2: &Tensor<2>,
    kind: BoxKind,
    eps: f64,
    reduction: Option<Reduction>,
) -> Option<Tensor<1>> {
    if !kernels_can_take(boxes1, &[]) || !kernels_can_take(boxes2, &[]) {
        return None;
    }
    let form = loss_form(reduction, boxes1.dims()[0] as f64)?;
    let with_grad = boxes1.is_require_grad() || boxes2.is_require_grad();
    let boxes2 = cast(boxes2.clone(), boxes1.dtype());
    let (loss, _, _) = <Dispatch as LossKernels>::box_losses(
        boxes1.clone().into_dispatch(),
        boxes2.into_dispatch(),
        BoxCall { kind, eps, form },
        with_grad,
    );
    Some(Tensor::from_dispatch(loss))
}

/// Softmax (or log-softmax) of the rows of `input` `(N, C)` through the fused kernel, with a
/// fused backward; `None` where the kernels cannot take it.
pub(crate) fn softmax_rows(input: &Tensor<2>, log: bool) -> Option<Tensor<2>> {
    if !kernels_can_take(input, &[]) {
        return None;
    }
    Some(Tensor::from_dispatch(<Dispatch as LossKernels>::softmax_rows(
        input.clone().into_dispatch(),
        log,
    )))
}

/// CTC losses of `log_probs` `(T, N, C)` through the fused kernel, with the gradient kept for
/// autodiff: `(N)` per sample, or `[1]` for [`SampleForm::WeightedSum`]; `None` where the
/// kernels cannot take it. Errors only on a call that the loss should have refused.
pub(crate) fn ctc_losses(log_probs: &Tensor<3>, call: &CtcCall) -> Result<Option<Tensor<1>>, LossError> {
    if !kernels_can_take(log_probs, &[]) {
        return Ok(None);
    }
    let [max_time, batch, classes] = log_probs.dims();
    let plan = CtcPlan::new(
        CtcShape {
            max_time,
            batch,
            classes,
        },
        call,
    )?;
    let (loss, _) =
        <Dispatch as LossKernels>::ctc_losses(log_probs.clone().into_dispatch(), plan, log_probs.is_require_grad());
    Ok(Some(Tensor::from_dispatch(loss)))
}

/// RNN-T costs of `logits` `(N, T, U + 1, V)` through the fused kernel, with the gradient kept
/// for autodiff: `(N)` per sample, or `[1]` for [`SampleForm::WeightedSum`]; `None` where the
/// kernels cannot take it. Errors only on a call that the loss should have refused.
pub(crate) fn rnnt_losses(logits: &Tensor<4>, call: &RnntCall) -> Result<Option<Tensor<1>>, LossError> {
    if !kernels_can_take(logits, &[]) {
        return Ok(None);
    }
    let [batch, max_time, nodes, classes] = logits.dims();
    let plan = RnntPlan::new(
        RnntShape {
            batch,
            max_time,
            max_target: nodes - 1,
            classes,
        },
        call,
    )?;
    let (loss, _) =
        <Dispatch as LossKernels>::rnnt_losses(logits.clone().into_dispatch(), plan, logits.is_require_grad());
    Ok(Some(Tensor::from_dispatch(loss)))
}
