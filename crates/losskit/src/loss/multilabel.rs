//! The multi-label losses: `torch.nn.MultiLabelSoftMarginLoss` and `MultiLabelMarginLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::kinks::relu;
use super::logits::bce_with_logits_terms;
use crate::fused::{self, SigmoidWeights};
use crate::input::broadcast::{Broadcast, BroadcastWeight};
use crate::input::checks::{cast, check_same_shape, indices};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`MultiLabelSoftMarginLoss`]:
/// `torch.nn.MultiLabelSoftMarginLoss(weight=None, reduction='mean')`.
#[derive(Config, Debug)]
pub struct MultiLabelSoftMarginLossConfig {
    /// Weight broadcast against the input from the trailing dimension (per class `(C)`, or
    /// `(N, C)`, `(N, 1)`); none by default.
    pub weight: Option<BroadcastWeight>,
    /// How [`MultiLabelSoftMarginLoss::forward`] reduces: `Mean` divides by the number of
    /// samples.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl MultiLabelSoftMarginLossConfig {
    /// Builds the loss with its weight on `device`; errors when the weight's shape does not
    /// hold its values.
    pub fn init(&self, device: &Device) -> Result<MultiLabelSoftMarginLoss, LossError> {
        let weight = self
            .weight
            .as_ref()
            .map(|w| Broadcast::new("weight", w, device))
            .transpose()?;
        Ok(MultiLabelSoftMarginLoss {
            weight,
            reduction: self.reduction,
        })
    }
}

/// One-versus-all logistic loss over the classes of each sample, as
/// `torch.nn.MultiLabelSoftMarginLoss` / `F.multilabel_soft_margin_loss(input, target,
/// weight, reduction)`:
///
/// ```text
/// l_n = sum_c w_c [ (1 - y) softplus(x) + y softplus(-x) ] / C       (BCE with logits per class)
/// mean = sum_n l_n / N
/// ```
/// that is, the mean over classes of BCE with logits. Targets are used as given (PyTorch
/// does not check them).
///
/// # Shapes
/// - `input`, `target`: `(N, C)`; `weight` broadcast against them
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct MultiLabelSoftMarginLoss {
    weight: Option<Broadcast>,
    #[module(skip)]
    reduction: Reduction,
}

impl MultiLabelSoftMarginLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, input: Tensor<2>, target: Tensor<2>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each sample, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(&self, input: Tensor<2>, target: Tensor<2>) -> Result<Tensor<1>, LossError> {
        self.compute(input, target, None)
    }

    fn compute(
        &self,
        input: Tensor<2>,
        target: Tensor<2>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let dims = input.dims();
        check_same_shape(&dims, &target.dims())?;
        let classes = dims[1];
        let dtype = input.dtype();
        let weight = self
            .weight
            .as_ref()
            .map(|w| w.against("weight", &dims, dtype))
            .transpose()?;
        let per_class = Tensor::full([1], 1.0 / classes as f64, (&input.device(), dtype));
        // The reduced loss is BCE with logits reduced over every element (the mean over
        // N C elements is the mean over samples of the means over classes), so the fused
        // kernel takes it whole; a sum is its sum over C.
        let weights = SigmoidWeights {
            weight: self.weight.as_ref(),
            pos_weight: None,
        };
        if let Some(r) = reduction
            && classes > 0
            && let Some(loss) = fused::sigmoid_losses(&input, &target, weights, None, Some(r))
        {
            let loss = loss.reshape([1]);
            return Ok(if r == Reduction::Sum { loss * per_class } else { loss });
        }
        let mut terms = bce_with_logits_terms(input, cast(target, dtype), None);
        if let Some(w) = weight {
            terms = terms * w;
        }
        let per_sample = terms.sum_dim(1).squeeze_dim::<1>(1) * per_class;
        Ok(reduce(per_sample, reduction, Denominator::Numel))
    }
}

/// Configuration of [`MultiLabelMarginLoss`]: `torch.nn.MultiLabelMarginLoss(reduction='mean')`.
#[derive(Config, Debug)]
pub struct MultiLabelMarginLossConfig {
    /// How [`MultiLabelMarginLoss::forward`] reduces: `Mean` divides by the number of
    /// samples.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl MultiLabelMarginLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> MultiLabelMarginLoss {
        MultiLabelMarginLoss {
            reduction: self.reduction,
        }
    }
}

/// Multi-label hinge loss, as `torch.nn.MultiLabelMarginLoss` /
/// `F.multilabel_margin_loss(input, target, reduction)`:
///
/// ```text
/// labels of sample n: target[n, 0..k], up to the first -1
/// l_n = sum_{j < k} sum_{i not a label} max(0, 1 - (x[y_j] - x[i])) / C    (gradient 0 at the hinge)
/// mean = sum_n l_n / N
/// ```
/// A label listed twice counts twice, as in PyTorch. The targets are read on the host to
/// find each sample's labels. A mean over no sample is NaN and a sum 0 (PyTorch returns
/// uninitialised memory there).
///
/// # Shapes
/// - `input`: `(N, C)` (a single sample `(C)` is written `(1, C)`); `target`: `(N, C)`
///   class indices padded with -1, every entry in `[-1, C)`
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct MultiLabelMarginLoss {
    #[module(skip)]
    reduction: Reduction,
}

impl MultiLabelMarginLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, input: Tensor<2>, target: Tensor<2, Int>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each sample, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(&self, input: Tensor<2>, target: Tensor<2, Int>) -> Result<Tensor<1>, LossError> {
        self.compute(input, target, None)
    }

    fn compute(
        &self,
        input: Tensor<2>,
        target: Tensor<2, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let [n, c] = input.dims();
        if target.dims() != [n, c] {
            return Err(LossError::Shape(format!(
                "inconsistent target size: {:?} for input of size: {:?}",
                target.dims(),
                input.dims()
            )));
        }
        if c == 0 {
            return Err(LossError::Shape(format!(
                "the input {:?} has no classes (C = 0)",
                input.dims()
            )));
        }
        let labels = indices(&target);
        if let Some(&bad) = labels.iter().find(|&&t| t < -1 || t >= c as i64) {
            return Err(LossError::TargetOutOfBounds {
                target: bad,
                classes: c,
            });
        }
        let device = input.device();
        // Each sample's labels are the entries before its first -1.
        let counts: Vec<usize> = labels
            .chunks(c.max(1))
            .map(|row| row.iter().position(|&t| t == -1).unwrap_or(c))
            .collect();
        let mut is_label = vec![false; n * c];
        for (row, (&k, labels)) in counts.iter().zip(labels.chunks(c.max(1))).enumerate() {
            labels[..k].iter().for_each(|&y| is_label[row * c + y as usize] = true);
        }
        let is_label = Tensor::<2, Bool>::from_data(TensorData::new(is_label, [n, c]), &device);
        let mut loss = input.clone().sum_dim(1).squeeze_dim::<1>(1).mul_scalar(0.0);
        // One pass per label position: position j of every sample that has a j-th label.
        for j in 0..counts.iter().copied().max().unwrap_or(0) {
            let column: Vec<i64> = (0..n)
                .map(|row| if j < counts[row] { labels[row * c + j] } else { 0 })
                .collect();
            let has: Vec<bool> = counts.iter().map(|&k| j < k).collect();
            let column = Tensor::<1, Int>::from_data(TensorData::new(column, [n]), (&device, burn::tensor::DType::I64));
            let picked = input.clone().gather(1, column.unsqueeze_dim::<2>(1));
            let hinge = relu((input.clone() - picked).add_scalar(1.0)).mask_fill(is_label.clone(), 0.0);
            let absent = Tensor::<1, Bool>::from_data(TensorData::new(has, [n]), &device).bool_not();
            loss = loss + hinge.sum_dim(1).squeeze_dim::<1>(1).mask_fill(absent, 0.0);
        }
        let loss = loss.mul_scalar(1.0 / c as f64);
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
