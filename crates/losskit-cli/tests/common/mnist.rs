//! Small MNIST-format directories written by the tests.

use std::path::Path;

/// An IDX file of unsigned bytes.
pub fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    dims.iter().for_each(|d| out.extend_from_slice(&d.to_be_bytes()));
    out.extend_from_slice(data);
    out
}

/// `n` images of classes `classes` in turn, whose class is written in their pixels, as
/// both the training and the test set of `dir`.
pub fn synthetic_classes(dir: &Path, n: u32, classes: u8) {
    let labels: Vec<u8> = (0..n).map(|i| (i % u32::from(classes)) as u8).collect();
    let images: Vec<u8> = labels
        .iter()
        .flat_map(|&l| (0..784u32).map(move |p| if p % 10 == l as u32 { 255 } else { (p * 7 % 31) as u8 }))
        .collect();
    for prefix in ["train", "t10k"] {
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n, 28, 28], &images),
        )
        .unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx(&[n], &labels)).unwrap();
    }
}

/// `n` images of all ten classes in turn.
pub fn synthetic(dir: &Path, n: u32) {
    synthetic_classes(dir, n, 10);
}
