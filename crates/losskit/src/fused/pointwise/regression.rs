//! The regression losses of one element: L1, MSE, smooth L1, Huber.

use super::ElementLoss;
use crate::fused::math::Real;

/// A regression loss of `d = input - target`, its constants in the element type.
#[derive(Clone, Copy)]
pub(crate) enum RegressionElement<T> {
    L1,
    Mse,
    /// `beta > 0` (0 is [`RegressionElement::L1`]).
    SmoothL1 {
        beta: T,
    },
    /// `delta > 0`.
    Huber {
        delta: T,
    },
}

/// `sign(d)`, 0 at 0 and at NaN (PyTorch's gradient of `|d|`).
#[inline(always)]
fn sign<T: Real>(d: T) -> T {
    T::select(d > T::ZERO, T::ONE, T::select(d < T::ZERO, T::ZERO - T::ONE, T::ZERO))
}

/// Loss and d(loss)/d(input) of one element of difference `d`.
#[inline(always)]
pub(crate) fn regression_element<T: Real>(kind: RegressionElement<T>, d: T) -> ElementLoss<T> {
    let half = T::from_f64(0.5);
    let a = T::select(d < T::ZERO, T::ZERO - d, d);
    match kind {
        RegressionElement::L1 => ElementLoss { loss: a, grad: sign(d) },
        RegressionElement::Mse => ElementLoss {
            loss: d * d,
            grad: (d + d),
        },
        // PyTorch's backward tests the two sides (`d < -beta`, `d > beta`) and takes the
        // quadratic branch otherwise, so a NaN difference has a NaN gradient.
        RegressionElement::SmoothL1 { beta } => ElementLoss {
            loss: T::select(a < beta, half * d * d / beta, a - half * beta),
            grad: T::select(
                d < T::ZERO - beta,
                T::ZERO - T::ONE,
                T::select(d > beta, T::ONE, d / beta),
            ),
        },
        RegressionElement::Huber { delta } => ElementLoss {
            loss: T::select(a <= delta, half * d * d, delta * (a - half * delta)),
            grad: T::select(d < T::ZERO - delta, T::ZERO - delta, T::select(d > delta, delta, d)),
        },
    }
}
