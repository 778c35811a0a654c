//! `linear_cross_entropy`: the cross entropy of `F.linear(input, classifier, bias)`, which
//! the library computes in chunks of rows without the `(N, V)` logits.

use losskit::{IGNORE_INDEX, LinearCrossEntropyLossConfig};
use serde_json::Value;

use super::{Call, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::Field;

/// `input` `(N, H)`, `classifier` `(V, H)`, optional `bias` `(V)`, `target` `i64` `(N)`, with
/// the options of class-index cross entropy; the response has `grad_input`,
/// `grad_classifier` and (with a bias) `grad_bias`.
pub(super) fn linear_cross_entropy(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let ignore_index = opts.integer("ignore_index", IGNORE_INDEX)?;
    let label_smoothing = opts.number("label_smoothing", 0.0)?;
    let softcap = opts.optional_number("softcap")?;
    let z_loss = opts.number("z_loss", 0.0)?;
    let input = call.require(Field::Input)?.clone();
    let classifier = call.require_float(Field::Classifier)?.clone();
    let &[n, h] = input.shape.as_slice() else {
        return Err(RequestError::Shape(format!(
            "linear_cross_entropy's input is (N, H), got shape {:?}",
            input.shape
        )));
    };
    let (v, hc) = match classifier.shape.as_slice() {
        &[v, hc] => (v, hc),
        // F.linear with a 1-D weight gives (N) logits, which cross_entropy reads as class
        // probabilities against integer targets: PyTorch's error.
        &[_] => {
            return Err(RequestError::Shape(
                "Expected floating point type for target with class probabilities, got Long".into(),
            ));
        }
        other => {
            return Err(RequestError::Shape(format!(
                "classifier is (V, H), got shape {other:?}"
            )));
        }
    };
    let weight = opts.class_tensor("weight", v)?;
    let target = call.require(Field::Target)?.clone();
    if !target.is_index {
        return Err(RequestError::Tensor {
            name: "target".into(),
            why: "must hold class indices (\"dtype\": \"i64\") for linear_cross_entropy".into(),
        });
    }
    let &[targets] = target.shape.as_slice() else {
        return Err(RequestError::Shape(format!(
            "linear_cross_entropy's target is (N), got shape {:?}",
            target.shape
        )));
    };
    let bias_len = match call.get(Field::Bias).map(|b| b.shape.clone()) {
        None => None,
        Some(shape) => match shape.as_slice() {
            &[len] => Some(len),
            other => return Err(RequestError::Shape(format!("bias is (V), got shape {other:?}"))),
        },
    };
    let x = call.leaf(Field::Input, [n, h])?;
    let w = call.leaf(Field::Classifier, [v, hc])?;
    let b = bias_len.map(|len| call.leaf(Field::Bias, [len])).transpose()?;
    let y = call.index(target.indices()?, [targets]);
    let loss = LinearCrossEntropyLossConfig::new()
        .with_weight(weight)
        .with_ignore_index(ignore_index)
        .with_label_smoothing(label_smoothing)
        .with_softcap(softcap)
        .with_z_loss(z_loss)
        .with_reduction(reduction.unwrap_or_default())
        .init(&x.device())?;
    let output = by_reduction(
        reduction,
        vec![targets],
        || loss.forward(x.clone(), w.clone(), b.clone(), y.clone()),
        || loss.forward_no_reduction(x.clone(), w.clone(), b.clone(), y.clone()),
    )?;
    call.respond(output)
}
