//! Focal losses: the sigmoid form of RetinaNet (torchvision, YOLOv5) and the softmax form.

use burn::tensor::{Device, Int, Tensor, activation::log_softmax};

use super::bce::{bce_with_logits_terms, fused_sigmoid, softplus};
use super::cross_entropy::{FusedRows, IGNORE_INDEX, MeanOver, check_index_target, pick_targets, weight_tensor};
use crate::kernel::RowLoss;
use crate::operand::{Broadcast, cast, check_probabilities, check_same_shape, check_targets, class_weight};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

fn check_gamma(gamma: f64) -> Result<(), LossError> {
    if !(gamma >= 0.0 && gamma.is_finite()) {
        return Err(LossError::Option { name: "gamma", expected: "finite and >= 0", value: gamma });
    }
    Ok(())
}

fn check_alpha(alpha: Option<f64>) -> Result<(), LossError> {
    match alpha {
        Some(a) if a.is_nan() => Err(LossError::Option { name: "alpha", expected: "a number", value: a }),
        _ => Ok(()),
    }
}

/// `(1 - p_t)^gamma = exp(gamma ln(1 - p_t))`; the constant 1 when gamma is 0, where
/// PyTorch's `pow` has a zero gradient too.
fn modulating<const D: usize>(log_one_minus_pt: Tensor<D>, gamma: f64) -> Option<Tensor<D>> {
    (gamma != 0.0).then(|| log_one_minus_pt.mul_scalar(gamma).exp())
}

/// Options of [`sigmoid_focal`]: torchvision's `sigmoid_focal_loss(alpha=0.25, gamma=2)`
/// with the `weight` and `pos_weight` of the `BCEWithLogitsLoss` that YOLOv5's `FocalLoss` wraps.
#[derive(Debug, Clone)]
pub struct SigmoidFocalOptions {
    /// Weight of the positives, `1 - alpha` of the negatives; `None` or negative turns it off.
    pub alpha: Option<f64>,
    /// Focusing exponent on `1 - p_t`, at least 0. 2 as RetinaNet (YOLOv5 uses 1.5).
    pub gamma: f64,
    /// Rescaling weight broadcast against the target; `None` is 1.
    pub weight: Option<Broadcast>,
    /// Positive weight of the inner BCE, broadcast from the last dimension; `None` is 1.
    pub pos_weight: Option<Broadcast>,
    /// `Mean` (default) divides by the element count.
    pub reduction: Reduction,
}

impl Default for SigmoidFocalOptions {
    fn default() -> Self {
        Self { alpha: Some(0.25), gamma: 2.0, weight: None, pos_weight: None, reduction: Reduction::Mean }
    }
}

impl SigmoidFocalOptions {
    /// Sets `alpha` (`None` or negative: off).
    pub fn with_alpha(mut self, alpha: Option<f64>) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets `gamma`.
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

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

/// Sigmoid focal loss (Lin et al., RetinaNet) on logits.
///
/// ```text
/// bce  = (1 - y) softplus(x) + pw y softplus(-x)          (BCE with logits, pos_weight pw)
/// 1 - p_t = y s(-x) + (1 - y) s(x)
/// l = w * bce * (1 - p_t)^gamma * (alpha y + (1 - alpha)(1 - y))
/// ```
/// as torchvision's `sigmoid_focal_loss(input, target, alpha, gamma, reduction)` and, with
/// `pos_weight`, YOLOv5's `FocalLoss(nn.BCEWithLogitsLoss(pos_weight=pw), gamma, alpha)`.
/// `(1 - p_t)^gamma` is computed as `exp(gamma ln(1 - p_t))` with `ln(1 - p_t)` a
/// log-sum-exp of log-sigmoids, so saturated logits give the true tiny loss and a finite
/// gradient where PyTorch's linear-space `pow` gives 0 and, for `0 < gamma < 1`, NaN.
///
/// Shapes: `target` the input's shape, in `[0, 1]`; `weight` and `pos_weight` broadcast
/// from the trailing dimension. Returns the input's shape under `None`, `[1; D]` otherwise;
/// `Mean` divides by the element count.
pub fn sigmoid_focal<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    options: &SigmoidFocalOptions,
) -> Result<Tensor<D>, LossError> {
    let dims = input.dims();
    check_same_shape(&dims, &target.dims())?;
    check_gamma(options.gamma)?;
    check_alpha(options.alpha)?;
    check_probabilities("target", &target)?;
    let dtype = input.dtype();
    let y = cast(target, dtype);
    let pos_weight = match &options.pos_weight {
        Some(pw) => Some(pw.against("pos_weight", &dims, dtype)?),
        None => None,
    };
    let weight = match &options.weight {
        Some(w) => Some(w.against("weight", &dims, dtype)?),
        None => None,
    };
    let focal = Some((options.gamma, options.alpha.filter(|a| *a >= 0.0)));
    let fused = fused_sigmoid(&input, &y, options.weight.as_ref(), options.pos_weight.as_ref(), focal, options.reduction);
    if let Some(loss) = fused {
        return Ok(loss);
    }
    let mut loss = bce_with_logits_terms(input.clone(), y.clone(), pos_weight);
    // ln(1 - p_t) = ln(y e^{-softplus(x)} + (1 - y) e^{-softplus(-x)}), a log-sum-exp whose
    // ln 0 = -inf branch (hard targets) drops out without a NaN in value or gradient.
    let a = y.clone().log() - softplus(input.clone());
    let b = y.clone().neg().add_scalar(1.0).log() - softplus(input.neg());
    let log_one_minus_pt =
        a.clone().max_pair(b.clone()) + (a - b).abs().neg().exp().log1p();
    if let Some(factor) = modulating(log_one_minus_pt, options.gamma) {
        loss = loss.mul(factor);
    }
    if let Some(alpha) = options.alpha.filter(|a| *a >= 0.0) {
        loss = loss.mul(y.mul_scalar(2.0 * alpha - 1.0).add_scalar(1.0 - alpha));
    }
    if let Some(weight) = weight {
        loss = loss.mul(weight);
    }
    Ok(reduce(loss, options.reduction, Denominator::Numel))
}

/// The `alpha` of [`softmax_focal`].
// A tensor handle is 256 bytes; boxing it would buy nothing for a value built once per loss.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default)]
pub enum FocalAlpha {
    /// No class balancing (1 for every class).
    #[default]
    None,
    /// The same factor for every class.
    Scalar(f64),
    /// One factor per class `(C)`, picked by the target.
    PerClass(Tensor<1>),
}

/// Options of [`softmax_focal`].
#[derive(Debug, Clone)]
pub struct SoftmaxFocalOptions {
    /// Class balancing factor `alpha_t`; none by default.
    pub alpha: FocalAlpha,
    /// Focusing exponent on `1 - p_t`, at least 0; 2 by default.
    pub gamma: f64,
    /// Targets equal to this index count for nothing. Default -100.
    pub ignore_index: i64,
    /// `Mean` (default) divides by the number of non-ignored targets.
    pub reduction: Reduction,
}

impl Default for SoftmaxFocalOptions {
    fn default() -> Self {
        Self { alpha: FocalAlpha::None, gamma: 2.0, ignore_index: IGNORE_INDEX, reduction: Reduction::Mean }
    }
}

impl SoftmaxFocalOptions {
    /// Sets `alpha`.
    pub fn with_alpha(mut self, alpha: FocalAlpha) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets `gamma`.
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }
}

/// Softmax (multi-class) focal loss on logits with class-index targets.
///
/// ```text
/// lp = log_softmax(x, dim=1),  p_t = exp(lp[i, y_i])
/// l_i = -alpha_t (1 - p_t)^gamma lp[i, y_i]          (0 where y_i == ignore_index)
/// mean = sum_i l_i / #{i not ignored}
/// ```
/// with `alpha_t` 1, a number, or `alpha[y_i]`. With `gamma = 0` and no alpha it is
/// `cross_entropy`. `ln(1 - p_t)` is the log-sum-exp of the other classes' log-probabilities,
/// so a confident correct row gives its tiny true loss and a finite gradient.
///
/// Shapes: `input` `(N, C)` or `(N, C, d1..dk)`, `target` `(N)` or `(N, d1..dk)`. Returns the
/// target's shape under `None`, `[1; T]` otherwise.
pub fn softmax_focal<const D: usize, const T: usize>(
    input: Tensor<D>,
    target: Tensor<T, Int>,
    options: &SoftmaxFocalOptions,
) -> Result<Tensor<T>, LossError> {
    let classes = check_index_target(&input.dims(), &target.dims())?;
    check_gamma(options.gamma)?;
    let targets = check_targets(&target, classes, options.ignore_index)?;
    let dtype = input.dtype();
    let alpha_weight = match &options.alpha {
        FocalAlpha::PerClass(a) => Some(class_weight("alpha", a, classes, dtype)?),
        FocalAlpha::Scalar(a) => {
            check_alpha(Some(*a))?;
            None
        }
        FocalAlpha::None => None,
    };
    if target.dims().contains(&0) {
        // An empty batch: a zero sum and, over no targets, a NaN mean, as cross entropy's.
        let loss = input.sum_dim(1).squeeze_dim::<T>(1);
        let none_counted = loss.clone().sum().mul_scalar(0.0);
        return Ok(reduce(loss, options.reduction, Denominator::Total(none_counted)));
    }
    let alpha = match options.alpha {
        FocalAlpha::Scalar(a) => a,
        _ => 1.0,
    };
    let fused = FusedRows {
        loss: RowLoss::Focal { gamma: options.gamma, alpha },
        ignore_index: options.ignore_index,
        reduction: options.reduction,
    };
    if let Some(loss) = fused.index_targets(&input, &target.dims(), targets, alpha_weight.as_ref(), MeanOver::Count) {
        return Ok(loss);
    }
    let log_probs = log_softmax(input, 1);
    let target_class = {
        let mut class_dims = [1usize; D];
        class_dims[1] = classes;
        let ids = Tensor::<1, Int>::arange(0..classes as i64, &log_probs.device())
            .cast(target.dtype())
            .reshape(class_dims);
        ids.expand(log_probs.dims())
            .equal(target.clone().unsqueeze_dim::<D>(1).expand(log_probs.dims()))
    };
    let picked = pick_targets(log_probs.clone(), target, alpha_weight, options.ignore_index);
    let mut loss = picked.picked.clone().neg();
    // ln(1 - p_t) = logsumexp over the other classes of lp; no classes besides the target
    // (C = 1) means 1 - p_t = 0.
    let factor = if classes > 1 {
        let others = log_probs.mask_fill(target_class, f64::NEG_INFINITY);
        let max = others.clone().max_dim(1).detach();
        let log_one_minus_pt = (others - max.clone()).exp().sum_dim(1).log() + max;
        modulating(log_one_minus_pt.squeeze_dim::<T>(1), options.gamma)
    } else {
        modulating(loss.zeros_like().add_scalar(f64::NEG_INFINITY), options.gamma)
    };
    if let Some(factor) = factor {
        loss = loss.mul(factor);
    }
    loss = match &options.alpha {
        FocalAlpha::PerClass(_) => loss.mul(picked.target_weight),
        FocalAlpha::Scalar(a) => loss.mul_scalar(*a),
        FocalAlpha::None => loss,
    }
    .mask_fill(picked.ignored.clone(), 0.0);
    let count = cast(picked.ignored.bool_not().float(), dtype).sum();
    Ok(reduce(loss, options.reduction, Denominator::Total(count)))
}

/// Configuration of [`SigmoidFocalLoss`]: alpha 0.25, gamma 2, mean.
#[derive(Debug, Clone, PartialEq)]
pub struct SigmoidFocalLossConfig {
    /// Positive-class balance; `None` or negative: off. 0.25 by default.
    pub alpha: Option<f64>,
    /// Focusing exponent, 2 by default.
    pub gamma: f64,
    /// Weight along the last dimension; `None` is 1.
    pub weight: Option<Vec<f64>>,
    /// Positive weight along the last dimension (per class); `None` is 1.
    pub pos_weight: Option<Vec<f64>>,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl Default for SigmoidFocalLossConfig {
    fn default() -> Self {
        let o = SigmoidFocalOptions::default();
        Self { alpha: o.alpha, gamma: o.gamma, weight: None, pos_weight: None, reduction: o.reduction }
    }
}

impl SigmoidFocalLossConfig {
    /// RetinaNet's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `alpha`.
    pub fn with_alpha(mut self, alpha: Option<f64>) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets `gamma`.
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// Sets `weight` (along the last dimension).
    pub fn with_weight(mut self, weight: Vec<f64>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// Sets `pos_weight` (along the last dimension).
    pub fn with_pos_weight(mut self, pos_weight: Vec<f64>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Checks the options and builds the loss with its weights on `device`.
    pub fn init(&self, device: &Device) -> Result<SigmoidFocalLoss, LossError> {
        check_gamma(self.gamma)?;
        check_alpha(self.alpha)?;
        Ok(SigmoidFocalLoss {
            options: SigmoidFocalOptions {
                alpha: self.alpha,
                gamma: self.gamma,
                weight: self.weight.as_deref().map(|w| Broadcast::last_dim(w, device)),
                pos_weight: self.pos_weight.as_deref().map(|w| Broadcast::last_dim(w, device)),
                reduction: self.reduction,
            },
        })
    }
}

/// The sigmoid focal loss as a module: see [`sigmoid_focal`].
#[derive(Debug, Clone)]
pub struct SigmoidFocalLoss {
    /// The options every call uses.
    pub options: SigmoidFocalOptions,
}

impl SigmoidFocalLoss {
    /// The loss of logits `input` against `target` (same shape): see [`sigmoid_focal`].
    pub fn forward<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        sigmoid_focal(input, target, &self.options)
    }
}

/// Configuration of [`SoftmaxFocalLoss`]: no alpha, gamma 2, ignore_index -100, mean.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxFocalLossConfig {
    /// A single balance factor; `None`: 1.
    pub alpha: Option<f64>,
    /// Per-class balance factors (take precedence over `alpha`).
    pub alpha_per_class: Option<Vec<f64>>,
    /// Focusing exponent, 2 by default.
    pub gamma: f64,
    /// Ignored class index, -100 by default.
    pub ignore_index: i64,
    /// Reduction, `Mean` by default.
    pub reduction: Reduction,
}

impl Default for SoftmaxFocalLossConfig {
    fn default() -> Self {
        Self { alpha: None, alpha_per_class: None, gamma: 2.0, ignore_index: IGNORE_INDEX, reduction: Reduction::Mean }
    }
}

impl SoftmaxFocalLossConfig {
    /// The defaults: no alpha, gamma 2.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single `alpha`.
    pub fn with_alpha(mut self, alpha: Option<f64>) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets one alpha per class.
    pub fn with_alpha_per_class(mut self, alpha: Vec<f64>) -> Self {
        self.alpha_per_class = Some(alpha);
        self
    }

    /// Sets `gamma`.
    pub fn with_gamma(mut self, gamma: f64) -> Self {
        self.gamma = gamma;
        self
    }

    /// Sets `ignore_index`.
    pub fn with_ignore_index(mut self, ignore_index: i64) -> Self {
        self.ignore_index = ignore_index;
        self
    }

    /// Sets `reduction`.
    pub fn with_reduction(mut self, reduction: Reduction) -> Self {
        self.reduction = reduction;
        self
    }

    /// Checks the options and builds the loss on `device`.
    pub fn init(&self, device: &Device) -> Result<SoftmaxFocalLoss, LossError> {
        check_gamma(self.gamma)?;
        check_alpha(self.alpha)?;
        let alpha = match (&self.alpha_per_class, self.alpha) {
            (Some(a), _) => FocalAlpha::PerClass(weight_tensor(a, device)),
            (None, Some(a)) => FocalAlpha::Scalar(a),
            (None, None) => FocalAlpha::None,
        };
        Ok(SoftmaxFocalLoss {
            options: SoftmaxFocalOptions {
                alpha,
                gamma: self.gamma,
                ignore_index: self.ignore_index,
                reduction: self.reduction,
            },
        })
    }
}

/// The softmax focal loss as a module: see [`softmax_focal`].
#[derive(Debug, Clone)]
pub struct SoftmaxFocalLoss {
    /// The options every call uses.
    pub options: SoftmaxFocalOptions,
}

impl SoftmaxFocalLoss {
    /// The loss of logits `(N, C, ..)` against class indices `(N, ..)`: see [`softmax_focal`].
    pub fn forward<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<T>, LossError> {
        softmax_focal(input, target, &self.options)
    }
}
