//! Where a run's lines go: above a progress bar on a terminal, else plain stdout.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::common::stdout::{OutputError, write_line};

/// The run's output.
pub struct Console {
    bar: Option<ProgressBar>,
}

impl Console {
    /// A progress bar over `total_steps` starting at `done` when stdout is a terminal.
    pub fn new(total_steps: u64, done: u64) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(total_steps).with_position(done);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} steps  {per_sec}  ETA {eta}  loss {msg}")
                    .expect("the template is valid"),
            );
            bar
        });
        Self { bar }
    }

    /// Prints a line.
    pub fn line(&self, text: &str) -> Result<(), OutputError> {
        match &self.bar {
            Some(bar) => {
                bar.println(text);
                Ok(())
            }
            None => write_line(text),
        }
    }

    /// Advances the bar by a step of loss `loss`.
    pub fn step(&self, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{loss:.4}"));
            bar.inc(1);
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
