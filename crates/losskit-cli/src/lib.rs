//! The pieces of the `losskit` command, as a library for its tests and fuzz targets.

pub mod bench;
pub mod common;
pub mod compare;
pub mod data;
pub mod error;
pub mod eval;
pub mod train;
