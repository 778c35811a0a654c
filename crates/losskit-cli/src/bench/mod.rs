//! `losskit bench`: forward+backward medians of the losses against burn's own losses and
//! PyTorch, with the memory-bandwidth bound of each shape.

pub mod alloc;
mod boxes;
mod cases;
mod classification;
mod linear;
mod measure;
mod regression;
mod sequence;
mod torch;

use std::process::ExitStatus;

use serde::Serialize;
use thiserror::Error;

pub use cases::{Op, Shape, ShapeError};

use crate::common::options::{InvalidOption, require};
use crate::common::stdout::{OutputError, write_line};

/// The options of `losskit bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// One JSON line per measurement instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 11, allow_negative_numbers = true)]
    pub repeats: usize,
    /// Only the small shapes of the default cases (for a quick check).
    #[arg(long)]
    pub quick: bool,
    /// Time only these ops (repeat the option or give a comma-separated list).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "OP")]
    pub op: Vec<Op>,
    /// Time the ops at these shapes instead of their default ones (repeatable), e.g.
    /// 4096x1000; the ops over classes take (rows, classes) shapes, the sigmoid ones up to 4-D,
    /// ctc TxNxCxS (frames, batch, classes, target length), rnnt NxTxUxV and
    /// linear_cross_entropy NxHxV (rows, hidden size, classes).
    #[arg(long, value_delimiter = ',', value_name = "AxB...")]
    pub shape: Vec<Shape>,
    /// Skip PyTorch even when `python3 -c "import torch"` works.
    #[arg(long)]
    pub no_torch: bool,
    /// Draw the peak memory of the linear_cross_entropy rows (beyond the inputs and the
    /// gradients) against V into this PNG; their shapes share N and H.
    #[arg(long, value_name = "PATH")]
    pub plot: Option<std::path::PathBuf>,
}

/// The most timed repetitions: each one's time is kept, and a step of the largest cases
/// takes a second, so more would only ask for memory or hours.
const MAX_REPEATS: usize = 10_000;

/// Why `losskit bench` stopped.
#[derive(Debug, Error)]
pub enum BenchError {
    /// An option out of its range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// A shape the op is not timed at.
    #[error("{op} times {}, not {shape}", expected_shape(op))]
    Rank {
        /// The op.
        op: &'static str,
        /// The shape given.
        shape: Shape,
    },
    /// A shape whose largest tensor is past [`cases::MAX_ELEMENTS`].
    #[error("{op} at {shape} holds a tensor of more than {} elements", cases::MAX_ELEMENTS)]
    Elements {
        /// The op.
        op: &'static str,
        /// The shape given.
        shape: Shape,
    },
    /// The memory plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] linear::PlotError),
    /// `python3` could not be run.
    #[error("cannot run python3 for PyTorch's side: {0} (--no-torch skips it)")]
    TorchStart(std::io::Error),
    /// PyTorch's script failed.
    #[error("PyTorch's side failed ({status}): {message} (--no-torch skips it)")]
    Torch {
        /// How it exited.
        status: ExitStatus,
        /// The last line of its stderr.
        message: String,
    },
    /// PyTorch's script printed something that is not a measurement.
    #[error("PyTorch's side printed a line that is not a measurement: {line}")]
    TorchOutput {
        /// The line.
        line: String,
    },
    /// Standard output is closed or full.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// What shapes `op` takes, for [`BenchError::Rank`].
fn expected_shape(op: &str) -> &'static str {
    match Op::from_name(op).map(Op::family) {
        Some(cases::Family::Boxes) => "boxes (N, 4) like 100000x4",
        Some(cases::Family::Sequence) => {
            "four sizes, TxNxCxS (ctc) or NxTxUxV (rnnt), with 2 classes or more, like 250x32x40x60"
        }
        Some(cases::Family::Linear) => "NxHxV (rows, hidden size, classes) like 1024x512x32000",
        _ => "(rows, classes) shapes like 4096x1000",
    }
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

/// Runs the benchmark and prints a table (or JSON lines).
pub fn run(args: BenchArgs) -> Result<(), BenchError> {
    require(
        (1..=MAX_REPEATS).contains(&args.repeats),
        "--repeats",
        "from 1 to 10000",
        args.repeats,
    )?;
    let cases = cases::select(&args.op, &args.shape, args.quick)?;
    alloc::keep_freed_memory();
    measure::warm_thread_buffers();
    alloc::start_counting();
    let mut all = Vec::new();
    for case in &cases {
        all.extend(measure::measure(case, args.repeats));
    }
    let has_torch = !args.no_torch && torch::available();
    if has_torch {
        all.extend(torch::measure(&cases, args.repeats)?);
    }
    if let Some(path) = &args.plot {
        linear::write_memory_plot(path, &all)?;
    }
    if args.json {
        for m in &all {
            write_line(serde_json::to_string(m).expect("a measurement serialises"))?;
        }
        return Ok(());
    }
    write_line(format_args!(
        "forward+backward, f32, median of {} runs, {} threads; bound: a copy as large as the bytes the loss reads and writes, timed before each fused run{}",
        args.repeats,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if has_torch { "" } else { " (PyTorch not found)" }
    ))?;
    write_line(format_args!(
        "{:<20} {:<18} {:<18} {:>11} {:>10} {:>8} {:>11}",
        "op", "shape", "impl", "median ms", "x PyTorch", "x bound", "extra MB"
    ))?;
    for case in &cases {
        let rows: Vec<&Measurement> = all
            .iter()
            .filter(|m| m.op == case.op.name() && m.shape == case.shape.0)
            .collect();
        let time_of = |pick: &dyn Fn(&str) -> bool| rows.iter().find(|m| pick(&m.implementation)).map(|m| m.median_ms);
        let reference = time_of(&|i| i == "pytorch" || i == "torchvision" || i == "torchaudio");
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
