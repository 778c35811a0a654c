//! Training the tutorial's network for one task under one loss, and reading its logits.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use losskit::{LossError, Reduction};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::common::batch::Batch;
use crate::common::loss::Loss;
use crate::common::model::Mlp;
use crate::common::sgd::Sgd;
use crate::data::{CLASSES, PIXELS, Split};

/// What the network learns to predict.
#[derive(Debug, Clone, Copy)]
pub enum Task {
    /// Whether an image is of class `positive`: one logit.
    Binary {
        /// The positive class.
        positive: u8,
    },
    /// The class of an image: a logit per class.
    MultiClass,
}

impl Task {
    fn outputs(self) -> usize {
        match self {
            Task::Binary { .. } => 1,
            Task::MultiClass => CLASSES,
        }
    }

    /// The task's labels of digit `labels`: 1 for the positive class and 0 else, or the digits.
    fn labels(self, labels: Tensor<1, Int>) -> Tensor<1, Int> {
        match self {
            Task::Binary { positive } => labels.equal_elem(positive as i64).int(),
            Task::MultiClass => labels,
        }
    }
}

/// Trains the tutorial's network for `task` on `indices` of `split` under `loss`: SGD with
/// momentum 0.9, learning rate 0.01, batches of 64, the order shuffled from `seed`.
pub fn fit(
    split: &Split,
    indices: &[usize],
    task: Task,
    loss: &Loss,
    epochs: usize,
    seed: u64,
) -> Result<Mlp, LossError> {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let mut model = Mlp::new(PIXELS, 500, task.outputs(), &device);
    let mut optim = Sgd::new(0.9, 0.0).init();
    let loss = loss.build(Reduction::Mean, &device)?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(7919));
    let mut order = indices.to_vec();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(64) {
            let batch = Batch::new(split, chunk, &device);
            let value = loss.forward(model.forward(batch.images), task.labels(batch.labels))?;
            let grads = GradientsParams::from_grads(value.backward(), &model);
            model = optim.step(0.01, model, grads);
        }
    }
    Ok(model)
}

/// Logits of `model` on `indices` of `split`, row-major.
pub fn logits(model: &Mlp, split: &Split, indices: &[usize]) -> Vec<f32> {
    let model = model.valid();
    let device = Device::flex();
    indices
        .chunks(1000)
        .flat_map(|chunk| {
            model
                .forward(Batch::new(split, chunk, &device).images)
                .try_into_vec_as::<f32>()
                .expect("logits read as f32")
        })
        .collect()
}
