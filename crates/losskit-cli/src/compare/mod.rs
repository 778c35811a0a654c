//! `losskit compare`: the same network trained under several losses on an imbalanced
//! task, measured on held-out data, over several seeds.

mod losses;
mod metrics;
mod plots;
mod results;
mod training;

use std::path::PathBuf;

use losskit::LossError;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use thiserror::Error;

use crate::common::fs::{WriteError, write_atomic};
use crate::common::options::{InvalidOption, require};
use crate::common::run_dir::{Existing, RunDir, RunDirError};
use crate::common::stdout::{OutputError, write_line, write_text};
use crate::data::{self, CLASSES, DataError, Dataset, Split};
pub use losses::{BinaryLoss, MultiLoss};
pub use metrics::{
    BestF1, MultiClass, PrecisionRecall, ReliabilityBin, average_precision, best_f1, expected_calibration_error,
    multiclass, precision_recall_f1, roc_auc,
};
use plots::{ClassRecall, Curve};
use results::{BinaryMetrics, BinaryRun, MultiClassMetrics, MultiClassRun, TestSet};
use training::{Task, fit, logits};

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
    /// A split without an example of some class.
    #[error("the {split} set has no examples of class {class}: the comparison needs every class in both sets")]
    MissingClass {
        /// "training" or "test".
        split: &'static str,
        /// The class.
        class: usize,
    },
    /// A loss refused a batch.
    #[error(transparent)]
    Loss(#[from] LossError),
    /// Standard output is closed or full.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// An output directory that already holds files, without `--overwrite`.
    #[error(
        "{} is not empty (it holds {entries}); --overwrite replaces the comparison's files in it",
        path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// Some of its entries.
        entries: String,
    },
    /// The output directory cannot be created, locked or prepared.
    #[error(transparent)]
    OutputDir(RunDirError),
}

impl From<RunDirError> for CompareError {
    fn from(error: RunDirError) -> Self {
        match error {
            RunDirError::NotEmpty { path, entries } => CompareError::NotEmpty { path, entries },
            other => CompareError::OutputDir(other),
        }
    }
}

/// The files a comparison writes, the ones `--overwrite` replaces.
const OUTPUTS: [&str; 5] = [
    "results.json",
    "results.md",
    "pr_curves.png",
    "reliability.png",
    "per_class_recall.png",
];

/// The options of `losskit compare`.
#[derive(Debug, Clone, clap::Args, Serialize)]
pub struct CompareArgs {
    /// An MNIST-format directory; default: the embedded digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Negatives per positive in the binary task's training set.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub ratio: usize,
    /// The class that is positive in the binary task.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub positive: u8,
    /// Commonest over rarest class count in the multi-class task.
    #[arg(long, default_value_t = 100.0, allow_hyphen_values = true)]
    pub imbalance: f64,
    /// Seeds per configuration.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub seeds: usize,
    /// Training epochs per run.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub epochs: usize,
    /// A smaller setting for tests and CI: at most 2 seeds and 2 epochs (under a minute).
    #[arg(long)]
    pub quick: bool,
    /// Output directory (default runs/compare); refused when it holds files, unless
    /// --overwrite.
    #[arg(long, default_value = "runs/compare")]
    pub out: PathBuf,
    /// Replace an earlier comparison's files in --out (other files there stay).
    #[arg(long)]
    #[serde(skip)]
    pub overwrite: bool,
}

/// The indices of `split`'s examples of each class.
fn by_class(split: &Split) -> Vec<Vec<usize>> {
    (0..CLASSES)
        .map(|c| (0..split.len()).filter(|&i| split.labels[i] as usize == c).collect())
        .collect()
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
    require(
        (args.positive as usize) < CLASSES,
        "--positive",
        "a class 0-9",
        args.positive,
    )?;
    require(
        args.imbalance >= 1.0 && args.imbalance.is_finite(),
        "--imbalance",
        "a finite number >= 1",
        args.imbalance,
    )?;
    let data: Dataset = match &args.data {
        Some(dir) => data::load_dir(dir)?,
        None => data::embedded(),
    };
    let (train, test) = (&data.train, &data.test);
    let train_by_class = by_class(train);
    for (split, classes) in [("training", &train_by_class), ("test", &by_class(test))] {
        if let Some(class) = classes.iter().position(Vec::is_empty) {
            return Err(CompareError::MissingClass { split, class });
        }
    }
    // Held until the results are written: no other process writes into it meanwhile, and a
    // directory this run created is removed again if it stops before writing anything.
    let existing = if args.overwrite {
        Existing::Replace(&OUTPUTS)
    } else {
        Existing::Refuse
    };
    let _out = RunDir::for_new_run(&args.out, existing)?;
    let positive = args.positive;
    let train_neg: Vec<usize> = (0..train.len()).filter(|&i| train.labels[i] != positive).collect();
    let train_pos = &train_by_class[positive as usize];
    let test_all: Vec<usize> = (0..test.len()).collect();
    let test_neg: Vec<usize> = test_all
        .iter()
        .copied()
        .filter(|&i| test.labels[i] != positive)
        .collect();
    let test_pos: Vec<usize> = test_all
        .iter()
        .copied()
        .filter(|&i| test.labels[i] == positive)
        .collect();
    let keep = |n: usize| (n / args.ratio).max(1);

    // Multi-class long tail: class c keeps m * imbalance^(-c/9) examples.
    let m = train_by_class.iter().map(Vec::len).min().unwrap_or(0) as f64;
    let counts: Vec<usize> = (0..CLASSES)
        .map(|c| ((m * args.imbalance.powf(-(c as f64) / 9.0)) as usize).max(1))
        .collect();
    let class_weight: Vec<f64> = {
        let total: usize = counts.iter().sum();
        counts
            .iter()
            .map(|&n| total as f64 / (CLASSES as f64 * n as f64))
            .collect()
    };
    let truth: Vec<usize> = test_all.iter().map(|&i| test.labels[i] as usize).collect();

    let (mut binary, mut multi) = (Vec::new(), Vec::new());
    let mut curves = Vec::new();
    let mut recalls: Vec<ClassRecall> = MultiLoss::ALL
        .iter()
        .map(|l| ClassRecall {
            loss: l.name(),
            recall: vec![0.0; CLASSES],
        })
        .collect();
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
        for loss in BinaryLoss::ALL {
            let model = fit(
                train,
                &train_set,
                Task::Binary { positive },
                &loss.loss(pos_weight),
                args.epochs,
                seed,
            )?;
            for (test_set, indices) in [(TestSet::Natural, &test_all), (TestSet::Ratio, &test_ratio)] {
                let scores: Vec<f64> = logits(&model, test, indices)
                    .iter()
                    .map(|&z| 1.0 / (1.0 + (-(z as f64)).exp()))
                    .collect();
                let labels: Vec<bool> = indices.iter().map(|&i| test.labels[i] == positive).collect();
                binary.push(BinaryRun {
                    loss,
                    seed,
                    test_set,
                    metrics: BinaryMetrics::new(&scores, &labels),
                });
                if seed == 0 && test_set == TestSet::Natural {
                    curves.push(Curve {
                        loss: loss.name(),
                        scores,
                        labels,
                    });
                }
            }
        }
        let mut multi_set = Vec::new();
        for (c, members) in train_by_class.iter().enumerate() {
            let mut members = members.clone();
            members.shuffle(&mut rng);
            multi_set.extend(members.into_iter().take(counts[c]));
        }
        for (loss, mean_recall) in MultiLoss::ALL.into_iter().zip(&mut recalls) {
            let model = fit(
                train,
                &multi_set,
                Task::MultiClass,
                &loss.loss(&class_weight),
                args.epochs,
                seed,
            )?;
            let metrics = MultiClassMetrics::new(&logits(&model, test, &test_all), &truth);
            for (mean, r) in mean_recall.recall.iter_mut().zip(&metrics.per_class_recall) {
                *mean += r / args.seeds as f64;
            }
            multi.push(MultiClassRun { loss, seed, metrics });
        }
    }
    let report = results::markdown(&binary, &multi, &args, &counts);
    let json = serde_json::json!({ "config": args, "train_counts_multiclass": counts, "entries": results::entries(&binary, &multi) });
    write_atomic(
        &args.out.join("results.json"),
        &serde_json::to_vec_pretty(&json).expect("the results serialise"),
    )?;
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
