//! What the class-index losses (cross entropy, NLL, softmax focal) share in their front
//! end: when the targets are read on the host, and the loss of an empty batch.

use burn::tensor::{Int, Tensor};

use crate::LossError;
use crate::fused;
use crate::input::class_index::check_targets;
use crate::reduction::{Denominator, Reduction, reduce};

/// The class indices read on the host and checked against `[0, classes)`, when they are
/// needed: always by the fused kernels (which read them in place on the CPU), otherwise
/// only for the check, which `check_values` can turn off on an accelerator.
pub(crate) fn host_targets<const D: usize, const T: usize>(
    input: &Tensor<D>,
    target: &Tensor<T, Int>,
    classes: usize,
    ignore_index: i64,
    check_values: bool,
) -> Result<Option<Vec<i64>>, LossError> {
    if check_values || fused::kernels_can_take(input, &[]) {
        check_targets(target, classes, ignore_index).map(Some)
    } else {
        Ok(None)
    }
}

/// The loss of an empty batch (no target at all): an empty unreduced loss, a zero sum and
/// a NaN mean (0 / 0, as PyTorch's), with a zero gradient for the input.
pub(crate) fn empty_class_loss<const D: usize, const T: usize>(
    input: Tensor<D>,
    reduction: Option<Reduction>,
) -> Tensor<T> {
    // Built from the input (not as fresh zeros), so that its gradient exists: all zeros.
    let loss = input.sum_dim(1).squeeze_dim::<T>(1);
    let nothing = loss.clone().sum();
    reduce(loss, reduction, Denominator::Total(nothing))
}
