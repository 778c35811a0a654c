//! The multi-class and multi-label margins: multi_margin, multilabel_margin,
//! multilabel_soft_margin.

use losskit::{BroadcastWeight, MultiLabelMarginLossConfig, MultiLabelSoftMarginLossConfig, MultiMarginLossConfig};
use serde_json::Value;

use super::classification::same_shape;
use super::{Call, Output, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::{Checked, Field};

/// An input `(C)` or `(N, C)` as `(N, C)`, with the unreduced wire shape (`[]` or `[N]`).
fn samples(op: &str, input: &Checked) -> Result<([usize; 2], Vec<usize>), RequestError> {
    match input.shape[..] {
        [c] if c > 0 => Ok(([1, c], Vec::new())),
        [n, c] if c > 0 => Ok(([n, c], vec![n])),
        _ => Err(RequestError::Shape(format!(
            "{op}: Expected non-empty vector or matrix with optional 0-dim batch size, but got: {:?}",
            input.shape
        ))),
    }
}

/// Multi-class hinge: scores `(C)` / `(N, C)` against class indices `()` / `(N)`.
pub(super) fn multi_margin(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let p = opts.number("p", 1.0)?;
    if p != 1.0 && p != 2.0 {
        return Err(RequestError::Shape(format!(
            "only p == 1 and p == 2 supported, got {p}"
        )));
    }
    let input = call.require(Field::Input)?.clone();
    let ([n, c], unreduced) = samples("multi_margin_loss", &input)?;
    let weight = opts.class_tensor("weight", c)?;
    let loss = MultiMarginLossConfig::new()
        .with_p(p as u32)
        .with_margin(opts.number("margin", 1.0)?)
        .with_weight(weight)
        .with_reduction(reduction.unwrap_or_default())
        .init(&call.device())?;
    let target = call.require(Field::Target)?.clone();
    let expected: &[usize] = if input.shape.len() == 1 { &[] } else { &[n] };
    // A single sample may also have its target as (1), which PyTorch's unreduced loss keeps.
    let unreduced = if input.shape.len() == 1 && target.shape == [1] {
        vec![1]
    } else {
        unreduced
    };
    if !target.is_index || (target.shape != expected && !(input.shape.len() == 1 && target.shape == [1])) {
        return Err(RequestError::Shape(format!(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of input samples (batch size). Expected target size {expected:?}, but got {:?}. Input has shape {:?}.",
            target.shape, input.shape
        )));
    }
    let y = call.index(target.indices()?, [n]);
    let x = call.leaf(Field::Input, [n, c])?;
    let output: Output<1> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone()),
    )?;
    call.respond(output)
}

/// Multi-label hinge: scores and `-1`-padded class indices, both `(C)` or `(N, C)`.
pub(super) fn multilabel_margin(call: &mut Call) -> Result<Value, RequestError> {
    let reduction = call.options().reduction()?;
    let loss = MultiLabelMarginLossConfig::new()
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let ([n, c], unreduced) = samples("multilabel_margin_loss", &input)?;
    let target = call.require(Field::Target)?.clone();
    if !target.is_index {
        return Err(RequestError::Tensor {
            name: "target".into(),
            why: "must hold class indices (\"dtype\": \"i64\")".into(),
        });
    }
    if target.shape != input.shape {
        return Err(RequestError::Shape(format!(
            "inconsistent target size: {:?} for input of size: {:?}",
            target.shape, input.shape
        )));
    }
    let y = call.index(target.indices()?, [n, c]);
    let x = call.leaf(Field::Input, [n, c])?;
    let output: Output<1> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone()),
    )?;
    call.respond(output)
}

/// Multi-label logistic loss: scores and targets `(N, C)`, a broadcast weight.
pub(super) fn multilabel_soft_margin(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let weight = opts
        .tensor("weight")?
        .map(|w| BroadcastWeight::new(w.floats(), w.shape));
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?.clone();
    same_shape(&input, &target)?;
    let [n, c] = match input.shape[..] {
        [n, c] => [n, c],
        _ => {
            return Err(RequestError::Shape(format!(
                "multilabel_soft_margin takes an input (N, C), got {:?}",
                input.shape
            )));
        }
    };
    let loss = MultiLabelSoftMarginLossConfig::new()
        .with_weight(weight)
        .with_reduction(reduction.unwrap_or_default())
        .init(&call.device())?;
    let y = call.float(target.floats(), [n, c]);
    let x = call.leaf(Field::Input, [n, c])?;
    let output: Output<1> = by_reduction(
        reduction,
        vec![n],
        || loss.forward(x.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), y.clone()),
    )?;
    call.respond(output)
}
