//! Log-space sums of tensors for the composed lattices, with gradients that stay finite on
//! unreachable cells.

use burn::tensor::Tensor;

/// `ln(sum_i e^terms_i)` elementwise: -inf where every term is -inf, and there a zero
/// gradient for every term (a plain `ln(sum(exp))` would pass back `0 * inf` = NaN from
/// each unreachable lattice cell). Shifted by the largest term, detached: the value does not
/// depend on the shift, so neither does the gradient.
pub(crate) fn log_sum_exp<const D: usize>(terms: Vec<Tensor<D>>) -> Tensor<D> {
    let mut rest = terms.into_iter();
    let first = rest.next().expect("a sum of at least one term");
    let rest: Vec<Tensor<D>> = rest.collect();
    let max = rest.iter().fold(first.clone(), |m, t| m.max_pair(t.clone())).detach();
    let unreachable = max.clone().equal_elem(f64::NEG_INFINITY);
    let shift = max.mask_fill(unreachable.clone(), 0.0);
    let sum = rest
        .into_iter()
        .fold((first - shift.clone()).exp(), |sum, t| sum + (t - shift.clone()).exp());
    // The largest term contributes e^0 = 1 wherever one is finite: the sum is 0 only where
    // all are -inf, and there the log is taken of 1 and replaced by -inf.
    let log = sum.mask_fill(unreachable.clone(), 1.0).log() + shift;
    log.mask_fill(unreachable, f64::NEG_INFINITY)
}
