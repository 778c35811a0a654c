//! Negative log likelihood of log-probabilities: `torch.nn.NLLLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use super::class_loss::{empty_class_loss, host_targets};
use crate::fused::{self, ClassIndexRows, MeanOver, RowLoss};
use crate::input::class_index::{ClassWeight, IGNORE_INDEX, check_index_target, pick_targets};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`NllLoss`]: `torch.nn.NLLLoss(weight=None, ignore_index=-100,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct NllLossConfig {
    /// Per-class weight `(C)`; none (1 for every class) by default.
    pub weight: Option<Vec<f64>>,
    /// Targets equal to this count for nothing. -100 by default.
    #[config(default = "IGNORE_INDEX")]
    pub ignore_index: i64,
    /// How [`NllLoss::forward`] reduces: `Mean` divides by the summed weights of the
    /// targets that are not ignored.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check every class index against `[0, C)`; see
    /// [`CrossEntropyLossConfig::check_values`](crate::CrossEntropyLossConfig::check_values).
    #[config(default = true)]
    pub check_values: bool,
}

impl NllLossConfig {
    /// Builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> NllLoss {
        NllLoss {
            weight: self.weight.as_deref().map(|w| ClassWeight::new(w, device)),
            ignore_index: self.ignore_index,
            reduction: self.reduction,
            check_values: self.check_values,
        }
    }
}

/// Negative log likelihood of log-probabilities with class-index targets, as
/// `torch.nn.NLLLoss` / `F.nll_loss(input, target, weight, ignore_index=..., reduction=...)`:
///
/// ```text
/// l_i = -w[y_i] * input[i, y_i]          (0 where y_i == ignore_index)
/// mean = sum_i l_i / sum_{i not ignored} w[y_i]
/// ```
/// A mean over nothing (empty batch, every target ignored) is NaN; a sum over nothing is 0.
///
/// # Shapes
/// - `input`: `(N, C)` or `(N, C, d1..dk)` (a single sample `(C)` is written `(1, C)`)
/// - `target`: `(N)` or `(N, d1..dk)`, values in `[0, C)` or `ignore_index`
/// - reduced: `[1]`; unreduced: the target's shape
#[derive(Module, Debug)]
pub struct NllLoss {
    pub(super) weight: Option<ClassWeight>,
    pub(super) ignore_index: i64,
    #[module(skip)]
    reduction: Reduction,
    pub(super) check_values: bool,
}

impl NllLoss {
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
        if let Some(w) = &self.weight {
            w.check("weight", classes)?;
        }
        if target.shape().num_elements() == 0 {
            return Ok(empty_class_loss(input, reduction));
        }
        if let Some(targets) = &host_targets(&input, &target, classes, self.ignore_index, self.check_values)? {
            let rows = ClassIndexRows {
                loss: RowLoss::Nll,
                targets,
                weight: self.weight.as_ref(),
                ignore_index: self.ignore_index,
                reduction,
                mean_over: MeanOver::Weights,
            };
            if let Some(loss) = fused::class_index_rows(&input, target.dims(), rows) {
                return Ok(loss);
            }
        }
        let weight = self.weight.as_ref().map(|w| w.tensor(input.dtype()));
        let picked = pick_targets(input, target, weight, self.ignore_index);
        let loss = picked.picked.mul(picked.target_weight.clone()).neg();
        Ok(reduce(loss, reduction, Denominator::Total(picked.target_weight.sum())))
    }
}
