//! Timing one case: forward+backward medians of each implementation, the peak of extra
//! bytes, and the memory-bandwidth bound of the shape.

use std::time::Instant;

use burn::tensor::{DType, Device, Tensor, TensorData};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Measurement;
use super::alloc;
use super::cases::{Case, Family, Op};
use super::{boxes, classification, linear, regression, sequence};

/// The measurements of `case`, `repeats` timed runs each.
pub fn measure(case: &Case, repeats: usize) -> Vec<Measurement> {
    let d = &case.shape.0;
    match (case.op.family(), d.as_slice()) {
        (Family::Boxes, &[n, _]) => boxes::measure(case.op, n, repeats),
        (Family::Sequence, _) => sequence::measure(case.op, d, repeats),
        (Family::Linear, &[n, h, v]) => linear::measure([n, h, v], repeats),
        (_, &[a]) => by_family(case.op, [a], repeats),
        (_, &[a, b]) => by_family(case.op, [a, b], repeats),
        (_, &[a, b, c]) => by_family(case.op, [a, b, c], repeats),
        (_, &[a, b, c, e]) => by_family(case.op, [a, b, c, e], repeats),
        _ => unreachable!("shapes are parsed with at most {} dimensions", super::cases::MAX_RANK),
    }
}

fn by_family<const D: usize>(op: Op, shape: [usize; D], repeats: usize) -> Vec<Measurement> {
    match op.family() {
        Family::Regression => regression::measure(op, shape, repeats),
        _ => classification::measure(op, shape, repeats),
    }
}

/// Gives every rayon thread the buffers it keeps for its life before any peak is taken: the
/// gemm crate (under burn-flex's matrix products and the fused linear cross entropy's)
/// allocates a packing buffer the size of a core's L2 cache (2 MiB here) at a thread's
/// first product. Without this, a step that happens to run a product on a thread new to
/// products counts that buffer in its peak, which on a host of many threads can be any
/// step (seen in CI: 2 MiB on a 64 x 4000 linear cross entropy).
pub(super) fn warm_thread_buffers() {
    let device = Device::flex();
    rayon::broadcast(|_| {
        let a = Tensor::<2>::ones([256, 256], (&device, DType::F32));
        // Each thread runs a product itself: `broadcast` runs this closure on every thread,
        // and a product started on a rayon thread runs its first piece there.
        drop(a.clone().matmul(a));
    });
}

/// A median time, the peak of extra bytes, and the median of the interleaved copy.
pub(super) struct Timing {
    median_ms: f64,
    peak_bytes: usize,
    copy_ms: Option<f64>,
}

/// Median milliseconds and peak extra bytes of `run` (given a fresh leaf of `input` each
/// time); with a `copy`, that copy is timed before each run too, so that the bound and the
/// kernel see the same machine (its memory bandwidth drifts by several times within
/// minutes here).
pub(super) fn time<const D: usize, const O: usize>(
    input: &TensorData,
    repeats: usize,
    run: &dyn Fn(Tensor<D>) -> Tensor<O>,
    mut copy: Option<&mut BoundCopy>,
) -> Timing {
    let device = Device::flex().autodiff();
    let (mut times, mut copies) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    let mut peak = 0;
    for i in 0..repeats + 2 {
        let copy_ms = copy.as_mut().map(|c| c.run());
        let x = Tensor::<D>::from_data(input.clone(), (&device, DType::F32)).require_grad();
        alloc::reset_peak();
        let start = Instant::now();
        let loss = run(x.clone());
        let grads = loss.backward();
        let grad = x.grad(&grads).expect("the loss depends on its input");
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

impl Timing {
    /// The timing of runs timed elsewhere: their median and their highest peak.
    pub(super) fn of(times: Vec<f64>, peak_bytes: usize) -> Self {
        Timing {
            median_ms: median(times),
            peak_bytes,
            copy_ms: None,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The rows of one case as they are measured, and the bound the fused run timed.
pub(super) struct Rows {
    op: Op,
    shape: Vec<usize>,
    rows: Vec<Measurement>,
    bound: Option<f64>,
}

impl Rows {
    pub fn new(op: Op, shape: &[usize]) -> Self {
        Self {
            op,
            shape: shape.to_vec(),
            rows: Vec::new(),
            bound: None,
        }
    }

    /// Adds implementation `name`'s timing.
    pub fn record(&mut self, name: &str, timing: Timing) {
        self.bound = self.bound.or(timing.copy_ms);
        self.rows
            .push(self.row(name, timing.median_ms, Some(timing.peak_bytes)));
    }

    fn row(&self, name: &str, median_ms: f64, peak_bytes: Option<usize>) -> Measurement {
        Measurement {
            op: self.op.name(),
            shape: self.shape.clone(),
            dtype: "f32",
            implementation: name.to_string(),
            median_ms,
            peak_bytes,
        }
    }

    /// The rows, with the bandwidth bound's when a fused run timed one.
    pub fn finish(mut self) -> Vec<Measurement> {
        if let Some(bound) = self.bound {
            let row = self.row("bandwidth-bound", bound, None);
            self.rows.push(row);
        }
        self.rows
    }
}

/// The bandwidth bound of a shape: a copy of its bytes into a buffer as large, which reads
/// and writes each byte once, split into one contiguous part per thread of at least 1 MiB
/// (the kernels use every thread on large inputs, one on small ones; and glibc streams a
/// large copy to memory without first reading the destination, as the kernels do).
pub(super) struct BoundCopy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl BoundCopy {
    pub fn new(bytes: usize) -> Self {
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
        let part = self.src.len().div_ceil(rayon::current_num_threads()).max(1 << 20);
        let start = Instant::now();
        self.dst
            .par_chunks_mut(part)
            .zip(self.src.par_chunks(part))
            .for_each(|(d, s)| d.copy_from_slice(s));
        std::hint::black_box(&self.dst);
        start.elapsed().as_secs_f64() * 1e3
    }
}

/// `n` values uniform in `[lo, hi)`, the same for the same seed.
pub(super) fn uniform(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.random::<f32>()).collect()
}
