//! Kullback-Leibler divergence: `torch.nn.KLDivLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::LossError;
use crate::input::checks::{cast, check_same_shape};
use crate::reduction::{Denominator, Reduction, reduce};

/// The reduction of [`KlDivLoss`]: PyTorch's, with `batchmean`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KlReduction {
    /// Sum divided by the element count (PyTorch's default, which it warns about).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// Sum divided by the batch size `input.dims()[0]`: the true KL divergence per sample.
    BatchMean,
}

/// Configuration of [`KlDivLoss`]: `torch.nn.KLDivLoss(reduction='mean', log_target=False)`.
#[derive(Config, Debug)]
pub struct KlDivLossConfig {
    /// How [`KlDivLoss::forward`] reduces; `Mean` by default, `BatchMean` for the true
    /// divergence per sample.
    #[config(default = "KlReduction::Mean")]
    pub reduction: KlReduction,
    /// Whether the target holds log-probabilities.
    #[config(default = false)]
    pub log_target: bool,
}

impl KlDivLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> KlDivLoss {
        KlDivLoss {
            reduction: self.reduction,
            log_target: self.log_target,
        }
    }
}

/// Kullback-Leibler divergence of `target` from the distribution whose log-probabilities
/// are `input`, as `torch.nn.KLDivLoss` / `F.kl_div(input, target, reduction=...,
/// log_target=...)`:
///
/// ```text
/// l = t (ln t - x)         (0 where t = 0)          log_target = false
/// l = e^t (t - x)                                   log_target = true
/// ```
///
/// # Shapes
/// - `input`, `target`: any shape, the same
/// - reduced: `[1]`; unreduced: the input's shape
#[derive(Module, Debug)]
pub struct KlDivLoss {
    #[module(skip)]
    pub(super) reduction: KlReduction,
    log_target: bool,
}

impl KlDivLoss {
    /// The divergence reduced by the configured [`KlReduction`], shape `[1]`.
    pub fn forward<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Result<Tensor<1>, LossError> {
        let batch = input.dims().first().copied().unwrap_or(1);
        let (reduction, denominator) = match self.reduction {
            KlReduction::Mean => (Reduction::Mean, Denominator::Numel),
            KlReduction::Sum => (Reduction::Sum, Denominator::Numel),
            KlReduction::BatchMean => (Reduction::Mean, Denominator::Value(batch as f64)),
        };
        let loss = self.forward_no_reduction(input, target)?;
        Ok(reduce(loss, Some(reduction), denominator).reshape([1]))
    }

    /// The pointwise terms, the input's shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        check_same_shape(&input.dims(), &target.dims())?;
        let t = cast(target, input.dtype());
        Ok(if self.log_target {
            t.clone().exp().mul(t - input)
        } else {
            let zero = t.clone().equal_elem(0.0);
            let t_log_t = t.clone().mul(t.clone().mask_fill(zero, 1.0).log());
            t_log_t - t.mul(input)
        })
    }
}
