//! A run's configuration: what decides its numbers, recorded in its checkpoint and summary,
//! and what a resume may and may not change of it.

use std::fmt::Display;
use std::path::PathBuf;

use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::args::{Given, LossKind, TrainArgs, check_applicable};
use crate::common::loss::Loss;
use crate::common::options::{InvalidOption, require};
use crate::common::sgd::Sgd;

/// The sigmoid focal loss's alpha when none is given (torchvision's).
const SIGMOID_FOCAL_ALPHA: f64 = 0.25;

/// The configuration of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The absolute path of the data directory; `None`: the embedded digits.
    pub data: Option<PathBuf>,
    /// The loss.
    pub loss: LossKind,
    /// Label smoothing (cross entropy).
    pub label_smoothing: f64,
    /// Focusing exponent (focal losses).
    pub gamma: f64,
    /// Class balance (focal losses; the sigmoid one's default is filled in).
    pub alpha: Option<f64>,
    /// Epochs the run trains in all.
    pub epochs: usize,
    /// Examples per batch.
    pub batch_size: usize,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Seed of the initialisation and the shuffles.
    pub seed: u64,
    /// Batches per optimizer step.
    pub accumulate: usize,
    /// Batches per printed loss.
    pub log_every: usize,
}

impl RunConfig {
    /// The configuration of a new run, with `data` the data directory's absolute path.
    pub fn new(args: &TrainArgs, given: &Given, data: Option<PathBuf>) -> Result<Self, TrainError> {
        check_applicable(args.loss, given)?;
        let alpha = match args.loss {
            LossKind::SigmoidFocal => Some(args.alpha.unwrap_or(SIGMOID_FOCAL_ALPHA)),
            _ => args.alpha,
        };
        let config = Self {
            data,
            loss: args.loss,
            label_smoothing: args.label_smoothing,
            gamma: args.gamma,
            alpha,
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            momentum: args.momentum,
            weight_decay: args.weight_decay,
            seed: args.seed,
            accumulate: args.accumulate,
            log_every: args.log_every,
        };
        config.validate()?;
        Ok(config)
    }

    /// The configuration of a resumed run: `saved`, with `--epochs` (at least
    /// `epochs_done`) and `--log-every` taken from the command line. Any other option the
    /// command line gave must have the saved value; `data` is the absolute path of `--data`.
    pub fn resumed(
        saved: &RunConfig,
        args: &TrainArgs,
        given: &Given,
        data: Option<PathBuf>,
        epochs_done: usize,
    ) -> Result<Self, TrainError> {
        let same = |id: &str, option: &'static str, value: &dyn Display, saved: &dyn Display| {
            let (value, saved) = (value.to_string(), saved.to_string());
            if given.contains(id) && value != saved {
                Err(TrainError::Conflict { option, value, saved })
            } else {
                Ok(())
            }
        };
        let shown = |data: &Option<PathBuf>| {
            data.as_ref()
                .map_or("(the embedded digits)".into(), |d| d.display().to_string())
        };
        let alpha = |a: Option<f64>| a.map_or("(none)".to_string(), |a| a.to_string());
        same("data", "--data", &shown(&data), &shown(&saved.data))?;
        same("loss", "--loss", &args.loss.name(), &saved.loss.name())?;
        same(
            "label_smoothing",
            "--label-smoothing",
            &args.label_smoothing,
            &saved.label_smoothing,
        )?;
        same("gamma", "--gamma", &args.gamma, &saved.gamma)?;
        same("alpha", "--alpha", &alpha(args.alpha), &alpha(saved.alpha))?;
        same("batch_size", "--batch-size", &args.batch_size, &saved.batch_size)?;
        same("lr", "--lr", &args.lr, &saved.lr)?;
        same("momentum", "--momentum", &args.momentum, &saved.momentum)?;
        same(
            "weight_decay",
            "--weight-decay",
            &args.weight_decay,
            &saved.weight_decay,
        )?;
        same("seed", "--seed", &args.seed, &saved.seed)?;
        same("accumulate", "--accumulate", &args.accumulate, &saved.accumulate)?;
        check_applicable(saved.loss, given)?;
        let mut config = saved.clone();
        if given.contains("epochs") {
            if args.epochs < epochs_done {
                return Err(TrainError::EpochsBelowDone {
                    epochs: args.epochs,
                    done: epochs_done,
                });
            }
            config.epochs = args.epochs;
        }
        if given.contains("log_every") {
            config.log_every = args.log_every;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), InvalidOption> {
        require(self.epochs >= 1, "--epochs", "at least 1", self.epochs)?;
        require(self.batch_size >= 1, "--batch-size", "at least 1", self.batch_size)?;
        require(self.accumulate >= 1, "--accumulate", "at least 1", self.accumulate)?;
        require(self.log_every >= 1, "--log-every", "at least 1", self.log_every)?;
        require(
            self.lr > 0.0 && self.lr.is_finite(),
            "--lr",
            "a finite number > 0",
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
            "a finite number >= 0",
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
            "a finite number >= 0",
            self.gamma,
        )?;
        if let Some(alpha) = self.alpha {
            match self.loss {
                // A factor on every class's loss: zero trains nothing, a negative one ascends.
                LossKind::Focal => require(
                    alpha > 0.0 && alpha.is_finite(),
                    "--alpha",
                    "a finite number > 0 for --loss focal",
                    alpha,
                )?,
                // torchvision's weight of positives (1 - alpha weighs the negatives).
                _ => require(
                    (0.0..=1.0).contains(&alpha),
                    "--alpha",
                    "in [0, 1] for --loss sigmoid-focal",
                    alpha,
                )?,
            }
        }
        Ok(())
    }

    /// The loss `--loss` names, with its options.
    pub fn loss(&self) -> Loss {
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
                alpha: self.alpha.unwrap_or(SIGMOID_FOCAL_ALPHA),
            },
            LossKind::BceWithLogits => Loss::BceWithLogits { pos_weight: None },
        }
    }

    /// torch.optim.SGD with the run's momentum (dampening 0) and weight decay.
    pub fn optimizer(&self) -> ModuleOptimizer {
        Sgd::new(self.momentum, self.weight_decay).init()
    }
}
