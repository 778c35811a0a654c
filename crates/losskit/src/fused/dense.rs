//! The fused dense layer: burn's `Linear` (and a ReLU after it) as one call whose products
//! split over the threads, for the small networks the training loop runs.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, ExtensionType};
use burn::tensor::Tensor;

use super::switch::kernels_can_take_with_weights;
use super::{LossKernels, absent_operand};

/// Which gradients a dense backward computes, and whether the forward ended in a ReLU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DenseGrads {
    pub input: bool,
    pub weight: bool,
    pub bias: bool,
    pub relu: bool,
}

/// The gradients of a dense layer, each an empty tensor where it was not asked for.
#[derive(ExtensionType)]
pub struct DenseGradients<B: Backend> {
    /// `(N, K)`.
    pub input: FloatTensor<B>,
    /// `(K, M)`.
    pub weight: FloatTensor<B>,
    /// `(M)`.
    pub bias: FloatTensor<B>,
}

/// `input @ weight + bias` (then ReLU with `relu`) of `input` `(N, K)`, `weight` `(K, M)`
/// and `bias` `(M)` through the fused kernels, with its backward; `None` where the kernels
/// cannot take it (another backend, dtype or mixed dtypes, an empty input).
pub(crate) fn dense(input: &Tensor<2>, weight: &Tensor<2>, bias: Option<&Tensor<1>>, relu: bool) -> Option<Tensor<2>> {
    if !kernels_can_take_with_weights(input, weight, bias) {
        return None;
    }
    let bias = bias.cloned().unwrap_or_else(|| absent_operand(input));
    Some(Tensor::from_dispatch(<Dispatch as LossKernels>::dense(
        input.clone().into_dispatch(),
        weight.clone().into_dispatch(),
        bias.into_dispatch(),
        relu,
    )))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{DType, Device, Tensor, TensorData};

    use super::dense;
    use crate::with_composed;

    /// The entry point takes every call it should (so that the tests comparing the layer
    /// with burn's compare the kernels, not burn with itself), and leaves the rest.
    #[test]
    fn the_kernels_take_flex_f32_and_f64_with_and_without_autodiff_and_bias() {
        for device in [Device::flex(), Device::flex().autodiff()] {
            for dtype in [DType::F32, DType::F64] {
                let t = |v: Vec<f64>, shape: [usize; 2]| {
                    Tensor::<2>::from_data(TensorData::new(v, shape), (&device, dtype))
                };
                let (x, w) = (t(vec![1.0; 6], [2, 3]), t(vec![0.5; 12], [3, 4]));
                let b = Tensor::<1>::from_data(TensorData::new(vec![0.1; 4], [4]), (&device, dtype));
                assert!(dense(&x, &w, Some(&b), true).is_some(), "{dtype:?} with bias");
                assert!(dense(&x, &w, None, false).is_some(), "{dtype:?} without bias");
                assert!(with_composed(|| dense(&x, &w, None, false)).is_none());
                let empty = t(vec![], [0, 3]);
                assert!(
                    dense(&empty, &w, None, false).is_none(),
                    "an empty batch takes burn's path"
                );
            }
        }
    }
}
