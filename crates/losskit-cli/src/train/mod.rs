//! `losskit train`: the tutorial's MNIST run, with checkpoints, resume and reports.
//!
//! A run holds its directory's lock from start to end; it refuses a directory that holds
//! files (unless `--overwrite`), and a resume refuses options that differ from its
//! checkpoint's and data that changed since. Whatever stops it (an error, a closed stdout,
//! a diverging loss), the directory is left with the last verified checkpoint or, when the
//! run created the directory and wrote nothing, not left at all.

mod args;
mod checkpoint;
mod config;
mod console;
mod error;
mod evaluation;
mod loss_plot;
mod report;
mod session;
mod step;

pub use args::{Given, LossKind, TrainArgs};
pub use error::{CheckpointError, Corruption, TrainError};
pub use step::{Stepped, step};

use std::io::Write;
use std::path::Path;

use burn::tensor::Device;

use crate::common::model::Mlp;
use crate::common::run_dir::{Existing, RunDir, RunDirError};
use crate::common::stdout::write_line;
use crate::common::time::{now_secs, utc_stamp};
use crate::data::{self, CLASSES, DataFile, Dataset, PIXELS};
use checkpoint::State;
use config::RunConfig;
use session::Session;

const HIDDEN: usize = 500;
/// Where runs go without `--out`.
const RUNS: &str = "runs";
/// The files of a run, which `--overwrite` deletes.
const RUN_FILES: [&str; 6] = [
    checkpoint::FILE,
    checkpoint::PREVIOUS,
    report::METRICS,
    report::EPOCHS,
    report::SUMMARY,
    loss_plot::LOSS_PLOT,
];

/// Runs (or resumes) a training run and writes its directory; `given` are the options the
/// command line gave.
pub fn run(args: TrainArgs, given: &Given) -> Result<(), TrainError> {
    let session = match &args.resume {
        Some(dir) => resume(dir, &args, given)?,
        None => start(&args, given)?,
    };
    // The loop runs on a worker of the pool that the matrix products split over
    // (`RAYON_NUM_THREADS` threads, all cores by default): each product's halves are then a
    // join with the pool's other thread, not a hand-off from a thread outside the pool and
    // a wake-up back, twice a product (docs/performance.md, "Training loop").
    let pool = rayon::ThreadPoolBuilder::new().build()?;
    pool.install(|| session.train())
}

/// The network of the last checkpoint of run directory `dir`, on flex with autodiff.
pub fn trained_model(dir: &Path) -> Result<Mlp, TrainError> {
    let checkpoint = checkpoint::read_latest(dir)?;
    let optim = checkpoint.state.config.optimizer();
    let fresh = Mlp::new(PIXELS, HIDDEN, CLASSES, &Device::flex().autodiff());
    let (model, _) = checkpoint.restore(&dir.join(checkpoint::FILE), fresh, optim)?;
    Ok(model)
}

/// The absolute path of `--data`, checked to be a directory.
fn data_path(args: &TrainArgs) -> Result<Option<std::path::PathBuf>, TrainError> {
    Ok(args.data.as_deref().map(data::locate).transpose()?)
}

fn load(config: &RunConfig) -> Result<Dataset, TrainError> {
    Ok(match &config.data {
        Some(dir) => data::load_dir(dir)?,
        None => data::embedded(),
    })
}

/// Says so on stderr when the run took over the lock of a killed one.
fn note_takeover(dir: &RunDir) {
    if let Some(holder) = &dir.lock().took_over {
        let _ = writeln!(
            std::io::stderr(),
            "losskit: note: {} was locked by process {}, which is no longer running; took the lock over",
            dir.path().display(),
            holder.pid
        );
    }
}

/// A new run: options checked, directory held, data read, network initialised.
fn start(args: &TrainArgs, given: &Given) -> Result<Session, TrainError> {
    let config = RunConfig::new(args, given, data_path(args)?)?;
    let dir = match &args.out {
        Some(out) => {
            let existing = if args.overwrite {
                Existing::Replace(&RUN_FILES)
            } else {
                Existing::Refuse
            };
            RunDir::for_new_run(out, existing)?
        }
        None => RunDir::create_unique(Path::new(RUNS), &utc_stamp(now_secs()))?,
    };
    note_takeover(&dir);
    let data = load(&config)?;
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let model = Mlp::new(PIXELS, HIDDEN, CLASSES, &device);
    let optim = config.optimizer();
    let state = State {
        config: config.clone(),
        data_files: data.files.clone(),
        epochs_done: 0,
        global_step: 0,
        train_seconds: 0.0,
        metrics: Vec::new(),
        epochs: Vec::new(),
    };
    Ok(Session {
        dir,
        config,
        data,
        state,
        model,
        optim,
        device,
    })
}

/// Refuses data files that are not the ones the checkpoint recorded, naming the first.
fn changed_data(config: &RunConfig, saved: &[DataFile], now: &[DataFile]) -> Result<(), TrainError> {
    if saved.len() != now.len() {
        return Err(TrainError::DataUnrecorded);
    }
    for (was, now) in saved.iter().zip(now) {
        if was != now {
            let file = match &config.data {
                Some(dir) => dir.join(&was.name).display().to_string(),
                None => format!("{} (embedded in this losskit)", was.name),
            };
            return Err(TrainError::DataChanged {
                file,
                was: was.clone(),
                now: now.clone(),
            });
        }
    }
    Ok(())
}

/// A resumed run: directory held, checkpoint verified, options and data checked against it.
fn resume(dir: &Path, args: &TrainArgs, given: &Given) -> Result<Session, TrainError> {
    let run_dir = RunDir::for_resume(dir)?;
    note_takeover(&run_dir);
    let checkpoint = checkpoint::read_latest(dir)?;
    let saved = checkpoint.state.clone();
    let config = RunConfig::resumed(&saved.config, args, given, data_path(args)?, saved.epochs_done)?;
    let data = load(&config)?;
    changed_data(&config, &saved.data_files, &data.files)?;
    if config.epochs > saved.epochs_done {
        // The summary and plot of the epochs done would describe a run that goes on.
        for file in [report::SUMMARY, loss_plot::LOSS_PLOT] {
            let path = dir.join(file);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|source| RunDirError::Prepare { path, source })?;
            }
        }
    }
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let fresh = Mlp::new(PIXELS, HIDDEN, CLASSES, &device);
    let (model, optim) = checkpoint.restore(&dir.join(checkpoint::FILE), fresh, config.optimizer())?;
    let state = State {
        config: config.clone(),
        ..saved
    };
    write_line(format_args!(
        "Resuming {} after epoch {}",
        dir.display(),
        state.epochs_done
    ))?;
    Ok(Session {
        dir: run_dir,
        config,
        data,
        state,
        model,
        optim,
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_must_match_the_checkpoints_one_for_one() {
        let files = data::embedded().files;
        let config = checkpoint::tests::config();
        assert!(changed_data(&config, &files, &files).is_ok());
        assert!(matches!(
            changed_data(&config, &[], &files),
            Err(TrainError::DataUnrecorded)
        ));
        let mut other = files.clone();
        other[2].crc32 ^= 1;
        let err = changed_data(&config, &files, &other).unwrap_err().to_string();
        assert!(
            err.starts_with("data file t10k-images-idx3-ubyte.gz (embedded in this losskit) changed"),
            "{err}"
        );
    }
}
