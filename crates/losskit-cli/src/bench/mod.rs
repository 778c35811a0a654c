//! `losskit bench`: forward+backward medians of the losses against burn's own losses and
//! PyTorch, with the memory-bandwidth bound of each shape.

use std::process::Command;
use std::time::Instant;

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::{
    BceWithLogitsOptions, CrossEntropyOptions, NllOptions, SigmoidFocalOptions, SoftmaxFocalOptions, kernel::with_composed,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use thiserror::Error;

use crate::common::options::{InvalidOption, require};
use crate::common::stdout::{OutputError, write_line};

pub mod alloc;

/// The options of `losskit bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// One JSON line per measurement instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 11)]
    pub repeats: usize,
    /// Only the small shapes (for a quick check).
    #[arg(long)]
    pub quick: bool,
    /// Skip PyTorch even when `python3 -c "import torch"` works.
    #[arg(long)]
    pub no_torch: bool,
}

/// Why `losskit bench` stopped.
#[derive(Debug, Error)]
pub enum BenchError {
    /// An option out of its range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// Standard output is closed or full.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    op: &'static str,
    shape: Vec<usize>,
    dtype: &'static str,
    #[serde(rename = "impl")]
    implementation: String,
    median_ms: f64,
    peak_bytes: Option<usize>,
}

#[derive(Clone, Copy)]
enum Op {
    CrossEntropy,
    CrossEntropyProbs,
    Nll,
    SoftmaxFocal,
    Softmax,
    LogSoftmax,
    BceWithLogits,
    SigmoidFocal,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::CrossEntropy => "cross_entropy",
            Op::CrossEntropyProbs => "cross_entropy_probs",
            Op::Nll => "nll",
            Op::SoftmaxFocal => "softmax_focal",
            Op::Softmax => "softmax",
            Op::LogSoftmax => "log_softmax",
            Op::BceWithLogits => "bce_with_logits",
            Op::SigmoidFocal => "sigmoid_focal",
        }
    }
}

fn cases(quick: bool) -> Vec<(Op, Vec<usize>)> {
    let mut cases = vec![(Op::CrossEntropy, vec![64, 10]), (Op::CrossEntropy, vec![4096, 1000])];
    if !quick {
        cases.push((Op::CrossEntropy, vec![1024, 32000]));
        cases.push((Op::CrossEntropy, vec![256, 128000]));
    }
    for op in [Op::CrossEntropyProbs, Op::Nll, Op::SoftmaxFocal, Op::Softmax, Op::LogSoftmax] {
        cases.push((op, vec![4096, 1000]));
    }
    cases.push((Op::BceWithLogits, vec![4096, 1000]));
    cases.push((Op::SigmoidFocal, vec![4096, 1000]));
    if !quick {
        cases.push((Op::BceWithLogits, vec![64, 80, 80, 80]));
        cases.push((Op::SigmoidFocal, vec![64, 80, 80, 80]));
    }
    cases
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
fn measure<const D: usize>(
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
        let base = alloc::reset_peak();
        let start = Instant::now();
        let loss = run(x.clone());
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("the loss depends on the logits");
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        peak = peak.max(alloc::peak().saturating_sub(base));
        drop((grad, grads));
        if i >= 2 {
            times.push(elapsed);
            copies.extend(copy_ms);
        }
    }
    Timing { median_ms: median(times), peak_bytes: peak, copy_ms: (!copies.is_empty()).then(|| median(copies)) }
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
        let mut copy = BoundCopy { src: vec![1; bytes], dst: vec![0; bytes] };
        copy.run(); // maps the destination's pages
        copy
    }

    /// Milliseconds of one copy.
    fn run(&mut self) -> f64 {
        use rayon::prelude::*;
        let part = self.src.len().div_ceil(rayon::current_num_threads()).max(1 << 20);
        let start = Instant::now();
        self.dst.par_chunks_mut(part).zip(self.src.par_chunks(part)).for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&self.dst);
        start.elapsed().as_secs_f64() * 1e3
    }
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| (rng.random::<f32>() - 0.5) * 6.0).collect()
}

fn bench_case<const D: usize>(op: Op, shape: [usize; D], repeats: usize) -> Vec<Measurement> {
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
                losskit::cross_entropy(x2, target.clone(), &CrossEntropyOptions::default()).unwrap().reshape([1; D])
            };
            record("losskit", measure(&logits, repeats, &ours, Some(&mut copy)));
            record("losskit-composed", with_composed(|| measure(&logits, repeats, &ours, None)));
            let burn_loss = CrossEntropyLossConfig::new().init(&device);
            let burns = |x: Tensor<D>| burn_loss.forward(x.reshape([rows, shape[1]]), target.clone()).reshape([1; D]);
            record("burn", measure(&logits, repeats, &burns, None));
        }
        Op::CrossEntropyProbs | Op::Nll | Op::SoftmaxFocal | Op::Softmax | Op::LogSoftmax => {
            let (rows, classes) = (shape[0], shape[1]);
            let target: Vec<i64> = (0..rows).map(|_| rng.random_range(0..classes as i64)).collect();
            let target = Tensor::<1, Int>::from_data(TensorData::new(target, [rows]), &device);
            let probs: Vec<f32> = (0..numel).map(|_| rng.random::<f32>()).collect();
            let probs = losskit::softmax(Tensor::<2>::from_data(TensorData::new(probs, [rows, classes]), (&device, DType::F32)), 1)
                .expect("dimension 1 exists");
            let ours = |x: Tensor<D>| {
                let x: Tensor<2> = x.reshape([rows, classes]);
                let scalar = |t: Tensor<1>| t.reshape([1; D]);
                match op {
                    Op::CrossEntropyProbs => {
                        losskit::cross_entropy_with_probs(x, probs.clone(), &CrossEntropyOptions::default()).unwrap().reshape([1; D])
                    }
                    Op::Nll => scalar(losskit::nll(x, target.clone(), &NllOptions::default()).unwrap()),
                    Op::SoftmaxFocal => scalar(losskit::softmax_focal(x, target.clone(), &SoftmaxFocalOptions::default()).unwrap()),
                    Op::Softmax => losskit::softmax(x, 1).unwrap().sum().reshape([1; D]),
                    _ => losskit::log_softmax(x, 1).unwrap().sum().reshape([1; D]),
                }
            };
            record("losskit", measure(&logits, repeats, &ours, Some(&mut copy)));
            record("losskit-composed", with_composed(|| measure(&logits, repeats, &ours, None)));
        }
        Op::BceWithLogits | Op::SigmoidFocal => {
            let labels: Vec<f32> = (0..numel).map(|_| f32::from(u8::from(rng.random::<bool>()))).collect();
            let target = Tensor::<D>::from_data(TensorData::new(labels.clone(), shape), (&device, DType::F32));
            let ours = |x: Tensor<D>| match op {
                Op::BceWithLogits => losskit::bce_with_logits(x, target.clone(), &BceWithLogitsOptions::default()).unwrap(),
                _ => losskit::sigmoid_focal(x, target.clone(), &SigmoidFocalOptions::default()).unwrap(),
            };
            record("losskit", measure(&logits, repeats, &ours, Some(&mut copy)));
            record("losskit-composed", with_composed(|| measure(&logits, repeats, &ours, None)));
            if let Op::BceWithLogits = op {
                let int_target = Tensor::<D, Int>::from_data(
                    TensorData::new(labels.iter().map(|&v| v as i64).collect::<Vec<_>>(), shape),
                    &device,
                );
                let burn_loss = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&device);
                let burns = |x: Tensor<D>| burn_loss.forward(x, int_target.clone()).reshape([1; D]);
                record("burn", measure(&logits, repeats, &burns, None));
            }
        }
    }
    out.push(row("bandwidth-bound", bound.expect("the fused path times the copy"), None));
    out
}

/// PyTorch's medians for the same cases, when torch imports.
fn torch(cases: &[(Op, Vec<usize>)], repeats: usize) -> Vec<Measurement> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/torch_losses.py");
    let specs: Vec<String> = cases
        .iter()
        .map(|(op, s)| format!("{}:{}", op.name(), s.iter().map(usize::to_string).collect::<Vec<_>>().join("x")))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // PyTorch gets the allocator settings `losskit` runs under (`alloc::keep_freed_memory`):
    // without them each of its calls pays a page fault per 4 KiB of a large gradient,
    // which more than doubled its time at the large vocabularies here.
    let output = Command::new("python3")
        .env("MALLOC_MMAP_MAX_", "0")
        .env("MALLOC_TRIM_THRESHOLD_", i32::MAX.to_string())
        .arg(script)
        .args(["--threads", &threads.to_string(), "--repeats", &repeats.to_string()])
        .args(&specs)
        .output();
    let Some(output) = output.ok().filter(|o| o.status.success()) else { return Vec::new() };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            let name = v["op"].as_str()?;
            let op = cases.iter().map(|(op, _)| op.name()).find(|n| *n == name)?;
            Some(Measurement {
                op,
                shape: v["shape"].as_array()?.iter().filter_map(|d| d.as_u64().map(|d| d as usize)).collect(),
                dtype: "f32",
                implementation: v["impl"].as_str()?.to_string(),
                median_ms: v["median_ms"].as_f64()?,
                peak_bytes: None,
            })
        })
        .collect()
}

/// Runs the benchmark and prints a table (or JSON lines).
pub fn run(args: BenchArgs) -> Result<(), BenchError> {
    require(args.repeats >= 1, "--repeats", "at least 1", args.repeats)?;
    let cases = cases(args.quick);
    let mut all = Vec::new();
    for (op, shape) in &cases {
        all.extend(match shape.len() {
            2 => bench_case(*op, [shape[0], shape[1]], args.repeats),
            4 => bench_case(*op, [shape[0], shape[1], shape[2], shape[3]], args.repeats),
            _ => unreachable!("the cases are 2-D and 4-D"),
        });
    }
    let has_torch = !args.no_torch
        && Command::new("python3").args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success());
    if has_torch {
        all.extend(torch(&cases, args.repeats));
    }
    if args.json {
        for m in &all {
            write_line(serde_json::to_string(m).expect("a measurement serialises"))?;
        }
        return Ok(());
    }
    write_line(format_args!(
        "forward+backward, f32, median of {} runs, {} threads; bound: a copy of the logits' bytes, timed before each fused run{}",
        args.repeats,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if has_torch { "" } else { " (PyTorch not found)" }
    ))?;
    write_line(format_args!(
        "{:<20} {:<18} {:<18} {:>11} {:>10} {:>8} {:>11}",
        "op", "shape", "impl", "median ms", "x PyTorch", "x bound", "extra MB"
    ))?;
    for (op, shape) in &cases {
        let rows: Vec<&Measurement> = all.iter().filter(|m| m.op == op.name() && &m.shape == shape).collect();
        let time_of = |pick: &dyn Fn(&str) -> bool| rows.iter().find(|m| pick(&m.implementation)).map(|m| m.median_ms);
        let reference = time_of(&|i| i == "pytorch" || i == "torchvision");
        let bound = time_of(&|i| i == "bandwidth-bound");
        for m in &rows {
            let ratio = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.2}", m.median_ms / r));
            let mb = m.peak_bytes.map_or("-".into(), |b| format!("{:.1}", b as f64 / 1e6));
            write_line(format_args!(
                "{:<20} {:<18} {:<18} {:>11.3} {:>10} {:>8} {:>11}",
                m.op,
                format!("{:?}", m.shape),
                m.implementation,
                m.median_ms,
                ratio(reference),
                ratio(bound),
                mb
            ))?;
        }
    }
    Ok(())
}
