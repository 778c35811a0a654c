//! The linear cross entropy as chunked burn tensor ops, on any backend: the same numbers as
//! the fused CPU path, and (reduced) the same memory bound, one chunk's logits at a time.

use burn::tensor::{Int, Tensor};

use super::ce_terms::{CeOptions, MeanDenominators, ce_terms};
use crate::reduction::Reduction;

/// The operands of a linear cross entropy.
pub(crate) struct LinearOperands {
    /// `(N, H)`.
    pub input: Tensor<2>,
    /// `(V, H)`.
    pub classifier: Tensor<2>,
    /// `(V)`.
    pub bias: Option<Tensor<1>>,
}

impl LinearOperands {
    /// `F.linear` of rows `rows` of the input, `input[rows] @ classifier^T + bias`, with the
    /// rows whose target (`targets`, those rows' targets) is `ignore_index` taken as zeros: an
    /// ignored row has no loss and no gradient, so a non-finite value in it must not reach
    /// the logits (a NaN row there) nor the classifier's gradient (`0 * inf`), as it does not
    /// on the fused path, which skips those rows.
    pub(crate) fn counted_logits(
        &self,
        rows: core::ops::Range<usize>,
        targets: Tensor<1, Int>,
        ignore_index: i64,
    ) -> Tensor<2> {
        let input = self.input.clone().slice([rows]);
        linear(
            without_ignored(input, targets, ignore_index),
            self.classifier.clone(),
            self.bias.clone(),
        )
    }
}

/// `F.linear(input, classifier, bias)`: `input @ classifier^T + bias`.
pub(crate) fn linear(input: Tensor<2>, classifier: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    let [n, h] = input.dims();
    let logits = if n == 0 || h == 0 {
        // Empty (N = 0) or zeros (H = 0, where both sums over H are 0), without a product
        // over an empty dimension (burn-ndarray's matmul divides by the operands' sizes),
        // and with each operand's (zero) gradient.
        input.sum_dim(1) + classifier.sum_dim(1).transpose()
    } else {
        input.matmul(classifier.transpose())
    };
    match bias {
        Some(b) => logits + b.unsqueeze_dim::<2>(0),
        None => logits,
    }
}

/// The linear cross entropy of `ops` against `target` `(N)` (checked), unreduced `(N)` or
/// reduced `[1]`, over chunks of `chunk_rows` rows.
///
/// Reduced, each chunk runs forward and backward on its own detached copies of the
/// operands (its graph, logits included, freed before the next chunk), the gradients are
/// summed, and the result is the summed loss plus `s - detach(s)` with
/// `s = sum(input * d_input) + sum(classifier * d_classifier) + sum(bias * d_bias)`: zero
/// in value, and exactly those gradients (times the upstream) in the caller's graph.
/// Unreduced, each row's upstream value is only known in the backward: the chunks run
/// under the caller's autodiff, which keeps what each chunk's backward needs (its softmax
/// among them), so only the forward is bounded by a chunk there.
pub(crate) fn chunked(
    ops: &LinearOperands,
    target: Tensor<1, Int>,
    o: &CeOptions<'_>,
    reduction: Option<Reduction>,
    chunk_rows: usize,
) -> Tensor<1> {
    let n = target.dims()[0];
    let chunks = (0..n).step_by(chunk_rows.max(1)).map(|r0| r0..(r0 + chunk_rows).min(n));
    let Some(reduction) = reduction else {
        let parts = chunks.map(|rows| {
            let (terms, d) = ce_terms(
                ops.counted_logits(rows.clone(), target.clone().slice([rows.clone()]), o.ignore_index),
                target.clone().slice([rows]),
                o,
            );
            terms.reduce(None, d)
        });
        return Tensor::cat(parts.collect(), 0);
    };
    let d = MeanDenominators::of(&target, o, ops.input.dtype());
    let tracked = [
        ops.input.is_tracked(),
        ops.classifier.is_tracked(),
        ops.bias.as_ref().is_some_and(Tensor::is_tracked),
    ];
    if !tracked.contains(&true) {
        let parts = chunks.map(|rows| {
            let (terms, _) = ce_terms(
                ops.counted_logits(rows.clone(), target.clone().slice([rows.clone()]), o.ignore_index),
                target.clone().slice([rows]),
                o,
            );
            terms.reduce(Some(reduction), d.clone())
        });
        return parts
            .reduce(|a, b| a + b)
            .expect("a batch of at least one row")
            .reshape([1]);
    }
    let leaf = |t: Tensor<2>, on: bool| if on { t.detach().require_grad() } else { t.detach() };
    let classifier = leaf(ops.classifier.clone(), tracked[1]);
    let bias = ops.bias.clone().map(|b| {
        if tracked[2] {
            b.detach().require_grad()
        } else {
            b.detach()
        }
    });
    let mut total: Option<Tensor<1>> = None;
    let mut d_input = Vec::new();
    let (mut d_classifier, mut d_bias) = (None, None);
    for rows in chunks {
        let local = LinearOperands {
            input: leaf(ops.input.clone().slice([rows.clone()]), tracked[0]),
            classifier: classifier.clone(),
            bias: bias.clone(),
        };
        let (terms, _) = ce_terms(
            local.counted_logits(0..rows.len(), target.clone().slice([rows.clone()]), o.ignore_index),
            target.clone().slice([rows]),
            o,
        );
        let part = terms.reduce(Some(reduction), d.clone()).reshape([1]);
        let grads = part.backward();
        if tracked[0] {
            d_input.push(grad_or_empty(&local.input, &grads));
        }
        if tracked[1] {
            d_classifier = plus(d_classifier, grad_or_empty(&classifier, &grads));
        }
        if let (true, Some(b)) = (tracked[2], &bias) {
            d_bias = plus(d_bias, b.grad(&grads).expect("the loss depends on the bias"));
        }
        total = plus(total, part.detach());
    }
    let mut s = None;
    if tracked[0] {
        // The ignored rows' gradient is 0, and their values (inf, NaN) must not make `s` NaN.
        let counted = without_ignored(ops.input.clone(), target.clone(), o.ignore_index);
        s = plus(s, counted.mul(Tensor::cat(d_input, 0)).sum());
    }
    if let Some(g) = d_classifier {
        s = plus(s, ops.classifier.clone().mul(g).sum());
    }
    if let (Some(b), Some(g)) = (&ops.bias, d_bias) {
        s = plus(s, b.clone().mul(g).sum());
    }
    let total = total.expect("a batch of at least one row");
    match s {
        // `s - detach(s)` is exactly 0 wherever `s` is finite.
        Some(s) => total + (s.clone() - s.detach()),
        None => total,
    }
}

/// The gradient of `leaf` in `grads`. burn records none for a leaf with no elements (an
/// input and classifier of `H = 0`, whose product is all zeros): its gradient is then the
/// empty tensor of its shape.
fn grad_or_empty(leaf: &Tensor<2>, grads: &burn::tensor::Gradients) -> Tensor<2> {
    leaf.grad(grads).unwrap_or_else(|| {
        assert_eq!(
            leaf.shape().num_elements(),
            0,
            "the chunk's loss depends on its operands"
        );
        leaf.zeros_like()
    })
}

/// `sum + term`, where `None` is an empty sum.
fn plus<const D: usize>(sum: Option<Tensor<D>>, term: Tensor<D>) -> Option<Tensor<D>> {
    Some(match sum {
        Some(sum) => sum + term,
        None => term,
    })
}

/// `input` `(N, H)` with the rows whose target is `ignore_index` replaced by zeros (in value
/// and gradient); as it is when it has no elements (nothing to mask).
fn without_ignored(input: Tensor<2>, targets: Tensor<1, Int>, ignore_index: i64) -> Tensor<2> {
    let dims = input.dims();
    if dims.contains(&0) {
        return input;
    }
    let ignored = targets.equal_elem(ignore_index).unsqueeze_dim::<2>(1).expand(dims);
    input.mask_fill(ignored, 0.0)
}
