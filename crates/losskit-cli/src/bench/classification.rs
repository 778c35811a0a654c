//! The classification losses' cases: cross entropy, NLL, softmax focal, softmax and
//! log-softmax over `(rows, classes)`; BCE with logits and sigmoid focal at any rank.

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig as BurnCrossEntropyLossConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::{
    BceWithLogitsLossConfig, CrossEntropyLossConfig, NllLossConfig, SigmoidFocalLossConfig, SoftmaxFocalLossConfig,
    with_composed,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Measurement;
use super::cases::Op;
use super::measure::{BoundCopy, Rows, time, uniform};

pub(super) fn measure<const D: usize>(op: Op, shape: [usize; D], repeats: usize) -> Vec<Measurement> {
    let numel: usize = shape.iter().product();
    let logits = TensorData::new(uniform(numel, 1, -3.0, 3.0), shape);
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(2);
    // The bound: the logits read, the gradient written.
    let mut copy = BoundCopy::new(numel * size_of::<f32>());
    let mut rows = Rows::new(op, &shape);
    let (n, c) = (shape[0], numel / shape[0]);
    let labels = |rng: &mut StdRng| {
        let t: Vec<i64> = (0..n).map(|_| rng.random_range(0..c as i64)).collect();
        Tensor::<1, Int>::from_data(TensorData::new(t, [n]), &device)
    };
    match op {
        Op::CrossEntropy | Op::CrossEntropyProbs | Op::Nll | Op::SoftmaxFocal | Op::Softmax | Op::LogSoftmax => {
            let target = labels(&mut rng);
            let probs = Tensor::<2>::from_data(
                TensorData::new(uniform(numel, 3, 0.0, 1.0), [n, c]),
                (&device, DType::F32),
            );
            let probs = losskit::softmax(probs, 1).expect("dimension 1 exists");
            let ce = CrossEntropyLossConfig::new()
                .init(&device)
                .expect("the defaults are valid");
            let nll = NllLossConfig::new().init(&device);
            let focal = SoftmaxFocalLossConfig::new()
                .init(&device)
                .expect("the defaults are valid");
            let ours = |x: Tensor<D>| {
                let x: Tensor<2> = x.reshape([n, c]);
                match op {
                    Op::CrossEntropy => ce.forward(x, target.clone()),
                    Op::CrossEntropyProbs => ce.forward_probs(x, probs.clone()),
                    Op::Nll => nll.forward(x, target.clone()),
                    Op::SoftmaxFocal => focal.forward(x, target.clone()),
                    Op::Softmax => losskit::softmax(x, 1).map(|s| s.sum()),
                    _ => losskit::log_softmax(x, 1).map(|s| s.sum()),
                }
                .expect("the benchmark's shapes are valid")
            };
            rows.record("losskit", time(&logits, repeats, &ours, Some(&mut copy)));
            rows.record(
                "losskit-composed",
                with_composed(|| time(&logits, repeats, &ours, None)),
            );
            if op == Op::CrossEntropy {
                let burn_loss = BurnCrossEntropyLossConfig::new().init(&device);
                let burns = |x: Tensor<D>| burn_loss.forward(x.reshape([n, c]), target.clone());
                rows.record("burn", time(&logits, repeats, &burns, None));
            }
        }
        _ => {
            let labels: Vec<f32> = (0..numel).map(|_| f32::from(u8::from(rng.random::<bool>()))).collect();
            let target = Tensor::<D>::from_data(TensorData::new(labels.clone(), shape), (&device, DType::F32));
            let bce = BceWithLogitsLossConfig::new()
                .init(&device)
                .expect("the defaults are valid");
            let focal = SigmoidFocalLossConfig::new()
                .init(&device)
                .expect("the defaults are valid");
            let ours = |x: Tensor<D>| {
                match op {
                    Op::BceWithLogits => bce.forward(x, target.clone()),
                    _ => focal.forward(x, target.clone()),
                }
                .expect("the benchmark's shapes are valid")
            };
            rows.record("losskit", time(&logits, repeats, &ours, Some(&mut copy)));
            rows.record(
                "losskit-composed",
                with_composed(|| time(&logits, repeats, &ours, None)),
            );
            if op == Op::BceWithLogits {
                let int_target = Tensor::<D, Int>::from_data(
                    TensorData::new(labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), shape),
                    &device,
                );
                let burn_loss = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&device);
                let burns = |x: Tensor<D>| burn_loss.forward(x, int_target.clone());
                rows.record("burn", time(&logits, repeats, &burns, None));
            }
        }
    }
    rows.finish()
}
