//! What a run leaves in its directory: metrics.csv, summary.json, loss.png.

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use super::Metric;
use crate::common::fs::{Cause, WriteError, write_atomic};
use crate::common::plot::{Canvas, write_png};
use crate::data::CLASSES;

/// Test-set results, with the run's configuration and speed.
#[derive(Debug, Serialize)]
pub struct Summary {
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
    pub config: serde_json::Value,
}

impl Summary {
    /// Accuracy figures from a confusion matrix.
    pub fn from_confusion(
        confusion: Vec<Vec<usize>>,
    ) -> (f64, usize, usize, Vec<f64>, Vec<Vec<usize>>) {
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
        (
            correct as f64 / total as f64,
            correct,
            total,
            per_class,
            confusion,
        )
    }
}

/// `metrics.csv`: one row per optimizer step.
pub fn write_metrics(dir: &Path, metrics: &[Metric]) -> Result<(), WriteError> {
    let mut csv = String::from("step,epoch,loss,lr\n");
    for m in metrics {
        csv.push_str(&format!("{},{},{},{}\n", m.step, m.epoch, m.loss, m.lr));
    }
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())
}

/// `summary.json`.
pub fn write_summary(dir: &Path, summary: &Summary) -> Result<(), WriteError> {
    let json = serde_json::to_vec_pretty(summary).expect("the summary serialises");
    write_atomic(&dir.join("summary.json"), &json)
}

/// `loss.png`: the per-step loss and its per-epoch mean, drawn with plotters.
pub fn write_loss_plot(dir: &Path, metrics: &[Metric], title: &str) -> Result<(), WriteError> {
    if metrics.is_empty() {
        return Ok(());
    }
    write_png(&dir.join("loss.png"), (900, 520), |root| {
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
