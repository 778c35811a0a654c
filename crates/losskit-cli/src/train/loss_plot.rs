//! `loss.png`: the training loss per step and per epoch, and the test accuracy after each
//! epoch on a second y axis, drawn with plotters.

use std::path::Path;

use plotters::prelude::*;

use super::report::{EpochMetric, Metric};
use crate::common::fs::{Cause, WriteError};
use crate::common::plot::{Canvas, write_png};

/// The plot's file name inside a run directory.
pub const LOSS_PLOT: &str = "loss.png";

/// Writes `loss.png` of `metrics` and `epochs` into `dir`.
pub fn write_loss_plot(dir: &Path, metrics: &[Metric], epochs: &[EpochMetric], title: &str) -> Result<(), WriteError> {
    write_png(&dir.join(LOSS_PLOT), (900, 520), |root| {
        draw(root, metrics, epochs, title)
    })
}

fn draw(root: &Canvas<'_>, metrics: &[Metric], epochs: &[EpochMetric], title: &str) -> Result<(), Cause> {
    let max_step = metrics.last().map_or(1, |m| m.step).max(1);
    let max_loss = metrics.iter().map(|m| m.loss).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .right_y_label_area_size(56)
        .build_cartesian_2d(0..max_step, 0.0..max_loss)?
        .set_secondary_coord(0..max_step, 0.0..1.0);
    chart.configure_mesh().x_desc("step").y_desc("training loss").draw()?;
    chart.configure_secondary_axes().y_desc("test accuracy").draw()?;
    chart
        .draw_series(LineSeries::new(
            metrics.iter().map(|m| (m.step, m.loss)),
            BLUE.mix(0.35),
        ))?
        .label("loss per step")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.mix(0.35)));
    let means: Vec<(usize, f64)> = epochs.iter().map(|e| (e.step, e.train_loss)).collect();
    chart
        .draw_series(LineSeries::new(means.iter().copied(), RED.stroke_width(2)))?
        .label("loss, epoch mean")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
    chart.draw_series(means.iter().map(|&p| Circle::new(p, 4, RED.filled())))?;
    let accuracy: Vec<(usize, f64)> = epochs.iter().map(|e| (e.step, e.test_accuracy)).collect();
    let green = GREEN.mix(0.8).stroke_width(2);
    chart
        .draw_secondary_series(LineSeries::new(accuracy.iter().copied(), green))?
        .label("test accuracy (right axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], green));
    chart.draw_secondary_series(accuracy.iter().map(|&p| Circle::new(p, 4, GREEN.mix(0.8).filled())))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
