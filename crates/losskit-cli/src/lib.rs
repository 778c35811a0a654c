//! The pieces of the `losskit` command, as a library for its tests and fuzz targets.
//!
//! One folder per command (`eval`, `train`, `compare`, `bench`), each with its own error
//! type gathered in [`error::CliError`]; `data` reads MNIST-format data; `common` holds what
//! more than one command uses: the tutorial's network, its batches and losses, run
//! directories and their locks, atomic file writes, plots, option checks and a standard
//! output that reports its errors. Commands may import `common` and `data`, not each other.

pub mod bench;
pub mod common;
pub mod compare;
pub mod data;
pub mod error;
pub mod eval;
pub mod train;
