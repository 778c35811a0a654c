//! The elementwise kernels' math: loss and gradient of one element.

pub(crate) mod regression;
pub(crate) mod sigmoid;

/// Loss and d(loss)/d(input) of one element.
#[derive(Clone, Copy)]
pub(crate) struct ElementLoss<T> {
    pub loss: T,
    pub grad: T,
}
