//! Checks of options and of tensor values (read back on the host), with PyTorch's errors.

use burn::tensor::{DType, FloatDType, Int, Tensor};

use crate::LossError;

/// Casts a float tensor to `dtype` (weights are built once in f64, inputs may be f32).
pub(crate) fn cast<const D: usize>(tensor: Tensor<D>, dtype: DType) -> Tensor<D> {
    if tensor.dtype() == dtype {
        tensor
    } else {
        tensor.cast(FloatDType::from(dtype))
    }
}

/// The values of an index tensor as i64, read on the host.
pub(crate) fn indices<const D: usize>(tensor: &Tensor<D, Int>) -> Vec<i64> {
    tensor.try_to_vec_as::<i64>().expect("an index tensor reads as i64")
}

/// Refuses values outside `[0, 1]` (NaN included), as PyTorch's BCE does; on flex the
/// values are read in place, without an f64 copy of the tensor.
pub(crate) fn check_probabilities<const D: usize>(name: &'static str, tensor: &Tensor<D>) -> Result<(), LossError> {
    let found = crate::fused::first_outside_unit(tensor).unwrap_or_else(|| {
        let data = tensor.clone().detach().into_data();
        data.iter::<f64>().find(|v| !(0.0..=1.0).contains(v))
    });
    match found {
        Some(value) => Err(LossError::NotAProbability { name, value }),
        None => Ok(()),
    }
}

/// Refuses a target whose shape is not the input's.
pub(crate) fn check_same_shape<const D: usize>(input: &[usize; D], target: &[usize; D]) -> Result<(), LossError> {
    if input != target {
        return Err(LossError::Shape(format!(
            "Target size {target:?} must be the same as input size {input:?}"
        )));
    }
    Ok(())
}

/// Refuses a `label_smoothing` outside `[0, 1]`.
pub(crate) fn check_label_smoothing(label_smoothing: f64) -> Result<(), LossError> {
    if !(0.0..=1.0).contains(&label_smoothing) {
        return Err(LossError::LabelSmoothing(label_smoothing));
    }
    Ok(())
}

/// Refuses a soft cap that is not finite and positive (`tanh(x / 0)` has no meaning, and a
/// negative cap would flip the logits).
pub(crate) fn check_softcap(softcap: Option<f64>) -> Result<(), LossError> {
    match softcap {
        Some(value) if !(value > 0.0 && value.is_finite()) => Err(LossError::Option {
            name: "softcap",
            expected: "finite and > 0",
            value,
        }),
        _ => Ok(()),
    }
}

/// Refuses an option that is negative, NaN or infinite.
pub(crate) fn check_non_negative(name: &'static str, value: f64) -> Result<(), LossError> {
    if !(value >= 0.0 && value.is_finite()) {
        return Err(LossError::Option {
            name,
            expected: "finite and >= 0",
            value,
        });
    }
    Ok(())
}

/// The shape two same-rank tensors broadcast to (NumPy's rule: each dimension equal, or 1
/// in one of them), or PyTorch's error naming the first dimension that does not fit.
pub(crate) fn broadcast_dims<const D: usize>(a: &[usize; D], b: &[usize; D]) -> Result<[usize; D], LossError> {
    let mut out = [0usize; D];
    for k in 0..D {
        out[k] = match (a[k], b[k]) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (x, y) => {
                return Err(LossError::Shape(format!(
                    "The size of tensor a ({x}) must match the size of tensor b ({y}) at non-singleton dimension {k}"
                )));
            }
        };
    }
    Ok(out)
}

/// Refuses a value of `tensor` for which `bad` holds, naming the first; reads it on the host.
pub(crate) fn check_values<const D: usize>(
    name: &'static str,
    expected: &'static str,
    tensor: &Tensor<D>,
    bad: impl Fn(f64) -> bool,
) -> Result<(), LossError> {
    let data = tensor.clone().detach().into_data();
    match data.iter::<f64>().find(|&v| bad(v)) {
        Some(value) => Err(LossError::Value { name, expected, value }),
        None => Ok(()),
    }
}
