//! The linear cross entropy under burn's autodiff.
//!
//! Reduced (a mean or a sum), the forward pass computes every tracked operand's gradient
//! with the loss, and the backward scales them by the one upstream value
//! ([`PrecomputedBackward`] with three parents: input, classifier, bias). Unreduced, each
//! row's upstream value is only known in the backward, and the classifier's gradient sums
//! the rows' contributions weighted by it: the forward computes the losses alone, and the
//! backward runs the chunks again with the upstream folded into each row's gradient
//! ([`RecomputeBackward`]). Either way no `(N, V)` tensor is ever held.

use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use super::{Combine, LocalGrad, PrecomputedBackward};
use crate::fused::linear::{LinearCall, LinearGrads, LinearOutput};
use crate::fused::{LossForm, LossKernels};

/// What the backward of an unreduced linear cross entropy runs again.
#[derive(Debug, Clone)]
struct Recompute<B: Backend> {
    input: FloatTensor<B>,
    classifier: FloatTensor<B>,
    bias: FloatTensor<B>,
    call: LinearCall,
}

/// The backward of an unreduced linear cross entropy: the chunks again, each row's
/// gradient times its upstream value.
#[derive(Debug)]
struct RecomputeBackward;

impl<B: Backend + LossKernels> Backward<B, 3> for RecomputeBackward {
    type State = Recompute<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<B>(&ops.node);
        let Recompute {
            input,
            classifier,
            bias,
            mut call,
        } = ops.state;
        let [x, w, b] = &ops.parents;
        call.grads = LinearGrads {
            input: x.is_some(),
            classifier: w.is_some(),
            bias: b.is_some(),
        };
        let out = B::linear_cross_entropy(input, classifier, bias, upstream, call);
        for (parent, grad) in ops.parents.into_iter().zip([out.input, out.classifier, out.bias]) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, grad);
            }
        }
    }
}

/// [`LossKernels::linear_cross_entropy`] under autodiff: `upstream` is empty here (the
/// forward's), and its handle stands for the empty gradients this level returns.
pub(super) fn linear_cross_entropy<B: Backend + LossKernels, C: CheckpointStrategy>(
    input: FloatTensor<Autodiff<B, C>>,
    classifier: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    upstream: FloatTensor<Autodiff<B, C>>,
    mut call: LinearCall,
) -> LinearOutput<Autodiff<B, C>> {
    let tracked = LinearGrads {
        input: input.is_tracked(),
        classifier: classifier.is_tracked(),
        bias: bias.is_tracked(),
    };
    let nodes = [input.node(), classifier.node(), bias.node()];
    let (x, w, b) = (
        input.into_primitive(),
        classifier.into_primitive(),
        bias.into_primitive(),
    );
    let upstream = upstream.into_primitive();
    let empty = || Autodiff::<B, C>::from_inner(upstream.clone());
    let untracked =
        |call: LinearCall| B::linear_cross_entropy(x.clone(), w.clone(), b.clone(), upstream.clone(), call).loss;
    call.grads = LinearGrads::default();
    let loss = match call.rows.form {
        LossForm::ScaledSum(_) => match PrecomputedBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let call = LinearCall { grads: tracked, ..call };
                let out = B::linear_cross_entropy(x.clone(), w.clone(), b.clone(), upstream.clone(), call);
                let local = |on: bool, grad| {
                    on.then_some(LocalGrad {
                        grad,
                        combine: Combine::Scalar,
                    })
                };
                let state = [
                    local(tracked.input, out.input),
                    local(tracked.classifier, out.classifier),
                    local(tracked.bias, out.bias),
                ];
                prep.finish(state, out.loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(untracked(call)),
        },
        LossForm::PerItem => match RecomputeBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let loss = untracked(call.clone());
                prep.finish(
                    Recompute {
                        input: x.clone(),
                        classifier: w.clone(),
                        bias: b.clone(),
                        call,
                    },
                    loss,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(untracked(call)),
        },
    };
    LinearOutput {
        loss,
        input: empty(),
        classifier: empty(),
        bias: empty(),
    }
}
