//! What a run leaves in its directory besides its checkpoint and loss.png: metrics.csv
//! (one row per optimizer step), epochs.csv (one row per epoch, with the test set's loss and
//! accuracy) and summary.json (the final network's test figures and the run's
//! configuration).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use super::evaluation::{Accuracy, Evaluation};
use crate::common::fs::{WriteError, write_atomic};

/// The per-step losses.
pub const METRICS: &str = "metrics.csv";
/// The per-epoch losses and test figures.
pub const EPOCHS: &str = "epochs.csv";
/// The test set's results and the run's configuration.
pub const SUMMARY: &str = "summary.json";

/// One optimizer step's record (a row of metrics.csv).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// Optimizer steps since the start (1-based).
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// The loss over the step's examples (all its micro-batches with `--accumulate`).
    pub loss: f64,
    /// The learning rate.
    pub lr: f64,
}

/// One epoch's record (a row of epochs.csv): its training loss and the network's test
/// figures at its end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochMetric {
    /// Epoch (1-based).
    pub epoch: usize,
    /// The epoch's last optimizer step.
    pub step: usize,
    /// The mean of the epoch's step losses.
    pub train_loss: f64,
    /// The loss over the test set.
    pub test_loss: f64,
    /// Correct test predictions over test examples.
    pub test_accuracy: f64,
    /// Correct test predictions.
    pub correct: usize,
    /// Test examples.
    pub test_examples: usize,
}

impl EpochMetric {
    /// The record of epoch `epoch`, whose steps are `steps`, evaluated as `evaluation`.
    pub fn new(epoch: usize, steps: &[Metric], evaluation: &Evaluation) -> Self {
        let a = &evaluation.accuracy;
        Self {
            epoch,
            step: steps.last().map_or(0, |m| m.step),
            train_loss: steps.iter().map(|m| m.loss).sum::<f64>() / steps.len().max(1) as f64,
            test_loss: evaluation.test_loss,
            test_accuracy: a.test_accuracy,
            correct: a.correct,
            test_examples: a.test_examples,
        }
    }
}

/// Test-set results, with the run's configuration and speed.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The test set's figures.
    #[serde(flatten)]
    pub accuracy: Accuracy,
    /// The final network's loss over the test set.
    pub test_loss: f64,
    /// Loss of the last step.
    pub final_loss: f64,
    /// Each epoch's training loss and test figures.
    pub epochs: Vec<EpochMetric>,
    /// Seconds spent training (all sessions of a resumed run).
    pub train_seconds: f64,
    /// Wall-clock seconds of this process.
    pub wall_seconds: f64,
    /// Training examples processed per second of training.
    pub samples_per_second: f64,
    /// Where the data came from.
    pub data: String,
    /// Hash of the final weights: equal runs have equal fingerprints.
    pub weights_fingerprint: String,
    /// The full configuration.
    pub config: RunConfig,
}

/// `metrics.csv`: one row per optimizer step.
pub fn write_metrics(dir: &Path, metrics: &[Metric]) -> Result<(), WriteError> {
    let mut csv = String::from("step,epoch,loss,lr\n");
    for m in metrics {
        csv.push_str(&format!("{},{},{},{}\n", m.step, m.epoch, m.loss, m.lr));
    }
    write_atomic(&dir.join(METRICS), csv.as_bytes())
}

/// `epochs.csv`: one row per epoch.
pub fn write_epochs(dir: &Path, epochs: &[EpochMetric]) -> Result<(), WriteError> {
    let mut csv = String::from("epoch,step,train_loss,test_loss,test_accuracy,correct,test_examples\n");
    for e in epochs {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            e.epoch, e.step, e.train_loss, e.test_loss, e.test_accuracy, e.correct, e.test_examples
        ));
    }
    write_atomic(&dir.join(EPOCHS), csv.as_bytes())
}

/// `summary.json`.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<(), WriteError> {
    let json = serde_json::to_vec_pretty(summary).expect("the summary serialises");
    write_atomic(&dir.join(SUMMARY), &json)
}
