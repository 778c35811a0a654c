//! Batches of images as the tutorial's network takes them.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{PIXELS, Split};

/// Flattened, normalised images `(n, 784)` and their labels `(n)`.
pub struct Batch {
    /// `(n, 784)`, normalised as the tutorial's `Normalize((0.5,), (0.5,))`.
    pub images: Tensor<2>,
    /// `(n)` class indices.
    pub labels: Tensor<1, Int>,
}

impl Batch {
    /// Examples `indices` of `split` on `device`.
    pub fn new(split: &Split, indices: &[usize], device: &Device) -> Self {
        let pixels: Vec<f32> = indices
            .iter()
            .flat_map(|&i| {
                split
                    .image(i)
                    .iter()
                    .map(|&p| (p as f32 / 255.0 - 0.5) / 0.5)
            })
            .collect();
        let labels: Vec<i64> = indices.iter().map(|&i| split.labels[i] as i64).collect();
        Self {
            images: Tensor::from_data(TensorData::new(pixels, [indices.len(), PIXELS]), device),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}
