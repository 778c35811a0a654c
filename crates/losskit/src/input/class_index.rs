//! Class-index targets: an `(N, C, d1..dk)` input against `(N, d1..dk)` indices, the
//! per-class weights, and the gather of each target's value.

use burn::module::Module;
use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};

use super::checks::{cast, indices};
use crate::LossError;

/// PyTorch's default `ignore_index`.
pub const IGNORE_INDEX: i64 = -100;

/// A per-class weight `(C)` on a device, converted once when the loss is built, with its
/// values kept on the host for the fused kernels.
#[derive(Module, Debug)]
pub(crate) struct ClassWeight {
    values: Tensor<1>,
    #[module(skip)]
    host: Vec<f64>,
}

impl ClassWeight {
    pub(crate) fn new(values: &[f64], device: &Device) -> Self {
        let tensor = Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), (device, DType::F64));
        Self {
            values: tensor,
            host: values.to_vec(),
        }
    }

    /// Refuses a weight that is not one value per class; `name` is the option.
    pub(crate) fn check(&self, name: &'static str, classes: usize) -> Result<(), LossError> {
        if self.host.len() != classes {
            return Err(LossError::ClassCount {
                name,
                expected: classes,
                found: self.host.len(),
            });
        }
        Ok(())
    }

    /// The weight in `dtype`.
    pub(crate) fn tensor(&self, dtype: DType) -> Tensor<1> {
        cast(self.values.clone(), dtype)
    }

    /// The values, as the fused kernels take them.
    pub(crate) fn host(&self) -> &[f64] {
        &self.host
    }
}

/// Checks an `(N, C, d1..dk)` input against an `(N, d1..dk)` index target; returns `C`.
pub(crate) fn check_index_target<const D: usize, const T: usize>(
    input: &[usize; D],
    target: &[usize; T],
) -> Result<usize, LossError> {
    const {
        assert!(
            D >= 2 && T + 1 == D,
            "class-index targets have one dimension less than the input (N, C, d1..dk)"
        )
    };
    let expected: Vec<usize> = core::iter::once(input[0]).chain(input[2..].iter().copied()).collect();
    if target.as_slice() != expected.as_slice() {
        return Err(LossError::Shape(format!(
            "Expected target size {expected:?}, got {target:?} (input size {input:?})"
        )));
    }
    if input[1] == 0 {
        return Err(LossError::Shape(format!("the input {input:?} has no classes (C = 0)")));
    }
    Ok(input[1])
}

/// Checks every class index against `[0, classes)`, letting `ignore_index` through;
/// returns the indices, read on the host.
pub(crate) fn check_targets<const D: usize>(
    target: &Tensor<D, Int>,
    classes: usize,
    ignore_index: i64,
) -> Result<Vec<i64>, LossError> {
    let all = indices(target);
    let bad = all
        .iter()
        .copied()
        .find(|&t| t != ignore_index && (t < 0 || t >= classes as i64));
    match bad {
        Some(target) => Err(LossError::TargetOutOfBounds { target, classes }),
        None => Ok(all),
    }
}

/// `(N, C, d1..dk)` laid out as `(N d1..dk, C)`: one row per position, its classes
/// contiguous, as the fused row kernels take them.
pub(crate) fn class_rows<const D: usize>(input: Tensor<D>) -> Tensor<2> {
    let dims = input.dims();
    let classes = dims[1];
    let rows = dims.iter().product::<usize>() / classes.max(1);
    if D == 2 {
        input.reshape([rows, classes])
    } else {
        input.movedim(1, D - 1).reshape([rows, classes])
    }
}

/// A per-class weight `(C)` laid out along dimension 1 of a rank-`D` tensor.
pub(crate) fn along_classes<const D: usize>(weight: Tensor<1>) -> Tensor<D> {
    let mut dims = [1usize; D];
    dims[1] = weight.dims()[0];
    weight.reshape(dims)
}

/// Whether `value` is representable in the integer dtype `dtype`.
fn fits_int_dtype(value: i64, dtype: DType) -> bool {
    match dtype {
        DType::I32 => i32::try_from(value).is_ok(),
        DType::I16 => i16::try_from(value).is_ok(),
        DType::I8 => i8::try_from(value).is_ok(),
        DType::U8 => u8::try_from(value).is_ok(),
        DType::U16 => u16::try_from(value).is_ok(),
        DType::U32 => u32::try_from(value).is_ok(),
        _ => true,
    }
}

/// Where a class-index target equals `ignore_index`.
pub(crate) fn ignored<const T: usize>(target: &Tensor<T, Int>, ignore_index: i64) -> Tensor<T, Bool> {
    // Compared in the targets' own integer type, an ignore_index that type cannot hold
    // would fail the cast: such an index matches no target.
    if fits_int_dtype(ignore_index, target.dtype()) {
        target.clone().equal_elem(ignore_index)
    } else {
        target.clone().equal_elem(0).bool_and(target.clone().not_equal_elem(0))
    }
}

/// `input` `(N, C, d1..dk)` with the rows of ignored targets set to 0: they take no part in
/// the loss, and then none in the gradient either (through a log-softmax, a row holding an
/// infinity would otherwise give NaN there, as PyTorch's does, although its upstream is 0).
pub(crate) fn without_ignored_rows<const D: usize, const T: usize>(
    input: Tensor<D>,
    target: &Tensor<T, Int>,
    ignore_index: i64,
) -> Tensor<D> {
    let rows = ignored(target, ignore_index).unsqueeze_dim::<D>(1).expand(input.dims());
    input.mask_fill(rows, 0.0)
}

/// What the class-index losses share: the picked values and the target weights.
pub(crate) struct PickedTargets<const T: usize> {
    /// `x[i, y_i]`, 0 where ignored.
    pub picked: Tensor<T>,
    /// `w[y_i]` (1 without weight), 0 where ignored.
    pub target_weight: Tensor<T>,
    /// Where the target is `ignore_index`.
    pub ignored: Tensor<T, Bool>,
}

/// `w[y_i]` (1 without weight) for each target, 0 where ignored, in `dtype`; and where the
/// target is ignored.
pub(crate) fn target_weights<const T: usize>(
    target: Tensor<T, Int>,
    weight: Option<Tensor<1>>,
    ignore_index: i64,
    dtype: DType,
) -> (Tensor<T>, Tensor<T, Bool>) {
    let target_dims = target.dims();
    let ignored = ignored(&target, ignore_index);
    let weights = match weight {
        Some(w) => {
            // An ignored index (-100 by default) cannot be selected: any valid class stands
            // in, and its weight is zeroed below.
            let safe = target.mask_fill(ignored.clone(), 0);
            let n = target_dims.iter().product::<usize>();
            w.select(0, safe.reshape([n])).reshape(target_dims)
        }
        None => cast(ignored.clone().bool_not().float(), dtype),
    }
    .mask_fill(ignored.clone(), 0.0);
    (weights, ignored)
}

/// Gathers `values[i, y_i]` along dimension 1 and the matching class weights.
pub(crate) fn pick_targets<const D: usize, const T: usize>(
    values: Tensor<D>,
    target: Tensor<T, Int>,
    weight: Option<Tensor<1>>,
    ignore_index: i64,
) -> PickedTargets<T> {
    let dtype = values.dtype();
    let (target_weight, ignored) = target_weights(target.clone(), weight, ignore_index, dtype);
    // An ignored index cannot be gathered: any valid class stands in, and its term is
    // zeroed.
    let safe = target.mask_fill(ignored.clone(), 0);
    let picked = values
        .gather(1, safe.unsqueeze_dim::<D>(1))
        .squeeze_dim::<T>(1)
        .mask_fill(ignored.clone(), 0.0);
    PickedTargets {
        picked,
        target_weight,
        ignored,
    }
}
