//! Shared by the losses on logits: softplus and the two terms of BCE with logits.

use burn::tensor::{Tensor, activation::log_sigmoid};

/// `softplus(x) = ln(1 + e^x)`, through burn's stable `log_sigmoid` (exact gradient at 0).
pub(crate) fn softplus<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    log_sigmoid(x.neg()).neg()
}

/// The unreduced, unweighted BCE-with-logits terms; `pos_weight` already laid out.
///
/// PyTorch writes `(1 - y) x - (1 + (pw - 1) y) logsigmoid(x)`; the same value as a sum of
/// two non-negative terms, `(1 - y) softplus(x) + pw y softplus(-x)`, cancels nothing, so
/// it keeps full relative precision at logits of +-1e4 and soft targets.
pub(crate) fn bce_with_logits_terms<const D: usize>(
    x: Tensor<D>,
    y: Tensor<D>,
    pos_weight: Option<Tensor<D>>,
) -> Tensor<D> {
    let negative = y.clone().neg().add_scalar(1.0).mul(softplus(x.clone()));
    let positive = match pos_weight {
        Some(pw) => y.mul(pw),
        None => y,
    }
    .mul(softplus(x.neg()));
    negative + positive
}
