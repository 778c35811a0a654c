//! Binary cross entropy on probabilities (`BCELoss`) and on logits (`BCEWithLogitsLoss`).

use burn::tensor::{Device, Tensor, activation::log_sigmoid};

use crate::kernel::{self, SigmoidLosses};
use crate::operand::{Broadcast, check_probabilities, check_same_shape};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// PyTorch's backward clamps `x (1 - x)` at this `float` constant (1e-12 rounded to f32).
const BCE_GRAD_EPS: f64 = 1e-12_f32 as f64;

/// PyTorch's forward clamps each log at -100, so a probability of exactly 0 or 1 costs 100.
const LOG_CLAMP: f64 = -100.0;

/// Options of [`bce`]: `torch.nn.BCELoss(weight=None, reduction='mean')`.
#[derive(Debug, Clone, Default)]
pub struct BceOptions {
    /// Rescaling weight broadcast against the target (trailing alignment); `None` is 1.
    pub weight: Option<Broadcast>,
    /// `Mean` (default) divides by the element count, even with `weight`.
    pub reduction: Reduction,
}

impl BceOptions {
    /// Sets `weight`.
    pub fn with_weight(mut self, weight: impl Into<Broadcast>) -> Self {
        self.weight = Some(weight.into());
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// Binary cross entropy between probabilities `input` and targets `target`.
///
/// ```text
/// l = -w * [ y * max(ln x, -100) + (1 - y) * max(ln(1 - x), -100) ]
/// dl/dx = w * (x - y) / max(x (1 - x), 1e-12)
/// ```
/// exactly as `torch.nn.functional.binary_cross_entropy(input, target, weight, reduction=...)`,
/// including its gradient (PyTorch's backward does not differentiate the clamp: at `x = 0,
/// y = 1` the gradient is `-1e12`, not 0).
///
/// Shapes: `input` and `target` of any shape, the same; `weight` broadcastable to it.
/// Returns the input's shape under `None`, `[1; D]` otherwise; `Mean` divides by the
/// element count. Errors when the shapes differ or a value of `input` or `target` is
/// outside `[0, 1]`.
pub fn bce<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    options: &BceOptions,
) -> Result<Tensor<D>, LossError> {
    let dims = input.dims();
    check_same_shape(&dims, &target.dims())?;
    check_probabilities("input", &input)?;
    check_probabilities("target", &target)?;
    let dtype = input.dtype();
    let target = crate::operand::cast(target, dtype);

    let x = input.clone().detach();
    let y = target;
    let log_x = x.clone().log().clamp_min(LOG_CLAMP);
    let log_1mx = x.clone().neg().log1p().clamp_min(LOG_CLAMP);
    let value = y.clone().mul(log_x) + y.clone().neg().add_scalar(1.0).mul(log_1mx);
    let value = value.neg();
    let slope = (x.clone() - y).div(
        x.clone()
            .mul(x.clone().neg().add_scalar(1.0))
            .clamp_min(BCE_GRAD_EPS),
    );
    // value + (x - stop_grad(x)) * slope: the forward is `value` exactly (the second term
    // is 0), the backward is PyTorch's `slope`, which no composition of clamped logs gives.
    let mut loss = value + (input - x).mul(slope);
    if let Some(weight) = &options.weight {
        loss = loss.mul(weight.against("weight", &dims, dtype)?);
    }
    Ok(reduce(loss, options.reduction, Denominator::Numel))
}

/// Options of [`bce_with_logits`]:
/// `torch.nn.BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None)`.
#[derive(Debug, Clone, Default)]
pub struct BceWithLogitsOptions {
    /// Rescaling weight broadcast against the target (trailing alignment); `None` is 1.
    pub weight: Option<Broadcast>,
    /// Weight of the positive term, broadcast from the last dimension: per class `[C]` for
    /// `(N, C)` targets, `[C, 1, 1]` for `(N, C, H, W)`. `None` is 1.
    pub pos_weight: Option<Broadcast>,
    /// `Mean` (default) divides by the element count, even with weights.
    pub reduction: Reduction,
}

impl BceWithLogitsOptions {
    /// Sets `weight`.
    pub fn with_weight(mut self, weight: impl Into<Broadcast>) -> Self {
        self.weight = Some(weight.into());
        self
    }

    /// Sets `pos_weight`.
    pub fn with_pos_weight(mut self, pos_weight: impl Into<Broadcast>) -> Self {
        self.pos_weight = Some(pos_weight.into());
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// `softplus(x) = ln(1 + e^x)`, through burn's stable `log_sigmoid` (exact gradient at 0).
pub(crate) fn softplus<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    log_sigmoid(x.neg()).neg()
}

/// The unreduced, unweighted BCE-with-logits terms; `pos_weight` already laid out.
///
/// PyTorch writes `(1 - y) x - (1 + (pw - 1) y) logsigmoid(x)`; the same value as a sum of
/// two non-negative terms, `(1 - y) softplus(x) + pw y softplus(-x)`, cancels nothing, so
/// it keeps full relative precision at logits of +-1e4 and soft targets.
pub(crate) fn bce_with_logits_terms<const D: usize>(
    x: Tensor<D>,
    y: Tensor<D>,
    pos_weight: Option<Tensor<D>>,
) -> Tensor<D> {
    let negative = y.clone().neg().add_scalar(1.0).mul(softplus(x.clone()));
    let positive = match pos_weight {
        Some(pw) => y.mul(pw),
        None => y,
    }
    .mul(softplus(x.neg()));
    negative + positive
}

/// Binary cross entropy on logits, with soft targets, `weight` and `pos_weight`.
///
/// ```text
/// l = w * [ (1 - y) softplus(x) + pw y softplus(-x) ]      (= -w [pw y ln s(x) + (1 - y) ln(1 - s(x))])
/// dl/dx = w * [ (1 - y) s(x) - pw y s(-x) ]
/// ```
/// with `s` the sigmoid, as `torch.nn.functional.binary_cross_entropy_with_logits(input,
/// target, weight, pos_weight=pos_weight, reduction=...)`, more accurately where PyTorch
/// cancels (its `x = -inf` gives NaN; this form does not).
///
/// Shapes: `target` the input's shape; `weight` and `pos_weight` broadcast from the
/// trailing dimension. Returns the input's shape under `None`, `[1; D]` otherwise; `Mean`
/// divides by the element count.
pub fn bce_with_logits<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    options: &BceWithLogitsOptions,
) -> Result<Tensor<D>, LossError> {
    let dims = input.dims();
    check_same_shape(&dims, &target.dims())?;
    let dtype = input.dtype();
    let target = crate::operand::cast(target, dtype);
    let pos_weight = match &options.pos_weight {
        Some(pw) => Some(pw.against("pos_weight", &dims, dtype)?),
        None => None,
    };
    let weight = match &options.weight {
        Some(w) => Some(w.against("weight", &dims, dtype)?),
        None => None,
    };
    let fused = fused_sigmoid(
        &input,
        &target,
        options.weight.as_ref(),
        options.pos_weight.as_ref(),
        None,
        options.reduction,
    );
    if let Some(loss) = fused {
        return Ok(loss);
    }
    let mut loss = bce_with_logits_terms(input, target, pos_weight);
    if let Some(w) = weight {
        loss = loss.mul(w);
    }
    Ok(reduce(loss, options.reduction, Denominator::Numel))
}

/// The fused elementwise kernel for BCE with logits (`focal: None`) or the sigmoid focal
/// loss, weights and reduction included; `None` off flex, or when a weight varies along more
/// than the last dimension (the composed path takes those).
pub(crate) fn fused_sigmoid<const D: usize>(
    input: &Tensor<D>,
    target: &Tensor<D>,
    weight: Option<&Broadcast>,
    pos_weight: Option<&Broadcast>,
    focal: Option<(f64, Option<f64>)>,
    reduction: Reduction,
) -> Option<Tensor<D>> {
    let dims = input.dims();
    let last = dims.last().copied().unwrap_or(1);
    let numel = dims.iter().product::<usize>();
    let reduce_scale = match reduction {
        Reduction::None => None,
        Reduction::Sum => Some(1.0),
        // The NaN mean of an empty tensor is left to the composed path.
        Reduction::Mean if numel > 0 => Some(1.0 / numel as f64),
        Reduction::Mean => return None,
    };
    let along = |b: Option<&Broadcast>| match b {
        None => Some(None),
        Some(b) => b.along_last_dim(last).map(Some),
    };
    let options = SigmoidLosses { pos_weight: along(pos_weight)?, weight: along(weight)?, focal, reduce_scale };
    kernel::sigmoid_losses(input, target.clone(), options)
}

/// Configuration of [`BceLoss`], as `torch.nn.BCELoss(weight=None, reduction='mean')`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BceLossConfig {
    /// Weight along the last dimension; `None` is 1.
    pub weight: Option<Vec<f64>>,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl BceLossConfig {
    /// The defaults: no weight, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `weight` (along the last dimension).
    pub fn with_weight(mut self, weight: Vec<f64>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<BceLoss, LossError> {
        let mut options = BceOptions::default().with_reduction(self.reduction);
        options.weight = self.weight.as_deref().map(|w| Broadcast::last_dim(w, device));
        Ok(BceLoss { options })
    }
}

/// `torch.nn.BCELoss` as a module: see [`bce`].
#[derive(Debug, Clone)]
pub struct BceLoss {
    /// The options every call uses.
    pub options: BceOptions,
}

impl BceLoss {
    /// The loss of probabilities `input` against `target` (same shape): see [`bce`].
    pub fn forward<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        bce(input, target, &self.options)
    }
}

/// Configuration of [`BceWithLogitsLoss`], as
/// `torch.nn.BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BceWithLogitsLossConfig {
    /// Weight along the last dimension; `None` is 1.
    pub weight: Option<Vec<f64>>,
    /// Positive weight along the last dimension (per class); `None` is 1.
    pub pos_weight: Option<Vec<f64>>,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl BceWithLogitsLossConfig {
    /// The defaults: no weights, `Mean`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `weight` (along the last dimension).
    pub fn with_weight(mut self, weight: Vec<f64>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `pos_weight` (along the last dimension; for other layouts give a
    /// [`Broadcast`] to [`BceWithLogitsOptions::with_pos_weight`]).
    pub fn with_pos_weight(mut self, pos_weight: Vec<f64>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Builds the loss with its weights on `device`.
    pub fn init(&self, device: &Device) -> Result<BceWithLogitsLoss, LossError> {
        let mut options = BceWithLogitsOptions::default().with_reduction(self.reduction);
        options.weight = self.weight.as_deref().map(|w| Broadcast::last_dim(w, device));
        options.pos_weight = self.pos_weight.as_deref().map(|w| Broadcast::last_dim(w, device));
        Ok(BceWithLogitsLoss { options })
    }
}

/// `torch.nn.BCEWithLogitsLoss` as a module: see [`bce_with_logits`].
#[derive(Debug, Clone)]
pub struct BceWithLogitsLoss {
    /// The options every call uses.
    pub options: BceWithLogitsOptions,
}

impl BceWithLogitsLoss {
    /// The loss of logits `input` against `target` (same shape): see [`bce_with_logits`].
    pub fn forward<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        bce_with_logits(input, target, &self.options)
    }
}
