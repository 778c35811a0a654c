//! Classification metrics, defined as scikit-learn defines them (tests pin them to its values).

/// One distinct score of a ranking, with the predictions at or above it.
struct Threshold {
    /// The score.
    score: f64,
    /// Positives scored at or above it.
    true_positives: usize,
    /// Negatives scored at or above it.
    false_positives: usize,
}

/// The distinct scores from the highest down.
fn curve(scores: &[f64], labels: &[bool]) -> Vec<Threshold> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = Vec::new();
    let (mut tp, mut fp) = (0, 0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] {
            tp += 1
        } else {
            fp += 1
        }
        let last_of_tie = k + 1 == order.len() || scores[order[k + 1]] != scores[i];
        if last_of_tie {
            points.push(Threshold {
                score: scores[i],
                true_positives: tp,
                false_positives: fp,
            });
        }
    }
    points
}

/// Average precision: `sum_k (R_k - R_{k-1}) P_k` over the distinct thresholds
/// (`sklearn.metrics.average_precision_score`). NaN without positives.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    let positives = labels.iter().filter(|&&l| l).count();
    if positives == 0 {
        return f64::NAN;
    }
    let mut ap = 0.0;
    let mut previous_recall = 0.0;
    for Threshold {
        true_positives: tp,
        false_positives: fp,
        ..
    } in curve(scores, labels)
    {
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
    }
    ap
}

/// Area under the ROC curve, ties counted half (`sklearn.metrics.roc_auc_score`). NaN when
/// one class is absent.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let (mut area, mut tp_prev, mut fp_prev) = (0.0, 0usize, 0usize);
    for Threshold {
        true_positives: tp,
        false_positives: fp,
        ..
    } in curve(scores, labels)
    {
        area += (fp - fp_prev) as f64 * (tp + tp_prev) as f64 / 2.0;
        (tp_prev, fp_prev) = (tp, fp);
    }
    area / (positives as f64 * negatives as f64)
}

/// Precision, recall and F1 at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionRecall {
    /// Positives among the predicted positives.
    pub precision: f64,
    /// Predicted among the positives.
    pub recall: f64,
    /// Their harmonic mean.
    pub f1: f64,
}

/// Precision, recall and F1 of predicting positive when `score >= threshold`
/// (zero where undefined, as scikit-learn's `zero_division=0`).
pub fn precision_recall_f1(scores: &[f64], labels: &[bool], threshold: f64) -> PrecisionRecall {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= threshold, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (p, r) = (ratio(tp, tp + fp), ratio(tp, tp + fn_));
    let f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
    PrecisionRecall {
        precision: p,
        recall: r,
        f1,
    }
}

/// The best F1 over all thresholds, and the threshold that reaches it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestF1 {
    /// The F1.
    pub f1: f64,
    /// Its threshold (1 when no threshold gives an F1 above 0).
    pub threshold: f64,
}

/// The best F1 over all thresholds.
pub fn best_f1(scores: &[f64], labels: &[bool]) -> BestF1 {
    let positives = labels.iter().filter(|&&l| l).count();
    let mut best = BestF1 {
        f1: 0.0,
        threshold: 1.0,
    };
    for Threshold {
        score,
        true_positives: tp,
        false_positives: fp,
    } in curve(scores, labels)
    {
        let f1 = 2.0 * tp as f64 / (tp + fp + positives) as f64;
        if f1 > best.f1 {
            best = BestF1 { f1, threshold: score };
        }
    }
    best
}

/// Expected calibration error over `bins` equal-width bins of the predicted probability:
/// `sum_b n_b / N * |mean(outcome)_b - mean(p)_b|`.
pub fn expected_calibration_error(probabilities: &[f64], outcomes: &[bool], bins: usize) -> f64 {
    let mut count = vec![0usize; bins];
    let mut conf = vec![0.0; bins];
    let mut hits = vec![0.0; bins];
    for (&p, &o) in probabilities.iter().zip(outcomes) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += p;
        hits[b] += f64::from(u8::from(o));
    }
    let n = probabilities.len() as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| count[b] as f64 / n * (hits[b] / count[b] as f64 - conf[b] / count[b] as f64).abs())
        .sum()
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReliabilityBin {
    /// The mean predicted probability in the bin.
    pub predicted: f64,
    /// The fraction of its predictions that came true.
    pub observed: f64,
}

/// The non-empty bins of `bins` equal-width bins of the predicted probability.
pub fn reliability(probabilities: &[f64], outcomes: &[bool], bins: usize) -> Vec<ReliabilityBin> {
    let mut predicted = vec![0.0; bins];
    let mut observed = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&p, &o) in probabilities.iter().zip(outcomes) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        predicted[b] += p;
        observed[b] += f64::from(u8::from(o));
        count[b] += 1;
    }
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| ReliabilityBin {
            predicted: predicted[b] / count[b] as f64,
            observed: observed[b] / count[b] as f64,
        })
        .collect()
}

/// Multi-class metrics of predicted against true classes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MultiClass {
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Mean recall over the classes present in the truth.
    pub balanced_accuracy: f64,
    /// Mean F1 over the classes present in truth or prediction (zero where undefined).
    pub macro_f1: f64,
    /// Recall of each class (NaN for a class absent from the truth).
    pub recall: Vec<f64>,
}

/// Accuracy, balanced accuracy, macro-F1 and per-class recall (scikit-learn's definitions).
pub fn multiclass(predicted: &[usize], truth: &[usize], classes: usize) -> MultiClass {
    let mut tp = vec![0usize; classes];
    let mut support = vec![0usize; classes];
    let mut predicted_count = vec![0usize; classes];
    for (&p, &t) in predicted.iter().zip(truth) {
        support[t] += 1;
        predicted_count[p] += 1;
        if p == t {
            tp[t] += 1;
        }
    }
    let recall: Vec<f64> = (0..classes)
        .map(|c| {
            if support[c] == 0 {
                f64::NAN
            } else {
                tp[c] as f64 / support[c] as f64
            }
        })
        .collect();
    let present: Vec<f64> = recall.iter().copied().filter(|r| !r.is_nan()).collect();
    let f1s: Vec<f64> = (0..classes)
        .filter(|&c| support[c] + predicted_count[c] > 0)
        .map(|c| 2.0 * tp[c] as f64 / (support[c] + predicted_count[c]) as f64)
        .collect();
    MultiClass {
        accuracy: tp.iter().sum::<usize>() as f64 / truth.len() as f64,
        balanced_accuracy: present.iter().sum::<f64>() / present.len() as f64,
        macro_f1: f1s.iter().sum::<f64>() / f1s.len() as f64,
        recall,
    }
}
