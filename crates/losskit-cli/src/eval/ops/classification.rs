//! The classification losses: BCE, BCE with logits, sigmoid focal (elementwise), and cross
//! entropy, NLL, softmax focal (class indices or probabilities).

use losskit::{
    BceLossConfig, BceWithLogitsLossConfig, BroadcastWeight, CrossEntropyLossConfig, FocalAlpha, IGNORE_INDEX,
    NllLossConfig, SigmoidFocalLossConfig, SoftmaxFocalLossConfig,
};
use serde_json::Value;

use super::pair::{PairLoss, run_pair};
use super::{Call, Op, Output, by_reduction, lay_out};
use crate::eval::error::RequestError;
use crate::eval::wire::{Checked, Field};

/// Refuses a target whose shape is not the input's, in PyTorch's words.
pub(super) fn same_shape(input: &Checked, target: &Checked) -> Result<(), RequestError> {
    if input.shape != target.shape {
        return Err(RequestError::Shape(format!(
            "Target size {:?} must be the same as input size {:?}",
            target.shape, input.shape
        )));
    }
    Ok(())
}

/// BCE, BCE with logits and sigmoid focal: same-shape input and target, broadcast weights,
/// run at a fixed rank with the shapes padded on the left.
pub(super) fn elementwise(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let (weight, pos_weight) = (opts.tensor("weight")?, opts.tensor("pos_weight")?);
    let (alpha, gamma) = (opts.optional_number("alpha")?, opts.number("gamma", 2.0)?);
    let input = call.require(Field::Input)?.clone();
    let target = call.require_float(Field::Target)?;
    same_shape(&input, target)?;
    // Checked here with the shapes as sent: past this point they are padded to the layout's
    // rank, and the library's message would name the padded ones.
    for (name, w) in [("weight", &weight), ("pos_weight", &pos_weight)] {
        if let Some(w) = w {
            BroadcastWeight::check_broadcast(name, &w.shape, &input.shape)?;
        }
    }
    // The weights are laid out with the input, so that they still broadcast against it.
    let mut shapes = vec![&input.shape[..]];
    shapes.extend(weight.iter().chain(&pos_weight).map(|w| &w.shape[..]));
    let laid = lay_out(&shapes)?;
    let mut weights = laid[1..].iter();
    let mut as_broadcast =
        |w: Checked| BroadcastWeight::new(w.floats(), weights.next().expect("one shape per weight").to_vec());
    let (weight, pos_weight) = (weight.map(&mut as_broadcast), pos_weight.map(&mut as_broadcast));
    let y = call.float(target.floats(), laid[0]);
    let x = call.leaf(Field::Input, laid[0])?;
    let device = x.device();
    let configured = reduction.unwrap_or_default();
    let loss: Box<dyn PairLoss> = match call.op() {
        Op::Bce => Box::new(
            BceLossConfig::new()
                .with_weight(weight)
                .with_reduction(configured)
                .init(&device)?,
        ),
        Op::BceWithLogits => Box::new(
            BceWithLogitsLossConfig::new()
                .with_weight(weight)
                .with_pos_weight(pos_weight)
                .with_reduction(configured)
                .init(&device)?,
        ),
        _ => Box::new(
            SigmoidFocalLossConfig::new()
                .with_alpha(alpha)
                .with_gamma(gamma)
                .with_weight(weight)
                .with_pos_weight(pos_weight)
                .with_reduction(configured)
                .init(&device)?,
        ),
    };
    let output = run_pair(loss.as_ref(), reduction, input.shape.clone(), x, y)?;
    call.respond(output)
}

/// How a class-index request is laid out for the library: `(N, C, S)` with targets `(N, S)`
/// (an unbatched `(C)` input is one sample of one position).
pub(super) struct ClassLayout {
    pub n: usize,
    pub c: usize,
    pub s: usize,
    /// PyTorch's unreduced shape: the input's without the class dimension.
    pub unreduced: Vec<usize>,
}

impl ClassLayout {
    pub fn of(op: Op, shape: &[usize]) -> Result<Self, RequestError> {
        match shape.len() {
            0 => Err(RequestError::Shape(format!(
                "{} needs an input of shape (C), (N, C) or (N, C, d1, ...), got []",
                op.name()
            ))),
            1 => Ok(Self {
                n: 1,
                c: shape[0],
                s: 1,
                unreduced: Vec::new(),
            }),
            _ => {
                let rest = shape[2..].to_vec();
                let unreduced = [vec![shape[0]], rest.clone()].concat();
                Ok(Self {
                    n: shape[0],
                    c: shape[1],
                    s: rest.iter().product(),
                    unreduced,
                })
            }
        }
    }
}

/// Cross entropy, NLL and softmax focal, laid out as `(N, C, S)` with targets `(N, S)`.
pub(super) fn class_loss(call: &mut Call) -> Result<Value, RequestError> {
    let op = call.op();
    let opts = call.options();
    let reduction = opts.reduction()?;
    let ignore_index = opts.integer("ignore_index", IGNORE_INDEX)?;
    let label_smoothing = opts.number("label_smoothing", 0.0)?;
    let gamma = opts.number("gamma", 2.0)?;
    let softcap = opts.optional_number("softcap")?;
    let z_loss = opts.number("z_loss", 0.0)?;
    let input = call.require(Field::Input)?.clone();
    let layout = ClassLayout::of(op, &input.shape)?;
    let (n, c, s) = (layout.n, layout.c, layout.s);
    let weight = opts.class_tensor("weight", c)?;
    let alpha = match opts.get("alpha") {
        None => FocalAlpha::None,
        Some(Value::Number(a)) => FocalAlpha::Scalar(a.as_f64().unwrap_or(f64::NAN)),
        Some(_) => opts
            .class_tensor("alpha", c)?
            .map_or(FocalAlpha::None, FocalAlpha::PerClass),
    };
    let target = call.require(Field::Target)?.clone();
    let configured = reduction.unwrap_or_default();
    let x = call.leaf(Field::Input, [n, c, s])?;
    let device = x.device();
    if op == Op::CrossEntropy && !target.is_index {
        same_shape(&input, &target)?;
        let loss = CrossEntropyLossConfig::new()
            .with_weight(weight)
            .with_ignore_index(ignore_index)
            .with_label_smoothing(label_smoothing)
            .with_softcap(softcap)
            .with_z_loss(z_loss)
            .with_reduction(configured)
            .init(&device)?;
        let y = call.float(target.floats(), [n, c, s]);
        let output = by_reduction(
            reduction,
            layout.unreduced,
            || loss.forward_probs(x.clone(), y.clone()),
            || loss.forward_probs_no_reduction::<3, 2>(x.clone(), y.clone()),
        )?;
        return call.respond(output);
    }
    if !target.is_index {
        return Err(RequestError::Tensor {
            name: "target".into(),
            why: format!("must hold class indices (\"dtype\": \"i64\") for {}", op.name()),
        });
    }
    if target.shape != layout.unreduced {
        return Err(RequestError::Shape(format!(
            "Expected target size {:?}, got {:?} (input size {:?})",
            layout.unreduced, target.shape, input.shape
        )));
    }
    if c == 0 {
        // The library would name the `(N, C, S)` layout; the caller sent `input.shape`.
        return Err(RequestError::Shape(format!(
            "the input {:?} has no classes (C = 0)",
            input.shape
        )));
    }
    let y = call.index(target.indices()?, [n, s]);
    let unreduced = layout.unreduced;
    let output: Output<2> = match op {
        Op::CrossEntropy => {
            let loss = CrossEntropyLossConfig::new()
                .with_weight(weight)
                .with_ignore_index(ignore_index)
                .with_label_smoothing(label_smoothing)
                .with_softcap(softcap)
                .with_z_loss(z_loss)
                .with_reduction(configured)
                .init(&device)?;
            by_reduction(
                reduction,
                unreduced,
                || loss.forward(x.clone(), y.clone()),
                || loss.forward_no_reduction(x.clone(), y.clone()),
            )?
        }
        Op::Nll => {
            let loss = NllLossConfig::new()
                .with_weight(weight)
                .with_ignore_index(ignore_index)
                .with_reduction(configured)
                .init(&device);
            by_reduction(
                reduction,
                unreduced,
                || loss.forward(x.clone(), y.clone()),
                || loss.forward_no_reduction(x.clone(), y.clone()),
            )?
        }
        _ => {
            let loss = SoftmaxFocalLossConfig::new()
                .with_alpha(alpha)
                .with_gamma(gamma)
                .with_ignore_index(ignore_index)
                .with_reduction(configured)
                .init(&device)?;
            by_reduction(
                reduction,
                unreduced,
                || loss.forward(x.clone(), y.clone()),
                || loss.forward_no_reduction(x.clone(), y.clone()),
            )?
        }
    };
    call.respond(output)
}
