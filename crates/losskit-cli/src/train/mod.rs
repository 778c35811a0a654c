//! `losskit train`: the tutorial's MNIST run, with checkpoints, resume and reports.

mod checkpoint;
mod error;
pub(crate) mod report;

pub use error::{CheckpointError, Problem, TrainError};

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::Device;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::common::batch::Batch;
use crate::common::loss::Loss;
use crate::common::model::Mlp;
use crate::common::options::{InvalidOption, require};
use crate::common::stdout::{OutputError, write_line};
use crate::data::{self, CLASSES, Dataset, PIXELS, Split};
use report::Summary;

/// The loss the network trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// `nn.CrossEntropyLoss` (with `--label-smoothing`).
    CrossEntropy,
    /// `nn.NLLLoss` on `log_softmax` of the logits.
    Nll,
    /// Softmax focal loss (`--gamma`, `--alpha`).
    Focal,
    /// Sigmoid focal loss on one-hot targets (`--gamma`, `--alpha`, default alpha 0.25).
    SigmoidFocal,
    /// BCE with logits on one-hot targets, one sigmoid per class.
    BceWithLogits,
}

/// The options of `losskit train`; the defaults are the tutorial's.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct TrainArgs {
    /// An MNIST-format directory (the four standard files, raw or .gz); default: the embedded digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The loss to train with.
    #[arg(long, value_enum, default_value_t = LossKind::CrossEntropy)]
    pub loss: LossKind,
    /// Label smoothing of the cross entropy, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f64,
    /// Focusing exponent of the focal losses.
    #[arg(long, default_value_t = 2.0)]
    pub gamma: f64,
    /// Class balance of the focal losses (softmax: a factor on every class; sigmoid: positives).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Epochs to train (with --resume: the total to reach).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// SGD momentum (dampening 0, as torch.optim.SGD).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay added to the gradient (as torch.optim.SGD).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Seed of the initialisation and the shuffles: same seed, same numbers.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Accumulate gradients over N batches before each optimizer step (each batch's loss
    /// divided by N, so N batches step like one batch N times larger).
    #[arg(long, default_value_t = 1)]
    pub accumulate: usize,
    /// Print the loss every this many batches.
    #[arg(long, default_value_t = 100)]
    pub log_every: usize,
    /// Run directory (default runs/<UTC timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its configuration.
    #[arg(long)]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
}

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

const DEFAULT_EPOCHS: usize = 5;
const HIDDEN: usize = 500;

impl TrainArgs {
    fn epochs(&self) -> usize {
        self.epochs.unwrap_or(DEFAULT_EPOCHS)
    }

    fn validate(&self) -> Result<(), InvalidOption> {
        require(self.epochs() >= 1, "--epochs", "at least 1", self.epochs())?;
        require(
            self.batch_size >= 1,
            "--batch-size",
            "at least 1",
            self.batch_size,
        )?;
        require(
            self.accumulate >= 1,
            "--accumulate",
            "at least 1",
            self.accumulate,
        )?;
        require(
            self.log_every >= 1,
            "--log-every",
            "at least 1",
            self.log_every,
        )?;
        require(
            self.lr > 0.0 && self.lr.is_finite(),
            "--lr",
            "positive",
            self.lr,
        )?;
        require(
            (0.0..1.0).contains(&self.momentum),
            "--momentum",
            "in [0, 1)",
            self.momentum,
        )?;
        require(
            self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
            "--weight-decay",
            ">= 0",
            self.weight_decay,
        )?;
        require(
            (0.0..=1.0).contains(&self.label_smoothing),
            "--label-smoothing",
            "in [0, 1]",
            self.label_smoothing,
        )?;
        require(
            self.gamma >= 0.0 && self.gamma.is_finite(),
            "--gamma",
            ">= 0",
            self.gamma,
        )?;
        let alpha = self.alpha.unwrap_or(0.0);
        require(alpha.is_finite(), "--alpha", "a number", alpha)
    }

    fn optimizer(&self) -> ModuleOptimizer {
        let momentum = (self.momentum > 0.0).then_some(MomentumConfig {
            momentum: self.momentum,
            dampening: 0.0,
            nesterov: false,
        });
        let weight_decay =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        SgdConfig::new()
            .with_momentum(momentum)
            .with_weight_decay(weight_decay)
            .init()
    }

    /// The loss `--loss` names, with its options.
    fn loss(&self) -> Loss {
        match self.loss {
            LossKind::CrossEntropy => Loss::CrossEntropy {
                label_smoothing: self.label_smoothing,
                class_weight: None,
            },
            LossKind::Nll => Loss::Nll,
            LossKind::Focal => Loss::SoftmaxFocal {
                gamma: self.gamma,
                alpha: self.alpha,
            },
            LossKind::SigmoidFocal => Loss::SigmoidFocal {
                gamma: self.gamma,
                alpha: self.alpha.unwrap_or(0.25),
            },
            LossKind::BceWithLogits => Loss::BceWithLogits { pos_weight: None },
        }
    }
}

/// The confusion matrix of `model` on `split`, without autodiff.
fn evaluate(model: &Mlp, split: &Split) -> Vec<Vec<usize>> {
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
    confusion
}

/// `runs/YYYYMMDD-HHMMSS` in UTC.
fn default_out_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    PathBuf::from(format!(
        "runs/{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

/// Where the run's lines go: above a progress bar on a terminal, else plain stdout.
struct Console {
    bar: Option<ProgressBar>,
}

impl Console {
    fn new(total_steps: u64, done: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(total_steps).with_position(done);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} steps  {per_sec}  ETA {eta}  loss {msg}",
                )
                .expect("the template is valid"),
            );
            bar
        });
        Self { bar }
    }

    fn line(&self, text: &str) -> Result<(), OutputError> {
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                Ok(())
            }
            None => write_line(text),
        }
    }

    fn step(&self, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{loss:.4}"));
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs (or resumes) a training run and writes its directory.
pub fn run(args: TrainArgs) -> Result<(), TrainError> {
    let started = Instant::now();
    let device = Device::flex().autodiff();
    let (config, out, resumed) = match &args.resume {
        Some(dir) => {
            let state = checkpoint::peek(dir)?;
            let mut config = state.config;
            if args.epochs.is_some() {
                config.epochs = args.epochs;
            }
            (config, dir.clone(), true)
        }
        None => {
            let out = args.out.clone().unwrap_or_else(default_out_dir);
            (args, out, false)
        }
    };
    config.validate()?;
    let data: Dataset = match &config.data {
        Some(dir) => data::load_dir(dir)?,
        None => data::embedded(),
    };
    std::fs::create_dir_all(&out).map_err(|source| TrainError::CreateDir {
        path: out.clone(),
        source,
    })?;

    device.seed(config.seed);
    let mut model = Mlp::new(PIXELS, HIDDEN, CLASSES, &device);
    let mut optim = config.optimizer();
    let mut state = checkpoint::State {
        config: config.clone(),
        epochs_done: 0,
        global_step: 0,
        train_seconds: 0.0,
        metrics: Vec::new(),
    };
    if resumed {
        let (saved, m, o) = checkpoint::load(&out, model, optim)?;
        (model, optim) = (m, o);
        state = checkpoint::State {
            config: config.clone(),
            ..saved
        };
        write_line(format_args!(
            "Resuming {} after epoch {}",
            out.display(),
            state.epochs_done
        ))?;
    }

    let epochs = config.epochs();
    let n = data.train.len();
    let steps_per_epoch = n.div_ceil(config.batch_size);
    let console = Console::new(
        (epochs * steps_per_epoch) as u64,
        (state.epochs_done * steps_per_epoch) as u64,
    );
    let objective = config.loss();
    let mut accumulator = GradientsAccumulator::<Mlp>::new();
    let scale = 1.0 / config.accumulate as f64;
    for epoch in state.epochs_done..epochs {
        let epoch_start = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        // Each epoch's shuffle depends on the seed and the epoch alone, so a resumed run
        // replays exactly the batches an uninterrupted one would have drawn.
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
            config.seed ^ ((epoch as u64 + 1) << 32),
        ));
        for (i, indices) in order.chunks(config.batch_size).enumerate() {
            let batch = Batch::new(&data.train, indices, &device);
            let loss = objective.forward(model.forward(batch.images), batch.labels)?;
            let value = loss.clone().into_scalar::<f32>() as f64;
            let step = state.global_step + 1;
            if !value.is_finite() {
                console.finish();
                return Err(TrainError::Diverged {
                    value,
                    epoch: epoch + 1,
                    step: i + 1,
                    global_step: step,
                    last_good: if state.epochs_done > 0 {
                        out.join(checkpoint::FILE).display().to_string()
                    } else {
                        "none (no epoch finished)".into()
                    },
                });
            }
            let grads = GradientsParams::from_grads(loss.mul_scalar(scale).backward(), &model);
            if config.accumulate == 1 {
                model = optim.step(config.lr, model, grads);
            } else {
                accumulator.accumulate(&model, grads);
                if (i + 1) % config.accumulate == 0 || i + 1 == steps_per_epoch {
                    model = optim.step(config.lr, model, accumulator.grads());
                }
            }
            state.global_step = step;
            state.metrics.push(Metric {
                step,
                epoch: epoch + 1,
                loss: value,
                lr: config.lr,
            });
            console.step(value);
            if (i + 1) % config.log_every == 0 {
                console.line(&format!(
                    "Epoch [{}/{epochs}], Step [{}/{steps_per_epoch}], Loss: {value:.4}",
                    epoch + 1,
                    i + 1
                ))?;
            }
        }
        state.epochs_done = epoch + 1;
        state.train_seconds += epoch_start.elapsed().as_secs_f64();
        checkpoint::save(&out, &state, &model, &optim)?;
        report::write_metrics(&out, &state.metrics)?;
    }
    console.finish();
    write_line("Finished Training")?;

    let (test_accuracy, correct, total, per_class_accuracy, confusion_matrix) =
        Summary::from_confusion(evaluate(&model, &data.test));
    write_line(format_args!(
        "Test accuracy: {test_accuracy:.4} ({correct}/{total})"
    ))?;
    let trained = state.metrics.len() as f64 * config.batch_size as f64;
    let summary = Summary {
        test_accuracy,
        correct,
        test_examples: total,
        per_class_accuracy,
        confusion_matrix,
        final_loss: state.metrics.last().map_or(f64::NAN, |m| m.loss),
        train_seconds: state.train_seconds,
        wall_seconds: started.elapsed().as_secs_f64(),
        samples_per_second: trained.min((epochs * n) as f64) / state.train_seconds.max(1e-9),
        data: data.source.clone(),
        weights_fingerprint: model.fingerprint(),
        config: serde_json::to_value(&config).expect("the configuration serialises"),
    };
    report::write_metrics(&out, &state.metrics)?;
    report::write_summary(&out, &summary)?;
    let loss_name = config
        .loss
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string());
    let title = format!(
        "{loss_name} loss, {} ({epochs} epochs)",
        short(&data.source)
    );
    report::write_loss_plot(&out, &state.metrics, &title)?;
    write_line(format_args!(
        "Wrote {}/{{metrics.csv, summary.json, loss.png, checkpoint.bin}}",
        out.display()
    ))?;
    Ok(())
}

fn short(source: &str) -> &str {
    Path::new(source)
        .file_name()
        .and_then(|s| s.to_str())
        .filter(|_| source.starts_with('/'))
        .unwrap_or(source)
}
