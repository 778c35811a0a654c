//! Softmax, log-softmax and entropy along a dimension, and the KL divergence.

use losskit::{KlDivLossConfig, KlReduction, LossError, entropy, log_softmax, softmax};
use serde_json::Value;

use super::classification::same_shape;
use super::{Call, Op, Output, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::Field;

/// Softmax, log-softmax and entropy along `dim`, laid out as `(before, dim, after)`.
pub(super) fn along_dim(call: &mut Call) -> Result<Value, RequestError> {
    let dim = call.options().integer("dim", -1)?;
    let shape = call.require(Field::Input)?.shape.clone();
    // A 0-dim tensor has one position along dim 0 or -1, as in PyTorch.
    let rank = shape.len().max(1);
    if dim < -(rank as i64) || dim >= rank as i64 {
        return Err(LossError::DimOutOfRange { dim, rank }.into());
    }
    let d = if dim < 0 {
        (dim + rank as i64) as usize
    } else {
        dim as usize
    };
    let full = if shape.is_empty() { vec![1] } else { shape.clone() };
    let before = full[..d].iter().product();
    let after = full[d + 1..].iter().product();
    let x = call.leaf(Field::Input, [before, full[d], after])?;
    if call.op() == Op::Entropy {
        let mut reduced = shape;
        if !reduced.is_empty() {
            reduced.remove(d);
        }
        return call.respond(Output {
            tensor: entropy::<3, 2>(x, 1)?,
            shape: reduced,
        });
    }
    let tensor = if call.op() == Op::Softmax {
        softmax(x, 1)?
    } else {
        log_softmax(x, 1)?
    };
    call.respond(Output { tensor, shape })
}

/// KL divergence; shapes padded on the right so that `batchmean` still divides by dim 0.
pub(super) fn kl_div(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = match opts.get("reduction") {
        Some(Value::String(s)) if s == "batchmean" => Some(KlReduction::BatchMean),
        _ => opts.reduction()?.map(|r| match r {
            losskit::Reduction::Mean => KlReduction::Mean,
            losskit::Reduction::Sum => KlReduction::Sum,
        }),
    };
    let log_target = opts.boolean("log_target", false)?;
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?;
    same_shape(&input, target)?;
    // (batch, the rest): batchmean divides by dimension 0, everything else is elementwise.
    let batch = input.shape.first().copied().unwrap_or(1);
    let rest = input.shape.iter().skip(1).product();
    let y = call.float(target.floats(), [batch, rest]);
    let x = call.leaf(Field::Input, [batch, rest])?;
    let loss = KlDivLossConfig::new()
        .with_reduction(reduction.unwrap_or_default())
        .with_log_target(log_target)
        .init();
    // by_reduction tells reduced from unreduced; the KL reduction itself is the loss's own.
    let reduced = reduction.map(|_| losskit::Reduction::Mean);
    let output: Output<2> = by_reduction(
        reduced,
        input.shape,
        || loss.forward(x.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone()),
    )?;
    call.respond(output)
}
