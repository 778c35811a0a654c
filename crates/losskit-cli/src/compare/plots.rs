//! The comparison's pictures: precision-recall curves, a reliability diagram, recall bars.

use std::path::Path;

use plotters::prelude::*;

use crate::common::fs::{Cause, WriteError};
use crate::common::plot::{Canvas, write_png};

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// One binary loss's scores on a test set, with the truth.
pub struct Curve {
    /// The loss.
    pub loss: &'static str,
    /// The predicted probability of each example.
    pub scores: Vec<f64>,
    /// Whether each example is positive.
    pub labels: Vec<bool>,
}

/// One multi-class loss's recall of each class, averaged over the seeds.
pub struct ClassRecall {
    /// The loss.
    pub loss: &'static str,
    /// Recall per class.
    pub recall: Vec<f64>,
}

fn draw(path: &Path, f: impl FnOnce(&Canvas<'_>) -> Result<(), Cause>) -> Result<(), WriteError> {
    write_png(path, (900, 600), f)
}

/// Precision against recall for each binary loss (first seed, natural test mix).
pub fn precision_recall(path: &Path, curves: &[Curve]) -> Result<(), WriteError> {
    draw(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Precision-recall, rare positives (test set at its natural mix)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.02)?;
        chart.configure_mesh().x_desc("recall").y_desc("precision").draw()?;
        for (k, Curve { loss, scores, labels }) in curves.iter().enumerate() {
            let positives = labels.iter().filter(|&&l| l).count().max(1) as f64;
            let mut order: Vec<usize> = (0..scores.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            let (mut tp, mut fp) = (0.0, 0.0);
            let points: Vec<(f64, f64)> = order
                .iter()
                .map(|&i| {
                    if labels[i] {
                        tp += 1.0
                    } else {
                        fp += 1.0
                    }
                    (tp / positives, tp / (tp + fp))
                })
                .collect();
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(*loss)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Observed frequency of positives against mean predicted probability, per loss.
pub fn reliability(path: &Path, curves: &[Curve]) -> Result<(), WriteError> {
    draw(path, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Reliability (10 bins): closer to the diagonal is better calibrated",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("mean predicted probability")
            .y_desc("fraction positive")
            .draw()?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))?;
        for (k, Curve { loss, scores, labels }) in curves.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let points: Vec<(f64, f64)> = super::metrics::reliability(scores, labels, 10)
                .iter()
                .map(|b| (b.predicted, b.observed))
                .collect();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))?
                .label(*loss)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// Mean recall of each class under each multi-class loss.
pub fn recall_bars(path: &Path, recalls: &[ClassRecall]) -> Result<(), WriteError> {
    draw(path, |root| {
        let classes = recalls.first().map_or(0, |r| r.recall.len());
        let groups = recalls.len().max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Recall per class, long-tailed training (class 9 rarest)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..classes as f64, 0.0..1.05)?;
        chart
            .configure_mesh()
            .x_desc("class")
            .y_desc("recall")
            .x_labels(classes + 1)
            .draw()?;
        for (k, ClassRecall { loss, recall }) in recalls.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            let width = 0.8 / groups;
            chart
                .draw_series(recall.iter().enumerate().map(|(c, &r)| {
                    let x0 = c as f64 + 0.1 + k as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width, r.max(0.0))], color.filled())
                }))?
                .label(*loss)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}
