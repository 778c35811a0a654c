//! The error of a `losskit` command: one line for `main` to print.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::bench::BenchError;
use crate::compare::CompareError;
use crate::train::TrainError;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// `eval FILE` with a file that cannot be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `eval` could not read its requests or write its responses.
    #[error("eval: {0}")]
    Eval(io::Error),
    /// `train` failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// `compare` failed.
    #[error(transparent)]
    Compare(#[from] CompareError),
    /// `bench` failed.
    #[error(transparent)]
    Bench(#[from] BenchError),
}
