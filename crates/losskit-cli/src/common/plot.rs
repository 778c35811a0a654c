//! Plots as PNG files, drawn with the font embedded in the binary.

use plotters::style::{FontStyle, register_font};

static FONT: &[u8] = include_bytes!("../../../../data/fonts/DejaVuSans.ttf");

/// Makes plotters' "sans-serif" the embedded DejaVu Sans (no system fonts needed).
pub fn use_embedded_font() {
    // Registering twice is harmless: the font is the same.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
}
