//! The element-wise losses of `input` and `target`: `LpLoss` (p = 1), `MseLoss`,
//! `SmoothL1Loss`, `HuberLoss`, `SoftMarginLoss`, `PoissonNllLoss`,
//! `HingeEmbeddingLoss`, `KLDivLoss`. Both tensors are given the larger rank (leading 1s,
//! as PyTorch broadcasts); burn's own broadcasting does the rest.

use burn::nn::loss::{
    HingeEmbeddingLoss, HingeEmbeddingLossConfig, HuberLoss, HuberLossConfig, KLDivLoss, KLDivLossConfig, LpLoss,
    LpLossConfig, MseLoss, PoissonNllLoss, PoissonNllLossConfig, Reduction, SmoothL1Loss, SmoothL1LossConfig,
    SoftMarginLoss,
};
use burn::tensor::Tensor;

use super::super::call::{
    BurnCall, BurnOutput, Inexpressible, MissingOptions, TorchReduction, at_rank, common_rank, padded,
};

/// A burn loss that maps `input` and `target` of one rank to a loss of that rank.
trait Pointwise {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D>;
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1>;
}

/// burn's `Reduction` for PyTorch's, `None` for `"none"` (burn's `forward_no_reduction`).
fn burn_reduction(reduction: TorchReduction) -> Option<Reduction> {
    match reduction {
        TorchReduction::None => None,
        TorchReduction::Mean => Some(Reduction::Mean),
        TorchReduction::Sum => Some(Reduction::Sum),
        TorchReduction::BatchMean => Some(Reduction::BatchMean),
    }
}

/// Runs `loss` on the case's input (tracked) and target at their common rank.
fn run(call: &mut BurnCall, loss: &impl Pointwise, batch_mean: bool) -> Result<BurnOutput, Inexpressible> {
    let reduction = call.reduction()?;
    let mut missing = MissingOptions::default();
    missing.require(
        batch_mean || reduction != TorchReduction::BatchMean,
        reduction.option_name(),
    );
    missing.check()?;
    let rank = common_rank(&[&call.shape("input")?, &call.shape("target")?]);
    at_rank!(rank, run_at(call, loss, reduction))
}

fn run_at<const D: usize>(
    call: &mut BurnCall,
    loss: &impl Pointwise,
    reduction: TorchReduction,
) -> Result<BurnOutput, Inexpressible> {
    let input = call.leaf("input", padded::<D>(&call.shape("input")?))?;
    let target = call.constant("target", padded::<D>(&call.shape("target")?))?;
    Ok(match burn_reduction(reduction) {
        None => call.output(loss.unreduced(input, target)),
        Some(reduction) => call.output(loss.reduced(input, target, reduction)),
    })
}

pub fn l1(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    run(call, &LpLossConfig::l1(), false)
}

pub fn mse(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    run(call, &MseLoss::new(), false)
}

pub fn smooth_l1(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    // burn keeps beta in f32.
    let beta = call.number("beta", 1.0)? as f32;
    run(call, &SmoothL1LossConfig::new().with_beta(beta).init(), false)
}

pub fn huber(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let delta = call.number("delta", 1.0)? as f32;
    run(call, &HuberLossConfig::new(delta).init(), false)
}

pub fn soft_margin(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    run(call, &SoftMarginLoss::new(), false)
}

pub fn poisson_nll(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let config = PoissonNllLossConfig::new()
        .with_log_input(call.boolean("log_input", true)?)
        .with_full(call.boolean("full", false)?)
        .with_eps(call.number("eps", 1e-8)?);
    run(call, &config.init(), false)
}

pub fn hinge_embedding(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let margin = call.number("margin", 1.0)?;
    run(call, &HingeEmbeddingLossConfig::new().with_margin(margin).init(), false)
}

pub fn kl_div(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let log_target = call.boolean("log_target", false)?;
    run(call, &KLDivLossConfig::new().with_log_target(log_target).init(), true)
}

impl Pointwise for LpLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for MseLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for SmoothL1Loss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward_with_reduction(input, target, reduction)
    }
}

impl Pointwise for HuberLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for SoftMarginLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for PoissonNllLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for HingeEmbeddingLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}

impl Pointwise for KLDivLoss {
    fn unreduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>) -> Tensor<D> {
        self.forward_no_reduction(input, target)
    }
    fn reduced<const D: usize>(&self, input: Tensor<D>, target: Tensor<D>, reduction: Reduction) -> Tensor<1> {
        self.forward(input, target, reduction)
    }
}
