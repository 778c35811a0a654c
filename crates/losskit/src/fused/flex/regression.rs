//! The elementwise regression kernel over flex tensors.

use burn_flex::FlexTensor;

use super::FlexReal;
use super::elementwise::{Chunk, ElementKernel, run_elementwise};
use crate::fused::pointwise::regression::{RegressionElement, regression_element};
use crate::fused::simd::Fma;
use crate::fused::{LossForm, RegressionLoss};

/// One regression loss over chunks of `input - target`.
#[derive(Clone, Copy)]
struct RegressionKernel<T> {
    kind: RegressionElement<T>,
}

impl<T: FlexReal> ElementKernel<T> for RegressionKernel<T> {
    #[inline(always)]
    fn chunk(&self, _: impl Fma, chunk: Chunk<'_, T>) {
        let Chunk {
            xs,
            ys,
            ls,
            gs,
            grad_scale,
            ..
        } = chunk;
        let kind = self.kind;
        match gs {
            Some(gs) => {
                for (((l, g), &x), &y) in ls.iter_mut().zip(gs.iter_mut()).zip(xs).zip(ys) {
                    let e = regression_element(kind, x - y);
                    l.write(e.loss);
                    g.write(e.grad * grad_scale);
                }
            }
            None => {
                for ((l, &x), &y) in ls.iter_mut().zip(xs).zip(ys) {
                    l.write(regression_element(kind, x - y).loss);
                }
            }
        }
    }
}

pub(super) fn run_regression<T: FlexReal>(
    input: &FlexTensor,
    target: &FlexTensor,
    loss: RegressionLoss,
    form: LossForm,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let kind = match loss {
        RegressionLoss::L1 | RegressionLoss::SmoothL1 { beta: 0.0 } => RegressionElement::L1,
        RegressionLoss::Mse => RegressionElement::Mse,
        RegressionLoss::SmoothL1 { beta } => RegressionElement::SmoothL1 {
            beta: T::from_f64(beta),
        },
        RegressionLoss::Huber { delta } => RegressionElement::Huber {
            delta: T::from_f64(delta),
        },
    };
    run_elementwise(input, target, RegressionKernel { kind }, form, with_grad)
}
