//! A run's training loop, its checkpoints, and the reports of its end.

use std::path::Path;
use std::time::Instant;

use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use losskit::Reduction;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::TrainError;
use super::checkpoint::{self, LastCheckpoint, State};
use super::config::RunConfig;
use super::console::Console;
use super::evaluation::Evaluation;
use super::loss_plot;
use super::report::{self, EpochMetric, Metric, Summary};
use super::step::step;
use crate::common::batch::Batch;
use crate::common::model::Mlp;
use crate::common::run_dir::RunDir;
use crate::common::stdout::write_line;
use crate::data::{CLASSES, Dataset};

/// A run ready to train: its directory held, its data read, its network and optimizer
/// fresh or restored.
pub struct Session {
    /// The run directory, held until the session ends.
    pub dir: RunDir,
    /// The configuration.
    pub config: RunConfig,
    /// The data.
    pub data: Dataset,
    /// The state of training so far.
    pub state: State,
    /// The network.
    pub model: Mlp,
    /// The optimizer.
    pub optim: ModuleOptimizer,
    /// The autodiff device the network lives on.
    pub device: Device,
}

impl Session {
    /// Trains the remaining epochs, checkpointing and evaluating each, then writes the
    /// reports.
    pub fn train(mut self) -> Result<(), TrainError> {
        let started = Instant::now();
        let config = self.config.clone();
        let epochs = config.epochs;
        let n = self.data.train.len();
        // One optimizer step per group of `accumulate` batches; the last group of an epoch
        // may be short, and may end in a short batch.
        let group_size = config.batch_size * config.accumulate;
        let steps_per_epoch = n.div_ceil(group_size);
        let console = Console::new(
            (epochs * steps_per_epoch) as u64,
            (self.state.epochs_done * steps_per_epoch) as u64,
        );
        let loss = config.loss().build(Reduction::Sum, &self.device)?;
        let test_device = Device::flex();
        let test_loss = config.loss().build(Reduction::Sum, &test_device)?;
        let evaluate = |model: &Mlp| Evaluation::of(model, &self.data.test, &test_loss, &test_device);
        let out = self.dir.path().to_path_buf();
        let mut last = None;
        for epoch in self.state.epochs_done..epochs {
            let epoch_start = Instant::now();
            let mut order: Vec<usize> = (0..n).collect();
            // Each epoch's shuffle depends on the seed and the epoch alone (not the batch
            // size), so a resumed run replays exactly the examples an uninterrupted one would
            // have drawn, and runs that split them differently see them in the same order.
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
                config.seed ^ ((epoch as u64 + 1) << 32),
            ));
            let first_metric = self.state.metrics.len();
            let groups: Vec<&[usize]> = order.chunks(group_size).collect();
            let (train, device) = (&self.data.train, &self.device);
            let build = |indices: &[usize]| -> Vec<Batch> {
                indices
                    .chunks(config.batch_size)
                    .map(|chunk| Batch::new(train, chunk, device))
                    .collect()
            };
            let mut next = groups.first().map(|indices| build(indices));
            for i in 0..groups.len() {
                let group = next.take().expect("each group is built before its step");
                // The next group's images are converted while this step runs: the step's
                // products leave the second thread idle between them.
                let (model, optim) = (self.model, &mut self.optim);
                let (stepped, following) = rayon::join(
                    || step(model, optim, &loss, group, config.lr, CLASSES),
                    || groups.get(i + 1).map(|indices| build(indices)),
                );
                next = following;
                let stepped = stepped?;
                self.model = stepped.model;
                let value = stepped.loss;
                let global_step = self.state.global_step + 1;
                if !value.is_finite() {
                    let last = LastCheckpoint::of(&out);
                    return Err(TrainError::Diverged {
                        value,
                        epoch: epoch + 1,
                        step: i + 1,
                        global_step,
                        last,
                    });
                }
                self.state.global_step = global_step;
                self.state.metrics.push(Metric {
                    step: global_step,
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
            if !self.model.is_finite() {
                return Err(TrainError::WeightsNotFinite {
                    epoch: epoch + 1,
                    last: LastCheckpoint::of(&out),
                });
            }
            self.state.epochs_done = epoch + 1;
            self.state.train_seconds += epoch_start.elapsed().as_secs_f64();
            let evaluation = evaluate(&self.model)?;
            let steps = &self.state.metrics[first_metric..];
            self.state.epochs.push(EpochMetric::new(epoch + 1, steps, &evaluation));
            last = Some(evaluation);
            checkpoint::save(&out, &self.state, &self.model, &self.optim)?;
            report::write_metrics(&out, &self.state.metrics)?;
            report::write_epochs(&out, &self.state.epochs)?;
        }
        drop(console);
        write_line("Finished Training")?;
        let evaluation = match last {
            Some(evaluation) => evaluation,
            None => evaluate(&self.model)?,
        };
        self.finish(&out, started, evaluation)
    }

    /// Writes metrics.csv, epochs.csv, summary.json and loss.png, with `evaluation` the
    /// final network's.
    fn finish(self, out: &Path, started: Instant, evaluation: Evaluation) -> Result<(), TrainError> {
        let accuracy = &evaluation.accuracy;
        write_line(format_args!(
            "Test accuracy: {:.4} ({}/{})",
            accuracy.test_accuracy, accuracy.correct, accuracy.test_examples
        ))?;
        write_line(evaluation.line())?;
        let (config, state) = (&self.config, &self.state);
        let trained = (state.metrics.len() * config.batch_size * config.accumulate) as f64;
        let summary = Summary {
            test_loss: evaluation.test_loss,
            accuracy: evaluation.accuracy,
            final_loss: state.metrics.last().map_or(f64::NAN, |m| m.loss),
            epochs: state.epochs.clone(),
            train_seconds: state.train_seconds,
            wall_seconds: started.elapsed().as_secs_f64(),
            samples_per_second: trained.min((config.epochs * self.data.train.len()) as f64)
                / state.train_seconds.max(1e-9),
            data: self.data.source.clone(),
            weights_fingerprint: self.model.fingerprint(),
            config: config.clone(),
        };
        report::write_metrics(out, &state.metrics)?;
        report::write_epochs(out, &state.epochs)?;
        report::write_summary(out, &summary)?;
        let title = format!(
            "{} loss, {} ({} epochs)",
            config.loss.name(),
            short(&self.data.source),
            config.epochs
        );
        loss_plot::write_loss_plot(out, &state.metrics, &state.epochs, &title)?;
        write_line(format_args!(
            "Wrote {}/{{metrics.csv, epochs.csv, summary.json, loss.png, checkpoint.bin}}",
            out.display()
        ))?;
        Ok(())
    }
}

/// The last component of an absolute data path; anything else as it is.
fn short(source: &str) -> &str {
    Path::new(source)
        .file_name()
        .and_then(|s| s.to_str())
        .filter(|_| source.starts_with('/'))
        .unwrap_or(source)
}
