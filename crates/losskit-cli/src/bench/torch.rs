//! PyTorch's side of the benchmark: its script is embedded in the binary and piped to
//! `python3 -`, so that an installed `losskit` runs it without the source tree.

use std::io::Write;
use std::process::{Command, Stdio};

use super::cases::{Case, Op};
use super::{BenchError, Measurement};

/// `bench/torch_losses.py`.
const SCRIPT: &str = include_str!("../../../../bench/torch_losses.py");

/// Whether `python3` imports torch.
pub fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// PyTorch's medians for `cases`.
pub fn measure(cases: &[Case], repeats: usize) -> Result<Vec<Measurement>, BenchError> {
    let specs: Vec<String> = cases.iter().map(|c| format!("{}:{}", c.op.name(), c.shape)).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // PyTorch gets the allocator settings `losskit` runs under (`alloc::keep_freed_memory`):
    // without them each of its calls pays a page fault per 4 KiB of a large gradient,
    // which more than doubled its time at the large vocabularies here.
    let mut child = Command::new("python3")
        .env("MALLOC_MMAP_MAX_", "0")
        .env("MALLOC_TRIM_THRESHOLD_", i32::MAX.to_string())
        .arg("-")
        .args(["--threads", &threads.to_string(), "--repeats", &repeats.to_string()])
        .args(&specs)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(BenchError::TorchStart)?;
    // Python reads the whole script before it runs any of it, so this cannot block on its output.
    let fed = child.stdin.take().expect("stdin is piped").write_all(SCRIPT.as_bytes());
    let output = child.wait_with_output().map_err(BenchError::TorchStart)?;
    if !output.status.success() || fed.is_err() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(BenchError::Torch {
            status: output.status,
            message: last.trim().to_string(),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .map(|line| row(line).ok_or_else(|| BenchError::TorchOutput { line: line.to_string() }))
        .collect()
}

/// A line of the script's output as a measurement.
fn row(line: &str) -> Option<Measurement> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(Measurement {
        op: Op::from_name(v["op"].as_str()?)?.name(),
        shape: v["shape"]
            .as_array()?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()?,
        dtype: "f32",
        implementation: v["impl"].as_str()?.to_string(),
        median_ms: v["median_ms"].as_f64()?,
        peak_bytes: v["peak_bytes"].as_u64().map(|b| b as usize),
    })
}
