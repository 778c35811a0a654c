//! What the commands share: the tutorial's network, its batches and losses; run
//! directories, their locks and atomic file writes; plots, option checks, times, and a
//! standard output that reports its errors.

pub mod batch;
pub mod fs;
pub mod lock;
pub mod loss;
pub mod model;
pub mod options;
pub mod plot;
pub mod run_dir;
pub mod sgd;
pub mod stdout;
pub mod time;
