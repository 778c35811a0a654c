//! One checkpoint file per run: the state of training, the model and the optimizer,
//! written to a temporary file and renamed, so a kill at any moment leaves the last good one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::{CheckpointError, Metric, Problem, TrainArgs, TrainError};
use crate::common::fs::write_atomic;
use crate::common::model::Mlp;

const MAGIC: &[u8; 12] = b"LOSSKITCKPT1";

/// The file name of the checkpoint inside a run directory.
pub const FILE: &str = "checkpoint.bin";

/// Everything besides tensors that a resumed run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The run's configuration.
    pub config: TrainArgs,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub global_step: usize,
    /// Seconds of training so far.
    pub train_seconds: f64,
    /// Every step's loss so far.
    pub metrics: Vec<Metric>,
}

fn section(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Saves the checkpoint of `dir`.
pub fn save(
    dir: &Path,
    state: &State,
    model: &Mlp,
    optim: &ModuleOptimizer,
) -> Result<PathBuf, TrainError> {
    let header = serde_json::to_vec(state).expect("the training state serialises");
    let model_bytes =
        model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|source| CheckpointError::Serialise {
                what: "model",
                source,
            })?;
    let optim_bytes = optim
        .into_bytes()
        .map_err(|source| CheckpointError::Serialise {
            what: "optimizer",
            source,
        })?;
    let mut out = MAGIC.to_vec();
    section(&mut out, &header);
    section(&mut out, &model_bytes);
    section(&mut out, &optim_bytes);
    let path = dir.join(FILE);
    write_atomic(&path, &out)?;
    Ok(path)
}

/// The sections of a checkpoint file, checked for completeness.
fn sections(bytes: &[u8]) -> Result<[&[u8]; 3], Problem> {
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or(Problem::NotACheckpoint)?;
    let mut take = || -> Result<&[u8], Problem> {
        let (len, tail) = rest.split_at_checked(8).ok_or(Problem::Truncated)?;
        let len = u64::from_le_bytes(len.try_into().unwrap());
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= tail.len())
            .ok_or(Problem::Truncated)?;
        let (part, tail) = tail.split_at(len);
        rest = tail;
        Ok(part)
    };
    Ok([take()?, take()?, take()?])
}

/// The training state of `dir`'s checkpoint, without its tensors.
pub fn peek(dir: &Path) -> Result<State, CheckpointError> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path).map_err(|source| CheckpointError::Unreadable {
        dir: dir.to_path_buf(),
        source,
    })?;
    let unusable = |problem| CheckpointError::Unusable {
        path: path.clone(),
        problem,
    };
    let [header, _, _] = sections(&bytes).map_err(unusable)?;
    serde_json::from_slice(header).map_err(|e| unusable(Problem::State(e)))
}

/// Loads the checkpoint of `dir` into a fresh `model` and `optim`.
pub fn load(
    dir: &Path,
    model: Mlp,
    optim: ModuleOptimizer,
) -> Result<(State, Mlp, ModuleOptimizer), CheckpointError> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path).map_err(|source| CheckpointError::Unreadable {
        dir: dir.to_path_buf(),
        source,
    })?;
    let unusable = |problem| CheckpointError::Unusable {
        path: path.clone(),
        problem,
    };
    let [header, model_bytes, optim_bytes] = sections(&bytes).map_err(unusable)?;
    let state: State = serde_json::from_slice(header).map_err(|e| unusable(Problem::State(e)))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model_bytes.to_vec()))
        .map_err(|e| unusable(Problem::Record(e)))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| unusable(Problem::Record(e)))?;
    let optim = optim
        .from_bytes(Bytes::from_bytes_vec(optim_bytes.to_vec()))
        .map_err(|e| unusable(Problem::Record(e)))?;
    Ok((state, model, optim))
}
