//! What the commands share: the tutorial's network, its batches and losses, atomic file writes,
//! plots, option checks and a standard output that reports its errors.

pub mod batch;
pub mod fs;
pub mod loss;
pub mod model;
pub mod options;
pub mod plot;
pub mod stdout;
