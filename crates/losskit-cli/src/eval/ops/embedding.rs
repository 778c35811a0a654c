//! The embedding losses: cosine_embedding, triplet_margin, triplet_margin_with_distance.

use losskit::{
    CosineEmbeddingLossConfig, TripletDistance, TripletMarginLossConfig, TripletMarginWithDistanceLossConfig,
};
use serde_json::Value;

use super::{Call, Op, Output, by_reduction};
use crate::eval::error::RequestError;
use crate::eval::wire::{Checked, Field};

/// A batch `(N, D)` or a single embedding `(D)` as `(N, D)`, with the unreduced wire shape.
fn batch(t: &Checked) -> Option<([usize; 2], Vec<usize>)> {
    match t.shape[..] {
        [d] => Some(([1, d], Vec::new())),
        [n, d] => Some(([n, d], vec![n])),
        _ => None,
    }
}

/// Cosine embedding: two batches of embeddings and a +-1 target per pair.
pub(super) fn cosine_embedding(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let loss = CosineEmbeddingLossConfig::new()
        .with_margin(opts.number("margin", 0.0)?)
        .with_reduction(reduction.unwrap_or_default())
        .init();
    let (a, b) = (
        call.require(Field::Input)?.clone(),
        call.require_float(Field::Input2)?.clone(),
    );
    let target = call.require_float(Field::Target)?.clone();
    let (dims, unreduced) = match (&a.shape[..], target.shape.len()) {
        (&[d], 0) => ([1, d], Vec::new()),
        (&[n, d], 1) => ([n, d], vec![n]),
        (_, 0) => {
            let why = format!(
                "0D target tensor expects 1D input tensors, but found inputs with sizes {:?} and {:?}.",
                a.shape, b.shape
            );
            return Err(RequestError::Shape(why));
        }
        (_, 1) => {
            let why = format!(
                "1D target tensor expects 2D input tensors, but found inputs with sizes {:?} and {:?}.",
                a.shape, b.shape
            );
            return Err(RequestError::Shape(why));
        }
        _ => {
            return Err(RequestError::Shape(
                "0D or 1D target tensor expected, multi-target not supported".into(),
            ));
        }
    };
    if a.shape != b.shape || (dims[0] != target.shape.first().copied().unwrap_or(1)) {
        return Err(RequestError::Shape(format!(
            "input1 {:?}, input2 {:?} and target {:?} do not match (one target per pair)",
            a.shape, b.shape, target.shape
        )));
    }
    let t = call.float(target.floats(), [dims[0]]);
    let x1 = call.leaf(Field::Input, dims)?;
    let x2 = call.leaf(Field::Input2, dims)?;
    let output: Output<1> = by_reduction(
        reduction,
        unreduced,
        || loss.forward(x1.clone(), x2.clone(), t.clone()),
        || loss.forward_no_reduction(x1.clone(), x2.clone(), t.clone()),
    )?;
    call.respond(output)
}

/// The triplet losses: anchor (`input`), positive and negative, all `(N, D)` or `(D)`.
pub(super) fn triplet(call: &mut Call) -> Result<Value, RequestError> {
    let opts = call.options();
    let reduction = opts.reduction()?;
    let (a, p, n) = (
        call.require(Field::Input)?.clone(),
        call.require_float(Field::Positive)?.clone(),
        call.require_float(Field::Negative)?.clone(),
    );
    if a.shape.len() != p.shape.len() || a.shape.len() != n.shape.len() {
        return Err(RequestError::Shape(format!(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but got: anchor {}D, positive {}D, and negative {}D inputs",
            a.shape.len(),
            p.shape.len(),
            n.shape.len()
        )));
    }
    let Some((dims, unreduced)) = batch(&a) else {
        return Err(RequestError::Shape(format!(
            "the triplet losses take (N, D) or (D) embeddings, got {:?}",
            a.shape
        )));
    };
    if p.shape != a.shape || n.shape != a.shape {
        return Err(RequestError::Shape(format!(
            "anchor {:?}, positive {:?} and negative {:?} must have the same shape",
            a.shape, p.shape, n.shape
        )));
    }
    let configured = reduction.unwrap_or_default();
    let margin = opts.number("margin", 1.0)?;
    let swap = opts.boolean("swap", false)?;
    let distance = match opts.get("distance") {
        None => TripletDistance::Pairwise,
        Some(Value::String(s)) if s == "pairwise" => TripletDistance::Pairwise,
        Some(Value::String(s)) if s == "cosine" => TripletDistance::Cosine,
        Some(v) => {
            return Err(RequestError::OptionType {
                key: "distance".into(),
                expected: "\"pairwise\" or \"cosine\"",
                value: v.clone(),
            });
        }
    };
    if distance == TripletDistance::Cosine && a.shape.len() == 1 {
        // F.cosine_similarity along dim 1 of a single embedding, as PyTorch refuses it.
        return Err(RequestError::Shape(
            "Dimension out of range (expected to be in range of [-1, 0], but got 1)".into(),
        ));
    }
    enum Triplet {
        Margin(losskit::TripletMarginLoss),
        Distance(losskit::TripletMarginWithDistanceLoss),
    }
    let loss = if call.op() == Op::TripletMargin {
        let loss = TripletMarginLossConfig::new()
            .with_margin(margin)
            .with_p(opts.number("p", 2.0)?)
            .with_eps(opts.number("eps", 1e-6)?)
            .with_swap(swap)
            .with_reduction(configured)
            .init()?;
        Triplet::Margin(loss)
    } else {
        let config = TripletMarginWithDistanceLossConfig::new()
            .with_distance(distance)
            .with_margin(margin)
            .with_swap(swap);
        Triplet::Distance(config.with_reduction(configured).init()?)
    };
    let anchor = call.leaf(Field::Input, dims)?;
    let positive = call.leaf(Field::Positive, dims)?;
    let negative = call.leaf(Field::Negative, dims)?;
    let (a, p, n) = (|| anchor.clone(), || positive.clone(), || negative.clone());
    let output: Output<1> = match &loss {
        Triplet::Margin(l) => by_reduction(
            reduction,
            unreduced,
            || l.forward(a(), p(), n()),
            || l.forward_no_reduction(a(), p(), n()),
        )?,
        Triplet::Distance(l) => by_reduction(
            reduction,
            unreduced,
            || l.forward(a(), p(), n()),
            || l.forward_no_reduction(a(), p(), n()),
        )?,
    };
    call.respond(output)
}
