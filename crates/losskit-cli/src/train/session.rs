//! A run's training loop, its checkpoints, and the reports of its end.

use std::path::Path;
use std::time::Instant;

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::TrainError;
use super::checkpoint::{self, LastCheckpoint, State};
use super::config::RunConfig;
use super::console::Console;
use super::report::{self, Accuracy, Metric, Summary};
use crate::common::batch::Batch;
use crate::common::model::Mlp;
use crate::common::run_dir::RunDir;
use crate::common::stdout::write_line;
use crate::data::Dataset;

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
    /// Trains the remaining epochs, checkpointing each, then evaluates and writes the reports.
    pub fn train(mut self) -> Result<(), TrainError> {
        let started = Instant::now();
        let config = self.config.clone();
        let epochs = config.epochs;
        let n = self.data.train.len();
        let steps_per_epoch = n.div_ceil(config.batch_size);
        let console = Console::new(
            (epochs * steps_per_epoch) as u64,
            (self.state.epochs_done * steps_per_epoch) as u64,
        );
        let loss = config.loss();
        let mut accumulator = GradientsAccumulator::<Mlp>::new();
        let scale = 1.0 / config.accumulate as f64;
        let out = self.dir.path().to_path_buf();
        for epoch in self.state.epochs_done..epochs {
            let epoch_start = Instant::now();
            let mut order: Vec<usize> = (0..n).collect();
            // Each epoch's shuffle depends on the seed and the epoch alone, so a resumed run
            // replays exactly the batches an uninterrupted one would have drawn.
            order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
                config.seed ^ ((epoch as u64 + 1) << 32),
            ));
            for (i, indices) in order.chunks(config.batch_size).enumerate() {
                let batch = Batch::new(&self.data.train, indices, &self.device);
                let batch_loss = loss.forward(self.model.forward(batch.images), batch.labels)?;
                let value = batch_loss.clone().into_scalar::<f32>() as f64;
                let step = self.state.global_step + 1;
                if !value.is_finite() {
                    let last = LastCheckpoint::of(&out);
                    return Err(TrainError::Diverged {
                        value,
                        epoch: epoch + 1,
                        step: i + 1,
                        global_step: step,
                        last,
                    });
                }
                let grads = GradientsParams::from_grads(
                    batch_loss.mul_scalar(scale).backward(),
                    &self.model,
                );
                if config.accumulate == 1 {
                    self.model = self.optim.step(config.lr, self.model, grads);
                } else {
                    accumulator.accumulate(&self.model, grads);
                    if (i + 1) % config.accumulate == 0 || i + 1 == steps_per_epoch {
                        self.model = self.optim.step(config.lr, self.model, accumulator.grads());
                    }
                }
                self.state.global_step = step;
                self.state.metrics.push(Metric {
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
            if !self.model.is_finite() {
                return Err(TrainError::WeightsNotFinite {
                    epoch: epoch + 1,
                    last: LastCheckpoint::of(&out),
                });
            }
            self.state.epochs_done = epoch + 1;
            self.state.train_seconds += epoch_start.elapsed().as_secs_f64();
            checkpoint::save(&out, &self.state, &self.model, &self.optim)?;
            report::write_metrics(&out, &self.state.metrics)?;
        }
        drop(console);
        write_line("Finished Training")?;
        self.finish(&out, started)
    }

    /// Evaluates on the test set and writes metrics.csv, summary.json and loss.png.
    fn finish(self, out: &Path, started: Instant) -> Result<(), TrainError> {
        let accuracy = Accuracy::of(&self.model, &self.data.test);
        write_line(format_args!(
            "Test accuracy: {:.4} ({}/{})",
            accuracy.test_accuracy, accuracy.correct, accuracy.test_examples
        ))?;
        let (config, state) = (&self.config, &self.state);
        let trained = state.metrics.len() as f64 * config.batch_size as f64;
        let summary = Summary {
            accuracy,
            final_loss: state.metrics.last().map_or(f64::NAN, |m| m.loss),
            train_seconds: state.train_seconds,
            wall_seconds: started.elapsed().as_secs_f64(),
            samples_per_second: trained.min((config.epochs * self.data.train.len()) as f64)
                / state.train_seconds.max(1e-9),
            data: self.data.source.clone(),
            weights_fingerprint: self.model.fingerprint(),
            config: config.clone(),
        };
        report::write_metrics(out, &state.metrics)?;
        report::write_summary(out, &summary)?;
        let title = format!(
            "{} loss, {} ({} epochs)",
            config.loss.name(),
            short(&self.data.source),
            config.epochs
        );
        report::write_loss_plot(out, &state.metrics, &title)?;
        write_line(format_args!(
            "Wrote {}/{{metrics.csv, summary.json, loss.png, checkpoint.bin}}",
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
