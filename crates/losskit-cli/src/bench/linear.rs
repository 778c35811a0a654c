//! The linear cross entropy's cases, `NxHxV` (rows, hidden size, classes): forward+backward
//! of `cross_entropy(input @ classifier^T, target)` with the gradients of `input` `(N, H)`
//! and `classifier` `(V, H)`, f32, no bias, on the chunked path ("losskit") and on burn's
//! matmul followed by the fused cross entropy ("losskit-unfused"), each step's peak of
//! bytes allocated beyond the inputs (the gradients included); and the plot of the peaks,
//! less the gradients, against `V`.

use std::path::Path;
use std::time::Instant;

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use losskit::{CrossEntropyLossConfig, LinearCrossEntropyLossConfig};
use plotters::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Measurement;
use super::alloc;
use super::cases::Op;
use super::measure::{Rows, Timing, uniform};
use crate::common::fs::{Cause, WriteError};
use crate::common::plot::{Canvas, write_png};

/// A loss of `(input, classifier, target)`.
type Loss<'a> = dyn Fn(Tensor<2>, Tensor<2>, Tensor<1, Int>) -> Tensor<1> + 'a;

/// The rows of `[n, h, v]`: the median time and highest peak of `repeats` timed steps each
/// after two untimed ones, the two paths stepping in turn so that both see the same machine.
pub(super) fn measure([n, h, v]: [usize; 3], repeats: usize) -> Vec<Measurement> {
    let device = Device::flex().autodiff();
    let input = TensorData::new(uniform(n * h, 1, -1.75, 1.75), [n, h]);
    // About unit-variance logits, as a trained head gives.
    let scale = 1.0 / (h as f32).sqrt();
    let classifier = TensorData::new(uniform(v * h, 2, -scale, scale), [v, h]);
    let mut rng = StdRng::seed_from_u64(3);
    let target: Vec<i64> = (0..n).map(|_| rng.random_range(0..v as i64)).collect();
    let target = Tensor::<1, Int>::from_data(TensorData::new(target, [n]), &device);
    let chunked = LinearCrossEntropyLossConfig::new()
        .init(&device)
        .expect("the defaults are valid");
    let ce = CrossEntropyLossConfig::new()
        .init(&device)
        .expect("the defaults are valid");
    let fused = |x: Tensor<2>, w: Tensor<2>, t: Tensor<1, Int>| {
        chunked.forward(x, w, None, t).expect("the benchmark's shapes fit")
    };
    let unfused = |x: Tensor<2>, w: Tensor<2>, t: Tensor<1, Int>| {
        ce.forward(x.matmul(w.transpose()), t)
            .expect("the benchmark's shapes fit")
    };
    let paths: [(&str, &Loss<'_>); 2] = [("losskit", &fused), ("losskit-unfused", &unfused)];
    let mut steps: Vec<(Vec<f64>, usize)> = vec![(Vec::new(), 0); paths.len()];
    for i in 0..repeats + 2 {
        for ((_, loss), (times, peak)) in paths.iter().zip(&mut steps) {
            let (ms, bytes) = step(&input, &classifier, &target, &device, *loss);
            // The untimed steps' peaks hold one-time allocations (thread pools, buffers
            // kept for later calls).
            if i >= 2 {
                times.push(ms);
                *peak = (*peak).max(bytes);
            }
        }
    }
    let mut rows = Rows::new(Op::LinearCrossEntropy, &[n, h, v]);
    for ((name, _), (times, peak)) in paths.iter().zip(steps) {
        rows.record(name, Timing::of(times, peak));
    }
    rows.finish()
}

/// One step on fresh leaves: its milliseconds and its peak of bytes beyond the inputs.
fn step(
    input: &TensorData,
    classifier: &TensorData,
    target: &Tensor<1, Int>,
    device: &Device,
    loss: &Loss<'_>,
) -> (f64, usize) {
    let leaf = |data: &TensorData| Tensor::<2>::from_data(data.clone(), (device, DType::F32)).require_grad();
    let (x, w) = (leaf(input), leaf(classifier));
    alloc::reset_peak();
    let start = Instant::now();
    let grads = loss(x.clone(), w.clone(), target.clone()).backward();
    let dx = x.grad(&grads).expect("the loss depends on the input");
    let dw = w.grad(&grads).expect("the loss depends on the classifier");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let peak = alloc::peak_above_reset();
    drop((dx, dw, grads));
    (ms, peak)
}

/// The bytes of the f32 gradients of input and classifier at `[n, h, v]`, which every
/// path's peak holds and the memory goal leaves out.
pub fn gradient_bytes(shape: &[usize]) -> usize {
    match *shape {
        [n, h, v] => (n * h + v * h) * size_of::<f32>(),
        _ => 0,
    }
}

/// Why the memory plot was not drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No `linear_cross_entropy` row has a peak, or their shapes differ in `N` or `H`.
    #[error(
        "--plot draws linear_cross_entropy shapes of one N and H (--op linear_cross_entropy --shape 1024x512x8000,1024x512x32000 ...), not {0}"
    )]
    Shapes(String),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A PNG at `path` of the peak bytes beyond the inputs and the gradients against `V`, one
/// line per implementation, from the `linear_cross_entropy` rows of `all`.
pub(super) fn write_memory_plot(path: &Path, all: &[Measurement]) -> Result<(), PlotError> {
    let rows: Vec<&Measurement> = all
        .iter()
        .filter(|m| m.op == Op::LinearCrossEntropy.name() && m.peak_bytes.is_some())
        .collect();
    let mut sizes: Vec<(usize, usize)> = rows.iter().map(|m| (m.shape[0], m.shape[1])).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let &[(n, h)] = sizes.as_slice() else {
        let shapes: Vec<String> = rows.iter().map(|m| format!("{:?}", m.shape)).collect();
        return Err(PlotError::Shapes(if shapes.is_empty() {
            "none".into()
        } else {
            shapes.join(", ")
        }));
    };
    Ok(write_png(path, (900, 520), |root| draw(root, n, h, &rows))?)
}

fn draw(root: &Canvas<'_>, n: usize, h: usize, rows: &[&Measurement]) -> Result<(), Cause> {
    let mb =
        |m: &Measurement| (m.peak_bytes.unwrap_or(0).saturating_sub(gradient_bytes(&m.shape)) as f64 / 1e6).max(0.1);
    let max_v = rows.iter().map(|m| m.shape[2]).max().unwrap_or(1) as f64;
    let max_mb = rows.iter().map(|m| mb(m)).fold(1.0, f64::max) * 2.0;
    let min_mb = rows.iter().map(|m| mb(m)).fold(max_mb, f64::min) / 2.0;
    let title = format!("linear cross entropy, N = {n}, H = {h}, f32: peak memory beyond inputs and gradients");
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..max_v * 1.05, (min_mb..max_mb).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("classes V")
        .y_desc("peak extra MB (log scale)")
        .draw()?;
    let mut names: Vec<&str> = rows.iter().map(|m| m.implementation.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for (name, color) in names.into_iter().zip(colors) {
        let mut line: Vec<(f64, f64)> = rows
            .iter()
            .filter(|m| m.implementation == name)
            .map(|m| (m.shape[2] as f64, mb(m)))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
