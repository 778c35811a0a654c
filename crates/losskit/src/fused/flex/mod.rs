//! The kernels on burn's flex backend: flex tensors read as typed slices, one dtype
//! dispatch, outputs built from the kernels' vectors.

mod boxes;
mod dense;
mod elementwise;
mod linear;
mod linear_backward;
mod linear_rows;
mod regression;
mod rows;
mod sequence;
mod sigmoid;

use burn::backend::Flex;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::dense::{DenseGradients, DenseGrads};
use super::linear::{LinearCall, LinearOutput};
use super::math::Real;
use super::{BoxCall, CtcPlan, LossKernels, PointwiseCall, PointwiseLoss, RnntPlan, RowLossCall};

/// The element types the kernels run on flex storage in.
pub(crate) trait FlexReal: Real + bytemuck::Pod + burn::tensor::Element {}
impl FlexReal for f32 {}
impl FlexReal for f64 {}

/// Runs `$run::<T>($args)` with `T` the element type of `$tensor` (f32 or f64: the
/// entry points send no other dtype here).
macro_rules! by_dtype {
    ($tensor:expr, $run:ident($($args:expr),*)) => {
        match $tensor.dtype() {
            DType::F32 => $run::<f32>($($args),*),
            DType::F64 => $run::<f64>($($args),*),
            other => unreachable!("the fused path is only taken for f32 and f64, not {other:?}"),
        }
    };
}

/// A flex tensor in row-major order: itself when it already is, else a contiguous copy
/// (one copy: a broadcast upstream gradient, a moved dimension).
fn contiguous<T: FlexReal>(t: &FlexTensor) -> std::borrow::Cow<'_, FlexTensor> {
    match t.as_slice::<T>() {
        Some(_) => std::borrow::Cow::Borrowed(t),
        None => std::borrow::Cow::Owned(t.to_contiguous()),
    }
}

/// The typed data of a tensor [`contiguous`] returned.
fn data<T: FlexReal>(t: &FlexTensor) -> &[T] {
    t.as_slice::<T>().expect("a contiguous tensor reads as one slice")
}

/// A flex tensor holding `values` in `shape`.
fn tensor<T: FlexReal>(values: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// `factor * sum(values)` (summed in f64) as a `[1]` tensor.
fn scaled_sum<T: FlexReal>(values: &[T], factor: f64) -> FlexTensor {
    let total = values.iter().fold(0.0f64, |acc, &l| acc + l.to_f64());
    tensor(vec![T::from_f64(factor * total)], vec![1])
}

/// The gradient tensor of a call: the values in `shape`, or an empty tensor without one.
fn gradient<T: FlexReal>(values: Option<Vec<T>>, shape: Vec<usize>) -> FlexTensor {
    match values {
        Some(values) => tensor(values, shape),
        None => tensor(Vec::<T>::new(), vec![0]),
    }
}

fn scale_in_place<T: FlexReal>(grad: FlexTensor, upstream: &FlexTensor) -> FlexTensor {
    let factor = data::<T>(&contiguous::<T>(upstream))[0];
    if factor == T::ONE {
        return grad;
    }
    let mut grad = grad.to_contiguous();
    grad.storage_mut::<T>().par_chunks_mut(8192).for_each(|c| {
        for g in c {
            *g = *g * factor;
        }
    });
    grad
}

impl LossKernels for Flex {
    fn scale_gradient(grad: FloatTensor<Flex>, upstream: FloatTensor<Flex>) -> FloatTensor<Flex> {
        by_dtype!(grad, scale_in_place(grad, &upstream))
    }

    fn pointwise_losses(
        input: FloatTensor<Flex>,
        target: FloatTensor<Flex>,
        call: PointwiseCall,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        use regression::run_regression;
        use sigmoid::run_sigmoid;
        match &call.loss {
            PointwiseLoss::Sigmoid(sigmoid) => {
                by_dtype!(input, run_sigmoid(&input, &target, sigmoid, call.form, with_grad))
            }
            PointwiseLoss::Regression(loss) => {
                by_dtype!(input, run_regression(&input, &target, *loss, call.form, with_grad))
            }
        }
    }

    fn row_losses(
        input: FloatTensor<Flex>,
        target: FloatTensor<Flex>,
        call: RowLossCall,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        use rows::run_rows;
        by_dtype!(input, run_rows(&input, &target, &call, with_grad))
    }

    fn linear_cross_entropy(
        input: FloatTensor<Flex>,
        classifier: FloatTensor<Flex>,
        bias: FloatTensor<Flex>,
        upstream: FloatTensor<Flex>,
        call: LinearCall,
    ) -> LinearOutput<Flex> {
        use linear::run_linear;
        by_dtype!(input, run_linear(&input, &classifier, &bias, &upstream, &call))
    }

    fn box_losses(
        boxes1: FloatTensor<Flex>,
        boxes2: FloatTensor<Flex>,
        call: BoxCall,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>, FloatTensor<Flex>) {
        use boxes::run_boxes;
        let [loss, ga, gb] = by_dtype!(boxes1, run_boxes(&boxes1, &boxes2, &call, with_grad));
        (loss, ga, gb)
    }

    fn ctc_losses(
        log_probs: FloatTensor<Flex>,
        plan: CtcPlan,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        use sequence::run_ctc;
        let [loss, grad] = by_dtype!(log_probs, run_ctc(&log_probs, &plan, with_grad));
        (loss, grad)
    }

    fn rnnt_losses(
        logits: FloatTensor<Flex>,
        plan: RnntPlan,
        with_grad: bool,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        use sequence::run_rnnt;
        let [loss, grad] = by_dtype!(logits, run_rnnt(&logits, &plan, with_grad));
        (loss, grad)
    }

    fn dense(
        input: FloatTensor<Flex>,
        weight: FloatTensor<Flex>,
        bias: FloatTensor<Flex>,
        relu: bool,
    ) -> FloatTensor<Flex> {
        use dense::run_dense;
        by_dtype!(input, run_dense(&input, &weight, &bias, relu))
    }

    fn dense_backward(
        input: FloatTensor<Flex>,
        weight: FloatTensor<Flex>,
        output: FloatTensor<Flex>,
        grad: FloatTensor<Flex>,
        wants: DenseGrads,
    ) -> DenseGradients<Flex> {
        use dense::run_dense_backward;
        by_dtype!(input, run_dense_backward(&input, &weight, &output, &grad, wants))
    }

    fn softmax_rows(input: FloatTensor<Flex>, log: bool) -> FloatTensor<Flex> {
        use rows::run_softmax;
        by_dtype!(input, run_softmax(&input, log))
    }

    fn softmax_rows_backward(output: FloatTensor<Flex>, grad: FloatTensor<Flex>, log: bool) -> FloatTensor<Flex> {
        use rows::run_softmax_backward;
        by_dtype!(output, run_softmax_backward(&output, &grad, log))
    }
}
