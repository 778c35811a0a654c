//! Cross entropy of logits: `torch.nn.CrossEntropyLoss`, with class indices or class
//! probabilities as targets.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, activation::log_softmax};

use super::ce_terms::{CeOptions, ce_terms};
use super::class_loss::{empty_class_loss, host_targets};
use crate::fused::{self, ClassIndexRows, MeanOver, RowLoss};
use crate::input::checks::{cast, check_label_smoothing, check_non_negative, check_same_shape, check_softcap};
use crate::input::class_index::{ClassWeight, IGNORE_INDEX, along_classes, check_index_target};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`CrossEntropyLoss`]: `torch.nn.CrossEntropyLoss(weight=None,
/// ignore_index=-100, reduction='mean', label_smoothing=0.0)`, plus two options of LLM
/// training that PyTorch does not have, `softcap` and `z_loss` (class indices only).
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
    /// Gemma 2's logit soft-capping: the softmax sees `softcap * tanh(x / softcap)` instead
    /// of `x`. Finite and > 0; none by default. Class indices only.
    pub softcap: Option<f64>,
    /// PaLM's z-loss: each position that is not ignored adds `z_loss * lse^2`, with `lse`
    /// the log-sum-exp of its (capped) logits, unweighted; its mean divides by the number
    /// of positions not ignored. Finite and >= 0; 0 (off) by default. Class indices only.
    #[config(default = 0.0)]
    pub z_loss: f64,
    /// Check every class index against `[0, C)`, as PyTorch does. On the CPU the fused
    /// kernel reads the targets anyway; on an accelerator the check is a synchronisation
    /// per call and can be turned off (an index out of range then gives an unspecified
    /// result instead of an error).
    #[config(default = true)]
    pub check_values: bool,
}

impl CrossEntropyLossConfig {
    /// Checks `label_smoothing`, `softcap` and `z_loss` and builds the loss with its
    /// weight on `device`.
    pub fn init(&self, device: &Device) -> Result<CrossEntropyLoss, LossError> {
        check_label_smoothing(self.label_smoothing)?;
        check_softcap(self.softcap)?;
        check_non_negative("z_loss", self.z_loss)?;
        Ok(CrossEntropyLoss {
            weight: self.weight.as_deref().map(|w| ClassWeight::new(w, device)),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            reduction: self.reduction,
            softcap: self.softcap,
            z_loss: self.z_loss,
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
/// `softcap` (`c`) and `z_loss` (`z`), beyond PyTorch, are what LLM training adds to the
/// loss (`docs/eval-protocol.md`, "Beyond PyTorch"):
/// ```text
/// x' = c tanh(x / c)                          (the softmax sees x'; dx'/dx = 1 - tanh^2(x / c))
/// lse_i = logsumexp_c x'[i, c]
/// l_i = ce_i(x') + z lse_i^2                  (0 where ignored; the z term is unweighted)
/// mean = sum_i ce_i / sum_{i not ignored} w[y_i] + z sum_i lse_i^2 / #{i not ignored}
/// ```
/// which is `F.cross_entropy(c * torch.tanh(x / c), y, ...)` plus
/// `z * (torch.logsumexp(x', 1)[y != ignore_index] ** 2).mean()` for the mean (`.sum()` for
/// the sum).
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
/// of length `C`, or `ignore_index`, `softcap` or `z_loss` set with probability targets.
#[derive(Module, Debug)]
pub struct CrossEntropyLoss {
    pub(super) weight: Option<ClassWeight>,
    pub(super) ignore_index: i64,
    label_smoothing: f64,
    #[module(skip)]
    reduction: Reduction,
    #[module(skip)]
    softcap: Option<f64>,
    z_loss: f64,
    pub(super) check_values: bool,
}

impl CrossEntropyLoss {
    /// The loss of logits `(N, C, d1..dk)` against class indices `(N, d1..dk)`, reduced by
    /// the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize, const T: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<T, Int>,
    ) -> Result<Tensor<1>, LossError> {
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
        const {
            assert!(
                O + 1 == D,
                "the unreduced loss has the input's rank less the class dimension"
            )
        };
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
        let host = host_targets(&input, &target, classes, self.ignore_index, self.check_values)?;
        let options = self.options();
        if let Some(targets) = &host {
            let rows = ClassIndexRows {
                loss: RowLoss::CrossEntropy {
                    label_smoothing: self.label_smoothing,
                    softcap: self.softcap,
                    z_loss: self.z_loss,
                },
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
        let (terms, denominators) = ce_terms(input, target, &options);
        Ok(terms.reduce(reduction, denominators))
    }

    /// The class-index options, as the composed path takes them.
    fn options(&self) -> CeOptions<'_> {
        CeOptions {
            weight: self.weight.as_ref(),
            ignore_index: self.ignore_index,
            label_smoothing: self.label_smoothing,
            softcap: self.softcap,
            z_loss: self.z_loss,
        }
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
        // Both are defined for class indices only (the protocol's "Beyond PyTorch").
        if self.softcap.is_some() {
            return Err(LossError::ClassIndexOnly("softcap"));
        }
        if self.z_loss != 0.0 {
            return Err(LossError::ClassIndexOnly("z_loss"));
        }
        let classes = dims[1];
        if let Some(w) = &self.weight {
            w.check("weight", classes)?;
        }
        let unreduced: Vec<usize> = dims
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != 1)
            .map(|(_, &d)| d)
            .collect();
        let mut shape = [1usize; O];
        if reduction.is_none() {
            // Unreduced, O is D - 1 (asserted by `forward_probs_no_reduction`).
            shape.copy_from_slice(&unreduced);
        }
        let fused_shape = if reduction.is_none() { shape } else { [1; O] };
        let weight = self.weight.as_ref();
        if classes > 0
            && let Some(loss) =
                fused::probability_rows(&input, &target, self.label_smoothing, weight, reduction, fused_shape)
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
