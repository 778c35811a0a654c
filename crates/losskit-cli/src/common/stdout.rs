//! Standard output that reports its failures. `println!` panics when stdout is a closed
//! pipe (`losskit train | head -1`) or a full disk; these return the error instead, so
//! that the command ends with one line on stderr and its files in a consistent state.

use std::fmt::Display;
use std::io::{self, Write};

use thiserror::Error;

/// Standard output could not be written.
#[derive(Debug, Error)]
#[error("cannot write to standard output: {0}")]
pub struct OutputError(#[from] io::Error);

/// Writes `text` and a newline, and flushes.
pub fn write_line(text: impl Display) -> Result<(), OutputError> {
    write_text(format_args!("{text}\n"))
}

/// Writes `text` as it is, and flushes.
pub fn write_text(text: impl Display) -> Result<(), OutputError> {
    let mut out = io::stdout().lock();
    write!(out, "{text}")?;
    out.flush()?;
    Ok(())
}
