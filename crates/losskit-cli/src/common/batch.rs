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
        let mut pixels = Vec::with_capacity(indices.len() * PIXELS);
        for &i in indices {
            // An image at a time, so that the conversion is one vectorised loop.
            let image = split.image(i).iter();
            pixels.extend(image.map(|&p| (f32::from(p) / 255.0 - 0.5) / 0.5));
        }
        let labels: Vec<i64> = indices.iter().map(|&i| i64::from(split.labels[i])).collect();
        Self {
            images: Tensor::from_data(TensorData::new(pixels, [indices.len(), PIXELS]), device),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
        }
    }
}
