//! Why `losskit train` stopped.

use std::path::PathBuf;

use burn::store::RecordError;
use losskit::LossError;
use thiserror::Error;

use super::checkpoint::{FILE, Intact, LastCheckpoint, MAX_FILE, VERSION};
use crate::common::fs::WriteError;
use crate::common::options::InvalidOption;
use crate::common::run_dir::RunDirError;
use crate::common::stdout::OutputError;
use crate::data::{DataError, DataFile};

/// Why a training run stopped before its end.
#[derive(Debug, Error)]
pub enum TrainError {
    /// An option out of its range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// An option given for a loss that does not use it.
    #[error("{option} applies to --loss {losses} only, not to {loss}")]
    NotForLoss {
        /// The option.
        option: &'static str,
        /// The loss of the run.
        loss: &'static str,
        /// The losses that use it.
        losses: &'static str,
    },
    /// A resume given an option that differs from the checkpoint's.
    #[error(
        "{option} {value} conflicts with the checkpoint's {} {saved} (a resume keeps the run's configuration; only --epochs and --log-every may change)",
        option.trim_start_matches('-').replace('-', " ")
    )]
    Conflict {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// The checkpoint's value.
        saved: String,
    },
    /// A resume asked for fewer epochs than the checkpoint has done.
    #[error("--epochs {epochs} is fewer than the checkpoint's epochs done, {done}: a resume can only extend a run")]
    EpochsBelowDone {
        /// The epochs asked for.
        epochs: usize,
        /// The epochs done.
        done: usize,
    },
    /// A data file that is not the one the checkpoint trained on.
    #[error(
        "data file {file} changed since the checkpoint (then {} bytes, CRC-32 {:#010x}; now {}, {} bytes, CRC-32 {:#010x}): resume only on the data the run started with",
        was.bytes, was.crc32, now.name, now.bytes, now.crc32
    )]
    DataChanged {
        /// The file, as the checkpoint recorded it.
        file: String,
        /// It then.
        was: DataFile,
        /// The file read now.
        now: DataFile,
    },
    /// A checkpoint that does not record the four data files.
    #[error("the checkpoint does not record the data files it trained on, so a resume cannot check them")]
    DataUnrecorded,
    /// The data directory cannot be used.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The run directory cannot be used.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
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
    /// The threads the run computes on could not be started.
    #[error("could not start the training threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
    /// The loss became NaN or infinite.
    #[error(
        "loss became {value} at epoch {epoch}, step {step} (optimizer step {global_step} of the run); stopped, {last}"
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
        /// What a resume would start from.
        last: LastCheckpoint,
    },
    /// The weights became NaN or infinite by the end of an epoch.
    #[error("the weights became NaN or infinite in epoch {epoch}; stopped without saving them, {last}")]
    WeightsNotFinite {
        /// The epoch (1-based).
        epoch: usize,
        /// What a resume would start from.
        last: LastCheckpoint,
    },
}

/// A checkpoint that cannot be written or used.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// A run directory without a checkpoint.
    #[error("cannot resume {}: it holds no {FILE}", dir.display())]
    Missing {
        /// The run directory.
        dir: PathBuf,
    },
    /// A checkpoint file that cannot be read.
    #[error("cannot read checkpoint {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file too large to be a checkpoint.
    #[error("{} is larger than {MAX_FILE} bytes, more than any checkpoint", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A checkpoint file that does not verify.
    #[error("checkpoint {} {problem}{}", path.display(), previous_hint(previous.as_ref()))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: Corruption,
        /// The checkpoint before it, when that one is intact.
        previous: Option<Intact>,
    },
    /// A verified checkpoint whose records do not load into this network.
    #[error("checkpoint {} does not fit this network: {source}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// Why.
        source: RecordError,
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

fn previous_hint(previous: Option<&Intact>) -> String {
    previous.map_or_else(String::new, |p| {
        format!(
            "; the previous checkpoint {} (after epoch {}) is intact: copy it to {FILE} to resume from it",
            p.path.display(),
            p.epochs_done
        )
    })
}

/// What is wrong with a checkpoint file.
#[derive(Debug, Error)]
pub enum Corruption {
    /// It does not start with the checkpoint magic.
    #[error("is not a losskit checkpoint")]
    NotACheckpoint,
    /// Another format version.
    #[error("has format version {0}, which this losskit does not read (it reads version {VERSION}): start a new run")]
    Version(u32),
    /// Shorter or longer than its header says.
    #[error("is corrupt: {found} bytes where its header says {expected}")]
    Truncated {
        /// The size the header gives.
        expected: u64,
        /// The file's size.
        found: u64,
    },
    /// A payload that is not what was written.
    #[error("is corrupt: checksum mismatch (stored CRC-32 {stored:#010x}, computed {computed:#010x})")]
    Checksum {
        /// The CRC-32 in the header.
        stored: u32,
        /// The CRC-32 of the payload read.
        computed: u32,
    },
    /// Sections that do not fill the payload.
    #[error("is corrupt: its sections do not fill its payload")]
    Sections,
    /// A training state that does not parse.
    #[error("is corrupt: its training state does not parse ({0})")]
    State(serde_json::Error),
}
