//! The row kernels over flex tensors: class-index and probability losses, softmax and its
//! backward.

use burn_flex::FlexTensor;

use super::{FlexReal, contiguous, data, gradient, scaled_sum, tensor};
use crate::fused::mem::written;
use crate::fused::row::{
    Between, FocalTarget, Input, ProbTarget, RowResult, RowTarget, cross_entropy_row, focal_row, nll_row,
    probabilities_row, softcapped_cross_entropy_row, softmax_backward_row, softmax_row,
};
use crate::fused::scheduler::{RowKernel, map_rows};
use crate::fused::simd::Fma;
use crate::fused::{LossForm, RowLoss, RowLossCall};

/// What every row of a [`RowLossCall`] shares, with the per-class values converted once.
pub(super) struct ClassOptions<T> {
    loss: RowLoss,
    ignore_index: i64,
    weights: Option<Vec<T>>,
    weight_total: T,
    grad_scale: T,
    smooth: T,
    keep: T,
    /// The soft cap of [`RowLoss::CrossEntropy`], if any.
    cap: Option<T>,
    /// The z-loss coefficient of [`RowLoss::CrossEntropy`] (0 for the other losses).
    z: T,
}

impl<T: FlexReal> ClassOptions<T> {
    /// The options of `call` over rows of `c` classes.
    pub(super) fn new(call: &RowLossCall, c: usize) -> Self {
        let (label_smoothing, cap, z) = match call.loss {
            RowLoss::CrossEntropy {
                label_smoothing,
                softcap,
                z_loss,
            } => (label_smoothing, softcap, z_loss),
            RowLoss::Probabilities { label_smoothing } => (label_smoothing, None, 0.0),
            RowLoss::Nll | RowLoss::SoftmaxFocal { .. } => (0.0, None, 0.0),
        };
        let weights: Option<Vec<T>> = call
            .weight
            .as_ref()
            .map(|w| w.iter().map(|&v| T::from_f64(v)).collect());
        let weight_total = match &weights {
            Some(w) => w.iter().fold(T::ZERO, |a, &v| a + v),
            None => T::from_f64(c as f64),
        };
        Self {
            loss: call.loss,
            ignore_index: call.ignore_index,
            weights,
            weight_total,
            grad_scale: T::from_f64(call.form.grad_scale()),
            smooth: T::from_f64(label_smoothing / c as f64),
            keep: T::from_f64(1.0 - label_smoothing),
            cap: cap.map(T::from_f64),
            z: T::from_f64(z),
        }
    }

    /// `label_smoothing / C`.
    pub(super) fn smooth(&self) -> T {
        self.smooth
    }

    pub(super) fn weights(&self) -> Option<&[T]> {
        self.weights.as_deref()
    }

    /// `sum_c w_c` (C without class weights).
    pub(super) fn weight_total(&self) -> T {
        self.weight_total
    }

    /// The soft cap of [`RowLoss::CrossEntropy`], if any.
    pub(super) fn cap(&self) -> Option<T> {
        self.cap
    }
}

/// The row losses over some rows: their class indices (or probability rows), and an
/// optional factor per row on the gradient (an upstream gradient met in the pass).
pub(super) struct LossRows<'a, T> {
    pub options: &'a ClassOptions<T>,
    /// One class index per row; empty for [`RowLoss::Probabilities`].
    pub targets: &'a [i64],
    /// The probability rows of [`RowLoss::Probabilities`] (empty otherwise).
    pub probabilities: &'a [T],
    pub c: usize,
    /// A factor per row on the gradient, beside the options' `grad_scale`.
    pub row_scale: Option<&'a [T]>,
}

impl<T: FlexReal> LossRows<'_, T> {
    #[inline(always)]
    fn class(&self, i: usize) -> Option<usize> {
        let y = self.targets[i];
        (y != self.options.ignore_index).then_some(y as usize)
    }

    #[inline(always)]
    fn weight(&self, class: Option<usize>) -> T {
        match (&self.options.weights, class) {
            (Some(w), Some(y)) => w[y],
            _ => T::ONE,
        }
    }

    #[inline(always)]
    fn grad_scale(&self, i: usize) -> T {
        match self.row_scale {
            Some(r) => self.options.grad_scale * r[i],
            None => self.options.grad_scale,
        }
    }

    #[inline(always)]
    pub(super) fn index_target(&self, i: usize) -> RowTarget<'_, T> {
        let class = self.class(i);
        let o = self.options;
        RowTarget {
            class,
            class_weight: self.weight(class),
            weights: o.weights.as_deref(),
            weight_total: o.weight_total,
            smooth: o.smooth,
            keep: o.keep,
            z: o.z,
            grad_scale: self.grad_scale(i),
        }
    }
}

impl<T: FlexReal> RowKernel<T> for LossRows<'_, T> {
    #[inline(always)]
    fn row(&self, fma: impl Fma, i: usize, input: Input<'_, T>, between: &mut impl Between) -> RowResult<T> {
        let o = self.options;
        match o.loss {
            RowLoss::CrossEntropy { .. } => match o.cap {
                None => cross_entropy_row(fma, input, between, self.index_target(i)),
                Some(cap) => softcapped_cross_entropy_row(fma, input, cap, self.index_target(i)),
            },
            RowLoss::Nll => nll_row(input.x, self.index_target(i)),
            RowLoss::Probabilities { .. } => {
                let t = ProbTarget {
                    target: self.other(i),
                    weights: o.weights.as_deref(),
                    smooth: o.smooth,
                    keep: o.keep,
                    grad_scale: self.grad_scale(i),
                };
                probabilities_row(fma, input, between, t)
            }
            RowLoss::SoftmaxFocal { gamma, alpha } => {
                let class = self.class(i);
                let alpha = T::from_f64(alpha) * self.weight(class);
                let target = FocalTarget {
                    class,
                    alpha,
                    gamma: T::from_f64(gamma),
                    grad_scale: self.grad_scale(i),
                };
                focal_row(fma, input, between, target)
            }
        }
    }

    #[inline(always)]
    fn other(&self, i: usize) -> &[T] {
        self.probabilities.get(i * self.c..(i + 1) * self.c).unwrap_or(&[])
    }

    #[inline(always)]
    fn weights(&self) -> Option<&[T]> {
        self.options.weights.as_deref()
    }
}

/// The row losses of `call` over `(n, c)` data, and the gradient when `with_grad`.
pub(super) fn run_rows<T: FlexReal>(
    input: &FlexTensor,
    target: &FlexTensor,
    call: &RowLossCall,
    with_grad: bool,
) -> (FlexTensor, FlexTensor) {
    let dims = input.layout().shape().as_slice().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let input = contiguous::<T>(input);
    let x = data::<T>(&input);
    // Only probability rows are read from `target` (the other losses get the input there).
    let target = matches!(call.loss, RowLoss::Probabilities { .. }).then(|| contiguous::<T>(target));
    let probabilities = target.as_deref().map_or(&[][..], data::<T>);
    assert!(
        probabilities.is_empty() || probabilities.len() == x.len(),
        "one probability row per row"
    );
    assert!(
        !probabilities.is_empty() || call.targets.len() == n,
        "one class index per row"
    );
    let options = ClassOptions::new(call, c);
    let kernel = LossRows {
        options: &options,
        targets: &call.targets,
        probabilities,
        c,
        row_scale: None,
    };
    let mut losses = Vec::new();
    let grad = with_grad.then(|| {
        // SAFETY: `map_rows` writes every element of the output it is given.
        unsafe { written(n * c, |g| losses = map_rows(x, c, Some(g), &kernel)) }
    });
    if !with_grad {
        losses = map_rows(x, c, None, &kernel);
    }
    let loss = match call.form {
        LossForm::ScaledSum(factor) => scaled_sum(&losses, factor),
        LossForm::PerItem => tensor(losses, vec![n]),
    };
    (loss, gradient(grad, vec![n, c]))
}

/// Softmax rows (`log`: log-softmax).
struct SoftmaxRows {
    log: bool,
}

impl<T: FlexReal> RowKernel<T> for SoftmaxRows {
    #[inline(always)]
    fn row(&self, fma: impl Fma, _: usize, input: Input<'_, T>, between: &mut impl Between) -> RowResult<T> {
        RowResult {
            loss: T::ZERO,
            output: softmax_row(fma, input, between, self.log),
        }
    }
}

/// The backward of softmax rows: the input rows are the forward's output, `grad` the
/// upstream gradient `(n, c)`.
struct SoftmaxBackwardRows<'a, T> {
    grad: &'a [T],
    c: usize,
    log: bool,
}

impl<T: FlexReal> RowKernel<T> for SoftmaxBackwardRows<'_, T> {
    #[inline(always)]
    fn row(&self, _: impl Fma, i: usize, input: Input<'_, T>, _: &mut impl Between) -> RowResult<T> {
        RowResult {
            loss: T::ZERO,
            output: softmax_backward_row(input.x, self.other(i), self.log),
        }
    }

    #[inline(always)]
    fn other(&self, i: usize) -> &[T] {
        &self.grad[i * self.c..(i + 1) * self.c]
    }
}

/// Softmax or log-softmax of the rows of `(n, c)` data.
pub(super) fn run_softmax<T: FlexReal>(input: &FlexTensor, log: bool) -> FlexTensor {
    let dims = input.layout().shape().as_slice().to_vec();
    let input = contiguous::<T>(input);
    let x = data::<T>(&input);
    // SAFETY: `map_rows` writes every element of the output it is given.
    let out = unsafe {
        written(x.len(), |o| {
            map_rows(x, dims[1], Some(o), &SoftmaxRows { log });
        })
    };
    tensor(out, dims)
}

/// The input gradient of softmax or log-softmax rows from their output and upstream gradient.
pub(super) fn run_softmax_backward<T: FlexReal>(output: &FlexTensor, grad: &FlexTensor, log: bool) -> FlexTensor {
    let dims = output.layout().shape().as_slice().to_vec();
    let c = dims[1];
    let (output, grad) = (contiguous::<T>(output), contiguous::<T>(grad));
    let (y, g) = (data::<T>(&output), data::<T>(&grad));
    assert_eq!(y.len(), g.len(), "the upstream gradient has the output's shape");
    // SAFETY: `map_rows` writes every element of the output it is given.
    let out = unsafe {
        written(y.len(), |o| {
            map_rows(y, c, Some(o), &SoftmaxBackwardRows { grad: g, c, log });
        })
    };
    tensor(out, dims)
}
