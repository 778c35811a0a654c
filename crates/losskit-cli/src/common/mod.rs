//! What the commands share: the tutorial's network, batches of images, plotting.

pub mod batch;
pub mod fs;
pub mod model;
pub mod plot;
