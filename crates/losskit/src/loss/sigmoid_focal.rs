//! The sigmoid focal loss of RetinaNet: torchvision's `sigmoid_focal_loss`, YOLOv5's
//! `FocalLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::logits::{bce_with_logits_terms, softplus};
use crate::fused::{self, SigmoidFocalOptions, SigmoidWeights};
use crate::input::broadcast::{Broadcast, BroadcastWeight};
use crate::input::checks::{cast, check_non_negative, check_probabilities, check_same_shape};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`SigmoidFocalLoss`]: torchvision's
/// `sigmoid_focal_loss(alpha=0.25, gamma=2, reduction=...)`, with the `weight` and
/// `pos_weight` of the `BCEWithLogitsLoss` that YOLOv5's `FocalLoss` wraps.
#[derive(Config, Debug)]
pub struct SigmoidFocalLossConfig {
    /// Weight of the positives, `1 - alpha` of the negatives; `None` or negative turns the
    /// factor off (torchvision's rule). 0.25 by default.
    #[config(default = "Some(0.25)")]
    pub alpha: Option<f64>,
    /// Focusing exponent on `1 - p_t`, at least 0. 2 as RetinaNet (YOLOv5 uses 1.5).
    #[config(default = 2.0)]
    pub gamma: f64,
    /// Rescaling weight broadcast against the target; none by default.
    pub weight: Option<BroadcastWeight>,
    /// Positive weight of the inner BCE, broadcast from the trailing dimension; none by
    /// default.
    pub pos_weight: Option<BroadcastWeight>,
    /// How [`SigmoidFocalLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check that the targets lie in `[0, 1]`; reads them back to the host (see
    /// [`BceLossConfig::check_values`](crate::BceLossConfig::check_values)).
    #[config(default = true)]
    pub check_values: bool,
}

impl SigmoidFocalLossConfig {
    /// Checks `gamma` and `alpha` and builds the loss with its weights on `device`.
    pub fn init(&self, device: &Device) -> Result<SigmoidFocalLoss, LossError> {
        check_non_negative("gamma", self.gamma)?;
        if let Some(a) = self.alpha.filter(|a| a.is_nan()) {
            return Err(LossError::Option {
                name: "alpha",
                expected: "a number",
                value: a,
            });
        }
        Ok(SigmoidFocalLoss {
            alpha: self.alpha.filter(|a| *a >= 0.0),
            gamma: self.gamma,
            weight: self
                .weight
                .as_ref()
                .map(|w| Broadcast::new("weight", w, device))
                .transpose()?,
            pos_weight: self
                .pos_weight
                .as_ref()
                .map(|w| Broadcast::new("pos_weight", w, device))
                .transpose()?,
            reduction: self.reduction,
            check_values: self.check_values,
        })
    }
}

/// Sigmoid focal loss (Lin et al., RetinaNet) on logits, as torchvision's
/// `sigmoid_focal_loss(input, target, alpha, gamma, reduction)` and, with `pos_weight`,
/// YOLOv5's `FocalLoss(nn.BCEWithLogitsLoss(pos_weight=pw), gamma, alpha)`:
///
/// ```text
/// bce  = (1 - y) softplus(x) + pw y softplus(-x)          (BCE with logits, pos_weight pw)
/// 1 - p_t = y s(-x) + (1 - y) s(x)
/// l = w * bce * (1 - p_t)^gamma * (alpha y + (1 - alpha)(1 - y))
/// ```
/// `(1 - p_t)^gamma` is computed as `exp(gamma ln(1 - p_t))` with `ln(1 - p_t)` a
/// log-sum-exp of log-sigmoids, so saturated logits give the true tiny loss and a finite
/// gradient where PyTorch's linear-space `pow` gives 0 and, for `0 < gamma < 1`, NaN.
///
/// # Shapes
/// - `input`, `target` (in `[0, 1]`): any shape, the same; `weight`, `pos_weight`
///   broadcast from the trailing dimension
/// - [`forward`](Self::forward): `[1]` (`Mean` over every element); [`forward_no_reduction`](Self::forward_no_reduction): the input's shape
#[derive(Module, Debug)]
pub struct SigmoidFocalLoss {
    /// `None` when off.
    alpha: Option<f64>,
    gamma: f64,
    weight: Option<Broadcast>,
    pos_weight: Option<Broadcast>,
    #[module(skip)]
    reduction: Reduction,
    check_values: bool,
}

impl SigmoidFocalLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the input's shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        self.compute(input, target, None)
    }

    fn compute<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<D>, LossError> {
        let dims = input.dims();
        check_same_shape(&dims, &target.dims())?;
        if self.check_values {
            check_probabilities("target", &target)?;
        }
        let dtype = input.dtype();
        let pos_weight = self
            .pos_weight
            .as_ref()
            .map(|w| w.against("pos_weight", &dims, dtype))
            .transpose()?;
        let weight = self
            .weight
            .as_ref()
            .map(|w| w.against("weight", &dims, dtype))
            .transpose()?;
        let weights = SigmoidWeights {
            weight: self.weight.as_ref(),
            pos_weight: self.pos_weight.as_ref(),
        };
        let focal = SigmoidFocalOptions {
            gamma: self.gamma,
            alpha: self.alpha,
        };
        if let Some(loss) = fused::sigmoid_losses(&input, &target, weights, Some(focal), reduction) {
            return Ok(loss);
        }
        let y = cast(target, dtype);
        let mut loss = bce_with_logits_terms(input.clone(), y.clone(), pos_weight);
        // ln(1 - p_t) = ln(y e^{-softplus(x)} + (1 - y) e^{-softplus(-x)}), a log-sum-exp whose
        // ln 0 = -inf branch (hard targets) drops out without a NaN in value or gradient.
        let a = y.clone().log() - softplus(input.clone());
        let b = y.clone().neg().add_scalar(1.0).log() - softplus(input.neg());
        let log_one_minus_pt = a.clone().max_pair(b.clone()) + (a - b).abs().neg().exp().log1p();
        // The constant 1 when gamma is 0, where PyTorch's `pow` has a zero gradient too.
        if self.gamma != 0.0 {
            loss = loss.mul(log_one_minus_pt.mul_scalar(self.gamma).exp());
        }
        if let Some(alpha) = self.alpha {
            loss = loss.mul(y.mul_scalar(2.0 * alpha - 1.0).add_scalar(1.0 - alpha));
        }
        if let Some(weight) = weight {
            loss = loss.mul(weight);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
