//! One checkpoint file per run: the state of training, the model and the optimizer,
//! written to a temporary file and renamed, so a kill at any moment leaves the last good one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::common::fs::write_atomic;
use crate::common::model::Mlp;
use super::{Metric, TrainArgs};

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
pub fn save(dir: &Path, state: &State, model: &Mlp, optim: &ModuleOptimizer) -> Result<PathBuf, String> {
    let header = serde_json::to_vec(state).map_err(|e| e.to_string())?;
    let model_bytes = model.clone().into_record().into_bytes().map_err(|e| format!("cannot serialise the model: {e:?}"))?;
    let optim_bytes = optim.into_bytes().map_err(|e| format!("cannot serialise the optimizer: {e:?}"))?;
    let mut out = MAGIC.to_vec();
    section(&mut out, &header);
    section(&mut out, &model_bytes);
    section(&mut out, &optim_bytes);
    let path = dir.join(FILE);
    write_atomic(&path, &out).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The sections of a checkpoint file, checked for completeness.
fn sections(bytes: &[u8]) -> Result<[&[u8]; 3], String> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a losskit checkpoint")?;
    let mut take = || -> Result<&[u8], String> {
        let (len, tail) = rest.split_at_checked(8).ok_or("truncated checkpoint")?;
        let len = u64::from_le_bytes(len.try_into().unwrap());
        let len = usize::try_from(len).ok().filter(|&l| l <= tail.len()).ok_or("truncated checkpoint")?;
        let (part, tail) = tail.split_at(len);
        rest = tail;
        Ok(part)
    };
    Ok([take()?, take()?, take()?])
}

/// The training state of `dir`'s checkpoint, without its tensors.
pub fn peek(dir: &Path) -> Result<State, String> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot resume {}: no readable checkpoint ({e})", dir.display()))?;
    let [header, _, _] = sections(&bytes).map_err(|e| format!("checkpoint {} is unusable: {e}", path.display()))?;
    serde_json::from_slice(header).map_err(|e| format!("checkpoint {} is unusable: {e}", path.display()))
}

/// Loads the checkpoint of `dir` into a fresh `model` and `optim`.
pub fn load(dir: &Path, model: Mlp, optim: ModuleOptimizer) -> Result<(State, Mlp, ModuleOptimizer), String> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read checkpoint {}: {e}", path.display()))?;
    let bad = |what: String| format!("checkpoint {} is unusable: {what}", path.display());
    let [header, model_bytes, optim_bytes] = sections(&bytes).map_err(bad)?;
    let state: State = serde_json::from_slice(header).map_err(|e| bad(e.to_string()))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model_bytes.to_vec())).map_err(|e| bad(format!("{e:?}")))?;
    let model = model.try_load_record(record).map_err(|e| bad(format!("{e:?}")))?;
    let optim = optim.from_bytes(Bytes::from_bytes_vec(optim_bytes.to_vec())).map_err(|e| bad(format!("{e:?}")))?;
    Ok((state, model, optim))
}
