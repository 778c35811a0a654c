//! [`MeanDenominator`]: what the mean of a loss without class-index targets divides by,
//! for a caller that reduces by `Reduction::Sum` and divides by a total over micro-batches
//! or ranks (crate docs, "Exact accumulation").

use super::bce::BceLoss;
use super::bce_with_logits::BceWithLogitsLoss;
use super::boxes::BoxIouLoss;
use super::embedding::{CosineEmbeddingLoss, TripletMarginLoss, TripletMarginWithDistanceLoss};
use super::kl_div::{KlDivLoss, KlReduction};
use super::likelihood::{GaussianNllLoss, PoissonNllLoss};
use super::margin::{HingeEmbeddingLoss, MarginRankingLoss, MultiMarginLoss, SoftMarginLoss};
use super::multilabel::{MultiLabelMarginLoss, MultiLabelSoftMarginLoss};
use super::regression::{HuberLoss, L1Loss, MseLoss, SmoothL1Loss};
use super::sigmoid_focal::SigmoidFocalLoss;

/// The denominator of a loss whose mean is a count fixed by the input's shape: the
/// number of elements of its unreduced loss (`forward_no_reduction`'s output).
///
/// For the elementwise losses that is the element count of `input`, the shape the loss's
/// operands broadcast to; for the per-sample losses (embedding, margin over classes,
/// multi-label, boxes) it is the batch size `input[0]`; for [`KlDivLoss`] it follows its
/// reduction (`BatchMean`: `input[0]`, otherwise the element count). The class-index
/// losses' means depend on the target's values instead: see
/// [`CrossEntropyLoss::denominator`](crate::CrossEntropyLoss::denominator).
pub trait MeanDenominator {
    /// What `Reduction::Mean` divides the sum by for an input of shape `input`.
    fn denominator(&self, input: &[usize]) -> usize;
}

/// Losses whose mean is over every element of the input.
macro_rules! over_elements {
    ($($loss:ty),* $(,)?) => {$(
        impl MeanDenominator for $loss {
            fn denominator(&self, input: &[usize]) -> usize {
                input.iter().product()
            }
        }
    )*};
}

/// Losses with one loss per sample of an `(N, ...)` input.
macro_rules! over_samples {
    ($($loss:ty),* $(,)?) => {$(
        impl MeanDenominator for $loss {
            fn denominator(&self, input: &[usize]) -> usize {
                input.first().copied().unwrap_or(1)
            }
        }
    )*};
}

over_elements!(
    BceLoss,
    BceWithLogitsLoss,
    SigmoidFocalLoss,
    L1Loss,
    MseLoss,
    SmoothL1Loss,
    HuberLoss,
    PoissonNllLoss,
    GaussianNllLoss,
    SoftMarginLoss,
    HingeEmbeddingLoss,
    MarginRankingLoss,
);

over_samples!(
    CosineEmbeddingLoss,
    TripletMarginLoss,
    TripletMarginWithDistanceLoss,
    MultiMarginLoss,
    MultiLabelSoftMarginLoss,
    MultiLabelMarginLoss,
    BoxIouLoss,
);

impl MeanDenominator for KlDivLoss {
    fn denominator(&self, input: &[usize]) -> usize {
        match self.reduction {
            KlReduction::BatchMean => input.first().copied().unwrap_or(1),
            KlReduction::Mean | KlReduction::Sum => input.iter().product(),
        }
    }
}
