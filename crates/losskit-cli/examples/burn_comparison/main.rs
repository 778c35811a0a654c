//! burn 0.22.1's losses on losskit's PyTorch golden cases.
//!
//! `cargo run --release -p losskit-cli --example burn_comparison [-- --markdown PATH]`
//! prints a Markdown table (one row per burn loss: how many cases agree with PyTorch,
//! differ in value or gradient, need an option burn lacks, panic, or are accepted where
//! PyTorch refuses them), the details behind it, and the findings worth reporting
//! upstream with their reproductions; `--markdown PATH` also writes it all to PATH.

mod comparison;

use std::path::PathBuf;
use std::process::ExitCode;

/// The golden files, relative to this crate.
const FIXTURES: [&str; 2] = [
    "tests/fixtures/pytorch_cases.jsonl",
    "tests/fixtures/catalogue_cases.jsonl",
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("burn_comparison: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let markdown_path = markdown_path(std::env::args().skip(1))?;
    let mut cases = Vec::new();
    for fixture in FIXTURES {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        cases.extend(comparison::case::parse_cases(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let device = comparison::device();
    let judged = comparison::judge_all(&cases, &device);
    let rows = comparison::report::tally(&judged);
    let text = comparison::report::document(&rows, &comparison::findings::check_all(&device));
    print!("{text}");
    if let Some(path) = markdown_path {
        std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// `--markdown PATH`, the only argument.
fn markdown_path(mut args: impl Iterator<Item = String>) -> Result<Option<PathBuf>, String> {
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--markdown"), Some(path), None) => Ok(Some(PathBuf::from(path))),
        _ => Err("usage: burn_comparison [--markdown PATH]".into()),
    }
}
