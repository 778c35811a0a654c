//! Binary cross entropy on probabilities: `torch.nn.BCELoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::input::broadcast::{Broadcast, BroadcastWeight};
use crate::input::checks::{cast, check_probabilities, check_same_shape};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// PyTorch's backward clamps `x (1 - x)` at this `float` constant (1e-12 rounded to f32).
const BCE_GRAD_EPS: f64 = 1e-12_f32 as f64;

/// PyTorch's forward clamps each log at -100, so a probability of exactly 0 or 1 costs 100.
const LOG_CLAMP: f64 = -100.0;

/// Configuration of [`BceLoss`]: `torch.nn.BCELoss(weight=None, reduction='mean')`.
#[derive(Config, Debug)]
pub struct BceLossConfig {
    /// Rescaling weight broadcast against the target from the trailing dimension; none by
    /// default.
    pub weight: Option<BroadcastWeight>,
    /// How [`BceLoss::forward`] reduces: `Mean` divides by the element count, even with
    /// `weight`.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check that input and target lie in `[0, 1]`, as PyTorch does. The check reads both
    /// back to the host: on an accelerator that is a synchronisation per call, so it can be
    /// turned off there (values outside `[0, 1]` then give NaN or meaningless losses).
    #[config(default = true)]
    pub check_values: bool,
}

impl BceLossConfig {
    /// Builds the loss with its weight on `device`; errors when the weight's shape does not
    /// hold its values.
    pub fn init(&self, device: &Device) -> Result<BceLoss, LossError> {
        let weight = self
            .weight
            .as_ref()
            .map(|w| Broadcast::new("weight", w, device))
            .transpose()?;
        Ok(BceLoss {
            weight,
            reduction: self.reduction,
            check_values: self.check_values,
        })
    }
}

/// Binary cross entropy between probabilities `input` and targets `target`, as
/// `torch.nn.BCELoss` / `F.binary_cross_entropy(input, target, weight, reduction=...)`:
///
/// ```text
/// l = -w * [ y * max(ln x, -100) + (1 - y) * max(ln(1 - x), -100) ]
/// dl/dx = w * (x - y) / max(x (1 - x), 1e-12)
/// ```
/// including PyTorch's gradient, which does not differentiate the clamp: at `x = 0, y = 1`
/// it is `-1e12`, not 0.
///
/// # Shapes
/// - `input`, `target`: any shape, the same; `weight` broadcastable to it
/// - [`forward`](Self::forward): `[1]`; [`forward_no_reduction`](Self::forward_no_reduction): the input's shape
///
/// Errors when the shapes differ or (with `check_values`) a value of `input` or `target` is
/// outside `[0, 1]`.
#[derive(Module, Debug)]
pub struct BceLoss {
    weight: Option<Broadcast>,
    #[module(skip)]
    reduction: Reduction,
    check_values: bool,
}

impl BceLoss {
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
            check_probabilities("input", &input)?;
            check_probabilities("target", &target)?;
        }
        let dtype = input.dtype();
        let y = cast(target, dtype);
        let x = input.clone().detach();
        let log_x = x.clone().log().clamp_min(LOG_CLAMP);
        let log_1mx = x.clone().neg().log1p().clamp_min(LOG_CLAMP);
        let value = (y.clone().mul(log_x) + y.clone().neg().add_scalar(1.0).mul(log_1mx)).neg();
        let slope = (x.clone() - y).div(x.clone().mul(x.clone().neg().add_scalar(1.0)).clamp_min(BCE_GRAD_EPS));
        // value + (x - stop_grad(x)) * slope: the forward is `value` exactly (the second term
        // is 0), the backward is PyTorch's `slope`, which no composition of clamped logs gives.
        let mut loss = value + (input - x).mul(slope);
        if let Some(weight) = &self.weight {
            loss = loss.mul(weight.against("weight", &dims, dtype)?);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
