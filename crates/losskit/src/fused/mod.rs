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
//! dtype dispatch) -> [`scheduler`] and the kernels' math ([`row`], [`pointwise`]) ->
//! [`simd`], [`mem`], [`math`].

mod autodiff;
mod flex;
mod gemm;
mod linear;
mod math;
mod mem;
mod pointwise;
mod row;
mod scheduler;
mod simd;
mod switch;

pub(crate) use linear::{LinearRows, default_chunk_rows, linear_cross_entropy};
pub use switch::with_composed;
pub(crate) use switch::{first_outside_unit, kernels_can_take};

use burn::backend::Dispatch;
use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use crate::Reduction;
use crate::input::broadcast::Broadcast;
use linear::{LinearCall, LinearOutput};
use crate::input::checks::cast;
use crate::input::class_index::{ClassWeight, class_rows};
use crate::reduction::sum_factor;

/// The loss a fused row kernel computes over the rows of `(N, C)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowLoss {
    /// Cross entropy of logits with class-index targets, label smoothing in `[0, 1]`, the
    /// logits soft-capped to `softcap tanh(x / softcap)` when set, and a z-loss
    /// `z_loss lse^2` per counted row. In a [`RowLossCall`], `z_loss` is in units of the
    /// call's [`LossForm`] factor (see [`class_index_rows`]): the z term's mean has a
    /// denominator of its own.
    CrossEntropy { label_smoothing: f64, softcap: Option<f64>, z_loss: f64 },
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

/// One fused BCE-with-logits or sigmoid focal call.
#[derive(Debug, Clone)]
pub(crate) struct SigmoidCall {
    /// `pos_weight` along the last dimension (one value, or one per last-dimension index).
    pub pos_weight: Option<Vec<f64>>,
    /// `weight` along the last dimension (one value, or one per last-dimension index).
    pub weight: Option<Vec<f64>>,
    /// The focal factor; `None` for BCE with logits.
    pub focal: Option<SigmoidFocalOptions>,
    pub form: LossForm,
}

/// The focal options of a [`SigmoidCall`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SigmoidFocalOptions {
    pub gamma: f64,
    /// `None` when the alpha factor is off.
    pub alpha: Option<f64>,
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

    /// Elementwise BCE-with-logits or sigmoid focal losses of `logits` against `target`
    /// (same shape) and, when `with_grad`, their gradient with respect to the logits.
    fn sigmoid_losses(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
        call: SigmoidCall,
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
    let (loss, _) = <Dispatch as LossKernels>::row_losses(rows.into_dispatch(), target.into_dispatch(), call, with_grad);
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
    let call = RowLossCall { loss, targets: rows.targets.to_vec(), weight, ignore_index: rows.ignore_index, form };
    Some(shaped(run_rows(class_rows(input.clone()), None, call), form, target_dims))
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
pub(crate) fn with_z_in_form_units(loss: RowLoss, reduction: Option<Reduction>, form: LossForm, counted: usize) -> Option<RowLoss> {
    match loss {
        RowLoss::CrossEntropy { label_smoothing, softcap, z_loss } if z_loss != 0.0 => {
            let z_form = loss_form(reduction, counted as f64)?;
            let z_loss = z_loss * z_form.grad_scale() / form.grad_scale();
            Some(RowLoss::CrossEntropy { label_smoothing, softcap, z_loss })
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
    let call = RowLossCall { loss, targets: Vec::new(), weight: weight.map(|w| w.host().to_vec()), ignore_index: -1, form };
    let probabilities = class_rows(cast(target.clone(), input.dtype()));
    Some(shaped(run_rows(class_rows(input.clone()), Some(probabilities), call), form, shape))
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
    if !kernels_can_take(logits, &[target.is_require_grad()]) {
        return None;
    }
    let dims = logits.dims();
    let last = dims.last().copied().unwrap_or(1);
    let along = |b: Option<&Broadcast>| match b {
        None => Some(None),
        Some(b) => b.along_last_dim(last).map(Some),
    };
    let form = loss_form(reduction, logits.shape().num_elements() as f64)?;
    let call = SigmoidCall { pos_weight: along(weights.pos_weight)?, weight: along(weights.weight)?, focal, form };
    let target = cast(target.clone(), logits.dtype());
    let (loss, _) = <Dispatch as LossKernels>::sigmoid_losses(
        logits.clone().into_dispatch(),
        target.into_dispatch(),
        call,
        logits.is_require_grad(),
    );
    Some(match form {
        LossForm::PerItem => Tensor::from_dispatch(loss),
        LossForm::ScaledSum(_) => Tensor::<1>::from_dispatch(loss).reshape([1; D]),
    })
}

/// Softmax (or log-softmax) of the rows of `input` `(N, C)` through the fused kernel, with a
/// fused backward; `None` where the kernels cannot take it.
pub(crate) fn softmax_rows(input: &Tensor<2>, log: bool) -> Option<Tensor<2>> {
    if !kernels_can_take(input, &[]) {
        return None;
    }
    Some(Tensor::from_dispatch(<Dispatch as LossKernels>::softmax_rows(input.clone().into_dispatch(), log)))
}
