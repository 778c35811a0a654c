//! `losskit compare`: the same network trained under several losses on an imbalanced
//! task, measured on held-out data, over several seeds.

mod metrics;
mod plots;

use std::path::PathBuf;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};
use losskit::{
    BceOptions, BceWithLogitsOptions, CrossEntropyOptions, SigmoidFocalOptions, SoftmaxFocalOptions,
};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use thiserror::Error;

use crate::common::batch::Batch;
use crate::common::fs::{WriteError, write_atomic};
use crate::common::model::Mlp;
use crate::common::options::{InvalidOption, require};
use crate::common::stdout::{OutputError, write_line, write_text};
use crate::data::{self, CLASSES, DataError, Dataset, Split};
pub use metrics::{MultiClass, average_precision, best_f1, expected_calibration_error, multiclass, precision_recall_f1, roc_auc};

/// Why `losskit compare` stopped.
#[derive(Debug, Error)]
pub enum CompareError {
    /// An option out of its range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// The data directory cannot be used.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A result file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Standard output is closed or full.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The output directory cannot be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The options of `losskit compare`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct CompareArgs {
    /// An MNIST-format directory; default: the embedded digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Negatives per positive in the binary task's training set.
    #[arg(long, default_value_t = 100)]
    pub ratio: usize,
    /// The class that is positive in the binary task.
    #[arg(long, default_value_t = 0)]
    pub positive: u8,
    /// Commonest over rarest class count in the multi-class task.
    #[arg(long, default_value_t = 100.0)]
    pub imbalance: f64,
    /// Seeds per configuration.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Training epochs per run.
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// A smaller setting for tests and CI: at most 2 seeds and 2 epochs (under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default runs/compare).
    #[arg(long, default_value = "runs/compare")]
    pub out: PathBuf,
}

/// The binary losses compared.
const BINARY: [&str; 6] = [
    "bce-with-logits",
    "bce-with-logits+pos_weight",
    "sigmoid-focal(a=0.25,g=2)",
    "sigmoid-focal(a=0.25,g=0.5)",
    "sigmoid-focal(a=0.25,g=5)",
    "bce-on-probabilities",
];

/// The multi-class losses compared.
const MULTI: [&str; 4] = ["cross-entropy", "cross-entropy+class-weights", "label-smoothing-0.1", "softmax-focal(g=2)"];

/// One run's result.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    task: &'static str,
    loss: &'static str,
    seed: u64,
    test_set: &'static str,
    metrics: serde_json::Value,
}

/// Trains the tutorial's network (with `outputs` logits) on `indices` of `split`.
fn fit(
    split: &Split,
    indices: &[usize],
    outputs: usize,
    epochs: usize,
    seed: u64,
    loss: &dyn Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1>,
) -> Mlp {
    let device = Device::flex().autodiff();
    device.seed(seed);
    let mut model = Mlp::new(data::PIXELS, 500, outputs, &device);
    let momentum = MomentumConfig { momentum: 0.9, dampening: 0.0, nesterov: false };
    let mut optim = SgdConfig::new().with_momentum(Some(momentum)).init();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(7919));
    let mut order = indices.to_vec();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(64) {
            let batch = Batch::new(split, chunk, &device);
            let grads = GradientsParams::from_grads(loss(model.forward(batch.images), batch.labels).backward(), &model);
            model = optim.step(0.01, model, grads);
        }
    }
    model
}

/// Logits of `model` on `indices` of `split`, row-major.
fn logits(model: &Mlp, split: &Split, indices: &[usize]) -> Vec<f32> {
    let model = model.valid();
    let device = Device::flex();
    indices
        .chunks(1000)
        .flat_map(|chunk| {
            model.forward(Batch::new(split, chunk, &device).images).try_into_vec_as::<f32>().expect("logits read as f32")
        })
        .collect()
}

fn binary_metrics(scores: &[f64], labels: &[bool]) -> serde_json::Value {
    let (precision, recall, f1) = precision_recall_f1(scores, labels, 0.5);
    let (best, threshold) = best_f1(scores, labels);
    let (best_precision, best_recall, _) = precision_recall_f1(scores, labels, threshold);
    serde_json::json!({
        "average_precision": average_precision(scores, labels),
        "roc_auc": roc_auc(scores, labels),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "best_f1": best,
        "best_f1_threshold": threshold,
        "best_f1_precision": best_precision,
        "best_f1_recall": best_recall,
        "ece": expected_calibration_error(scores, labels, 10),
    })
}

/// The binary task's loss by name, on logits `(N, 1)` and digit labels (`positive` is 1).
fn binary_loss(name: &str, pos_weight: f64, positive: u8) -> impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1> + '_ {
    move |logits: Tensor<2>, labels: Tensor<1, Int>| {
        let n = labels.dims()[0];
        let y = labels.equal_elem(positive as i64).float().reshape([n, 1]).cast(logits.dtype());
        let focal = |gamma| SigmoidFocalOptions::default().with_gamma(gamma).with_alpha(Some(0.25));
        let loss = match name {
            "bce-with-logits" => losskit::bce_with_logits(logits, y, &BceWithLogitsOptions::default()),
            "bce-with-logits+pos_weight" => {
                let pw = Tensor::<1>::from_data(TensorData::new(vec![pos_weight], [1]), &logits.device());
                losskit::bce_with_logits(logits, y, &BceWithLogitsOptions::default().with_pos_weight(pw))
            }
            "sigmoid-focal(a=0.25,g=2)" => losskit::sigmoid_focal(logits, y, &focal(2.0)),
            "sigmoid-focal(a=0.25,g=0.5)" => losskit::sigmoid_focal(logits, y, &focal(0.5)),
            "sigmoid-focal(a=0.25,g=5)" => losskit::sigmoid_focal(logits, y, &focal(5.0)),
            _ => losskit::bce(sigmoid(logits), y, &BceOptions::default()),
        };
        loss.expect("the compare task's shapes are valid").reshape([1])
    }
}

/// The multi-class task's loss by name.
fn multi_loss(name: &str, class_weight: Vec<f64>) -> impl Fn(Tensor<2>, Tensor<1, Int>) -> Tensor<1> + '_ {
    move |logits: Tensor<2>, labels: Tensor<1, Int>| {
        let weight = Tensor::<1>::from_data(TensorData::new(class_weight.clone(), [CLASSES]), &logits.device());
        let loss = match name {
            "cross-entropy" => losskit::cross_entropy(logits, labels, &CrossEntropyOptions::default()),
            "cross-entropy+class-weights" => {
                losskit::cross_entropy(logits, labels, &CrossEntropyOptions::default().with_weight(weight))
            }
            "label-smoothing-0.1" => {
                losskit::cross_entropy(logits, labels, &CrossEntropyOptions::default().with_label_smoothing(0.1))
            }
            _ => losskit::softmax_focal(logits, labels, &SoftmaxFocalOptions::default().with_gamma(2.0)),
        };
        loss.expect("the compare task's shapes are valid")
    }
}

/// Mean and standard deviation.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// Runs the comparison and writes results.json, results.md and the plots.
pub fn run(mut args: CompareArgs) -> Result<(), CompareError> {
    if args.quick {
        args.seeds = args.seeds.min(2);
        args.epochs = args.epochs.min(2);
    }
    require(args.ratio >= 1, "--ratio", "at least 1", args.ratio)?;
    require(args.seeds >= 1, "--seeds", "at least 1", args.seeds)?;
    require(args.epochs >= 1, "--epochs", "at least 1", args.epochs)?;
    require((args.positive as usize) < CLASSES, "--positive", "a class 0-9", args.positive)?;
    require(args.imbalance >= 1.0 && args.imbalance.is_finite(), "--imbalance", ">= 1", args.imbalance)?;
    let data: Dataset = match &args.data {
        Some(dir) => data::load_dir(dir)?,
        None => data::embedded(),
    };
    std::fs::create_dir_all(&args.out).map_err(|source| CompareError::CreateDir { path: args.out.clone(), source })?;
    let mut entries = Vec::new();
    let mut curves = Vec::new();
    let mut recalls: Vec<(&str, Vec<f64>)> = Vec::new();
    let positive = args.positive;
    let (train, test) = (&data.train, &data.test);
    let train_neg: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] != positive).collect();
    let train_pos: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] == positive).collect();
    let test_all: Vec<usize> = (0..test.len()).collect();
    let test_neg: Vec<usize> = test_all.iter().copied().filter(|&i| test.labels[i] != positive).collect();
    let test_pos: Vec<usize> = test_all.iter().copied().filter(|&i| test.labels[i] == positive).collect();
    let keep = |n: usize| (n / args.ratio).max(1);

    // Multi-class long tail: class c keeps m * imbalance^(-c/9) examples.
    let by_class: Vec<Vec<usize>> = (0..CLASSES).map(|c| (0..train.len()).filter(|&i| train.labels[i] as usize == c).collect()).collect();
    let m = by_class.iter().map(Vec::len).min().unwrap_or(0) as f64;
    let counts: Vec<usize> = (0..CLASSES).map(|c| ((m * args.imbalance.powf(-(c as f64) / 9.0)) as usize).max(1)).collect();
    let class_weight: Vec<f64> = {
        let total: usize = counts.iter().sum();
        counts.iter().map(|&n| total as f64 / (CLASSES as f64 * n as f64)).collect()
    };
    let rarest: Vec<usize> = (CLASSES - 3..CLASSES).collect();

    for seed in 0..args.seeds as u64 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let mut pos = train_pos.clone();
        pos.shuffle(&mut rng);
        pos.truncate(keep(train_neg.len()));
        let train_set: Vec<usize> = train_neg.iter().chain(&pos).copied().collect();
        let pos_weight = train_neg.len() as f64 / pos.len() as f64;
        let mut tpos = test_pos.clone();
        tpos.shuffle(&mut rng);
        tpos.truncate(keep(test_neg.len()));
        let test_ratio: Vec<usize> = test_neg.iter().chain(&tpos).copied().collect();
        for name in BINARY {
            let model = fit(train, &train_set, 1, args.epochs, seed, &binary_loss(name, pos_weight, positive));
            for (test_set, indices) in [("natural", &test_all), ("ratio", &test_ratio)] {
                let scores: Vec<f64> = logits(&model, test, indices).iter().map(|&z| 1.0 / (1.0 + (-(z as f64)).exp())).collect();
                let labels: Vec<bool> = indices.iter().map(|&i| test.labels[i] == positive).collect();
                entries.push(Entry { task: "binary", loss: name, seed, test_set, metrics: binary_metrics(&scores, &labels) });
                if seed == 0 && test_set == "natural" {
                    curves.push((name, scores, labels));
                }
            }
        }
        let mut multi_set = Vec::new();
        for (c, members) in by_class.iter().enumerate() {
            let mut members = members.clone();
            members.shuffle(&mut rng);
            multi_set.extend(members.into_iter().take(counts[c]));
        }
        for name in MULTI {
            let model = fit(train, &multi_set, CLASSES, args.epochs, seed, &multi_loss(name, class_weight.clone()));
            let z = logits(&model, test, &test_all);
            let mut predicted = Vec::new();
            let mut confidence = Vec::new();
            let mut correct = Vec::new();
            for (row, &i) in z.chunks(CLASSES).zip(&test_all) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
                let arg = row.iter().position(|&v| v == max).unwrap_or(0);
                predicted.push(arg);
                confidence.push(1.0 / sum);
                correct.push(arg == test.labels[i] as usize);
            }
            let truth: Vec<usize> = test_all.iter().map(|&i| test.labels[i] as usize).collect();
            let mc = multiclass(&predicted, &truth, CLASSES);
            let rare: Vec<f64> = rarest.iter().map(|&c| mc.recall[c]).collect();
            match recalls.iter_mut().find(|(n, _)| *n == name) {
                Some((_, acc)) => acc.iter_mut().zip(&mc.recall).for_each(|(a, r)| *a += r / args.seeds as f64),
                None => recalls.push((name, mc.recall.iter().map(|r| r / args.seeds as f64).collect())),
            }
            entries.push(Entry {
                task: "multiclass",
                loss: name,
                seed,
                test_set: "natural",
                metrics: serde_json::json!({
                    "accuracy": mc.accuracy,
                    "balanced_accuracy": mc.balanced_accuracy,
                    "macro_f1": mc.macro_f1,
                    "rarest_recall": rare,
                    "per_class_recall": mc.recall,
                    "ece": expected_calibration_error(&confidence, &correct, 10),
                }),
            });
        }
    }
    let report = table(&entries, &args, &counts);
    let json = serde_json::json!({ "config": args, "train_counts_multiclass": counts, "entries": entries });
    write_atomic(&args.out.join("results.json"), &serde_json::to_vec_pretty(&json).expect("the results serialise"))?;
    write_atomic(&args.out.join("results.md"), report.as_bytes())?;
    plots::precision_recall(&args.out.join("pr_curves.png"), &curves)?;
    plots::reliability(&args.out.join("reliability.png"), &curves)?;
    plots::recall_bars(&args.out.join("per_class_recall.png"), &recalls)?;
    // The files first: a closed stdout must not lose the results.
    write_text(&report)?;
    write_line(format_args!(
        "Wrote {}/{{results.json, results.md, pr_curves.png, reliability.png, per_class_recall.png}}",
        args.out.display()
    ))?;
    Ok(())
}

/// The Markdown table of means and spreads.
fn table(entries: &[Entry], args: &CompareArgs, counts: &[usize]) -> String {
    let stat = |task: &str, loss: &str, set: &str, key: &str| -> String {
        let v: Vec<f64> = entries
            .iter()
            .filter(|e| e.task == task && e.loss == loss && e.test_set == set)
            .filter_map(|e| e.metrics[key].as_f64())
            .collect();
        let (m, s) = mean_std(&v);
        format!("{m:.3} ± {s:.3}")
    };
    let mut out = format!(
        "Binary: digit {} positive, 1:{} in training; {} seeds, {} epochs (mean ± std)\n\n",
        args.positive, args.ratio, args.seeds, args.epochs
    );
    out += "| loss | AP | ROC-AUC | F1 @0.5 | best F1 | ECE | AP at 1:ratio |\n|---|---|---|---|---|---|---|\n";
    for loss in BINARY {
        out += &format!(
            "| {loss} | {} | {} | {} | {} | {} | {} |\n",
            stat("binary", loss, "natural", "average_precision"),
            stat("binary", loss, "natural", "roc_auc"),
            stat("binary", loss, "natural", "f1"),
            stat("binary", loss, "natural", "best_f1"),
            stat("binary", loss, "natural", "ece"),
            stat("binary", loss, "ratio", "average_precision"),
        );
    }
    out += &format!(
        "\nMulti-class long tail: training counts {counts:?} (imbalance {}); balanced test set\n\n",
        args.imbalance
    );
    out += "| loss | accuracy | balanced accuracy | macro-F1 | recall, rarest 3 | ECE |\n|---|---|---|---|---|---|\n";
    for loss in MULTI {
        let rare: Vec<f64> = entries
            .iter()
            .filter(|e| e.task == "multiclass" && e.loss == loss)
            .filter_map(|e| e.metrics["rarest_recall"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).sum::<f64>() / a.len() as f64))
            .collect();
        let (rm, rs) = mean_std(&rare);
        out += &format!(
            "| {loss} | {} | {} | {} | {rm:.3} ± {rs:.3} | {} |\n",
            stat("multiclass", loss, "natural", "accuracy"),
            stat("multiclass", loss, "natural", "balanced_accuracy"),
            stat("multiclass", loss, "natural", "macro_f1"),
            stat("multiclass", loss, "natural", "ece"),
        );
    }
    out
}
