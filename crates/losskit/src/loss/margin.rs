//! The margin losses on +-1 targets and class indices: `torch.nn.SoftMarginLoss`,
//! `HingeEmbeddingLoss`, `MarginRankingLoss`, `MultiMarginLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use super::kinks::relu;
use super::logits::softplus;
use crate::input::checks::{broadcast_dims, cast};
use crate::input::class_index::{ClassWeight, check_targets};
use crate::reduction::{Denominator, reduce};
use crate::{LossError, Reduction};

/// Configuration of [`SoftMarginLoss`]: `torch.nn.SoftMarginLoss(reduction='mean')`.
#[derive(Config, Debug)]
pub struct SoftMarginLossConfig {
    /// How [`SoftMarginLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl SoftMarginLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> SoftMarginLoss {
        SoftMarginLoss {
            reduction: self.reduction,
        }
    }
}

/// Two-class logistic loss on targets of +-1, as `torch.nn.SoftMarginLoss` /
/// `F.soft_margin_loss(input, target, reduction=...)`:
///
/// ```text
/// l = ln(1 + exp(-t x)) = softplus(-t x)        dl/dx = -t sigmoid(-t x)
/// ```
/// computed as a softplus, so it stays finite where PyTorch's `log1p(exp(-t x))` overflows
/// (f32 past `-t x = 88.7`: PyTorch gives inf and a NaN gradient, this gives `-t x` and `-t`).
///
/// # Shapes
/// - `input`: any shape; `target`: the same rank, broadcast to the input's shape
/// - reduced: `[1]`; unreduced: the input's shape
#[derive(Module, Debug)]
pub struct SoftMarginLoss {
    #[module(skip)]
    reduction: Reduction,
}

impl SoftMarginLoss {
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
        if broadcast_dims(&dims, &target.dims())? != dims {
            return Err(LossError::Shape(format!(
                "output with shape {dims:?} doesn't match the broadcast shape {:?}",
                broadcast_dims(&dims, &target.dims())?
            )));
        }
        let t = cast(target, input.dtype());
        Ok(reduce(softplus(input.mul(t).neg()), reduction, Denominator::Numel))
    }
}

/// Configuration of [`HingeEmbeddingLoss`]: `torch.nn.HingeEmbeddingLoss(margin=1.0,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct HingeEmbeddingLossConfig {
    /// The margin of the dissimilar pairs.
    #[config(default = 1.0)]
    pub margin: f64,
    /// How [`HingeEmbeddingLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl HingeEmbeddingLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> HingeEmbeddingLoss {
        HingeEmbeddingLoss {
            margin: self.margin,
            reduction: self.reduction,
        }
    }
}

/// Hinge embedding loss of distances `input` with targets of +-1, as
/// `torch.nn.HingeEmbeddingLoss` / `F.hinge_embedding_loss(input, target, margin, reduction)`:
///
/// ```text
/// l = x                      t = 1
///     max(0, margin - x)     t = -1        (gradient 0 at x = margin)
/// ```
/// and, as PyTorch computes it, the sum of both for any other target value.
///
/// # Shapes
/// - `input`, `target`: the same rank, broadcast against each other
/// - reduced: `[1]`; unreduced: the broadcast shape
#[derive(Module, Debug)]
pub struct HingeEmbeddingLoss {
    margin: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl HingeEmbeddingLoss {
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
        // Both in the broadcast shape (burn's expand refuses a dimension of 0; a sum does not).
        let (x, t) = (input.clone() + t.zeros_like(), t + input.zeros_like());
        let dissimilar = relu(x.clone().neg().add_scalar(self.margin)).mask_fill(t.clone().equal_elem(1.0), 0.0);
        let similar = x.mask_fill(t.equal_elem(-1.0), 0.0);
        Ok(reduce(dissimilar + similar, reduction, Denominator::Numel))
    }
}

/// Configuration of [`MarginRankingLoss`]: `torch.nn.MarginRankingLoss(margin=0.0,
/// reduction='mean')`.
#[derive(Config, Debug)]
pub struct MarginRankingLossConfig {
    /// How far the ranked pair must be apart.
    #[config(default = 0.0)]
    pub margin: f64,
    /// How [`MarginRankingLoss::forward`] reduces: `Mean` divides by the element count.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl MarginRankingLossConfig {
    /// Builds the loss.
    pub fn init(&self) -> MarginRankingLoss {
        MarginRankingLoss {
            margin: self.margin,
            reduction: self.reduction,
        }
    }
}

/// Ranking loss of two scores with targets of +-1 (1: the first should rank higher), as
/// `torch.nn.MarginRankingLoss` / `F.margin_ranking_loss(input1, input2, target, margin,
/// reduction)`:
///
/// ```text
/// l = max(0, -t (x1 - x2) + margin)       (gradient 0 where the argument is 0)
/// ```
/// Both inputs get a gradient.
///
/// # Shapes
/// - `input1`, `input2`, `target`: the same rank, broadcast against each other
/// - reduced: `[1]`; unreduced: the broadcast shape
#[derive(Module, Debug)]
pub struct MarginRankingLoss {
    margin: f64,
    #[module(skip)]
    reduction: Reduction,
}

impl MarginRankingLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward<const D: usize>(
        &self,
        input1: Tensor<D>,
        input2: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input1, input2, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each element, the broadcast shape (`reduction='none'`).
    pub fn forward_no_reduction<const D: usize>(
        &self,
        input1: Tensor<D>,
        input2: Tensor<D>,
        target: Tensor<D>,
    ) -> Result<Tensor<D>, LossError> {
        self.compute(input1, input2, target, None)
    }

    fn compute<const D: usize>(
        &self,
        input1: Tensor<D>,
        input2: Tensor<D>,
        target: Tensor<D>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<D>, LossError> {
        let pair = broadcast_dims(&input1.dims(), &input2.dims())?;
        broadcast_dims(&pair, &target.dims())?;
        let t = cast(target, input1.dtype());
        let z = (input1 - input2).mul(t).neg().add_scalar(self.margin);
        Ok(reduce(relu(z), reduction, Denominator::Numel))
    }
}

/// Configuration of [`MultiMarginLoss`]: `torch.nn.MultiMarginLoss(p=1, margin=1.0,
/// weight=None, reduction='mean')`.
#[derive(Config, Debug)]
pub struct MultiMarginLossConfig {
    /// The exponent of each hinge: 1 or 2.
    #[config(default = 1)]
    pub p: u32,
    /// The margin between the target's score and the others'.
    #[config(default = 1.0)]
    pub margin: f64,
    /// Per-class weight `(C)`, scaling each sample's loss by its target's weight; none by
    /// default.
    pub weight: Option<Vec<f64>>,
    /// How [`MultiMarginLoss::forward`] reduces: `Mean` divides by the number of samples.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl MultiMarginLossConfig {
    /// Checks `p` and builds the loss with its weight on `device`.
    pub fn init(&self, device: &Device) -> Result<MultiMarginLoss, LossError> {
        if self.p != 1 && self.p != 2 {
            return Err(LossError::Option {
                name: "p",
                expected: "1 or 2 (only p == 1 and p == 2 supported)",
                value: self.p as f64,
            });
        }
        Ok(MultiMarginLoss {
            p: self.p,
            margin: self.margin,
            weight: self.weight.as_deref().map(|w| ClassWeight::new(w, device)),
            reduction: self.reduction,
        })
    }
}

/// Multi-class hinge loss on scores `(N, C)` with class indices, as
/// `torch.nn.MultiMarginLoss` / `F.multi_margin_loss(input, target, p, margin, weight,
/// reduction)`:
///
/// ```text
/// l_n = sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C       (gradient 0 at the hinge)
/// mean = sum_n l_n / N
/// ```
/// The target's weight scales the whole sample, outside the power, as in PyTorch. A mean
/// over no sample is NaN and a sum 0 (PyTorch returns uninitialised memory there).
///
/// # Shapes
/// - `input`: `(N, C)` (a single sample `(C)` is written `(1, C)`); `target`: `(N)`, in `[0, C)`
/// - reduced: `[1]`; unreduced: `(N)`
#[derive(Module, Debug)]
pub struct MultiMarginLoss {
    p: u32,
    margin: f64,
    weight: Option<ClassWeight>,
    #[module(skip)]
    reduction: Reduction,
}

impl MultiMarginLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(&self, input: Tensor<2>, target: Tensor<1, Int>) -> Result<Tensor<1>, LossError> {
        Ok(self.compute(input, target, Some(self.reduction))?.reshape([1]))
    }

    /// The loss of each sample, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(&self, input: Tensor<2>, target: Tensor<1, Int>) -> Result<Tensor<1>, LossError> {
        self.compute(input, target, None)
    }

    fn compute(
        &self,
        input: Tensor<2>,
        target: Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let [n, c] = input.dims();
        if target.dims() != [n] {
            return Err(LossError::Shape(format!(
                "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). Expected target size [{n}], but got {:?}. Input has shape {:?}.",
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
        if let Some(w) = &self.weight {
            w.check("weight", c)?;
        }
        if n == 0 {
            let loss = input.sum_dim(1).squeeze_dim::<1>(1);
            return Ok(reduce(loss, reduction, Denominator::Numel));
        }
        check_targets(&target, c, i64::MIN)?;
        let dtype = input.dtype();
        let index = target.clone().unsqueeze_dim::<2>(1);
        let picked = input.clone().gather(1, index.clone());
        let classes = Tensor::<1, Int>::arange(0..c as i64, &input.device())
            .cast(target.dtype())
            .unsqueeze_dim::<2>(0);
        let is_target = classes.expand([n, c]).equal(index.expand([n, c]));
        let hinge = relu((input - picked).add_scalar(self.margin)).mask_fill(is_target, 0.0);
        let hinge = if self.p == 2 { hinge.square() } else { hinge };
        // Times 1/C, not div_scalar: burn 0.22.1 differentiates div_scalar with an f32 reciprocal.
        let mut loss = hinge.sum_dim(1).squeeze_dim::<1>(1).mul_scalar(1.0 / c as f64);
        if let Some(w) = &self.weight {
            loss = loss * w.tensor(dtype).select(0, target);
        }
        Ok(reduce(loss, reduction, Denominator::Numel))
    }
}
