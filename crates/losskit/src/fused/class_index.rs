//! The class-index and probability-row entry points of the fused row kernel (cross
//! entropy, NLL, softmax focal): the targets read and counted on the host, the mean's
//! denominator, the z-loss folded into the kernel's factor.

use burn::backend::Dispatch;
use burn::tensor::Tensor;

use super::{LossForm, LossKernels, RowLoss, RowLossCall, kernels_can_take, loss_form, shaped};
use crate::Reduction;
use crate::input::checks::cast;
use crate::input::class_index::{ClassWeight, class_rows};

/// What the mean of a class-index loss divides by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MeanOver {
    /// The summed class weights of the targets that are not ignored (CE, NLL).
    Weights,
    /// The number of targets that are not ignored (softmax focal loss).
    Count,
}

/// Runs a row-loss call on the rows of `rows` `(N, C)`; `probabilities` are the target
/// rows of [`RowLoss::Probabilities`].
fn run_rows(rows: Tensor<2>, probabilities: Option<Tensor<2>>, call: RowLossCall) -> Tensor<1> {
    let with_grad = rows.is_require_grad();
    let target = probabilities.unwrap_or_else(|| rows.clone());
    let (loss, _) =
        <Dispatch as LossKernels>::row_losses(rows.into_dispatch(), target.into_dispatch(), call, with_grad);
    Tensor::from_dispatch(loss)
}

/// A class-index loss as the fused row kernel takes it.
pub(crate) struct ClassIndexRows<'a> {
    /// Any [`RowLoss`] but [`RowLoss::Probabilities`].
    pub loss: RowLoss,
    /// One class index per position, read and checked on the host.
    pub targets: &'a [i64],
    pub weight: Option<&'a ClassWeight>,
    pub ignore_index: i64,
    /// `None`: unreduced.
    pub reduction: Option<Reduction>,
    pub mean_over: MeanOver,
}

/// A class-index loss of `input` `(N, C, d1..dk)` through the fused row kernel, in the
/// target's shape `target_dims` (unreduced) or `[1; T]`, with the gradient kept for
/// autodiff; `None` where the kernels cannot take it.
pub(crate) fn class_index_rows<const D: usize, const T: usize>(
    input: &Tensor<D>,
    target_dims: [usize; T],
    rows: ClassIndexRows<'_>,
) -> Option<Tensor<T>> {
    if !kernels_can_take(input, &[]) {
        return None;
    }
    let weight = rows.weight.map(|w| w.host().to_vec());
    let counted = Counted::of(rows.targets, rows.ignore_index, weight.as_deref());
    let denominator = match rows.mean_over {
        MeanOver::Weights => counted.weights,
        MeanOver::Count => counted.rows as f64,
    };
    let form = loss_form(rows.reduction, denominator)?;
    let loss = with_z_in_form_units(rows.loss, rows.reduction, form, counted.rows)?;
    let call = RowLossCall {
        loss,
        targets: rows.targets.to_vec(),
        weight,
        ignore_index: rows.ignore_index,
        form,
    };
    Some(shaped(
        run_rows(class_rows(input.clone()), None, call),
        form,
        target_dims,
    ))
}

/// The targets that count (are not ignored): how many, and their summed class weights.
pub(crate) struct Counted {
    pub rows: usize,
    pub weights: f64,
}

impl Counted {
    pub(crate) fn of(targets: &[i64], ignore_index: i64, weight: Option<&[f64]>) -> Self {
        let counted = targets.iter().filter(|&&t| t != ignore_index);
        counted.fold(Counted { rows: 0, weights: 0.0 }, |c, &t| Counted {
            rows: c.rows + 1,
            weights: c.weights + weight.map_or(1.0, |w| w[t as usize]),
        })
    }
}

/// `loss` with its z-loss coefficient in units of `form`'s factor: the z term's mean divides
/// by the `counted` rows, where the cross entropy's may divide by their weights, so the
/// kernel's one factor carries `z_loss * (1 / counted) / factor`. `None` when the z term's
/// mean is over nothing (then so is the cross entropy's, which the composed path takes).
pub(crate) fn with_z_in_form_units(
    loss: RowLoss,
    reduction: Option<Reduction>,
    form: LossForm,
    counted: usize,
) -> Option<RowLoss> {
    match loss {
        RowLoss::CrossEntropy {
            label_smoothing,
            softcap,
            z_loss,
        } if z_loss != 0.0 => {
            let z_form = loss_form(reduction, counted as f64)?;
            let z_loss = z_loss * z_form.grad_scale() / form.grad_scale();
            Some(RowLoss::CrossEntropy {
                label_smoothing,
                softcap,
                z_loss,
            })
        }
        other => Some(other),
    }
}

/// Cross entropy of `input` `(N, C, d1..dk)` against probability rows `target` (same shape)
/// through the fused row kernel, in `shape`: `(N, d1..dk)` unreduced, `[1; O]` reduced;
/// `None` where the kernels cannot take it.
pub(crate) fn probability_rows<const D: usize, const O: usize>(
    input: &Tensor<D>,
    target: &Tensor<D>,
    label_smoothing: f64,
    weight: Option<&ClassWeight>,
    reduction: Option<Reduction>,
    shape: [usize; O],
) -> Option<Tensor<O>> {
    if !kernels_can_take(input, &[target.is_require_grad()]) {
        return None;
    }
    let positions = input.shape().num_elements() / input.dims()[1].max(1);
    let form = loss_form(reduction, positions as f64)?;
    let loss = RowLoss::Probabilities { label_smoothing };
    let call = RowLossCall {
        loss,
        targets: Vec::new(),
        weight: weight.map(|w| w.host().to_vec()),
        ignore_index: -1,
        form,
    };
    let probabilities = class_rows(cast(target.clone(), input.dtype()));
    Some(shaped(
        run_rows(class_rows(input.clone()), Some(probabilities), call),
        form,
        shape,
    ))
}
