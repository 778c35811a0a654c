//! The multi-class (softmax) focal loss on logits with class-index targets.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, activation::log_softmax};
use serde::{Deserialize, Serialize};

use super::class_loss::{empty_class_loss, host_targets};
use crate::fused::{self, ClassIndexRows, MeanOver, RowLoss};
use crate::input::checks::{cast, check_non_negative};
use crate::input::class_index::{ClassWeight, IGNORE_INDEX, check_index_target, pick_targets, without_ignored_rows};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// The class-balancing factor `alpha_t` of [`SoftmaxFocalLoss`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum FocalAlpha {
    /// No class balancing (1 for every class).
    #[default]
    None,
    /// The same factor for every class.
    Scalar(f64),
    /// One factor per class `(C)`, picked by the target.
    PerClass(Vec<f64>),
}

/// Configuration of [`SoftmaxFocalLoss`]: gamma 2, no alpha, `ignore_index` -100, mean.
#[derive(Config, Debug)]
pub struct SoftmaxFocalLossConfig {
    /// Class balancing factor `alpha_t`; none by default.
    #[config(default = "FocalAlpha::None")]
    pub alpha: FocalAlpha,
    /// Focusing exponent on `1 - p_t`, at least 0; 2 by default.
    #[config(default = 2.0)]
    pub gamma: f64,
    /// Targets equal to this count for nothing. -100 by default.
    #[config(default = "IGNORE_INDEX")]
    pub ignore_index: i64,
    /// How [`SoftmaxFocalLoss::forward`] reduces: `Mean` divides by the number of targets
    /// that are not ignored.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check every class index against `[0, C)`; see
    /// [`CrossEntropyLossConfig::check_values`](crate::CrossEntropyLossConfig::check_values).
    #[config(default = true)]
    pub check_values: bool,
}

impl SoftmaxFocalLossConfig {
    /// Checks `gamma` and `alpha` and builds the loss on `device`.
    pub fn init(&self, device: &Device) -> Result<SoftmaxFocalLoss, LossError> {
        check_non_negative("gamma", self.gamma)?;
        let (alpha, per_class) = match &self.alpha {
            FocalAlpha::None => (1.0, None),
            FocalAlpha::Scalar(a) if a.is_nan() => {
                return Err(LossError::Option {
                    name: "alpha",
                    expected: "a number",
                    value: *a,
                });
            }
            FocalAlpha::Scalar(a) => (*a, None),
            FocalAlpha::PerClass(a) => (1.0, Some(ClassWeight::new(a, device))),
        };
        Ok(SoftmaxFocalLoss {
            alpha,
            alpha_per_class: per_class,
            gamma: self.gamma,
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            check_values: self.check_values,
        })
    }
}

/// Softmax (multi-class) focal loss on logits with class-index targets:
///
/// ```text
/// lp = log_softmax(x, dim=1),  p_t = exp(lp[i, y_i])
/// l_i = -alpha_t (1 - p_t)^gamma lp[i, y_i]          (0 where y_i == ignore_index)
/// mean = sum_i l_i / #{i not ignored}
/// ```
/// with `alpha_t` 1, a number, or `alpha[y_i]`. With `gamma = 0` and no alpha it is cross
/// entropy. `ln(1 - p_t)` is the log-sum-exp of the other classes' log-probabilities, so a
/// confident correct row gives its tiny true loss and a finite gradient. PyTorch has no
/// built-in; this is the formula as written with `F.log_softmax` and `gather`.
///
/// # Shapes
/// - `input`: `(N, C)` or `(N, C, d1..dk)`; `target`: `(N)` or `(N, d1..dk)`
/// - reduced: `[1]`; unreduced: the target's shape
#[derive(Module, Debug)]
pub struct SoftmaxFocalLoss {
    /// The scalar alpha (1 without one, or with a per-class alpha).
    alpha: f64,
    pub(super) alpha_per_class: Option<ClassWeight>,
    gamma: f64,
    pub(super) ignore_index: i64,
    #[module(skip)]
    reduction: Reduction,
    pub(super) check_values: bool,
}

impl SoftmaxFocalLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each position, the target's shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<T>, LossError> {
        self.compute(input, target, None)
    }

    fn compute<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<T>, LossError> {
        let classes = check_index_target(&input.dims(), &target.dims())?;
        if let Some(a) = &self.alpha_per_class {
            a.check("alpha", classes)?;
        }
        if target.shape().num_elements() == 0 {
            return Ok(empty_class_loss(input, reduction));
        }
        let dtype = input.dtype();
        if let Some(targets) = &host_targets(&input, &target, classes, self.ignore_index, self.check_values)? {
            let rows = ClassIndexRows {
                loss: RowLoss::SoftmaxFocal {
                    gamma: self.gamma,
                    alpha: self.alpha,
                },
                targets,
                weight: self.alpha_per_class.as_ref(),
                ignore_index: self.ignore_index,
                reduction,
                mean_over: MeanOver::Count,
            };
            if let Some(loss) = fused::class_index_rows(&input, target.dims(), rows) {
                return Ok(loss);
            }
        }
        let log_probs = log_softmax(without_ignored_rows(input, &target, self.ignore_index), 1);
        let log_probs_dims = log_probs.dims();
        let target_class = {
            let mut class_dims = [1usize; D];
            class_dims[1] = classes;
            let ids = Tensor::<1, Int>::arange(0..classes as i64, &log_probs.device())
                .cast(target.dtype())
                .reshape(class_dims);
            ids.expand(log_probs.dims())
                .equal(target.clone().unsqueeze_dim::<D>(1).expand(log_probs.dims()))
        };
        let alpha_per_class = self.alpha_per_class.as_ref().map(|a| a.tensor(dtype));
        let has_per_class = alpha_per_class.is_some();
        let picked = pick_targets(log_probs.clone(), target, alpha_per_class, self.ignore_index);
        let mut loss = picked.picked.clone().neg();
        if self.gamma != 0.0 {
            // ln(1 - p_t) = logsumexp over the other classes of lp; no classes besides the
            // target (C = 1) means 1 - p_t = 0.
            let log_one_minus_pt = if classes > 1 {
                // A row whose other classes are all -inf has ln(1 - p_t) = -inf, and then a
                // focal factor of 0 whose gradient is 0 (the limit; the log-sum-exp alone
                // would give 0 / 0 there).
                let others = log_probs.mask_fill(target_class, f64::NEG_INFINITY);
                let max = others.clone().max_dim(1).detach();
                let nothing = max.clone().equal_elem(f64::NEG_INFINITY);
                let others = others.mask_fill(nothing.clone().expand(log_probs_dims), 0.0);
                let max = max.mask_fill(nothing.clone(), 0.0);
                let lse = ((others - max.clone()).exp().sum_dim(1).log() + max).mask_fill(nothing, f64::NEG_INFINITY);
                lse.squeeze_dim::<T>(1)
            } else {
                loss.zeros_like().add_scalar(f64::NEG_INFINITY)
            };
            loss = loss.mul(log_one_minus_pt.mul_scalar(self.gamma).exp());
        }
        if has_per_class {
            loss = loss.mul(picked.target_weight);
        } else if self.alpha != 1.0 {
            loss = loss.mul_scalar(self.alpha);
        }
        let loss = loss.mask_fill(picked.ignored.clone(), 0.0);
        let count = cast(picked.ignored.bool_not().float(), dtype).sum();
        Ok(reduce(loss, reduction, Denominator::Total(count)))
    }
}
