//! The regression losses: `torch.nn.L1Loss`, `MSELoss`, `SmoothL1Loss`, `HuberLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::kinks::abs;
use crate::fused::{self, RegressionLoss};
use crate::input::checks::{broadcast_dims, cast};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// One regression loss of `d = input - target`, broadcast as PyTorch broadcasts, unreduced
/// (the broadcast shape) or reduced to `[1; D]` (the mean over the broadcast element count).
fn regression<const D: usize>(
    input: Tensor<D>,
    target: Tensor<D>,
    loss: RegressionLoss,
    reduction: Option<Reduction>,
) -> Result<Tensor<D>, LossError> {
    broadcast_dims(&input.dims(), &target.dims())?;
    if input.dims() == target.dims()
        && let Some(out) = fused::regression(&input, &target, loss, reduction)
    {
        return Ok(out);
    }
    let d = input.clone() - cast(target, input.dtype());
    let value = match loss {
        RegressionLoss::L1 => abs(d),
        RegressionLoss::Mse => d.square(),
        RegressionLoss::SmoothL1 { beta: 0.0 } => abs(d),
        // The quadratic branch is taken of the difference clamped to where it is used, so
        // that an infinite difference outside it leaves no NaN in its (masked) gradient.
        RegressionLoss::SmoothL1 { beta } => {
            let a = abs(d.clone());
            let linear = a.clone().sub_scalar(0.5 * beta);
            d.clamp(-beta, beta)
                .square()
                .mul_scalar(0.5 / beta)
                .mask_where(a.greater_equal_elem(beta), linear)
        }
        RegressionLoss::Huber { delta } => {
            let a = abs(d.clone());
            let linear = a.clone().sub_scalar(0.5 * delta).mul_scalar(delta);
            d.clamp(-delta, delta)
                .square()
                .mul_scalar(0.5)
                .mask_where(a.greater_elem(delta), linear)
        }
    };
    Ok(reduce(value, reduction, Denominator::Numel))
}

/// Configuration of [`L1Loss`]: `torch.nn.L1Loss(reduction='mean')`.
#[derive(Config, Debug)]
pub struct L1LossConfig {
    /// How [`L1Loss::forward`] reduces: `Mean` divides by the broadcast element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl L1LossConfig {
    /// Builds the loss.
    pub fn init(&self) -> L1Loss {
        L1Loss {
            reduction: self.reduction,
        }
    }
}

/// Mean absolute error, as `torch.nn.L1Loss` / `F.l1_loss(input, target, reduction=...)`:
///
/// ```text
/// l = |x - y|        dl/dx = sign(x - y)   (0 at x = y)
/// ```
///
/// # Shapes
/// - `input`, `target`: the same rank, broadcast against each other (dimensions equal or 1)
/// - reduced: `[1]`; unreduced: the broadcast shape
#[derive(Module, Debug)]
pub struct L1Loss {
    #[module(skip)]
    reduction: Reduction,
}

impl L1Loss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(regression(input, target, RegressionLoss::L1, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        regression(input, target, RegressionLoss::L1, None)
    }
}

/// Configuration of [`MseLoss`]: `torch.nn.MSELoss(reduction='mean')`.
#[derive(Config, Debug)]
pub struct MseLossConfig {
    /// How [`MseLoss::forward`] reduces: `Mean` divides by the broadcast element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl MseLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> MseLoss {
        MseLoss {
            reduction: self.reduction,
        }
    }
}

/// Mean squared error, as `torch.nn.MSELoss` / `F.mse_loss(input, target, reduction=...)`:
///
/// ```text
/// l = (x - y)^2        dl/dx = 2 (x - y)
/// ```
///
/// # Shapes
/// As [`L1Loss`].
#[derive(Module, Debug)]
pub struct MseLoss {
    #[module(skip)]
    reduction: Reduction,
}

impl MseLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(regression(input, target, RegressionLoss::Mse, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        regression(input, target, RegressionLoss::Mse, None)
    }
}

/// Configuration of [`SmoothL1Loss`]: `torch.nn.SmoothL1Loss(reduction='mean', beta=1.0)`.
#[derive(Config, Debug)]
pub struct SmoothL1LossConfig {
    /// Where the loss turns from quadratic to linear; at least 0 (0 is the L1 loss).
    #[config(default = 1.0)]
    pub beta: f64,
    /// How [`SmoothL1Loss::forward`] reduces: `Mean` divides by the broadcast element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl SmoothL1LossConfig {
    /// Checks `beta` and builds the loss.
    pub fn init(&self) -> Result<SmoothL1Loss, LossError> {
        if !self.beta.is_finite() || self.beta < 0.0 {
            return Err(LossError::Option {
                name: "beta",
                expected: "finite and >= 0 (smooth_l1_loss does not support negative values for beta)",
                value: self.beta,
            });
        }
        Ok(SmoothL1Loss {
            beta: self.beta,
            reduction: self.reduction,
        })
    }
}

/// Smooth L1 loss, as `torch.nn.SmoothL1Loss` / `F.smooth_l1_loss(input, target,
/// reduction=..., beta=...)`:
///
/// ```text
/// d = x - y
/// l = 0.5 d^2 / beta     if |d| < beta,     dl/dx = d / beta
///     |d| - 0.5 beta     otherwise,         dl/dx = sign(d)
/// ```
/// With `beta = 0` it is the L1 loss, as in PyTorch.
///
/// # Shapes
/// As [`L1Loss`].
#[derive(Module, Debug)]
pub struct SmoothL1Loss {
    beta: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl SmoothL1Loss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(regression(
            input,
            target,
            RegressionLoss::SmoothL1 { beta: self.beta },
            Some(self.reduction),
        )?
        .reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        regression(input, target, RegressionLoss::SmoothL1 { beta: self.beta }, None)
    }
}

/// Configuration of [`HuberLoss`]: `torch.nn.HuberLoss(reduction='mean', delta=1.0)`.
#[derive(Config, Debug)]
pub struct HuberLossConfig {
    /// Where the loss turns from quadratic to linear; positive.
    #[config(default = 1.0)]
    pub delta: f64,
    /// How [`HuberLoss::forward`] reduces: `Mean` divides by the broadcast element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl HuberLossConfig {
    /// Checks `delta` and builds the loss.
    pub fn init(&self) -> Result<HuberLoss, LossError> {
        if !self.delta.is_finite() || self.delta <= 0.0 {
            return Err(LossError::Option {
                name: "delta",
                expected: "finite and > 0 (huber_loss does not support non-positive values for delta)",
                value: self.delta,
            });
        }
        Ok(HuberLoss {
            delta: self.delta,
            reduction: self.reduction,
        })
    }
}

/// Huber loss, as `torch.nn.HuberLoss` / `F.huber_loss(input, target, reduction=...,
/// delta=...)`:
///
/// ```text
/// d = x - y
/// l = 0.5 d^2                   if |d| <= delta,   dl/dx = d
///     delta (|d| - 0.5 delta)   otherwise,         dl/dx = delta sign(d)
/// ```
/// `HuberLoss(delta) = delta * SmoothL1Loss(beta = delta)`.
///
/// # Shapes
/// As [`L1Loss`].
#[derive(Module, Debug)]
pub struct HuberLoss {
    delta: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl HuberLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(regression(
            input,
            target,
            RegressionLoss::Huber { delta: self.delta },
            Some(self.reduction),
        )?
        .reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        regression(input, target, RegressionLoss::Huber { delta: self.delta }, None)
    }
}
