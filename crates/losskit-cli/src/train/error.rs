//! Why `losskit train` stopped.

use std::path::PathBuf;

use burn::store::RecordError;
use losskit::LossError;
use thiserror::Error;

use crate::common::fs::WriteError;
use crate::common::options::InvalidOption;
use crate::common::stdout::OutputError;
use crate::data::DataError;

/// Why a training run stopped before its end.
#[derive(Debug, Error)]
pub enum TrainError {
    /// An option out of its range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// The data directory cannot be used.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The checkpoint cannot be written or used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A file of the run could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Standard output is closed or full.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The loss refused a batch.
    #[error(transparent)]
    Loss(#[from] LossError),
    /// The run directory cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The loss became NaN or infinite.
    #[error(
        "loss became {value} at epoch {epoch}, step {step} (batch {global_step} of the run); stopped, the last good checkpoint is {last_good}"
    )]
    Diverged {
        /// The loss.
        value: f64,
        /// Its epoch (1-based).
        epoch: usize,
        /// Its step in the epoch (1-based).
        step: usize,
        /// Its step in the run (1-based).
        global_step: usize,
        /// The checkpoint a resume would start from.
        last_good: String,
    },
}

/// A checkpoint that cannot be written or used.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// No checkpoint to resume from.
    #[error("cannot resume {}: no readable checkpoint ({source})", dir.display())]
    Unreadable {
        /// The run directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A checkpoint file that is not a whole one.
    #[error("checkpoint {} is unusable: {problem}", path.display())]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: Problem,
    },
    /// The model or optimizer state could not be serialised.
    #[error("cannot serialise the {what} for the checkpoint: {source}")]
    Serialise {
        /// "model" or "optimizer".
        what: &'static str,
        /// Why.
        source: RecordError,
    },
}

/// What is wrong with a checkpoint file.
#[derive(Debug, Error)]
pub enum Problem {
    /// It does not start with the checkpoint magic.
    #[error("not a losskit checkpoint")]
    NotACheckpoint,
    /// A section runs past the end of the file.
    #[error("truncated checkpoint")]
    Truncated,
    /// The training state does not parse.
    #[error("{0}")]
    State(serde_json::Error),
    /// The model or optimizer record does not load.
    #[error("{0}")]
    Record(RecordError),
}
