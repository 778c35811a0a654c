//! Timing one case: forward+backward medians of losskit's fused and composed paths and
//! burn's own loss, the peak of extra bytes, and the memory-bandwidth bound of the shape.

use std::time::Instant;

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::{
    BceWithLogitsOptions, CrossEntropyOptions, NllOptions, SigmoidFocalOptions,
    SoftmaxFocalOptions, kernel::with_composed,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Measurement;
use super::alloc;
use super::cases::{Case, Op};

/// The measurements of `case`, `repeats` timed runs each.
pub fn measure(case: &Case, repeats: usize) -> Vec<Measurement> {
    let d = &case.shape.0;
    match *d.as_slice() {
        [a] => measure_case(case.op, [a], repeats),
        [a, b] => measure_case(case.op, [a, b], repeats),
        [a, b, c] => measure_case(case.op, [a, b, c], repeats),
        [a, b, c, e] => measure_case(case.op, [a, b, c, e], repeats),
        _ => unreachable!(
            "shapes are parsed with at most {} dimensions",
            super::cases::MAX_RANK
        ),
    }
}

/// A median time, the peak of extra bytes, and the median of the interleaved copy.
struct Timing {
    median_ms: f64,
    peak_bytes: usize,
    copy_ms: Option<f64>,
}

/// Median milliseconds and peak extra bytes of `run` (given a fresh leaf each time); with a
/// `copy`, that copy is timed before each run too, so that the bound and the kernel see the
/// same machine (its memory bandwidth drifts by several times within minutes here).
fn time<const D: usize>(
    logits: &TensorData,
    repeats: usize,
    run: &dyn Fn(Tensor<D>) -> Tensor<D>,
    mut copy: Option<&mut BoundCopy>,
) -> Timing {
    let device = Device::flex().autodiff();
    let (mut times, mut copies) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    let mut peak = 0;
    for i in 0..repeats + 2 {
        let copy_ms = copy.as_mut().map(|c| c.run());
        let x = Tensor::<D>::from_data(logits.clone(), (&device, DType::F32)).require_grad();
        alloc::reset_peak();
        let start = Instant::now();
        let loss = run(x.clone());
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("the loss depends on the logits");
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        peak = peak.max(alloc::peak_above_reset());
        drop((grad, grads));
        if i >= 2 {
            times.push(elapsed);
            copies.extend(copy_ms);
        }
    }
    Timing {
        median_ms: median(times),
        peak_bytes: peak,
        copy_ms: (!copies.is_empty()).then(|| median(copies)),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The bandwidth bound of a shape: a copy of its logits' bytes into a buffer as large,
/// which reads the input once and writes the gradient once, split into one contiguous part
/// per thread of at least 1 MiB (the kernels use every thread on large inputs, one on
/// small ones; and glibc streams a large copy to memory without first reading the
/// destination, as the kernels do).
struct BoundCopy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl BoundCopy {
    fn new(bytes: usize) -> Self {
        let mut copy = BoundCopy {
            src: vec![1; bytes],
            dst: vec![0; bytes],
        };
        copy.run(); // maps the destination's pages
        copy
    }

    /// Milliseconds of one copy.
    fn run(&mut self) -> f64 {
        use rayon::prelude::*;
        let part = self
            .src
            .len()
            .div_ceil(rayon::current_num_threads())
            .max(1 << 20);
        let start = Instant::now();
        self.dst
            .par_chunks_mut(part)
            .zip(self.src.par_chunks(part))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&self.dst);
        start.elapsed().as_secs_f64() * 1e3
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.random::<f32>() - 0.5) * 6.0).collect()
}

fn measure_case<const D: usize>(op: Op, shape: [usize; D], repeats: usize) -> Vec<Measurement> {
    let numel: usize = shape.iter().product();
    let logits = TensorData::new(random(numel, 1), shape);
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(2);
    let mut copy = BoundCopy::new(numel * size_of::<f32>());
    let mut out = Vec::new();
    let row = |name: &str, median_ms: f64, peak_bytes: Option<usize>| Measurement {
        op: op.name(),
        shape: shape.to_vec(),
        dtype: "f32",
        implementation: name.to_string(),
        median_ms,
        peak_bytes,
    };
    let mut bound = None;
    let mut record = |name: &str, timing: Timing| {
        bound = bound.or(timing.copy_ms);
        out.push(row(name, timing.median_ms, Some(timing.peak_bytes)));
    };
    match op {
        Op::CrossEntropy => {
            let rows = numel / shape[1];
            let classes = shape[1] as i64;
            let target: Vec<i64> = (0..rows).map(|_| rng.random_range(0..classes)).collect();
            let target = Tensor::<1, Int>::from_data(TensorData::new(target, [rows]), &device);
            let ours = |x: Tensor<D>| {
                let x2: Tensor<2> = x.reshape([rows, shape[1]]);
                losskit::cross_entropy(x2, target.clone(), &CrossEntropyOptions::default())
                    .unwrap()
                    .reshape([1; D])
            };
            record("losskit", time(&logits, repeats, &ours, Some(&mut copy)));
            record(
                "losskit-composed",
                with_composed(|| time(&logits, repeats, &ours, None)),
            );
            let burn_loss = CrossEntropyLossConfig::new().init(&device);
            let burns = |x: Tensor<D>| {
                burn_loss
                    .forward(x.reshape([rows, shape[1]]), target.clone())
                    .reshape([1; D])
            };
            record("burn", time(&logits, repeats, &burns, None));
        }
        Op::CrossEntropyProbs | Op::Nll | Op::SoftmaxFocal | Op::Softmax | Op::LogSoftmax => {
            let (rows, classes) = (shape[0], shape[1]);
            let target: Vec<i64> = (0..rows)
                .map(|_| rng.random_range(0..classes as i64))
                .collect();
            let target = Tensor::<1, Int>::from_data(TensorData::new(target, [rows]), &device);
            let probs: Vec<f32> = (0..numel).map(|_| rng.random::<f32>()).collect();
            let probs = losskit::softmax(
                Tensor::<2>::from_data(
                    TensorData::new(probs, [rows, classes]),
                    (&device, DType::F32),
                ),
                1,
            )
            .expect("dimension 1 exists");
            let ours = |x: Tensor<D>| {
                let x: Tensor<2> = x.reshape([rows, classes]);
                let scalar = |t: Tensor<1>| t.reshape([1; D]);
                match op {
                    Op::CrossEntropyProbs => losskit::cross_entropy_with_probs(
                        x,
                        probs.clone(),
                        &CrossEntropyOptions::default(),
                    )
                    .unwrap()
                    .reshape([1; D]),
                    Op::Nll => {
                        scalar(losskit::nll(x, target.clone(), &NllOptions::default()).unwrap())
                    }
                    Op::SoftmaxFocal => scalar(
                        losskit::softmax_focal(x, target.clone(), &SoftmaxFocalOptions::default())
                            .unwrap(),
                    ),
                    Op::Softmax => losskit::softmax(x, 1).unwrap().sum().reshape([1; D]),
                    _ => losskit::log_softmax(x, 1).unwrap().sum().reshape([1; D]),
                }
            };
            record("losskit", time(&logits, repeats, &ours, Some(&mut copy)));
            record(
                "losskit-composed",
                with_composed(|| time(&logits, repeats, &ours, None)),
            );
        }
        Op::BceWithLogits | Op::SigmoidFocal => {
            let labels: Vec<f32> = (0..numel)
                .map(|_| f32::from(u8::from(rng.random::<bool>())))
                .collect();
            let target = Tensor::<D>::from_data(
                TensorData::new(labels.clone(), shape),
                (&device, DType::F32),
            );
            let ours = |x: Tensor<D>| match op {
                Op::BceWithLogits => {
                    losskit::bce_with_logits(x, target.clone(), &BceWithLogitsOptions::default())
                        .unwrap()
                }
                _ => losskit::sigmoid_focal(x, target.clone(), &SigmoidFocalOptions::default())
                    .unwrap(),
            };
            record("losskit", time(&logits, repeats, &ours, Some(&mut copy)));
            record(
                "losskit-composed",
                with_composed(|| time(&logits, repeats, &ours, None)),
            );
            if let Op::BceWithLogits = op {
                let int_target = Tensor::<D, Int>::from_data(
                    TensorData::new(labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), shape),
                    &device,
                );
                let burn_loss = BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .init(&device);
                let burns = |x: Tensor<D>| burn_loss.forward(x, int_target.clone()).reshape([1; D]);
                record("burn", time(&logits, repeats, &burns, None));
            }
        }
    }
    out.push(row(
        "bandwidth-bound",
        bound.expect("the fused path times the copy"),
        None,
    ));
    out
}
