//! What the losses share about their inputs: weights broadcast against the target,
//! class-index targets, and the checks that read tensor values on the host.

pub(crate) mod broadcast;
pub(crate) mod checks;
pub(crate) mod class_index;
