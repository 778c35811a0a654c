//! The comparison's results: each run's metrics, results.json's entries and the Markdown table.

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use super::CompareArgs;
use super::losses::{BinaryLoss, MultiLoss};
use super::metrics::{
    average_precision, best_f1, expected_calibration_error, multiclass, precision_recall_f1, roc_auc,
};
use crate::data::CLASSES;

/// The recall of these classes (the rarest of the long tail) is reported on its own.
const RAREST: std::ops::Range<usize> = CLASSES - 3..CLASSES;

/// The binary task's test sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestSet {
    /// Every test image, classes at their natural mix.
    Natural,
    /// The positives thinned to the training set's ratio.
    Ratio,
}

impl TestSet {
    fn name(self) -> &'static str {
        match self {
            TestSet::Natural => "natural",
            TestSet::Ratio => "ratio",
        }
    }
}

/// The binary metrics of one run on one test set.
#[derive(Debug, Clone, Serialize)]
pub struct BinaryMetrics {
    average_precision: f64,
    roc_auc: f64,
    precision: f64,
    recall: f64,
    f1: f64,
    best_f1: f64,
    best_f1_threshold: f64,
    best_f1_precision: f64,
    best_f1_recall: f64,
    ece: f64,
}

impl BinaryMetrics {
    /// The metrics of predicted probabilities `scores` against the truth `labels`.
    pub fn new(scores: &[f64], labels: &[bool]) -> Self {
        let at_half = precision_recall_f1(scores, labels, 0.5);
        let best = best_f1(scores, labels);
        let at_best = precision_recall_f1(scores, labels, best.threshold);
        Self {
            average_precision: average_precision(scores, labels),
            roc_auc: roc_auc(scores, labels),
            precision: at_half.precision,
            recall: at_half.recall,
            f1: at_half.f1,
            best_f1: best.f1,
            best_f1_threshold: best.threshold,
            best_f1_precision: at_best.precision,
            best_f1_recall: at_best.recall,
            ece: expected_calibration_error(scores, labels, 10),
        }
    }
}

/// The multi-class metrics of one run.
#[derive(Debug, Clone, Serialize)]
pub struct MultiClassMetrics {
    accuracy: f64,
    balanced_accuracy: f64,
    macro_f1: f64,
    rarest_recall: Vec<f64>,
    /// Recall per class.
    pub per_class_recall: Vec<f64>,
    ece: f64,
}

impl MultiClassMetrics {
    /// The metrics of a network's `logits` (`CLASSES` per example) against the true classes.
    pub fn new(logits: &[f32], truth: &[usize]) -> Self {
        let mut predicted = Vec::new();
        let mut confidence = Vec::new();
        let mut correct = Vec::new();
        for (row, &t) in logits.chunks(CLASSES).zip(truth) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
            let arg = row.iter().position(|&v| v == max).unwrap_or(0);
            predicted.push(arg);
            confidence.push(1.0 / sum);
            correct.push(arg == t);
        }
        let mc = multiclass(&predicted, truth, CLASSES);
        Self {
            accuracy: mc.accuracy,
            balanced_accuracy: mc.balanced_accuracy,
            macro_f1: mc.macro_f1,
            rarest_recall: RAREST.map(|c| mc.recall[c]).collect(),
            per_class_recall: mc.recall,
            ece: expected_calibration_error(&confidence, &correct, 10),
        }
    }
}

/// One binary run's result on one test set.
pub struct BinaryRun {
    /// The loss trained with.
    pub loss: BinaryLoss,
    /// The seed.
    pub seed: u64,
    /// The test set.
    pub test_set: TestSet,
    /// What it scored.
    pub metrics: BinaryMetrics,
}

/// One multi-class run's result.
pub struct MultiClassRun {
    /// The loss trained with.
    pub loss: MultiLoss,
    /// The seed.
    pub seed: u64,
    /// What it scored.
    pub metrics: MultiClassMetrics,
}

/// results.json's entries: `{task, loss, seed, test_set, metrics}` per run and test set.
pub fn entries(binary: &[BinaryRun], multi: &[MultiClassRun]) -> Vec<Value> {
    let binary = binary.iter().map(|r| {
        json!({"task": "binary", "loss": r.loss.name(), "seed": r.seed, "test_set": r.test_set.name(), "metrics": r.metrics})
    });
    let multi = multi.iter().map(|r| {
        json!({"task": "multiclass", "loss": r.loss.name(), "seed": r.seed, "test_set": "natural", "metrics": r.metrics})
    });
    binary.chain(multi).collect()
}

/// A mean and a sample standard deviation.
struct Spread {
    mean: f64,
    std: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let values: Vec<f64> = values.into_iter().collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Self { mean, std: var.sqrt() }
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ± {:.3}", self.mean, self.std)
    }
}

/// The Markdown tables of means and spreads over the seeds.
pub fn markdown(binary: &[BinaryRun], multi: &[MultiClassRun], args: &CompareArgs, counts: &[usize]) -> String {
    let mut out = format!(
        "Binary: digit {} positive, 1:{} in training; {} seeds, {} epochs (mean ± std)\n\n",
        args.positive, args.ratio, args.seeds, args.epochs
    );
    out += "| loss | AP | ROC-AUC | F1 @0.5 | best F1 | ECE | AP at 1:ratio |\n|---|---|---|---|---|---|---|\n";
    for loss in BinaryLoss::ALL {
        let stat = |set: TestSet, pick: fn(&BinaryMetrics) -> f64| {
            Spread::of(
                binary
                    .iter()
                    .filter(|r| r.loss == loss && r.test_set == set)
                    .map(|r| pick(&r.metrics)),
            )
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            loss.name(),
            stat(TestSet::Natural, |m| m.average_precision),
            stat(TestSet::Natural, |m| m.roc_auc),
            stat(TestSet::Natural, |m| m.f1),
            stat(TestSet::Natural, |m| m.best_f1),
            stat(TestSet::Natural, |m| m.ece),
            stat(TestSet::Ratio, |m| m.average_precision),
        );
    }
    out += &format!(
        "\nMulti-class long tail: training counts {counts:?} (imbalance {}); balanced test set\n\n",
        args.imbalance
    );
    out += "| loss | accuracy | balanced accuracy | macro-F1 | recall, rarest 3 | ECE |\n|---|---|---|---|---|---|\n";
    for loss in MultiLoss::ALL {
        let stat = |pick: fn(&MultiClassMetrics) -> f64| {
            Spread::of(multi.iter().filter(|r| r.loss == loss).map(|r| pick(&r.metrics)))
        };
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            loss.name(),
            stat(|m| m.accuracy),
            stat(|m| m.balanced_accuracy),
            stat(|m| m.macro_f1),
            stat(|m| m.rarest_recall.iter().sum::<f64>() / m.rarest_recall.len() as f64),
            stat(|m| m.ece),
        );
    }
    out
}
