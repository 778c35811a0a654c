//! The dense layer under burn's autodiff: the forward keeps its operands and output, and
//! the backward computes the gradients of the tracked ones in one kernel call.

use burn::backend::Backend;
use burn::backend::tensor::FloatTensor;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use crate::fused::LossKernels;
use crate::fused::dense::DenseGrads;

/// What the backward of a dense layer reads.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    input: FloatTensor<B>,
    weight: FloatTensor<B>,
    output: FloatTensor<B>,
    relu: bool,
}

#[derive(Debug)]
struct DenseBackward;

impl<B: Backend + LossKernels> Backward<B, 3> for DenseBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<B>(&ops.node);
        let Saved {
            input,
            weight,
            output,
            relu,
        } = ops.state;
        let [x, w, b] = &ops.parents;
        let wants = DenseGrads {
            input: x.is_some(),
            weight: w.is_some(),
            bias: b.is_some(),
            relu,
        };
        let out = B::dense_backward(input, weight, output, upstream, wants);
        for (parent, grad) in ops.parents.into_iter().zip([out.input, out.weight, out.bias]) {
            if let Some(parent) = parent {
                grads.register::<B>(parent.id, grad);
            }
        }
    }
}

/// [`LossKernels::dense`] under autodiff.
pub(super) fn dense<B: Backend + LossKernels, C: CheckpointStrategy>(
    input: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: FloatTensor<Autodiff<B, C>>,
    relu: bool,
) -> FloatTensor<Autodiff<B, C>> {
    let nodes = [input.node(), weight.node(), bias.node()];
    let (x, w, b) = (input.into_primitive(), weight.into_primitive(), bias.into_primitive());
    match DenseBackward.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let output = B::dense(x.clone(), w.clone(), b, relu);
            let saved = Saved {
                input: x,
                weight: w,
                output: output.clone(),
                relu,
            };
            prep.finish(saved, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::dense(x, w, b, relu)),
    }
}
