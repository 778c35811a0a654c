//! What a run leaves in its directory besides its checkpoint: metrics.csv, summary.json
//! (the test set's accuracy) and loss.png.

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::RunConfig;
use crate::common::batch::Batch;
use crate::common::fs::{Cause, WriteError, write_atomic};
use crate::common::model::Mlp;
use crate::common::plot::{Canvas, write_png};
use crate::data::{CLASSES, Split};

/// The per-step losses.
pub const METRICS: &str = "metrics.csv";
/// The test set's results and the run's configuration.
pub const SUMMARY: &str = "summary.json";
/// The plot of the losses.
pub const LOSS_PLOT: &str = "loss.png";

/// One optimizer step's record (a row of metrics.csv).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// Batches processed since the start (1-based).
    pub step: usize,
    /// Epoch (1-based).
    pub epoch: usize,
    /// The batch's loss.
    pub loss: f64,
    /// The learning rate.
    pub lr: f64,
}

/// How a network did on the test set.
#[derive(Debug, Serialize)]
pub struct Accuracy {
    /// Correct predictions over test examples.
    pub test_accuracy: f64,
    /// Correct test predictions.
    pub correct: usize,
    /// Test examples.
    pub test_examples: usize,
    /// Accuracy of each true class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion_matrix[true][predicted]` counts.
    pub confusion_matrix: Vec<Vec<usize>>,
}

impl Accuracy {
    /// The accuracy of `model` on `split`, without autodiff.
    pub fn of(model: &Mlp, split: &Split) -> Self {
        let model = model.valid();
        let device = Device::flex();
        let mut confusion = vec![vec![0usize; CLASSES]; CLASSES];
        let all: Vec<usize> = (0..split.len()).collect();
        for chunk in all.chunks(1000) {
            let predicted = model
                .forward(Batch::new(split, chunk, &device).images)
                .argmax(1)
                .try_into_vec_as::<i64>()
                .expect("argmax reads as i64");
            for (&i, &p) in chunk.iter().zip(&predicted) {
                confusion[split.labels[i] as usize][p as usize] += 1;
            }
        }
        Self::from_confusion(confusion)
    }

    fn from_confusion(confusion: Vec<Vec<usize>>) -> Self {
        let correct = (0..CLASSES).map(|c| confusion[c][c]).sum::<usize>();
        let total = confusion.iter().flatten().sum::<usize>();
        let per_class = (0..CLASSES)
            .map(|c| {
                let n = confusion[c].iter().sum::<usize>();
                if n == 0 {
                    f64::NAN
                } else {
                    confusion[c][c] as f64 / n as f64
                }
            })
            .collect();
        Self {
            test_accuracy: correct as f64 / total as f64,
            correct,
            test_examples: total,
            per_class_accuracy: per_class,
            confusion_matrix: confusion,
        }
    }
}

/// Test-set results, with the run's configuration and speed.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The test set's figures.
    #[serde(flatten)]
    pub accuracy: Accuracy,
    /// Loss of the last step.
    pub final_loss: f64,
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

/// `summary.json`.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<(), WriteError> {
    let json = serde_json::to_vec_pretty(summary).expect("the summary serialises");
    write_atomic(&dir.join(SUMMARY), &json)
}

/// `loss.png`: the per-step loss and its per-epoch mean, drawn with plotters.
pub fn write_loss_plot(dir: &Path, metrics: &[Metric], title: &str) -> Result<(), WriteError> {
    write_png(&dir.join(LOSS_PLOT), (900, 520), |root| {
        draw(root, metrics, title)
    })
}

fn draw(root: &Canvas<'_>, metrics: &[Metric], title: &str) -> Result<(), Cause> {
    let max_step = metrics.last().map_or(1, |m| m.step).max(1);
    let max_loss = metrics
        .iter()
        .map(|m| m.loss)
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0..max_step, 0.0..max_loss)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("training loss")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            metrics.iter().map(|m| (m.step, m.loss)),
            BLUE.mix(0.35),
        ))?
        .label("per step")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.mix(0.35)));
    let epochs = metrics.last().map_or(0, |m| m.epoch);
    let means: Vec<(usize, f64)> = (1..=epochs)
        .filter_map(|e| {
            let rows: Vec<&Metric> = metrics.iter().filter(|m| m.epoch == e).collect();
            (!rows.is_empty()).then(|| {
                (
                    rows.last().unwrap().step,
                    rows.iter().map(|m| m.loss).sum::<f64>() / rows.len() as f64,
                )
            })
        })
        .collect();
    chart
        .draw_series(LineSeries::new(means.iter().copied(), RED.stroke_width(2)))?
        .label("epoch mean")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    chart.draw_series(means.iter().map(|&p| Circle::new(p, 4, RED.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
