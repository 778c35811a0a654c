//! Operands that are broadcast against the loss input, and the checks that read tensor values.

use burn::tensor::{DType, FloatDType, Int, Tensor, TensorData};

use crate::LossError;

/// A weight of any rank, broadcast against the loss input from the trailing
/// dimension, as NumPy and PyTorch broadcast.
///
/// For targets of shape `(N, C)` a per-class weight is `[C]`; for `(N, C, H, W)`
/// it is `[C, 1, 1]` (PyTorch's advice for `pos_weight`), or any shape whose
/// trailing dimensions are each 1 or equal to the target's.
#[derive(Debug, Clone)]
pub struct Broadcast {
    values: Tensor<1>,
    shape: Vec<usize>,
}

impl Broadcast {
    /// Wraps a tensor of any rank; its shape is what is broadcast.
    pub fn new<const R: usize>(tensor: Tensor<R>) -> Self {
        let shape = tensor.dims().to_vec();
        let n = shape.iter().product::<usize>();
        Self { values: tensor.reshape([n]), shape }
    }

    /// A weight along the last dimension (per class for `(N, C)` targets).
    pub fn last_dim(values: &[f64], device: &burn::tensor::Device) -> Self {
        Self::new(Tensor::<1>::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            (device, DType::F64),
        ))
    }

    /// The broadcast shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, when the weight varies along the last dimension only (shape `[]`, `[1]`,
    /// `[last]`, or those with leading 1s): what the fused kernels take.
    pub(crate) fn along_last_dim(&self, last: usize) -> Option<Vec<f64>> {
        let inner = self.shape.iter().rev().skip(1).all(|&d| d == 1);
        let tail = self.shape.last().copied().unwrap_or(1);
        (inner && (tail == 1 || tail == last)).then(|| values(&self.values))
    }

    /// The weight laid out to broadcast against `target` (same rank, dims 1 or equal), in its dtype.
    pub(crate) fn against<const D: usize>(
        &self,
        name: &str,
        target: &[usize; D],
        dtype: DType,
    ) -> Result<Tensor<D>, LossError> {
        let fits = self.shape.len() <= D
            && self
                .shape
                .iter()
                .rev()
                .zip(target.iter().rev())
                .all(|(&w, &t)| w == 1 || w == t);
        if !fits {
            return Err(LossError::Shape(format!(
                "{name} of shape {:?} cannot be broadcast to the target's shape {:?}",
                self.shape, target
            )));
        }
        let mut dims = [1usize; D];
        dims[D - self.shape.len()..].copy_from_slice(&self.shape);
        Ok(cast(self.values.clone(), dtype).reshape(dims))
    }
}

impl<const R: usize> From<Tensor<R>> for Broadcast {
    fn from(tensor: Tensor<R>) -> Self {
        Self::new(tensor)
    }
}

/// Casts a float tensor to `dtype` (weights are built once, inputs may be f32 or f64).
pub(crate) fn cast<const D: usize>(tensor: Tensor<D>, dtype: DType) -> Tensor<D> {
    if tensor.dtype() == dtype {
        tensor
    } else {
        tensor.cast(FloatDType::from(dtype))
    }
}

/// A per-class weight of length `classes`, as a rank-1 tensor in `dtype`.
pub(crate) fn class_weight(
    name: &'static str,
    weight: &Tensor<1>,
    classes: usize,
    dtype: DType,
) -> Result<Tensor<1>, LossError> {
    let found = weight.dims()[0];
    if found != classes {
        return Err(LossError::ClassCount { name, expected: classes, found });
    }
    Ok(cast(weight.clone(), dtype))
}

/// The values of a float tensor as f64, for validation.
pub(crate) fn values<const D: usize>(tensor: &Tensor<D>) -> Vec<f64> {
    tensor
        .clone()
        .detach()
        .try_into_vec_as::<f64>()
        .expect("a float tensor reads as f64")
}

/// The values of an index tensor as i64, for validation.
pub(crate) fn indices<const D: usize>(tensor: &Tensor<D, Int>) -> Vec<i64> {
    tensor
        .try_to_vec_as::<i64>()
        .expect("an index tensor reads as i64")
}

/// Refuses values outside `[0, 1]` (NaN included), as PyTorch's BCE does; reads the
/// values in their own dtype, without an f64 copy of the tensor.
pub(crate) fn check_probabilities<const D: usize>(
    name: &'static str,
    tensor: &Tensor<D>,
) -> Result<(), LossError> {
    let found = crate::kernel::first_outside_unit(tensor).unwrap_or_else(|| {
        let data = tensor.clone().detach().into_data();
        data.iter::<f64>().find(|v| !(0.0..=1.0).contains(v))
    });
    match found {
        Some(value) => Err(LossError::NotAProbability { name, value }),
        None => Ok(()),
    }
}

/// Refuses a target whose shape is not the input's.
pub(crate) fn check_same_shape<const D: usize>(
    input: &[usize; D],
    target: &[usize; D],
) -> Result<(), LossError> {
    if input != target {
        return Err(LossError::Shape(format!(
            "Target size {target:?} must be the same as input size {input:?}"
        )));
    }
    Ok(())
}

/// Checks every class index against `[0, classes)`, letting `ignore_index` through;
/// returns the indices.
pub(crate) fn check_targets<const D: usize>(
    target: &Tensor<D, Int>,
    classes: usize,
    ignore_index: i64,
) -> Result<Vec<i64>, LossError> {
    let all = indices(target);
    let bad = all.iter().copied().find(|&t| t != ignore_index && (t < 0 || t >= classes as i64));
    match bad {
        Some(target) => Err(LossError::TargetOutOfBounds { target, classes }),
        None => Ok(all),
    }
}
