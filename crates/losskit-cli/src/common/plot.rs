//! Plots as PNG files, drawn with the font embedded in the binary and written atomically.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea, WHITE};
use plotters::style::{FontStyle, register_font};

use super::fs::{Cause, WriteError, write_atomic_with};

static FONT: &[u8] = include_bytes!("../../../../data/fonts/DejaVuSans.ttf");

/// A white canvas to draw a picture on.
pub type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws a `width` x `height` picture with `draw` and writes it to `path` (a `.png`).
pub fn write_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> Result<(), Cause>,
) -> Result<(), WriteError> {
    // Registering twice is harmless: the font is the same. plotters' "sans-serif" becomes
    // the embedded DejaVu Sans, so no system fonts are needed.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    write_atomic_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })
}
