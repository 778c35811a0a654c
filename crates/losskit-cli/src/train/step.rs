//! One optimizer step over a group of micro-batches, exact for any split of the group.
//!
//! The group's loss is the mean over all its micro-batches: each micro-batch's summed loss
//! divided by the denominator of the whole group (the counted, weighted targets of every
//! micro-batch), so the gradients that add up before the step are the one big batch's,
//! whatever the micro-batches count (a short last batch, ignored targets, class weights).
//! Dividing each micro-batch's mean by their number instead is right only when every
//! micro-batch counts the same.

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use losskit::LossError;

use crate::common::batch::Batch;
use crate::common::loss::LossModule;
use crate::common::model::Mlp;

/// What a step left: the updated network and the group's loss.
pub struct Stepped {
    /// The network after the step.
    pub model: Mlp,
    /// The mean loss over every micro-batch of the group, before the step.
    pub loss: f64,
}

/// Trains `model` by one step of `optim` at learning rate `lr` on the micro-batches
/// `group`, under `loss` built with `Reduction::Sum`; `classes` is the network's outputs.
/// The step is skipped, and the loss NaN, when the group's loss is not finite (the caller
/// stops the run).
pub fn step(
    model: Mlp,
    optim: &mut ModuleOptimizer,
    loss: &LossModule,
    group: Vec<Batch>,
    lr: f64,
    classes: usize,
) -> Result<Stepped, LossError> {
    let mut total = 0.0;
    for batch in &group {
        total += loss.denominator(&batch.labels, classes)?;
    }
    let single = group.len() == 1;
    let mut accumulator = GradientsAccumulator::<Mlp>::new();
    let mut grads = None;
    let mut value = 0.0;
    for batch in group {
        let summed = loss.forward(model.forward(batch.images), batch.labels)?;
        // A tensor divisor, not `div_scalar`: burn's autodiff takes a scalar divisor's
        // reciprocal in f32, which would cost f64 runs their exactness.
        let divisor = Tensor::full([1], total, (&summed.device(), summed.dtype()));
        let share = summed.div(divisor);
        value += share.clone().into_scalar::<f64>();
        if !value.is_finite() {
            return Ok(Stepped { model, loss: value });
        }
        let batch_grads = GradientsParams::from_grads(share.backward(), &model);
        if single {
            grads = Some(batch_grads);
        } else {
            accumulator.accumulate(&model, batch_grads);
        }
    }
    let grads = grads.unwrap_or_else(|| accumulator.grads());
    Ok(Stepped {
        model: optim.step(lr, model, grads),
        loss: value,
    })
}
