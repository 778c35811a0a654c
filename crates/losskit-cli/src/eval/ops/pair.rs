//! The losses of one input against one same-rank target (broadcast as PyTorch does), served
//! at the fixed rank of the protocol's elementwise ops.

use burn::tensor::Tensor;
use losskit::{
    BceLoss, BceWithLogitsLoss, HingeEmbeddingLoss, HuberLoss, L1Loss, LossError, MseLoss, PoissonNllLoss, Reduction,
    SigmoidFocalLoss, SmoothL1Loss, SoftMarginLoss,
};

use super::ELEMENTWISE_RANK as RANK;
use super::{Output, by_reduction};
use crate::eval::error::RequestError;

/// A loss with `forward` and `forward_no_reduction` of `(input, target)` at one rank.
pub(super) trait PairLoss {
    fn reduced(&self, input: Tensor<RANK>, target: Tensor<RANK>) -> Result<Tensor<1>, LossError>;
    fn unreduced(&self, input: Tensor<RANK>, target: Tensor<RANK>) -> Result<Tensor<RANK>, LossError>;
}

macro_rules! pair_losses {
    ($($loss:ty),* $(,)?) => {$(
        impl PairLoss for $loss {
            fn reduced(&self, input: Tensor<RANK>, target: Tensor<RANK>) -> Result<Tensor<1>, LossError> {
                self.forward(input, target)
            }
            fn unreduced(&self, input: Tensor<RANK>, target: Tensor<RANK>) -> Result<Tensor<RANK>, LossError> {
                self.forward_no_reduction(input, target)
            }
        }
    )*};
}

pair_losses!(
    BceLoss,
    BceWithLogitsLoss,
    SigmoidFocalLoss,
    L1Loss,
    MseLoss,
    SmoothL1Loss,
    HuberLoss,
    PoissonNllLoss,
    SoftMarginLoss,
    HingeEmbeddingLoss,
);

/// `loss` of the padded `input` and `target` (configured with `reduction`'s reduction),
/// unreduced in the wire shape `unreduced` when `reduction` is `None`.
pub(super) fn run_pair(
    loss: &dyn PairLoss,
    reduction: Option<Reduction>,
    unreduced: Vec<usize>,
    input: Tensor<RANK>,
    target: Tensor<RANK>,
) -> Result<Output<RANK>, RequestError> {
    by_reduction(
        reduction,
        unreduced,
        || loss.reduced(input.clone(), target.clone()),
        || loss.unreduced(input.clone(), target.clone()),
    )
}

/// The shape `shapes` broadcast to (NumPy's rule, right-aligned), or PyTorch's error.
pub(super) fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, RequestError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for shape in shapes {
        for (k, &d) in shape.iter().enumerate() {
            let slot = &mut out[rank - shape.len() + k];
            *slot = match (*slot, d) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                (a, b) => {
                    return Err(RequestError::Shape(format!(
                        "The size of tensor a ({a}) must match the size of tensor b ({b}) at non-singleton dimension {}",
                        rank - shape.len() + k
                    )));
                }
            };
        }
    }
    Ok(out)
}
