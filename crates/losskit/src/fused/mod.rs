//! Fused CPU loss kernels: loss and input gradient in one pass, on burn's flex backend,
//! plugged into burn's autodiff through a backend extension.
//!
//! The kernels are a fast path. Each entry point here answers `None` where it cannot run
//! (another backend, a dtype other than f32/f64, an operand that needs its own gradient,
//! an option the kernel does not take, [`with_composed`]), and the loss then runs its
//! composed tensor-op path, which gives the same numbers: that decision is made here and
//! nowhere else.
//!
//! Layers, from the loss down: this file (the extension trait, the options of each call,
//! the entry points) -> [`autodiff`] (the backward nodes) -> `flex` (typed slices, one
//! dtype dispatch) -> [`scheduler`] and the kernels' math ([`row`], [`pointwise`],
//! [`sequence`]) -> [`simd`], [`mem`], [`math`].

mod autodiff;
mod boxes;
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
pub(crate) use linear::{LinearRows, default_chunk_rows, linear_cross_entropy};
pub(crate) use sequence::ctc::{CtcPlan, CtcShape};
pub(crate) use sequence::rnnt::{RnntPlan, RnntShape};
pub use switch::with_composed;
pub(crate) use switch::{first_outside_unit, kernels_can_take};

use burn::backend::Dispatch;
use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use crate::input::broadcast::Broadcast;
use crate::input::checks::cast;
use crate::input::class_index::{ClassWeight, class_rows};
use crate::reduction::sum_factor;
use crate::{LossError, Reduction};
use linear::{LinearCall, LinearOutput};

/// The loss a fused row kernel computes over the rows of `(N, C)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowLoss {
    /// Cross entropy of logits with class-index targets, label smoothing in `[0, 1]`, the
    /// logits soft-capped to `softcap tanh(x / softcap)` when set, and a z-loss
    /// `z_loss lse^2` per counted row. In a [`RowLossCall`], `z_loss` is in units of the
    /// call's [`LossForm`] factor (see [`class_index_rows`]): the z term's mean has a
    /// denominator of its own.
    CrossEntropy {
        label_smoothing: f64,
        softcap: Option<f64>,
        z_loss: f64,
    },
    /// Cross entropy of logits with a probability row per row (the `target` tensor).
    Probabilities { label_smoothing: f64 },
    /// Negative log likelihood of log-probabilities with class-index targets.
    Nll,
    /// Softmax focal loss with class-index targets; a per-class alpha comes as `weight`.
    SoftmaxFocal {
        gamma: f64,
        /// A scalar alpha (1 without one).
        alpha: f64,
    },
}

/// What a fused call returns: one loss per row or element, or their sum times a factor
/// (the reduction folded into the pass, its factor on the gradient too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LossForm {
    /// The unreduced losses.
    PerItem,
    /// `factor * sum` as a `[1]` tensor; the gradient already carries the factor.
    ScaledSum(f64),
}

impl LossForm {
    /// The factor on the gradient.
    pub(crate) fn grad_scale(self) -> f64 {
        match self {
            LossForm::PerItem => 1.0,
            LossForm::ScaledSum(factor) => factor,
        }
    }
}

/// One fused row-loss call.
#[derive(Debug, Clone)]
pub(crate) struct RowLossCall {
    pub loss: RowLoss,
    /// One class index per row (`ignore_index` marks ignored rows); empty for
    /// [`RowLoss::Probabilities`]. Checked against `[0, C)` by the caller.
    pub targets: Vec<i64>,
    /// Per-class weights (alpha for the focal loss), or `None` for all-ones.
    pub weight: Option<Vec<f64>>,
    pub ignore_index: i64,
    pub form: LossForm,
}

/// One fused elementwise call: each element's loss from one input and one target value.
#[derive(Debug, Clone)]
pub(crate) struct PointwiseCall {
    pub loss: PointwiseLoss,
    pub form: LossForm,
}

/// The elementwise losses the kernels compute.
#[derive(Debug, Clone)]
pub(crate) enum PointwiseLoss {
    /// BCE with logits or the sigmoid focal loss.
    Sigmoid(SigmoidCall),
    /// A regression loss of `input - target`.
    Regression(RegressionLoss),
}

/// BCE with logits or the sigmoid focal loss, with its weights.
#[derive(Debug, Clone)]
pub(crate) struct SigmoidCall {
    /// `pos_weight` along the last dimension (one value, or one per last-dimension index).
    pub pos_weight: Option<Vec<f64>>,
    /// `weight` along the last dimension (one value, or one per last-dimension index).
    pub weight: Option<Vec<f64>>,
    /// The focal factor; `None` for BCE with logits.
    pub focal: Option<SigmoidFocalOptions>,
}

/// The regression losses of `d = input - target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RegressionLoss {
    L1,
    Mse,
    /// `beta >= 0`; 0 is the L1 loss.
    SmoothL1 {
        beta: f64,
    },
    /// `delta > 0`.
    Huber {
        delta: f64,
    },
}

/// One fused box-loss call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoxCall {
    pub kind: BoxKind,
    pub eps: f64,
}

/// The focal options of a [`SigmoidCall`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SigmoidFocalOptions {
    pub gamma: f64,
    /// `None` when the alpha factor is off.
    pub alpha: Option<f64>,
}

/// What a fused sequence call returns: each sample's loss, or their sum with a weight per
/// sample (the reduction folded into the pass, each sample's weight on its gradient too).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SampleForm {
    /// The unreduced losses `(N)`.
    PerSample,
    /// `sum_n weights[n] * loss_n` as a `[1]` tensor (CTC's mean weighs sample n by
    /// `1 / (N max(L_n, 1))`).
    WeightedSum(Vec<f64>),
}

/// One fused CTC call: the targets and lengths as the loss read and checked them on the host.
#[derive(Debug, Clone)]
pub(crate) struct CtcCall {
    /// Every sample's labels one after another (padded targets without their padding).
    pub labels: Vec<i64>,
    pub input_lengths: Vec<usize>,
    pub target_lengths: Vec<usize>,
    pub blank: usize,
    pub zero_infinity: bool,
    pub form: SampleForm,
}

/// One fused RNN-T call: the targets and lengths as the loss read and checked them on the host.
#[derive(Debug, Clone)]
pub(crate) struct RnntCall {
    /// `(N, U)` row-major: sample n's labels are the first `target_lengths[n]` of its row.
    pub targets: Vec<i64>,
    pub logit_lengths: Vec<usize>,
    pub target_lengths: Vec<usize>,
    /// In `[0, V)` (torchaudio's negative blanks resolved).
    pub blank: usize,
    /// Each gradient element clamped to `[-c, c]` for `Some(c)` with c > 0.
    pub clamp: Option<f64>,
    pub fused_log_softmax: bool,
    pub form: SampleForm,
}

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

    /// IoU losses `(N)` of boxes `boxes1` against `boxes2` (both `(N, 4)`) and, when
    /// `with_grad`, the gradient of each box set (empty tensors otherwise).
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
    /// `classifier` `(V, H)`, `bias` `(V)` or empty for none) over chunks of
    /// `call.chunk_rows` rows, never all `(N, V)` logits at once: the per-row losses `(N)`
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

/// What the mean of a class-index loss divides by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MeanOver {
    /// The summed class weights of the targets that are not ignored (CE, NLL).
    Weights,
    /// The number of targets that are not ignored (softmax focal loss).
    Count,
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

/// Runs a row-loss call on the rows of `rows` `(N, C)`; `probabilities` are the target
/// rows of [`RowLoss::Probabilities`].
fn run_rows(rows: Tensor<2>, probabilities: Option<Tensor<2>>, call: RowLossCall) -> Tensor<1> {
    let with_grad = rows.is_require_grad();
    let target = probabilities.unwrap_or_else(|| rows.clone());
    let (loss, _) =
        <Dispatch as LossKernels>::row_losses(rows.into_dispatch(), target.into_dispatch(), call, with_grad);
    Tensor::from_dispatch(loss)
}

/// A class-index loss as the fused row kernel takes it.
pub(crate) struct ClassIndexRows<'a> {
    /// Any [`RowLoss`] but [`RowLoss::Probabilities`].
    pub loss: RowLoss,
    /// One class index per position, read and checked on the host.
    pub targets: &'a [i64],
    pub weight: Option<&'a ClassWeight>,
    pub ignore_index: i64,
    /// `None`: unreduced.
    pub reduction: Option<Reduction>,
    pub mean_over: MeanOver,
}

/// A class-index loss of `input` `(N, C, d1..dk)` through the fused row kernel, in the
/// target's shape `target_dims` (unreduced) or `[1; T]`, with the gradient kept for
/// autodiff; `None` where the kernels cannot take it.
pub(crate) fn class_index_rows<const D: usize, const T: usize>(
    input: &Tensor<D>,
    target_dims: [usize; T],
    rows: ClassIndexRows<'_>,
) -> Option<Tensor<T>> {
    if !kernels_can_take(input, &[]) {
        return None;
    }
    let weight = rows.weight.map(|w| w.host().to_vec());
    let counted = Counted::of(rows.targets, rows.ignore_index, weight.as_deref());
    let denominator = match rows.mean_over {
        MeanOver::Weights => counted.weights,
        MeanOver::Count => counted.rows as f64,
    };
    let form = loss_form(rows.reduction, denominator)?;
    let loss = with_z_in_form_units(rows.loss, rows.reduction, form, counted.rows)?;
    let call = RowLossCall {
        loss,
        targets: rows.targets.to_vec(),
        weight,
        ignore_index: rows.ignore_index,
        form,
    };
    Some(shaped(
        run_rows(class_rows(input.clone()), None, call),
        form,
        target_dims,
    ))
}

/// The targets that count (are not ignored): how many, and their summed class weights.
pub(crate) struct Counted {
    pub rows: usize,
    pub weights: f64,
}

impl Counted {
    pub(crate) fn of(targets: &[i64], ignore_index: i64, weight: Option<&[f64]>) -> Self {
        let counted = targets.iter().filter(|&&t| t != ignore_index);
        counted.fold(Counted { rows: 0, weights: 0.0 }, |c, &t| Counted {
            rows: c.rows + 1,
            weights: c.weights + weight.map_or(1.0, |w| w[t as usize]),
        })
    }
}

/// `loss` with its z-loss coefficient in units of `form`'s factor: the z term's mean divides
/// by the `counted` rows, where the cross entropy's may divide by their weights, so the
/// kernel's one factor carries `z_loss * (1 / counted) / factor`. `None` when the z term's
/// mean is over nothing (then so is the cross entropy's, which the composed path takes).
pub(crate) fn with_z_in_form_units(
    loss: RowLoss,
    reduction: Option<Reduction>,
    form: LossForm,
    counted: usize,
) -> Option<RowLoss> {
    match loss {
        RowLoss::CrossEntropy {
            label_smoothing,
            softcap,
            z_loss,
        } if z_loss != 0.0 => {
            let z_form = loss_form(reduction, counted as f64)?;
            let z_loss = z_loss * z_form.grad_scale() / form.grad_scale();
            Some(RowLoss::CrossEntropy {
                label_smoothing,
                softcap,
                z_loss,
            })
        }
        other => Some(other),
    }
}

/// Cross entropy of `input` `(N, C, d1..dk)` against probability rows `target` (same shape)
/// through the fused row kernel, in `shape`: `(N, d1..dk)` unreduced, `[1; O]` reduced;
/// `None` where the kernels cannot take it.
pub(crate) fn probability_rows<const D: usize, const O: usize>(
    input: &Tensor<D>,
    target: &Tensor<D>,
    label_smoothing: f64,
    weight: Option<&ClassWeight>,
    reduction: Option<Reduction>,
    shape: [usize; O],
) -> Option<Tensor<O>> {
    if !kernels_can_take(input, &[target.is_require_grad()]) {
        return None;
    }
    let positions = input.shape().num_elements() / input.dims()[1].max(1);
    let form = loss_form(reduction, positions as f64)?;
    let loss = RowLoss::Probabilities { label_smoothing };
    let call = RowLossCall {
        loss,
        targets: Vec::new(),
        weight: weight.map(|w| w.host().to_vec()),
        ignore_index: -1,
        form,
    };
    let probabilities = class_rows(cast(target.clone(), input.dtype()));
    Some(shaped(
        run_rows(class_rows(input.clone()), Some(probabilities), call),
        form,
        shape,
    ))
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

/// IoU losses `(N)` of boxes `(N, 4)` through the fused kernel, with both box sets'
/// gradients kept for autodiff; `None` where the kernels cannot take it.
pub(crate) fn box_iou(boxes1: &Tensor<2>, boxes2: &Tensor<2>, kind: BoxKind, eps: f64) -> Option<Tensor<1>> {
    if !kernels_can_take(boxes1, &[]) || !kernels_can_take(boxes2, &[]) {
        return None;
    }
    let with_grad = boxes1.is_require_grad() || boxes2.is_require_grad();
    let boxes2 = cast(boxes2.clone(), boxes1.dtype());
    let (loss, _, _) = <Dispatch as LossKernels>::box_losses(
        boxes1.clone().into_dispatch(),
        boxes2.into_dispatch(),
        BoxCall { kind, eps },
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
