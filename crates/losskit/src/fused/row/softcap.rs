//! Cross entropy of one row of soft-capped logits (Gemma 2's `c tanh(x / c)`) with a class
//! index.

use super::cross_entropy::{SoftmaxStats, class_index_terms, row_smooth_sum};
use super::lanes::{lane_fold, lane_sum};
use super::output::TargetShift;
use super::{Input, RowOutput, RowResult, RowTarget};
use crate::fused::math::Real;
use crate::fused::simd::Fma;

/// Cross entropy of the capped row `s = cap tanh(x / cap)`, as [`cross_entropy_row`]
/// of `s`, with the gradient carried back through the cap: times
/// `ds/dx = 1 - tanh^2(x / cap) = 1 - (s / cap)^2`.
///
/// The scratch row holds `s`, not the exponentials: the output recomputes `e^(s_j - max)`
/// (a polynomial) where it needs the factor anyway, which costs less than a second
/// scratch row's traffic or a second `tanh`.
///
/// [`cross_entropy_row`]: super::cross_entropy_row
#[inline(always)]
pub(crate) fn softcapped_cross_entropy_row<T: Real>(
    fma: impl Fma,
    input: Input<'_, T>,
    cap: T,
    t: RowTarget<'_, T>,
) -> RowResult<T> {
    let Some(y) = t.class else { return RowResult::ignored() };
    let x = input.x;
    let s = &mut input.scratch[..x.len()];
    let inv_cap = T::ONE / cap;
    for (sj, &v) in s.iter_mut().zip(x) {
        *sj = cap * (v * inv_cap).tanh_with(fma);
    }
    let s = &*s;
    let max = lane_fold(s, T::NEG_INFINITY, T::max);
    let sum = lane_sum(s, |v| (v - max).exp_with(fma));
    // A NaN logit stays NaN through tanh and makes the sum NaN (infinite ones are capped).
    if sum.is_nan() {
        return RowResult::nan();
    }
    let log_sum = sum.ln();
    let terms = class_index_terms(
        y,
        s[y],
        || row_smooth_sum(s, t.weights, max, log_sum),
        SoftmaxStats { max, sum, log_sum },
        &t,
    );
    let inv_cap2 = inv_cap * inv_cap;
    let target = TargetShift {
        class: y,
        delta: terms.target.delta * (T::ONE - s[y] * s[y] * inv_cap2),
    };
    let output = RowOutput::Capped {
        scale: terms.scale,
        shift: terms.shift,
        weighted: terms.weighted,
        max,
        inv_cap2,
        target,
    };
    RowResult {
        loss: terms.loss,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run_row;
    use super::*;
    use crate::fused::simd::Unfused;

    #[test]
    fn capped_row_matches_the_chain_rule() {
        let x = [20.0f64, -3.0, 0.5, 7.0];
        let cap = 5.0;
        let t = RowTarget {
            class: Some(2),
            class_weight: 1.0,
            weights: None,
            weight_total: 4.0,
            smooth: 0.0,
            keep: 1.0,
            z: 0.0,
            grad_scale: 1.0,
        };
        let (loss, g) = run_row(&x, |input| softcapped_cross_entropy_row(Unfused, input, cap, t));
        let s: Vec<f64> = x.iter().map(|v| cap * (v / cap).tanh()).collect();
        let total: f64 = s.iter().map(|v| v.exp()).sum();
        assert!((loss - (total.ln() - s[2])).abs() < 1e-14, "{loss}");
        for j in 0..4 {
            let dce = s[j].exp() / total - f64::from(u8::from(j == 2));
            let want = dce * (1.0 - (s[j] / cap).powi(2));
            assert!((g[j] - want).abs() < 1e-14, "{j}: {} vs {want}", g[j]);
        }
    }
}
