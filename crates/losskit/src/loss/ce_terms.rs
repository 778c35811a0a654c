//! Class-index cross entropy as burn tensor ops, kept as its two terms (the cross entropy
//! and the z-loss) until they are reduced: what [`CrossEntropyLoss`](crate::CrossEntropyLoss)
//! runs off the fused kernels, and what
//! [`LinearCrossEntropyLoss`](crate::LinearCrossEntropyLoss) runs per chunk on any backend.

use burn::tensor::{Bool, DType, Int, Tensor, activation::log_softmax};

use crate::input::checks::cast;
use crate::input::class_index::{ClassWeight, along_classes, pick_targets, target_weights, without_ignored_rows};
use crate::reduction::{Denominator, Reduction, reduce};

/// The options of a class-index cross entropy.
#[derive(Clone, Copy)]
pub(crate) struct CeOptions<'a> {
    pub weight: Option<&'a ClassWeight>,
    pub ignore_index: i64,
    pub label_smoothing: f64,
    pub softcap: Option<f64>,
    pub z_loss: f64,
}

/// The two terms of each position's loss, 0 where the target is ignored.
pub(crate) struct CeTerms<const T: usize> {
    /// `w[y] (1 - e) (lse - x_y) + (e / C) sum_c w_c (lse - x_c)`.
    pub ce: Tensor<T>,
    /// `z_loss lse^2`; `None` when `z_loss` is 0.
    pub z: Option<Tensor<T>>,
}

/// What the two terms' means divide by.
#[derive(Clone)]
pub(crate) struct MeanDenominators {
    /// `sum_{i not ignored} w[y_i]`: the cross entropy's.
    pub weights: Tensor<1>,
    /// The number of positions not ignored: the z-loss's.
    pub counted: Tensor<1>,
}

impl MeanDenominators {
    /// The denominators of the targets `target` (values checked by the caller).
    pub(crate) fn of<const T: usize>(target: &Tensor<T, Int>, o: &CeOptions<'_>, dtype: DType) -> Self {
        let weight = o.weight.map(|w| w.tensor(dtype));
        let (weights, ignored) = target_weights(target.clone(), weight, o.ignore_index, dtype);
        Self::from_parts(weights, ignored, dtype)
    }

    fn from_parts<const T: usize>(target_weights: Tensor<T>, ignored: Tensor<T, Bool>, dtype: DType) -> Self {
        Self {
            weights: target_weights.sum(),
            counted: cast(ignored.bool_not().float(), dtype).sum(),
        }
    }
}

impl<const T: usize> CeTerms<T> {
    /// `None`: the per-position loss `ce + z`; `Sum`: the sum of both terms; `Mean`:
    /// `sum(ce) / weights + sum(z) / counted` (NaN over nothing). Reduced: shape `[1; T]`.
    pub(crate) fn reduce(self, reduction: Option<Reduction>, d: MeanDenominators) -> Tensor<T> {
        let Self { ce, z } = self;
        let ce = reduce(ce, reduction, Denominator::Total(d.weights));
        match z {
            None => ce,
            Some(z) => ce + reduce(z, reduction, Denominator::Total(d.counted)),
        }
    }
}

/// The cross-entropy terms of logits `input` `(N, C, d1..dk)` against class indices
/// `target` `(N, d1..dk)` (checked by the caller), and their means' denominators; the rows
/// of ignored targets are zeroed first, so that their gradient is 0 whatever they hold.
///
/// With `softcap` the softmax sees `c tanh(x / c)`; the z term uses the log-sum-exp of those
/// logits, `lse = m + ln sum_c e^(x_c - m)` with `m` the row maximum held constant (its
/// gradient cancels exactly), so that large logits neither overflow nor cancel.
pub(crate) fn ce_terms<const D: usize, const T: usize>(
    input: Tensor<D>,
    target: Tensor<T, Int>,
    o: &CeOptions<'_>,
) -> (CeTerms<T>, MeanDenominators) {
    let dtype = input.dtype();
    let classes = input.dims()[1];
    // Ignored rows take no part, and then none in the gradient (an infinity there would
    // give NaN through the log-softmax).
    let input = without_ignored_rows(input, &target, o.ignore_index);
    // Multiplied by the reciprocal: burn 0.22.1's autodiff takes `div_scalar`'s reciprocal
    // in f32, which costs f64 gradients 1e-8.
    let x = match o.softcap {
        Some(cap) => input.mul_scalar(1.0 / cap).tanh().mul_scalar(cap),
        None => input,
    };
    let weight = o.weight.map(|w| w.tensor(dtype));
    let log_probs = log_softmax(x.clone(), 1);
    let picked = pick_targets(log_probs.clone(), target, weight.clone(), o.ignore_index);
    let nll = picked.picked.mul(picked.target_weight.clone()).neg();
    let e = o.label_smoothing;
    let ce = if e > 0.0 {
        let weighted = match weight {
            Some(w) => log_probs.mul(along_classes::<D>(w)),
            None => log_probs,
        };
        let smooth = weighted
            .sum_dim(1)
            .squeeze_dim::<T>(1)
            .neg()
            .mask_fill(picked.ignored.clone(), 0.0);
        nll.mul_scalar(1.0 - e) + smooth.mul_scalar(e / classes as f64)
    } else {
        nll
    };
    let z = (o.z_loss != 0.0).then(|| {
        let max = x.clone().detach().max_dim(1);
        let lse = (x - max.clone()).exp().sum_dim(1).log() + max;
        let lse = lse.squeeze_dim::<T>(1).mask_fill(picked.ignored.clone(), 0.0);
        lse.clone().mul(lse).mul_scalar(o.z_loss)
    });
    let denominators = MeanDenominators::from_parts(picked.target_weight, picked.ignored, dtype);
    (CeTerms { ce, z }, denominators)
}
