//! Fused CPU loss kernels: loss and input gradient in one pass over the rows, on burn's
//! flex backend, plugged into burn's autodiff through a backend extension.
//!
//! The kernels are a fast path: [`cross_entropy_rows`] answers `None` on any other backend
//! (CUDA, wgpu, ...), and the caller falls back to the composed tensor ops, which give the
//! same numbers.

mod autodiff;
mod flex;
pub(crate) mod rows;
pub(crate) mod sigmoid;

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::backend::Dispatch;
use burn::tensor::Tensor;

/// The loss a fused row kernel computes over the rows of `(N, C)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowLoss {
    /// Cross entropy of logits with class-index targets and label smoothing in `[0, 1]`.
    CrossEntropy {
        /// The label smoothing.
        label_smoothing: f64,
    },
    /// Cross entropy of logits with a probability row per row (the `target` tensor).
    Probabilities {
        /// The label smoothing.
        label_smoothing: f64,
    },
    /// Negative log likelihood of log-probabilities with class-index targets.
    Nll,
    /// Softmax focal loss with class-index targets; a per-class alpha comes as `weight`.
    Focal {
        /// The focusing parameter.
        gamma: f64,
        /// A scalar alpha (1 without one).
        alpha: f64,
    },
}

/// The options of one fused row-loss call.
#[derive(Debug, Clone)]
pub struct RowLosses {
    /// What is computed.
    pub loss: RowLoss,
    /// One class index per row (`ignore_index` marks ignored rows); empty for
    /// [`RowLoss::Probabilities`].
    pub targets: Vec<i64>,
    /// Per-class weights (alpha for the focal loss), or `None` for all-ones.
    pub weight: Option<Vec<f64>>,
    /// The ignored index.
    pub ignore_index: i64,
    /// `Some(s)`: return `s * sum of the row losses` as a `[1]` tensor, with the gradient
    /// scaled by `s` in the same pass (a reduced loss costs no extra pass over the logits).
    pub reduce_scale: Option<f64>,
}

/// The options of one fused BCE-with-logits or sigmoid focal call.
#[derive(Debug, Clone)]
pub struct SigmoidLosses {
    /// `pos_weight` along the last dimension (one value, or one per last-dimension index).
    pub pos_weight: Option<Vec<f64>>,
    /// `weight` along the last dimension (one value, or one per last-dimension index).
    pub weight: Option<Vec<f64>>,
    /// `(gamma, alpha)` for the focal loss; `None` for BCE with logits.
    pub focal: Option<(f64, Option<f64>)>,
    /// As [`RowLosses::reduce_scale`]: the scaled sum as a `[1]` tensor instead of
    /// the elementwise losses.
    pub reduce_scale: Option<f64>,
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
        options: RowLosses,
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
        options: SigmoidLosses,
        with_grad: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// `grad * upstream` for a one-element `upstream`, in place when `grad` is not shared,
    /// and free when `upstream` is 1 (the usual `loss.backward()`).
    fn scale_gradient(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self>;
}

thread_local! {
    static ENABLED: core::cell::Cell<bool> = const { core::cell::Cell::new(true) };
}

/// Runs `f` with the fused kernels off on this thread, so every loss takes the composed
/// tensor-op path (what other backends run); for comparisons and benchmarks.
pub fn with_composed<R>(f: impl FnOnce() -> R) -> R {
    let before = ENABLED.with(|e| e.replace(false));
    let result = f();
    ENABLED.with(|e| e.set(before));
    result
}

/// The flex tensor under `tensor` (with or without autodiff), or `None` on any other
/// backend: where the kernels can run and read storage in place.
fn flex_primitive<const D: usize>(tensor: &Tensor<D>) -> Option<burn_flex::FlexTensor> {
    use burn::backend::Flex;
    use burn_autodiff::Autodiff;
    use burn_autodiff::checkpoint::strategy::{BalancedCheckpointing, NoCheckpointing};
    let t = || tensor.clone();
    t().try_into_primitive::<Flex>()
        .ok()
        .or_else(|| t().try_into_primitive::<Autodiff<Flex, NoCheckpointing>>().ok().map(|p| p.primitive().clone()))
        .or_else(|| t().try_into_primitive::<Autodiff<Flex, BalancedCheckpointing>>().ok().map(|p| p.primitive().clone()))
}

/// The first value of `tensor` outside `[0, 1]` (NaN included), read in place from flex
/// storage; `None` when the tensor is not on flex (the caller then reads a copy).
pub(crate) fn first_outside_unit<const D: usize>(tensor: &Tensor<D>) -> Option<Option<f64>> {
    fn scan(t: &burn_flex::FlexTensor) -> Option<f64> {
        let bad = |v: f64| !(0.0..=1.0).contains(&v);
        let t = t.to_contiguous();
        match t.dtype() {
            burn::tensor::DType::F32 => first_bad(t.storage::<f32>(), |v| bad(f64::from(v))).map(f64::from),
            burn::tensor::DType::F64 => first_bad(t.storage::<f64>(), bad),
            _ => t.clone().into_data().iter::<f64>().find(|&v| bad(v)),
        }
    }
    /// The first `v` with `bad(v)`: blocks are checked whole (a loop without an early exit
    /// vectorises; `find` one element at a time cost 14 % of a fused focal loss), and
    /// only a block with a bad value is searched.
    fn first_bad<T: Copy>(values: &[T], bad: impl Fn(T) -> bool) -> Option<T> {
        let block = values.chunks(1024).find(|b| b.iter().fold(false, |any, &v| any | bad(v)))?;
        block.iter().copied().find(|&v| bad(v))
    }
    flex_primitive(tensor).map(|p| scan(&p))
}

/// Whether the fused kernels may run on `tensor`: switched on, f32 or f64, on flex.
fn fusable<const D: usize>(tensor: &Tensor<D>) -> bool {
    let dtype = tensor.dtype();
    let fast_dtype = dtype == burn::tensor::DType::F32 || dtype == burn::tensor::DType::F64;
    ENABLED.with(|e| e.get()) && fast_dtype && flex_primitive(tensor).is_some()
}

/// Elementwise BCE-with-logits / sigmoid focal losses (or their scaled sum, shape `[1; D]`)
/// through the fused kernel, with the gradient kept for autodiff; `None` off flex.
pub(crate) fn sigmoid_losses<const D: usize>(
    logits: &Tensor<D>,
    target: Tensor<D>,
    options: SigmoidLosses,
) -> Option<Tensor<D>> {
    let reduced = options.reduce_scale.is_some();
    if !fusable(logits) {
        return None;
    }
    let with_grad = logits.is_require_grad();
    let target = target.detach();
    let (loss, _) = <Dispatch as LossKernels>::sigmoid_losses(
        logits.clone().into_dispatch(),
        target.into_dispatch(),
        options,
        with_grad,
    );
    let loss: Tensor<D> = if reduced {
        Tensor::<1>::from_dispatch(loss).reshape([1; D])
    } else {
        Tensor::from_dispatch(loss)
    };
    Some(loss)
}

/// Per-row losses `(N)` of `input` `(N, C)` (or their scaled sum `[1]`, see
/// [`RowLosses::reduce_scale`]) through the fused kernel, with the gradient kept for
/// autodiff; `None` when the tensor is not on flex (or not f32/f64). `target`: the
/// probability rows of [`RowLoss::Probabilities`].
pub(crate) fn row_losses(input: &Tensor<2>, target: Option<Tensor<2>>, options: RowLosses) -> Option<Tensor<1>> {
    if !fusable(input) {
        return None;
    }
    let with_grad = input.is_require_grad();
    let target = target.map_or_else(|| input.clone(), |t| t.detach());
    let (loss, _) =
        <Dispatch as LossKernels>::row_losses(input.clone().into_dispatch(), target.into_dispatch(), options, with_grad);
    Some(Tensor::from_dispatch(loss))
}

/// Softmax (or log-softmax) of the rows of `input` `(N, C)` through the fused kernel, with a
/// fused backward; `None` off flex.
pub(crate) fn softmax_rows(input: &Tensor<2>, log: bool) -> Option<Tensor<2>> {
    if !fusable(input) {
        return None;
    }
    Some(Tensor::from_dispatch(<Dispatch as LossKernels>::softmax_rows(input.clone().into_dispatch(), log)))
}
