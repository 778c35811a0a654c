//! One file per loss family.

pub mod bce;
pub mod cross_entropy;
pub mod focal;
pub mod softmax;
