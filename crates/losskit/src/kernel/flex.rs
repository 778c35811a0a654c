//! The kernels on flex: typed slices, rayon over rows.

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::rows::{Real, RowTarget, cross_entropy_row};
use super::{CrossEntropyRows, LossKernels};

/// Rows per rayon task: enough work (about 16k elements) to pay for the hand-off.
fn min_rows(classes: usize) -> usize {
    (16_384 / classes.max(1)).max(1)
}

fn run<T: Real + bytemuck::Pod + burn::tensor::Element>(
    logits: &FlexTensor,
    options: &CrossEntropyRows,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = logits.layout().shape().as_slice().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let contiguous;
    let x: &[T] = match logits.as_slice::<T>() {
        Some(s) => s,
        None => {
            contiguous = logits.to_contiguous();
            contiguous.storage::<T>()
        }
    };
    let weights: Option<Vec<T>> = options.weight.as_ref().map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
    let smooth = T::from_f64(options.label_smoothing / c as f64);
    let keep = T::from_f64(1.0 - options.label_smoothing);
    let target = |i: usize| {
        let y = options.targets[i];
        let class = (y != options.ignore_index).then_some(y as usize);
        let class_weight = match (&weights, class) {
            (Some(w), Some(y)) => w[y],
            _ => T::ONE,
        };
        RowTarget { class, class_weight, weights: weights.as_deref(), smooth, keep }
    };
    let mut losses = vec![T::ZERO; n];
    let mut grad = if with_grad { vec![T::ZERO; n * c] } else { Vec::new() };
    let rows = min_rows(c);
    if c > 0 {
        if with_grad {
            losses
                .par_iter_mut()
                .zip(grad.par_chunks_mut(c))
                .zip(x.par_chunks(c))
                .enumerate()
                .with_min_len(rows)
                .for_each(|(i, ((l, g), xr))| *l = simd_row(xr, Some(g), target(i)));
        } else {
            losses
                .par_iter_mut()
                .zip(x.par_chunks(c))
                .enumerate()
                .with_min_len(rows)
                .for_each(|(i, (l, xr))| *l = simd_row(xr, None, target(i)));
        }
    }
    let grad_dims = if with_grad { vec![n, c] } else { vec![0] };
    (
        FlexTensor::from_data(TensorData::new(losses, [n])),
        FlexTensor::from_data(TensorData::new(grad, grad_dims)),
    )
}

/// The row kernel compiled for the widest vector unit this processor has.
fn simd_row<T: Real>(x: &[T], grad: Option<&mut [T]>, t: RowTarget<'_, T>) -> T {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            return unsafe { row_avx512(x, grad, t) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected at run time.
            return unsafe { row_avx2(x, grad, t) };
        }
    }
    cross_entropy_row(x, grad, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512<T: Real>(x: &[T], grad: Option<&mut [T]>, t: RowTarget<'_, T>) -> T {
    cross_entropy_row(x, grad, t)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_avx2<T: Real>(x: &[T], grad: Option<&mut [T]>, t: RowTarget<'_, T>) -> T {
    cross_entropy_row(x, grad, t)
}

impl LossKernels for Flex {
    fn cross_entropy_rows(
        logits: FloatTensor<Flex>,
        options: CrossEntropyRows,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        match logits.dtype() {
            DType::F32 => run::<f32>(&logits, &options, with_grad),
            DType::F64 => run::<f64>(&logits, &options, with_grad),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    }
}
