//! The margin losses with more than one input or class-index targets: `MarginRankingLoss`
//! and `MultiMarginLoss`; and `GaussianNLLLoss`, which also takes a third tensor.

use burn::nn::loss::{
    GaussianNLLLossConfig, MarginRankingLoss, MarginRankingLossConfig, MultiMarginLossConfig, Reduction,
};

use super::super::call::{
    BurnCall, BurnOutput, Inexpressible, MissingOptions, TorchReduction, at_rank, common_rank, padded,
};

/// burn's `forward(.., reduction)` takes these two.
fn reduced(reduction: TorchReduction) -> Option<Reduction> {
    match reduction {
        TorchReduction::Mean => Some(Reduction::Mean),
        TorchReduction::Sum => Some(Reduction::Sum),
        TorchReduction::None | TorchReduction::BatchMean => None,
    }
}

/// Refuses `"batchmean"`, which only `kl_div` takes.
fn check_reduction(call: &BurnCall) -> Result<TorchReduction, Inexpressible> {
    let reduction = call.reduction()?;
    if reduction == TorchReduction::BatchMean {
        return Err(Inexpressible::NotPyTorch(format!(
            "{} for {}",
            reduction.option_name(),
            call.case.op
        )));
    }
    Ok(reduction)
}

pub fn margin_ranking(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let reduction = check_reduction(call)?;
    let loss = MarginRankingLossConfig::new()
        .with_margin(call.number("margin", 0.0)?)
        .init();
    let rank = common_rank(&[&call.shape("input")?, &call.shape("input2")?, &call.shape("target")?]);
    at_rank!(rank, margin_ranking_at(call, &loss, reduction))
}

fn margin_ranking_at<const D: usize>(
    call: &mut BurnCall,
    loss: &MarginRankingLoss,
    reduction: TorchReduction,
) -> Result<BurnOutput, Inexpressible> {
    let first = call.leaf("input", padded::<D>(&call.shape("input")?))?;
    let second = call.leaf("input2", padded::<D>(&call.shape("input2")?))?;
    let target = call.constant("target", padded::<D>(&call.shape("target")?))?;
    Ok(match reduced(reduction) {
        None => call.output(loss.forward_no_reduction(first, second, target)),
        Some(r) => call.output(loss.forward(first, second, target, r)),
    })
}

pub fn multi_margin(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let reduction = check_reduction(call)?;
    let (input, target) = (call.shape("input")?, call.shape("target")?);
    let mut missing = MissingOptions::default();
    missing.require(input.len() == 2, "unbatched input (C)");
    missing.require(
        target.len() == 1 || input.len() != 2,
        format!("target of rank {}", target.len()),
    );
    missing.require(call.option("weight").is_none(), "weight");
    missing.check()?;
    let loss = MultiMarginLossConfig::new()
        .with_margin(call.number("margin", 1.0)?)
        .with_p(call.number("p", 1.0)? as i32)
        .init();
    let input = call.leaf("input", [input[0], input[1]])?;
    let target = call.indices("target", [target[0]])?;
    Ok(match reduced(reduction) {
        None => call.output(loss.forward_no_reduction(input, target)),
        Some(r) => call.output(loss.forward(input, target, r)),
    })
}

pub fn gaussian_nll(call: &mut BurnCall) -> Result<BurnOutput, Inexpressible> {
    let reduction = check_reduction(call)?;
    let input = call.shape("input")?;
    let mut var = call.shape("var")?;
    // PyTorch unsqueezes a var of input's shape less the last dimension on the right;
    // with burn that is the caller's job.
    if input.split_last().is_some_and(|(_, batch)| batch == var.as_slice()) {
        var.push(1);
    }
    let rank = common_rank(&[&input, &call.shape("target")?, &var]);
    at_rank!(rank, gaussian_nll_at(call, reduction, &var))
}

fn gaussian_nll_at<const D: usize>(
    call: &mut BurnCall,
    reduction: TorchReduction,
    var_shape: &[usize],
) -> Result<BurnOutput, Inexpressible> {
    let loss = GaussianNLLLossConfig::new()
        .with_full(call.boolean("full", false)?)
        .with_eps(call.number("eps", 1e-6)?)
        .init();
    let input = call.leaf("input", padded::<D>(&call.shape("input")?))?;
    let target = call.constant("target", padded::<D>(&call.shape("target")?))?;
    let var = call.leaf("var", padded::<D>(var_shape))?;
    Ok(match reduced(reduction) {
        None => call.output(loss.forward_no_reduction(input, target, var)),
        Some(r) => call.output(loss.forward(input, target, var, r)),
    })
}
