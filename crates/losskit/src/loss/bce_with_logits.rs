//! Binary cross entropy on logits: `torch.nn.BCEWithLogitsLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::logits::bce_with_logits_terms;
use crate::fused::{self, SigmoidWeights};
use crate::input::broadcast::{Broadcast, BroadcastWeight};
use crate::input::checks::{cast, check_same_shape};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`BceWithLogitsLoss`]:
/// `torch.nn.BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None)`.
#[derive(Config, Debug)]
pub struct BceWithLogitsLossConfig {
    /// Rescaling weight broadcast against the target from the trailing dimension; none by
    /// default.
    pub weight: Option<BroadcastWeight>,
    /// Weight of the positive term, broadcast from the trailing dimension: per class `[C]`
    /// for `(N, C)` targets, `[C, 1, 1]` for `(N, C, H, W)`. None by default.
    pub pos_weight: Option<BroadcastWeight>,
    /// How [`BceWithLogitsLoss::forward`] reduces: `Mean` divides by the element count,
    /// even with weights.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl BceWithLogitsLossConfig {
    /// Builds the loss with its weights on `device`; errors when a weight's shape does not
    /// hold its values.
    pub fn init(&self, device: &Device) -> Result<BceWithLogitsLoss, LossError> {
        Ok(BceWithLogitsLoss {
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
        })
    }
}

/// Binary cross entropy on logits, with soft targets, `weight` and `pos_weight`, as
/// `torch.nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits(input, target,
/// weight, pos_weight=pos_weight, reduction=...)`:
///
/// ```text
/// l = w * [ (1 - y) softplus(x) + pw y softplus(-x) ]      (= -w [pw y ln s(x) + (1 - y) ln(1 - s(x))])
/// dl/dx = w * [ (1 - y) s(x) - pw y s(-x) ]
/// ```
/// with `s` the sigmoid: more accurate where PyTorch cancels (its `x = -inf` gives NaN;
/// this form does not).
///
/// # Shapes
/// - `input`, `target`: any shape, the same; `weight`, `pos_weight` broadcast from the
///   trailing dimension
/// - [`forward`](Self::forward): `[1]`; [`forward_no_reduction`](Self::forward_no_reduction): the input's shape
#[derive(Module, Debug)]
pub struct BceWithLogitsLoss {
    weight: Option<Broadcast>,
    pos_weight: Option<Broadcast>,
    #[module(skip)]
    reduction: Reduction,
}

impl BceWithLogitsLoss {
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
        if let Some(loss) = fused::sigmoid_losses(&input, &target, weights, None, reduction) {
            return Ok(loss);
        }
        let mut loss = bce_with_logits_terms(input, cast(target, dtype), pos_weight);
        if let Some(w) = weight {
            loss = loss.mul(w);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
