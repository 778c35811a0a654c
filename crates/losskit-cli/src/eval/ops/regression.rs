//! The elementwise catalogue ops: regression (l1, mse, smooth_l1, huber), likelihoods
//! (poisson_nll, gaussian_nll) and the margins of +-1 targets (soft_margin,
//! hinge_embedding, margin_ranking).

use losskit::{
    GaussianNllLossConfig, HingeEmbeddingLossConfig, HuberLossConfig, L1LossConfig, MarginRankingLossConfig,
    MseLossConfig, PoissonNllLossConfig, SmoothL1LossConfig, SoftMarginLossConfig,
};
use serde_json::Value;

use super::pair::{PairLoss, broadcast_shape, run_pair};
use super::{Call, ELEMENTWISE_RANK, Op, Output, by_reduction, lay_out};
use crate::eval::error::RequestError;
use crate::eval::wire::Field;

/// One input against one broadcast target: l1, mse, smooth_l1, huber, poisson_nll,
/// soft_margin, hinge_embedding.
pub(super) fn elementwise(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let configured = reduction.unwrap_or_default();
    let loss: Box<dyn PairLoss> = match call.op() {
        Op::L1 => Box::new(L1LossConfig::new().with_reduction(configured).init()),
        Op::Mse => Box::new(MseLossConfig::new().with_reduction(configured).init()),
        Op::SmoothL1 => Box::new(
            SmoothL1LossConfig::new()
                .with_beta(opts.number("beta", 1.0)?)
                .with_reduction(configured)
                .init()?,
        ),
        Op::Huber => Box::new(
            HuberLossConfig::new()
                .with_delta(opts.number("delta", 1.0)?)
                .with_reduction(configured)
                .init()?,
        ),
        Op::PoissonNll => Box::new(
            PoissonNllLossConfig::new()
                .with_log_input(opts.boolean("log_input", true)?)
                .with_full(opts.boolean("full", false)?)
                .with_eps(opts.number("eps", 1e-8)?)
                .with_reduction(configured)
                .init(),
        ),
        Op::SoftMargin => Box::new(SoftMarginLossConfig::new().with_reduction(configured).init()),
        _ => Box::new(
            HingeEmbeddingLossConfig::new()
                .with_margin(opts.number("margin", 1.0)?)
                .with_reduction(configured)
                .init(),
        ),
    };
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?.clone();
    let unreduced = if call.op() == Op::SoftMargin {
        input.shape.clone()
    } else {
        broadcast_shape(&[&input.shape, &target.shape])?
    };
    if target.shape.len() > input.shape.len() && call.op() == Op::SoftMargin {
        return Err(RequestError::Shape(format!(
            "output with shape {:?} doesn't match the broadcast shape {:?}",
            input.shape,
            broadcast_shape(&[&input.shape, &target.shape])?
        )));
    }
    let laid = lay_out(&[&input.shape, &target.shape])?;
    let y = call.float(target.floats(), laid[1]);
    let x = call.leaf(Field::Input, laid[0])?;
    let output = run_pair(loss.as_ref(), reduction, unreduced, x, y)?;
    call.respond(output)
}

/// Gaussian NLL: the input, a broadcast target and a variance of the input's shape, with one
/// dimension 1, or without its last dimension.
pub(super) fn gaussian_nll(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let loss = GaussianNllLossConfig::new()
        .with_full(opts.boolean("full", false)?)
        .with_eps(opts.number("eps", 1e-6)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?.clone();
    let var = call.require_float(Field::Var)?.clone();
    if let Some(value) = var.floats().into_iter().find(|&v| v < 0.0) {
        return Err(RequestError::Shape(format!(
            "var has negative entry/entries (found {value})"
        )));
    }
    // PyTorch unsqueezes a var of the input's shape less its last dimension.
    let var_shape = if var.shape.len() + 1 == input.shape.len() && input.shape[..var.shape.len()] == var.shape[..] {
        [var.shape.clone(), vec![1]].concat()
    } else if var.shape.len() == input.shape.len() {
        var.shape.clone()
    } else {
        return Err(RequestError::Shape(format!(
            "var is of incorrect size: {:?} for an input of size {:?}",
            var.shape, input.shape
        )));
    };
    let unreduced = broadcast_shape(&[&input.shape, &target.shape])?;
    let laid = lay_out(&[&input.shape, &target.shape, &var_shape])?;
    let y = call.float(target.floats(), laid[1]);
    let x = call.leaf(Field::Input, laid[0])?;
    let v = call.leaf(Field::Var, laid[2])?;
    let output = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x.clone(), y.clone(), v.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone(), v.clone()),
    )?;
    call.respond(output)
}

/// Margin ranking: two inputs of the same rank and a +-1 target, broadcast together.
pub(super) fn margin_ranking(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let loss = MarginRankingLossConfig::new()
        .with_margin(opts.number("margin", 0.0)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let input2 = call.require_float(Field::Input2)?.clone();
    let target = call.require_float(Field::Target)?.clone();
    if input.shape.len() != input2.shape.len() || input.shape.len() != target.shape.len() {
        return Err(RequestError::Shape(format!(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: input1: {:?}, input2: {:?}, target: {:?}",
            input.shape, input2.shape, target.shape
        )));
    }
    let unreduced = broadcast_shape(&[&input.shape, &input2.shape, &target.shape])?;
    let laid = lay_out(&[&input.shape, &input2.shape, &target.shape])?;
    let t = call.float(target.floats(), laid[2]);
    let x1 = call.leaf(Field::Input, laid[0])?;
    let x2 = call.leaf(Field::Input2, laid[1])?;
    let output: Output<ELEMENTWISE_RANK> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x1.clone(), x2.clone(), t.clone()),
        || loss.forward_no_reduction(x1.clone(), x2.clone(), t.clone()),
    )?;
    call.respond(output)
}
