//! What the commands share: the tutorial's network and its batches, atomic file writes,
//! plots and option checks.

pub mod batch;
pub mod fs;
pub mod model;
pub mod options;
pub mod plot;
