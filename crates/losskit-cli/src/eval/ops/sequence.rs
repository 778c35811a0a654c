//! The sequence losses: ctc (log-probabilities, padded or concatenated targets, unbatched
//! inputs) and rnnt (logits of the joiner), with their length tensors.

use losskit::{CtcLossConfig, CtcTargets, RnntLossConfig};
use serde_json::Value;

use super::{Call, Output, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::{Checked, Field};

/// The i64 tensor of `field`, which the op needs.
fn index_tensor(call: &Call, field: Field) -> Result<Checked, RequestError> {
    let t = call.require(field)?;
    if !t.is_index {
        let why = "must be an i64 tensor (\"dtype\": \"i64\")".to_string();
        return Err(RequestError::Tensor {
            name: field.name().into(),
            why,
        });
    }
    Ok(t.clone())
}

/// The lengths of `field` as the library takes them, `(N)`: 1-D, or 0-d (one sample) for
/// an unbatched input, whose count the loss then checks as PyTorch does.
fn lengths(call: &Call, field: Field, unbatched: bool) -> Result<Vec<i64>, RequestError> {
    let t = index_tensor(call, field)?;
    if t.shape.len() != 1 && !(unbatched && t.shape.is_empty()) {
        let rank = if unbatched { "1-D or 0-d" } else { "1-D" };
        return Err(RequestError::Shape(format!(
            "{} must be {rank}, got shape {:?}",
            field.name(),
            t.shape
        )));
    }
    t.indices()
}

/// `F.ctc_loss`: log-probabilities `(T, N, C)` or unbatched `(T, C)`, targets `(N, S)`
/// padded or 1-D concatenated (`(S)` unbatched), lengths `(N)` (0-d or `(1)` unbatched).
pub(super) fn ctc(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let loss = CtcLossConfig::new()
        .with_blank(opts.integer("blank", 0)?)
        .with_zero_infinity(opts.boolean("zero_infinity", false)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let (dims, unbatched) = match input.shape[..] {
        [t, c] => ([t, 1, c], true),
        [t, n, c] => ([t, n, c], false),
        _ => {
            let rank = input.shape.len();
            let why =
                format!("Expected 3-dimensional tensor, but got {rank}-dimensional tensor for argument #1 'log_probs'");
            return Err(RequestError::Shape(why));
        }
    };
    let target = index_tensor(call, Field::Target)?;
    let (input_lengths, target_lengths) = (
        lengths(call, Field::InputLengths, unbatched)?,
        lengths(call, Field::TargetLengths, unbatched)?,
    );
    let targets = match (&target.shape[..], unbatched) {
        (&[s], true) => CtcTargets::Padded(call.index(target.indices()?, [1, s])),
        (&[n, s], false) => CtcTargets::Padded(call.index(target.indices()?, [n, s])),
        (&[len], false) => CtcTargets::Concatenated(call.index(target.indices()?, [len])),
        (shape, _) => {
            let expected = if unbatched {
                "(S) for an unbatched input"
            } else {
                "(N, S) padded or 1-D concatenated"
            };
            return Err(RequestError::Shape(format!(
                "targets must be {expected}, got shape {shape:?}"
            )));
        }
    };
    let il = call.index(input_lengths.clone(), [input_lengths.len()]);
    let tl = call.index(target_lengths.clone(), [target_lengths.len()]);
    let unreduced = if unbatched { Vec::new() } else { vec![dims[1]] };
    let x = call.leaf(Field::Input, dims)?;
    let output: Output<1> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x.clone(), targets.clone(), il.clone(), tl.clone()),
        || loss.forward_no_reduction(x.clone(), targets.clone(), il.clone(), tl.clone()),
    )?;
    call.respond(output)
}

/// torchaudio's `rnnt_loss`: logits `(N, T, U + 1, V)`, targets `(N, U)`, logit lengths (the
/// protocol's `input_lengths`) and target lengths `(N)`.
pub(super) fn rnnt(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let loss = RnntLossConfig::new()
        .with_blank(opts.integer("blank", -1)?)
        .with_clamp(opts.number("clamp", -1.0)?)
        .with_fused_log_softmax(opts.boolean("fused_log_softmax", true)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let input = call.require(Field::Input)?.clone();
    let &[n, t, nodes, v] = &input.shape[..] else {
        return Err(RequestError::Shape(format!(
            "logits must be 4-D (batch, time, target, class), got shape {:?}",
            input.shape
        )));
    };
    let target = index_tensor(call, Field::Target)?;
    let &[rows, width] = &target.shape[..] else {
        return Err(RequestError::Shape(format!(
            "targets must be 2-D (batch, max target length), got shape {:?}",
            target.shape
        )));
    };
    let targets = call.index(target.indices()?, [rows, width]);
    let (logit_lengths, target_lengths) = (
        lengths(call, Field::InputLengths, false)?,
        lengths(call, Field::TargetLengths, false)?,
    );
    let ll = call.index(logit_lengths.clone(), [logit_lengths.len()]);
    let tl = call.index(target_lengths.clone(), [target_lengths.len()]);
    let x = call.leaf(Field::Input, [n, t, nodes, v])?;
    let output: Output<1> = by_reduction(
        reduction,
        vec![n],
        || loss.forward(x.clone(), targets.clone(), ll.clone(), tl.clone()),
        || loss.forward_no_reduction(x.clone(), targets.clone(), ll.clone(), tl.clone()),
    )?;
    call.respond(output)
}
