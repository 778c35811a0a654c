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
    /// `eval FILE` with a directory.
    #[error("cannot read {}: it is a directory", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// `eval` could not read its requests from standard input or write its responses.
    #[error("eval: {0}")]
    Eval(io::Error),
    /// `eval FILE` could not read its requests or write its responses.
    #[error("eval {}: {source}", path.display())]
    EvalFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
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
