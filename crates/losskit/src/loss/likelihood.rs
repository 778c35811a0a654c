//! The likelihood losses: `torch.nn.PoissonNLLLoss` and `torch.nn.GaussianNLLLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::kinks::clamp_min_unrecorded;
use crate::input::checks::{broadcast_dims, cast, check_values};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// `0.5 ln(2 pi)`, the constant of the full Gaussian likelihood.
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// Configuration of [`PoissonNllLoss`]:
/// `torch.nn.PoissonNLLLoss(log_input=True, full=False, eps=1e-8, reduction='mean')`.
#[derive(Config, Debug)]
pub struct PoissonNllLossConfig {
    /// Whether the input is the log of the rate (else the rate itself).
    #[config(default = true)]
    pub log_input: bool,
    /// Whether to add Stirling's approximation of `ln(target!)`.
    #[config(default = false)]
    pub full: bool,
    /// Added to the rate before its log when `log_input` is false.
    #[config(default = 1e-8)]
    pub eps: f64,
    /// How [`PoissonNllLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl PoissonNllLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> PoissonNllLoss {
        PoissonNllLoss {
            log_input: self.log_input,
            full: self.full,
            eps: self.eps,
            reduction: self.reduction,
        }
    }
}

/// Negative log likelihood of a Poisson distribution, as `torch.nn.PoissonNLLLoss` /
/// `F.poisson_nll_loss(input, target, log_input, full, eps=eps, reduction=...)`:
///
/// ```text
/// l = exp(x) - t x                 (log_input)      dl/dx = exp(x) - t
/// l = x - t ln(x + eps)            (otherwise)      dl/dx = 1 - t / (x + eps)
/// full: + t ln t - t + 0.5 ln(2 pi t)  where t > 1 (no gradient for x: it depends on t alone)
/// ```
///
/// # Shapes
/// - `input`, `target`: the same rank, broadcast against each other
/// - reduced: `[1]`; unreduced: the broadcast shape
#[derive(Module, Debug)]
pub struct PoissonNllLoss {
    log_input: bool,
    full: bool,
    eps: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl PoissonNllLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
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
        broadcast_dims(&input.dims(), &target.dims())?;
        let t = cast(target, input.dtype());
        let mut loss = if self.log_input {
            input.clone().exp() - t.clone() * input
        } else {
            input.clone() - t.clone() * input.add_scalar(self.eps).log()
        };
        if self.full {
            // Masked where t <= 1: there the term is 0, and t ln t must not see t = 0.
            let small = t.clone().lower_equal_elem(1.0);
            let safe = t.clone().mask_fill(small.clone(), 2.0);
            let stirling = safe.clone() * safe.clone().log() - safe.clone()
                + safe.mul_scalar(2.0 * core::f64::consts::PI).log().mul_scalar(0.5);
            loss = loss + stirling.mask_fill(small, 0.0);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}

/// Configuration of [`GaussianNllLoss`]: `torch.nn.GaussianNLLLoss(full=False, eps=1e-6,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct GaussianNllLossConfig {
    /// Whether to add the constant `0.5 ln(2 pi)`.
    #[config(default = false)]
    pub full: bool,
    /// The variance is clamped to at least this, for stability.
    #[config(default = 1e-6)]
    pub eps: f64,
    /// How [`GaussianNllLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Refuse a negative variance, as PyTorch does; the check reads `var` back to the host
    /// (a synchronisation on an accelerator).
    #[config(default = true)]
    pub check_values: bool,
}

impl GaussianNllLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> GaussianNllLoss {
        GaussianNllLoss {
            full: self.full,
            eps: self.eps,
            reduction: self.reduction,
            check_values: self.check_values,
        }
    }
}

/// Negative log likelihood of a Gaussian with mean `input` and variance `var`, as
/// `torch.nn.GaussianNLLLoss` / `F.gaussian_nll_loss(input, target, var, full, eps,
/// reduction)`:
///
/// ```text
/// v = max(var, eps)
/// l = 0.5 (ln v + (x - t)^2 / v)  [+ 0.5 ln(2 pi) with full]
/// dl/dx = (x - t) / v,   dl/dvar = 0.5 (1 / v - (x - t)^2 / v^2)
/// ```
/// As in PyTorch, the clamp is not differentiated: where `var < eps` the gradient of `var`
/// is the formula's, evaluated at `eps` (a homoscedastic `var` collects it over the
/// dimensions it is broadcast along).
///
/// # Shapes
/// - `input`, `target`: the same rank, broadcast against each other
/// - `var`: the input's shape, or the input's shape with one dimension 1 (one variance
///   shared along it); a `var` of the input's shape less its last dimension is written
///   with that dimension as 1
/// - reduced: `[1]`; unreduced: the input's shape
///
/// Errors on a `var` of another shape and (with `check_values`) a negative variance.
#[derive(Module, Debug)]
pub struct GaussianNllLoss {
    full: bool,
    eps: f64,
    #[module(skip)]
    reduction: Reduction,
    check_values: bool,
}

impl GaussianNllLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
        var: Tensor<D>,
    ) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, var, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the input's shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
        var: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        self.compute(input, target, var, None)
    }

    fn compute<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
        var: Tensor<D>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<D>, LossError> {
        let dims = input.dims();
        broadcast_dims(&dims, &target.dims())?;
        if self.check_values {
            check_values(
                "var",
                "must not be negative (var has negative entry/entries)",
                &var,
                |v| v < 0.0,
            )?;
        }
        let var_dims = var.dims();
        let mismatched = dims.iter().zip(&var_dims).filter(|(a, b)| a != b).count();
        let shared_along_one = mismatched == 1 && dims.iter().zip(&var_dims).all(|(&a, &b)| a == b || b == 1);
        if mismatched != 0 && !shared_along_one {
            return Err(LossError::Shape(format!(
                "var is of incorrect size: {var_dims:?} for an input of size {dims:?}"
            )));
        }
        let dtype = input.dtype();
        let var = cast(var, dtype);
        // PyTorch clamps a copy of var under no_grad: max(var, eps), differentiated as var.
        let v = clamp_min_unrecorded(var, self.eps);
        let d = input - cast(target, dtype);
        let mut loss = (v.clone().log() + d.square() / v).mul_scalar(0.5);
        if self.full {
            loss = loss.add_scalar(HALF_LN_TWO_PI);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
