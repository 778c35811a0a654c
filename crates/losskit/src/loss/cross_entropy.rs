//! Cross entropy of logits: `torch.nn.CrossEntropyLoss`, with class indices or class
//! probabilities as targets.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, activation::log_softmax};

use super::class_loss::{host_targets, empty_class_loss};
use crate::fused::{self, ClassIndexRows, MeanOver, RowLoss};
use crate::input::checks::{cast, check_label_smoothing, check_same_shape};
use crate::input::class_index::{
    ClassWeight, IGNORE_INDEX, along_classes, check_index_target, pick_targets, without_ignored_rows,
};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`CrossEntropyLoss`]: `torch.nn.CrossEntropyLoss(weight=None,
/// ignore_index=-100, reduction='mean', label_smoothing=0.0)`.
#[derive(Config, Debug)]
pub struct CrossEntropyLossConfig {
    /// Per-class weight `(C)`; none (1 for every class) by default.
    pub weight: Option<Vec<f64>>,
    /// Class-index targets equal to this count for nothing. -100 by default.
    #[config(default = "IGNORE_INDEX")]
    pub ignore_index: i64,
    /// Mixes the target with the uniform distribution, `(1 - e) target + e / C`; in
    /// `[0, 1]`, 0 by default.
    #[config(default = 0.0)]
    pub label_smoothing: f64,
    /// How `forward` and `forward_probs` reduce: `Mean` divides by the summed weights of
    /// the targets that are not ignored (class indices) or by the number of positions
    /// (probabilities).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
    /// Check every class index against `[0, C)`, as PyTorch does. On the CPU the fused
    /// kernel reads the targets anyway; on an accelerator the check is a synchronisation
    /// per call and can be turned off (an index out of range then gives an unspecified
    /// result instead of an error).
    #[config(default = true)]
    pub check_values: bool,
}

impl CrossEntropyLossConfig {
    /// Checks `label_smoothing` and builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<CrossEntropyLoss, LossError> {
        check_label_smoothing(self.label_smoothing)?;
        Ok(CrossEntropyLoss {
            weight: self.weight.as_deref().map(|w| ClassWeight::new(w, device)),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: self.reduction,
            check_values: self.check_values,
        })
    }
}

/// Cross entropy of logits, as `torch.nn.CrossEntropyLoss` /
/// `F.cross_entropy(input, target, weight, ignore_index=..., reduction=..., label_smoothing=e)`.
///
/// With class indices ([`forward`](Self::forward)):
/// ```text
/// lp = log_softmax(x, dim=1)
/// l_i = (1 - e) * (-w[y_i] lp[i, y_i]) + (e / C) * (-sum_c w_c lp[i, c])   (0 where ignored)
/// mean = sum_i l_i / sum_{i not ignored} w[y_i]
/// dl_i/dx[i, j] = (sum_c a_c) softmax[i, j] - a_j,  a = (1 - e) w[y_i] onehot(y_i) + (e / C) w
/// ```
/// The smoothing term carries every class's weight and shares the target-weight
/// denominator, as PyTorch's does. A mean over nothing (empty batch, every target ignored)
/// is NaN; a sum over nothing is 0. An ignored row gets a zero gradient even when it holds
/// an infinity (PyTorch's log-softmax backward gives NaN there).
///
/// With class probabilities ([`forward_probs`](Self::forward_probs)), a target of the
/// input's shape:
/// ```text
/// t' = (1 - e) t + e / C
/// l = -sum_c w_c t'_c log_softmax(x)_c
/// mean = sum l / (N d1 .. dk)                (never divided by the weights)
/// ```
///
/// # Shapes
/// - `input`: `(N, C)` or `(N, C, d1..dk)` (a single sample `(C)` is written `(1, C)`)
/// - class-index `target`: `(N)` or `(N, d1..dk)`, values in `[0, C)` or `ignore_index`
/// - probability `target`: the input's shape
/// - reduced: `[1]`; unreduced: `(N)` or `(N, d1..dk)`, PyTorch's `reduction='none'`
///
/// Errors on a class index out of range, a target shape that does not fit, a `weight` not
/// of length `C`, or `ignore_index` set with probability targets.
#[derive(Module, Debug)]
pub struct CrossEntropyLoss {
    pub(super) weight: Option<ClassWeight>,
    pub(super) ignore_index: i64,
    label_smoothing: f64,
    #[module(skip)]
    reduction: Reduction,
    pub(super) check_values: bool,
}

impl CrossEntropyLoss {
    /// The loss of logits `(N, C, d1..dk)` against class indices `(N, d1..dk)`, reduced by
    /// the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize, const T: usize>(&self, input: Tensor<D>, target: Tensor<T, Int>) -> Result<Tensor<1>, LossError> {
        Ok(self.indices(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each position, the target's shape `(N, d1..dk)` (`reduction='none'`);
    /// 0 where the target is ignored.
    pub fn forward_no_reduction<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<T>, LossError> {
        self.indices(input, target, None)
    }

    /// The loss of logits against class probabilities of the same shape, reduced by the
    /// configured [`Reduction`], shape `[1]`.
    pub fn forward_probs<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        const { assert!(D >= 2, "the input is (N, C) or (N, C, d1..dk)") };
        let loss = self.probabilities::<D, 1>(input, target, Some(self.reduction))?;
        Ok(loss.reshape([1]))
    }

    /// The loss of each position against class probabilities, shape `(N, d1..dk)`: the
    /// input's shape without the class dimension (`O = D - 1`).
    pub fn forward_probs_no_reduction<const D: usize, const O: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<O>, LossError> {
        const { assert!(O + 1 == D, "the unreduced loss has the input's rank less the class dimension") };
        self.probabilities(input, target, None)
    }

    fn indices<const D: usize, const T: usize>(
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
        let dtype = input.dtype();
        let host = host_targets(&input, &target, classes, self.ignore_index, self.check_values)?;
        if let Some(targets) = &host {
            let rows = ClassIndexRows {
                loss: RowLoss::CrossEntropy { label_smoothing: self.label_smoothing },
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
        let weight = self.weight.as_ref().map(|w| w.tensor(dtype));
        let log_probs = log_softmax(without_ignored_rows(input, &target, self.ignore_index), 1);
        let picked = pick_targets(log_probs.clone(), target, weight.clone(), self.ignore_index);
        let nll = picked.picked.mul(picked.target_weight.clone()).neg();
        let e = self.label_smoothing;
        let loss = if e > 0.0 {
            let weighted = match weight {
                Some(w) => log_probs.mul(along_classes::<D>(w)),
                None => log_probs,
            };
            let smooth = weighted.sum_dim(1).squeeze_dim::<T>(1).neg().mask_fill(picked.ignored, 0.0);
            nll.mul_scalar(1.0 - e) + smooth.mul_scalar(e / classes as f64)
        } else {
            nll
        };
        let total = picked.target_weight.sum();
        Ok(reduce(loss, reduction, Denominator::Total(total)))
    }

    fn probabilities<const D: usize, const O: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<O>, LossError> {
        const { assert!(D >= 2, "the input is (N, C) or (N, C, d1..dk)") };
        let dims = input.dims();
        check_same_shape(&dims, &target.dims())?;
        if self.ignore_index >= 0 {
            return Err(LossError::IgnoreIndexWithProbabilities(self.ignore_index));
        }
        let classes = dims[1];
        if let Some(w) = &self.weight {
            w.check("weight", classes)?;
        }
        let unreduced: Vec<usize> = dims.iter().enumerate().filter(|&(k, _)| k != 1).map(|(_, &d)| d).collect();
        let mut shape = [1usize; O];
        if reduction.is_none() {
            // Unreduced, O is D - 1 (asserted by `forward_probs_no_reduction`).
            shape.copy_from_slice(&unreduced);
        }
        let fused_shape = if reduction.is_none() { shape } else { [1; O] };
        let weight = self.weight.as_ref();
        if classes > 0
            && let Some(loss) = fused::probability_rows(&input, &target, self.label_smoothing, weight, reduction, fused_shape)
        {
            return Ok(loss);
        }
        let dtype = input.dtype();
        let e = self.label_smoothing;
        let mut target = cast(target, dtype);
        if e > 0.0 {
            target = target.mul_scalar(1.0 - e).add_scalar(e / classes as f64);
        }
        if let Some(w) = weight {
            target = target.mul(along_classes::<D>(w.tensor(dtype)));
        }
        let loss = log_softmax(input, 1).mul(target).sum_dim(1).neg();
        Ok(match reduction {
            // squeeze, not reshape: burn's reshape reads a 0 in the shape as "keep".
            None => loss.squeeze_dim::<O>(1),
            Some(_) => reduce(loss, reduction, Denominator::Numel).reshape([1; O]),
        })
    }
}
