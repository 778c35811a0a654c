//! A run's checkpoint: the state of training, the model and the optimizer, in one file
//! with a format version and a CRC-32 of its payload, checked before anything is used.
//!
//! `checkpoint.bin` is replaced atomically at the end of each epoch; the one it replaces is
//! kept as `checkpoint.prev.bin`, so that a latest checkpoint found corrupt still leaves an
//! intact one. Layout: the magic, the version (u32), the payload's length (u64) and CRC-32
//! (u32), all little-endian, then the payload: three sections (u64 length, then bytes) of
//! the JSON [`State`], the model record and the optimizer record.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use flate2::Crc;
use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::report::{EpochMetric, Metric};
use super::{CheckpointError, Corruption, TrainError};
use crate::common::fs::{read_limited, write_atomic, write_atomic_with};
use crate::common::model::Mlp;
use crate::data::DataFile;

const MAGIC: &[u8; 12] = b"LOSSKIT-CKPT";
/// What version 1 (no version field, no checksum) started with.
const MAGIC_V1: &[u8; 12] = b"LOSSKITCKPT1";
/// The format this build writes and reads.
pub const VERSION: u32 = 2;
const HEADER: usize = MAGIC.len() + 4 + 8 + 4;

/// The largest checkpoint read: the network and its optimizer state are 3 MB, a step's
/// metrics under 100 bytes, so this holds millions of steps.
pub const MAX_FILE: u64 = 1 << 30;

/// The checkpoint's file name inside a run directory.
pub const FILE: &str = "checkpoint.bin";
/// The checkpoint before it.
pub const PREVIOUS: &str = "checkpoint.prev.bin";

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The run's configuration.
    pub config: RunConfig,
    /// The four data files it trains on, as they were.
    pub data_files: Vec<DataFile>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Batches processed.
    pub global_step: usize,
    /// Seconds of training so far.
    pub train_seconds: f64,
    /// Every step's loss so far.
    pub metrics: Vec<Metric>,
    /// Every epoch's losses and test figures so far (absent from checkpoints written
    /// before they were recorded).
    #[serde(default)]
    pub epochs: Vec<EpochMetric>,
}

/// A checkpoint read and verified, its records not yet loaded.
pub struct Checkpoint {
    /// The training state.
    pub state: State,
    model: Vec<u8>,
    optim: Vec<u8>,
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc::new();
    crc.update(bytes);
    crc.sum()
}

fn section(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Saves the checkpoint of `dir`, keeping the one it replaces as [`PREVIOUS`].
pub fn save(dir: &Path, state: &State, model: &Mlp, optim: &ModuleOptimizer) -> Result<(), TrainError> {
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|source| CheckpointError::Serialise { what: "model", source })?;
    let optim_bytes = optim.into_bytes().map_err(|source| CheckpointError::Serialise {
        what: "optimizer",
        source,
    })?;
    let mut payload = Vec::new();
    section(
        &mut payload,
        &serde_json::to_vec(state).expect("the training state serialises"),
    );
    section(&mut payload, &model_bytes);
    section(&mut payload, &optim_bytes);
    let mut file = Vec::with_capacity(HEADER + payload.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&crc32(&payload).to_le_bytes());
    file.extend_from_slice(&payload);
    let current = dir.join(FILE);
    let previous = dir.join(PREVIOUS);
    // Already a second name of the current file when a process was killed between the two
    // steps: linking again and renaming the link over it would leave the link behind (a
    // rename onto another name of the same file does nothing).
    if current.exists() && !same_file(&current, &previous) {
        // A second name for the current file (a copy where hard links are not supported).
        write_atomic_with(&previous, |tmp| {
            std::fs::hard_link(&current, tmp).or_else(|_| std::fs::copy(&current, tmp).map(drop))?;
            Ok(())
        })?;
    }
    write_atomic(&current, &file)?;
    Ok(())
}

/// Whether `a` and `b` are names of one file (false where either is missing, or where the
/// platform does not say).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// The payload of a checkpoint file, checked against its header.
fn payload(bytes: &[u8]) -> Result<&[u8], Corruption> {
    if bytes.starts_with(MAGIC_V1) {
        return Err(Corruption::Version(1));
    }
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(Corruption::NotACheckpoint)?;
    let (header, payload) = rest
        .split_at_checked(HEADER - MAGIC.len())
        .ok_or(Corruption::Truncated {
            expected: HEADER as u64,
            found: bytes.len() as u64,
        })?;
    let version = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(Corruption::Version(version));
    }
    let length = u64::from_le_bytes(header[4..12].try_into().expect("8 bytes"));
    let stored = u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"));
    if length != payload.len() as u64 {
        return Err(Corruption::Truncated {
            expected: HEADER as u64 + length,
            found: bytes.len() as u64,
        });
    }
    let computed = crc32(payload);
    if stored != computed {
        return Err(Corruption::Checksum { stored, computed });
    }
    Ok(payload)
}

/// The three sections of a verified payload.
fn sections(mut rest: &[u8]) -> Option<[&[u8]; 3]> {
    let mut take = || {
        let (len, tail) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (part, tail) = tail.split_at_checked(len)?;
        rest = tail;
        Some(part)
    };
    let parts = [take()?, take()?, take()?];
    rest.is_empty().then_some(parts)
}

/// Reads and verifies the checkpoint file `path`.
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = read_limited(path, MAX_FILE)
        .map_err(|source| CheckpointError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| CheckpointError::TooLarge {
            path: path.to_path_buf(),
        })?;
    let corrupt = |problem| CheckpointError::Invalid {
        path: path.to_path_buf(),
        problem,
        previous: None,
    };
    let [state, model, optim] =
        sections(payload(&bytes).map_err(corrupt)?).ok_or_else(|| corrupt(Corruption::Sections))?;
    let state = serde_json::from_slice(state).map_err(|e| corrupt(Corruption::State(e)))?;
    Ok(Checkpoint {
        state,
        model: model.to_vec(),
        optim: optim.to_vec(),
    })
}

/// The checkpoint of run directory `dir`; when it is corrupt, the error says whether the
/// previous one is intact.
pub fn read_latest(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let path = dir.join(FILE);
    if !path.exists() {
        return Err(CheckpointError::Missing { dir: dir.to_path_buf() });
    }
    read(&path).map_err(|e| match e {
        CheckpointError::Invalid { path, problem, .. } => {
            let previous = dir.join(PREVIOUS);
            let previous = read(&previous).ok().map(|c| Intact {
                path: previous,
                epochs_done: c.state.epochs_done,
            });
            CheckpointError::Invalid {
                path,
                problem,
                previous,
            }
        }
        other => other,
    })
}

impl Checkpoint {
    /// The model and optimizer of the checkpoint, loaded into fresh ones.
    pub fn restore(
        self,
        path: &Path,
        model: Mlp,
        optim: ModuleOptimizer,
    ) -> Result<(Mlp, ModuleOptimizer), CheckpointError> {
        let unusable = |source| CheckpointError::Record {
            path: path.to_path_buf(),
            source,
        };
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.model)).map_err(unusable)?;
        let model = model.try_load_record(record).map_err(unusable)?;
        let optim = optim.from_bytes(Bytes::from_bytes_vec(self.optim)).map_err(unusable)?;
        Ok((model, optim))
    }
}

/// An intact checkpoint.
#[derive(Debug)]
pub struct Intact {
    /// Its file.
    pub path: PathBuf,
    /// The epochs it holds.
    pub epochs_done: usize,
}

/// What a run that stops can be resumed from.
#[derive(Debug)]
pub enum LastCheckpoint {
    /// No epoch finished.
    None,
    /// The latest checkpoint, read back and verified.
    Intact(Intact),
    /// A checkpoint that does not verify.
    Unusable(Box<CheckpointError>),
}

impl LastCheckpoint {
    /// The checkpoint of `dir` as it is on disk now.
    pub fn of(dir: &Path) -> Self {
        let path = dir.join(FILE);
        if !path.exists() {
            return LastCheckpoint::None;
        }
        match read_latest(dir) {
            Ok(c) => LastCheckpoint::Intact(Intact {
                path,
                epochs_done: c.state.epochs_done,
            }),
            Err(e) => LastCheckpoint::Unusable(Box::new(e)),
        }
    }
}

impl fmt::Display for LastCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastCheckpoint::None => write!(f, "no epoch finished, so there is no checkpoint"),
            LastCheckpoint::Intact(c) => {
                write!(
                    f,
                    "the last good checkpoint is {} (after epoch {})",
                    c.path.display(),
                    c.epochs_done
                )
            }
            LastCheckpoint::Unusable(e) => write!(f, "there is no good checkpoint: {e}"),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::train::args::LossKind;

    /// The default configuration.
    pub fn config() -> RunConfig {
        RunConfig {
            data: None,
            loss: LossKind::CrossEntropy,
            label_smoothing: 0.0,
            gamma: 2.0,
            alpha: None,
            epochs: 3,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            seed: 42,
            accumulate: 1,
            log_every: 100,
        }
    }

    fn state(epochs_done: usize) -> State {
        State {
            config: config(),
            data_files: Vec::new(),
            epochs_done,
            global_step: 0,
            train_seconds: 0.0,
            metrics: Vec::new(),
            epochs: Vec::new(),
        }
    }

    #[test]
    fn a_corrupt_latest_checkpoint_is_never_called_good() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let model = Mlp::new(4, 3, 2, &Device::flex().autodiff());
        let optim = state(0).config.optimizer();
        assert!(matches!(LastCheckpoint::of(dir), LastCheckpoint::None));
        save(dir, &state(1), &model, &optim).unwrap();
        save(dir, &state(2), &model, &optim).unwrap();
        assert!(matches!(
            LastCheckpoint::of(dir),
            LastCheckpoint::Intact(Intact { epochs_done: 2, .. })
        ));
        let path = dir.join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let text = LastCheckpoint::of(dir).to_string();
        let expected = format!(
            "there is no good checkpoint: checkpoint {} is corrupt: checksum mismatch",
            path.display()
        );
        assert!(text.starts_with(&expected), "{text}");
        let previous = format!(
            "the previous checkpoint {} (after epoch 1) is intact",
            dir.join(PREVIOUS).display()
        );
        assert!(text.contains(&previous), "{text}");
    }
}
