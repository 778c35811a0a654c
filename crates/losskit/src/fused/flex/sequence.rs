//! The sequence losses over flex tensors: the kernels read the input in place (or a
//! contiguous copy), and their per-sample losses become the output in the plan's form.

use burn_flex::FlexTensor;

use super::{FlexReal, contiguous, data, gradient, tensor};
use crate::fused::sequence::SequenceResult;
use crate::fused::{CtcPlan, RnntPlan, SampleForm};

/// The CTC losses of `log_probs` `(T, N, C)` and, when `with_grad`, their gradient.
pub(super) fn run_ctc<T: FlexReal>(log_probs: &FlexTensor, plan: &CtcPlan, with_grad: bool) -> [FlexTensor; 2] {
    let dims = log_probs.layout().shape().as_slice().to_vec();
    let x = contiguous::<T>(log_probs);
    outputs(plan.run(data::<T>(&x), with_grad), plan.form(), dims)
}

/// The RNN-T costs of `logits` `(N, T, U + 1, V)` and, when `with_grad`, their gradient.
pub(super) fn run_rnnt<T: FlexReal>(logits: &FlexTensor, plan: &RnntPlan, with_grad: bool) -> [FlexTensor; 2] {
    let dims = logits.layout().shape().as_slice().to_vec();
    let x = contiguous::<T>(logits);
    outputs(plan.run(data::<T>(&x), with_grad), plan.form(), dims)
}

/// The loss tensor of `form` (the weighted sum taken in f64) and the gradient in `dims`.
fn outputs<T: FlexReal>(result: SequenceResult<T>, form: &SampleForm, dims: Vec<usize>) -> [FlexTensor; 2] {
    let loss = match form {
        SampleForm::PerSample => {
            let n = result.nll.len();
            tensor(result.nll.iter().map(|&l| T::from_f64(l)).collect(), vec![n])
        }
        SampleForm::WeightedSum(weights) => {
            let total: f64 = result.nll.iter().zip(weights).map(|(l, w)| l * w).sum();
            tensor(vec![T::from_f64(total)], vec![1])
        }
    };
    [loss, gradient(result.grad, dims)]
}
