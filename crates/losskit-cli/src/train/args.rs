//! The options of `losskit train`, and which of them the command line gave.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::ArgMatches;
use clap::ValueEnum;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};

use super::TrainError;

/// The loss the network trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// `nn.CrossEntropyLoss` (with `--label-smoothing`).
    CrossEntropy,
    /// `nn.NLLLoss` on `log_softmax` of the logits.
    Nll,
    /// Softmax focal loss (`--gamma`, `--alpha` > 0: a factor on every class; default none).
    Focal,
    /// Sigmoid focal loss on one-hot targets (`--gamma`, `--alpha` in [0, 1]: the weight of
    /// positives, negatives get 1 - alpha; default 0.25).
    SigmoidFocal,
    /// BCE with logits on one-hot targets, one sigmoid per class.
    BceWithLogits,
}

impl LossKind {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LossKind::CrossEntropy => "cross-entropy",
            LossKind::Nll => "nll",
            LossKind::Focal => "focal",
            LossKind::SigmoidFocal => "sigmoid-focal",
            LossKind::BceWithLogits => "bce-with-logits",
        }
    }
}

/// The options of `losskit train`; the defaults are the tutorial's.
///
/// With `--resume`, the run continues as its checkpoint was configured: `--epochs` may
/// extend it and `--log-every` change its printing; any other option given must equal the
/// checkpoint's value (a different one is an error naming both).
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// An MNIST-format directory (the four standard files, raw or .gz); default: the embedded digits.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The loss to train with.
    #[arg(long, value_enum, default_value_t = LossKind::CrossEntropy)]
    pub loss: LossKind,
    /// Label smoothing of the cross entropy, in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub label_smoothing: f64,
    /// Focusing exponent of the focal losses, >= 0.
    #[arg(long, default_value_t = 2.0, allow_hyphen_values = true)]
    pub gamma: f64,
    /// Class balance of the focal losses: focal, > 0 (a factor on every class; default
    /// none); sigmoid-focal, in [0, 1] (the weight of positives; default 0.25).
    #[arg(long, allow_hyphen_values = true)]
    pub alpha: Option<f64>,
    /// Epochs to train (with --resume: the total to reach, at least the epochs done).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Examples per batch.
    #[arg(long, default_value_t = 64, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// SGD learning rate, > 0.
    #[arg(long, default_value_t = 0.01, allow_hyphen_values = true)]
    pub lr: f64,
    /// SGD momentum in [0, 1) (dampening 0, as torch.optim.SGD).
    #[arg(long, default_value_t = 0.9, allow_hyphen_values = true)]
    pub momentum: f64,
    /// L2 weight decay added to the gradient (as torch.optim.SGD), >= 0.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub weight_decay: f64,
    /// Seed of the initialisation and the shuffles: same seed, same numbers.
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    pub seed: u64,
    /// Accumulate gradients over N batches before each optimizer step. The step's loss is
    /// the mean over all N batches (each batch's summed loss divided by the N batches'
    /// total count), so N batches step exactly as one batch N times larger, a short last
    /// group included.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub accumulate: usize,
    /// Print the loss every this many optimizer steps (a resume may change it).
    #[arg(long, default_value_t = 100, allow_negative_numbers = true)]
    pub log_every: usize,
    /// Run directory (default runs/<UTC timestamp>); refused when it holds files, unless
    /// --overwrite.
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Train into a non-empty --out: the files of a run there (checkpoint, metrics,
    /// summary, plot) are deleted first, other files are left alone.
    #[arg(long, requires = "out", conflicts_with = "resume")]
    pub overwrite: bool,
    /// Continue the run in this directory from its last checkpoint, with its configuration
    /// and data: --epochs may extend it and --log-every change, any other option given
    /// must equal the checkpoint's.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

/// The options the command line gave (as opposed to their defaults), by argument id.
#[derive(Debug, Clone, Default)]
pub struct Given(BTreeSet<String>);

impl Given {
    /// The options given in `matches` (the `train` subcommand's).
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let ids = matches
            .ids()
            .filter(|id| matches.value_source(id.as_str()) == Some(ValueSource::CommandLine));
        Self(ids.map(|id| id.as_str().to_string()).collect())
    }

    /// Whether the option with this argument id (`"batch_size"`) was given.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// Refuses an option given for a loss that does not use it: it would be silently ignored.
pub fn check_applicable(loss: LossKind, given: &Given) -> Result<(), TrainError> {
    let focal = matches!(loss, LossKind::Focal | LossKind::SigmoidFocal);
    for (id, option, applies, losses) in [
        (
            "label_smoothing",
            "--label-smoothing",
            loss == LossKind::CrossEntropy,
            "cross-entropy",
        ),
        ("gamma", "--gamma", focal, "focal and sigmoid-focal"),
        ("alpha", "--alpha", focal, "focal and sigmoid-focal"),
    ] {
        if given.contains(id) && !applies {
            return Err(TrainError::NotForLoss {
                option,
                loss: loss.name(),
                losses,
            });
        }
    }
    Ok(())
}
