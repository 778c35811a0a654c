//! The denominators of the class-index losses' means, for a caller that reduces by
//! `Reduction::Sum` and divides by a total over micro-batches or ranks (crate docs,
//! "Exact accumulation").

use burn::tensor::{DType, Int, Tensor};

use super::cross_entropy::CrossEntropyLoss;
use super::nll::NllLoss;
use super::softmax_focal::SoftmaxFocalLoss;
use crate::LossError;
use crate::input::checks::{cast, indices};
use crate::input::class_index::{ClassWeight, ignored};

/// `sum_{i not ignored} w[y_i]` (the count without a weight) as a `[1]` tensor in `dtype`.
///
/// With `check_values`, the targets are read on the host and refused as the loss would
/// refuse them: a negative index other than `ignore_index`, or (with a weight, which tells
/// the number of classes) one of `C` or more. Without it an index past the weight is an
/// unspecified result, as in the loss.
fn counted_weight<const T: usize>(
    target: &Tensor<T, Int>,
    weight: Option<&ClassWeight>,
    ignore_index: i64,
    check_values: bool,
    dtype: DType,
) -> Result<Tensor<1>, LossError> {
    if check_values {
        check_indices(target, weight.map(|w| w.host().len()), ignore_index)?;
    }
    let ignored = ignored(target, ignore_index);
    let n = target.shape().num_elements();
    let per_target = match weight {
        Some(w) => {
            // An ignored index cannot be selected: class 0 stands in, its weight zeroed.
            let safe = target.clone().mask_fill(ignored.clone(), 0).reshape([n]);
            w.tensor(dtype).select(0, safe).mask_fill(ignored.reshape([n]), 0.0)
        }
        None => cast(ignored.bool_not().float(), dtype).reshape([n]),
    };
    Ok(per_target.sum())
}

fn check_indices<const T: usize>(
    target: &Tensor<T, Int>,
    classes: Option<usize>,
    ignore_index: i64,
) -> Result<(), LossError> {
    let bad = indices(target)
        .into_iter()
        .find(|&t| t != ignore_index && (t < 0 || classes.is_some_and(|c| t >= c as i64)));
    match (bad, classes) {
        (None, _) => Ok(()),
        (Some(target), Some(classes)) => Err(LossError::TargetOutOfBounds { target, classes }),
        (Some(t), None) => Err(LossError::Value {
            name: "target",
            expected: "must be a class index >= 0 or the ignore_index",
            value: t as f64,
        }),
    }
}

impl CrossEntropyLoss {
    /// What [`forward`](Self::forward)'s `Reduction::Mean` divides the sum by for class
    /// indices `target`: the summed class weights of the targets that are not ignored (their
    /// count without a weight), a `[1]` tensor in `dtype` (pass the logits' dtype; f64
    /// keeps summed weights exact as they are added up). Label smoothing does not change
    /// it. 0 for an empty or fully ignored target.
    pub fn denominator<const T: usize>(&self, target: &Tensor<T, Int>, dtype: DType) -> Result<Tensor<1>, LossError> {
        counted_weight(
            target,
            self.weight.as_ref(),
            self.ignore_index,
            self.check_values,
            dtype,
        )
    }

    /// What [`forward_probs`](Self::forward_probs)'s `Reduction::Mean` divides the sum by
    /// for an input of shape `input` `(N, C, d1..dk)`: the positions, `N d1 .. dk` (the
    /// element count over `C`); the class weights never enter it.
    pub fn probs_denominator(&self, input: &[usize]) -> Result<usize, LossError> {
        if input.len() < 2 {
            return Err(LossError::Shape(format!(
                "the input {input:?} is not (N, C) or (N, C, d1..dk)"
            )));
        }
        Ok(input
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != 1)
            .map(|(_, &d)| d)
            .product())
    }
}

impl NllLoss {
    /// What [`forward`](Self::forward)'s `Reduction::Mean` divides the sum by for targets
    /// `target`: the summed class weights of the targets that are not ignored (their count
    /// without a weight), a `[1]` tensor in `dtype`. 0 for an empty or fully ignored target.
    pub fn denominator<const T: usize>(&self, target: &Tensor<T, Int>, dtype: DType) -> Result<Tensor<1>, LossError> {
        counted_weight(
            target,
            self.weight.as_ref(),
            self.ignore_index,
            self.check_values,
            dtype,
        )
    }
}

impl SoftmaxFocalLoss {
    /// What [`forward`](Self::forward)'s `Reduction::Mean` divides the sum by for targets
    /// `target`: the number of targets that are not ignored (alpha, even per class, is a
    /// factor on each loss, not a weight of the mean), a `[1]` tensor in `dtype`.
    pub fn denominator<const T: usize>(&self, target: &Tensor<T, Int>, dtype: DType) -> Result<Tensor<1>, LossError> {
        if self.check_values {
            let classes = self.alpha_per_class.as_ref().map(|a| a.host().len());
            check_indices(target, classes, self.ignore_index)?;
        }
        counted_weight(target, None, self.ignore_index, false, dtype)
    }
}
