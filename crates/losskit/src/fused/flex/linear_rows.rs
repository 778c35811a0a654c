//! The cross entropy of one chunk of the linear cross entropy over its logits stored
//! class-major, `(v, m)`: class `j`'s logits of the chunk's `m` rows side by side, from
//! element `j * stride` on (`stride` is `m` in a buffer of their own, `H` when they are held
//! in the classifier's gradient, `(v, H)`).
//!
//! That is the layout in which the chunk's product runs fastest: the `gemm` crate's kernels
//! run along the output's contiguous side, and the operand along that side is repacked
//! for them, which in this layout is the chunk's few rows rather than the whole classifier
//! (docs/performance.md). The rows sit in the vector lanes; their statistics are reduced
//! along the classes, in ranges of a fixed number of classes on the threads, combined in
//! range order.

use rayon::prelude::*;

use super::FlexReal;
use super::rows::LossRows;
use crate::fused::math::Real;
use crate::fused::row::{SoftmaxStats, class_index_terms};
use crate::fused::simd::multiversion;

/// Classes per step of the statistics pass: the step's maximum, then its sums, read
/// `GROUP x m` logits that stay in L1 between the two.
const GROUP: usize = 16;

/// Classes per range of the statistics pass (a multiple of [`GROUP`]): ranges run on the
/// threads and are merged in order, so the losses do not depend on the number of threads.
const RANGE: usize = 256 * GROUP;

/// The per-row statistics of a range of classes.
struct Partial<T> {
    /// `max_j s_j`.
    max: Vec<T>,
    /// `sum_j e^(s_j - max)`.
    sum: Vec<T>,
    /// `sum_j w_j (max - s_j)` (`w = 1` without class weights), kept under label
    /// smoothing: a sum of terms that are never negative, so that the smoothing loss
    /// `sum_j w_j (lse - s_j)` is not the difference of two large numbers.
    gap: Vec<T>,
    /// `sum_j w_j` over the range (its number of classes without weights).
    weight: T,
}

impl<T: Real> Partial<T> {
    fn new(m: usize) -> Self {
        Self {
            max: vec![T::NEG_INFINITY; m],
            sum: vec![T::ZERO; m],
            gap: vec![T::ZERO; m],
            weight: T::ZERO,
        }
    }

    /// Takes in `other`, the statistics of the classes after this range's.
    fn merge(&mut self, other: &Self) {
        for i in 0..self.max.len() {
            let max = self.max[i].max(other.max[i]);
            self.sum[i] = self.sum[i] * (T::ZERO - rise(self.max[i], max)).exp()
                + other.sum[i] * (T::ZERO - rise(other.max[i], max)).exp();
            self.gap[i] = raised(self.gap[i], self.weight, rise(self.max[i], max))
                + raised(other.gap[i], other.weight, rise(other.max[i], max));
            self.max[i] = max;
        }
        self.weight = self.weight + other.weight;
    }
}

/// `to - from` for a maximum rising from `from` to `to`, 0 when it stays (at -inf too, where
/// the difference would be NaN).
#[inline(always)]
fn rise<T: Real>(from: T, to: T) -> T {
    T::select(to == from, T::ZERO, to - from)
}

/// A gap `sum_j w_j (max - s_j)` over classes weighing `weight` in all, taken against a
/// maximum `up` higher; unchanged over no classes (where `up` is infinite, from -inf).
#[inline(always)]
fn raised<T: Real>(gap: T, weight: T, up: T) -> T {
    gap + T::select(weight == T::ZERO, T::ZERO, weight * up)
}

/// How the chunk's gradient is written from its logits: per row `i`,
/// `g_ji = through(s_ji, scale_i e^(s_ji - max_i) - shift_i w_j) - [j = y_i] delta_i`,
/// `through(s, g) = g (1 - s^2 / cap^2)` under a soft cap (its chain rule), `g` without.
pub(super) struct ChunkGradient<'a, T> {
    m: usize,
    /// Elements from one class's logits to the next's.
    stride: usize,
    max: Vec<T>,
    scale: Vec<T>,
    shift: Vec<T>,
    delta: Vec<T>,
    targets: Vec<usize>,
    /// The class weights when the shift is weighted (label smoothing with weights).
    weights: Option<&'a [T]>,
    /// `1 / cap^2` under a soft cap.
    inv_cap2: Option<T>,
}

/// The losses of the chunk's `m` rows (`rows`, none of them ignored) from their logits
/// `(v, m)` with classes `stride` elements apart (`stride >= m`; the elements between are
/// neither read nor written), soft-capped in place when the options cap them, and how to
/// write their gradient.
pub(super) fn chunk_losses<'a, T: FlexReal>(
    logits: &mut [T],
    m: usize,
    stride: usize,
    rows: &LossRows<'a, T>,
) -> (Vec<T>, ChunkGradient<'a, T>) {
    let v = rows.c;
    let options = rows.options;
    let smoothing = options.smooth() != T::ZERO;
    let weights = options.weights();
    let cap = options.cap();
    let per_range = RANGE;
    assert!(stride >= m, "classes {stride} elements apart cannot hold {m} rows");
    let stride = stride.max(1);
    let partials: Vec<Partial<T>> = logits[..v * stride]
        .par_chunks_mut(per_range * stride)
        .enumerate()
        .map(|(r, range)| {
            let mut partial = Partial::new(m);
            let range_weights = weights.map(|w| &w[r * per_range..]);
            let range_weights = smoothing.then_some(range_weights);
            range_statistics(range, m, stride, cap, range_weights, &mut partial);
            partial
        })
        .collect();
    let mut stats = Partial::new(m);
    for partial in &partials {
        stats.merge(partial);
    }
    let mut losses = vec![T::ZERO; m];
    let mut gradient = ChunkGradient {
        m,
        stride,
        max: core::mem::take(&mut stats.max),
        scale: vec![T::ZERO; m],
        shift: vec![T::ZERO; m],
        delta: vec![T::ZERO; m],
        targets: vec![0; m],
        weights: weights.filter(|_| smoothing),
        inv_cap2: cap.map(|c| T::ONE / (c * c)),
    };
    for i in 0..m {
        let target = rows.index_target(i);
        let y = target.class.expect("the linear cross entropy leaves ignored rows out");
        gradient.targets[i] = y;
        let (max, sum) = (gradient.max[i], stats.sum[i]);
        // A NaN logit, an infinite maximum or a row of -inf: NaN loss and gradient, as the
        // row kernels and PyTorch give.
        if sum.is_nan() || max == T::NEG_INFINITY {
            losses[i] = T::NAN;
            gradient.scale[i] = T::NAN;
            continue;
        }
        let log_sum = sum.ln();
        let s_y = logits[y * stride + i];
        let smooth_sum = || options.weight_total() * log_sum + stats.gap[i];
        let terms = class_index_terms(y, s_y, smooth_sum, SoftmaxStats { max, sum, log_sum }, &target);
        losses[i] = terms.loss;
        gradient.scale[i] = terms.scale;
        gradient.shift[i] = terms.shift;
        gradient.delta[i] = match gradient.inv_cap2 {
            Some(inv_cap2) => terms.target.delta * (T::ONE - s_y * s_y * inv_cap2),
            None => terms.target.delta,
        };
    }
    (losses, gradient)
}

impl<T: FlexReal> ChunkGradient<'_, T> {
    /// The gradient of classes `j0..` into `out` `(classes, m)`, from their logits `block`
    /// (as many classes, `stride` elements each).
    pub(super) fn write_block(&self, block: &[T], j0: usize, out: &mut [T]) {
        let m = self.m;
        let classes = block.len() / self.stride;
        let weights = self.weights.map(|w| &w[j0..j0 + classes]);
        block_gradient(self, block, weights, &mut out[..classes * m]);
        for (i, &y) in self.targets.iter().enumerate() {
            if let Some(k) = y.checked_sub(j0).filter(|&k| k < classes) {
                out[k * m + i] = out[k * m + i] - self.delta[i];
            }
        }
    }
}

multiversion! {
    /// Folds the classes of `range` (`m` logits every `stride` elements) into `partial`,
    /// `GROUP` classes at a time: soft-capped in place first under a cap; `weights` (from
    /// the range's first class, `None` for all-ones) given under label smoothing only.
    fn range_statistics[T: Real](fma, range: &mut [T], m: usize, stride: usize, cap: Option<T>, weights: Option<Option<&[T]>>, partial: &mut Partial<T>) -> () {
        let mut group_max = vec![T::NEG_INFINITY; m];
        // The maximum the sums are taken against: 0 for a row that is all -inf so far,
        // whose terms are then 0 (`e^-inf`) and inf (`0 - -inf`), not NaN.
        let mut base = vec![T::ZERO; m];
        for (g, group) in range.chunks_mut(GROUP * stride).enumerate() {
            if let Some(cap) = cap {
                let inv_cap = T::ONE / cap;
                for col in group.chunks_exact_mut(stride) {
                    for s in &mut col[..m] {
                        *s = cap * (*s * inv_cap).tanh_with(fma);
                    }
                }
            }
            group_max.copy_from_slice(&partial.max);
            for col in group.chunks_exact(stride).map(|col| &col[..m]) {
                for (gm, &s) in group_max.iter_mut().zip(col) {
                    *gm = gm.max(s);
                }
            }
            let weight = partial.weight;
            for (((sum, gap), &old), &new) in partial.sum.iter_mut().zip(&mut partial.gap).zip(&partial.max).zip(&group_max) {
                let up = rise(old, new);
                *sum = *sum * (T::ZERO - up).exp_with(fma);
                *gap = raised(*gap, weight, up);
            }
            partial.max.copy_from_slice(&group_max);
            for (b, &max) in base.iter_mut().zip(&group_max) {
                *b = T::select(max == T::NEG_INFINITY, T::ZERO, max);
            }
            for col in group.chunks_exact(stride).map(|col| &col[..m]) {
                for ((sum, &s), &max) in partial.sum.iter_mut().zip(col).zip(&base) {
                    *sum = *sum + (s - max).exp_with(fma);
                }
            }
            let classes = group.len() / stride;
            match weights {
                None => {}
                Some(None) => {
                    for col in group.chunks_exact(stride).map(|col| &col[..m]) {
                        for ((gap, &s), &max) in partial.gap.iter_mut().zip(col).zip(&base) {
                            *gap = *gap + (max - s);
                        }
                    }
                    partial.weight = partial.weight + T::from_f64(classes as f64);
                }
                Some(Some(w)) => {
                    let w = &w[g * GROUP..g * GROUP + classes];
                    for (col, &wj) in group.chunks_exact(stride).map(|col| &col[..m]).zip(w) {
                        for ((gap, &s), &max) in partial.gap.iter_mut().zip(col).zip(&base) {
                            *gap = *gap + wj * (max - s);
                        }
                        partial.weight = partial.weight + wj;
                    }
                }
            }
        }
    }
}

multiversion! {
    /// The gradient of a block of classes without the targets' `delta` (see
    /// [`ChunkGradient`]); `weights` the block's class weights when the shift is weighted.
    fn block_gradient[T: Real](fma, g: &ChunkGradient<'_, T>, block: &[T], weights: Option<&[T]>, out: &mut [T]) -> () {
        let m = g.m;
        let (max, scale, shift) = (&g.max[..m], &g.scale[..m], &g.shift[..m]);
        for (k, (col, o)) in block.chunks_exact(g.stride).map(|col| &col[..m]).zip(out.chunks_exact_mut(m)).enumerate() {
            let wj = weights.map_or(T::ONE, |w| w[k]);
            match g.inv_cap2 {
                None => {
                    for ((((o, &s), &max), &scale), &shift) in o.iter_mut().zip(col).zip(max).zip(scale).zip(shift) {
                        *o = (s - max).exp_with(fma) * scale - shift * wj;
                    }
                }
                Some(inv_cap2) => {
                    for ((((o, &s), &max), &scale), &shift) in o.iter_mut().zip(col).zip(max).zip(scale).zip(shift) {
                        let d = (s - max).exp_with(fma) * scale - shift * wj;
                        *o = d * (T::ONE - s * s * inv_cap2);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use core::mem::MaybeUninit;

    use super::super::rows::ClassOptions;
    use super::*;
    use crate::fused::mem::assume_init;
    use crate::fused::scheduler::map_rows;
    use crate::fused::{LossForm, RowLoss, RowLossCall};

    /// The losses and gradient of the class-major pass over `rows` `(m, v)` (row-major),
    /// its classes `stride` elements apart (NaN between, which must not be read), written
    /// back row-major.
    fn class_major(
        rows: &[f64],
        m: usize,
        stride: usize,
        v: usize,
        kernel: &LossRows<'_, f64>,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut logits = vec![f64::NAN; v * stride];
        for (j, class) in logits.chunks_exact_mut(stride).enumerate() {
            for (i, s) in class[..m].iter_mut().enumerate() {
                *s = rows[i * v + j];
            }
        }
        let (losses, gradient) = chunk_losses(&mut logits, m, stride, kernel);
        let padding_kept = logits
            .chunks_exact(stride)
            .all(|class| class[m..].iter().all(|s| s.is_nan()));
        assert!(padding_kept, "the pass wrote between the classes");
        let mut g = vec![0.0; v * m];
        // Blocks of 7 classes: a target in every position of a block.
        for j0 in (0..v).step_by(7) {
            let end = (j0 + 7).min(v);
            gradient.write_block(&logits[j0 * stride..end * stride], j0, &mut g[j0 * m..end * m]);
        }
        let row_major = (0..m * v).map(|q| g[(q % v) * m + q / v]).collect();
        (losses, row_major)
    }

    /// The same rows through the row kernels.
    fn by_rows(rows: &[f64], v: usize, kernel: &LossRows<'_, f64>) -> (Vec<f64>, Vec<f64>) {
        let mut out = vec![MaybeUninit::uninit(); rows.len()];
        let losses = map_rows(rows, v, Some(&mut out), kernel);
        // SAFETY: `map_rows` writes every element of its output.
        (losses, unsafe { assume_init(&mut out) }.to_vec())
    }

    fn close(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a - b).abs() <= 1e-12 * (1.0 + b.abs()) || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn the_class_major_pass_matches_the_row_kernels() {
        // Classes over several ranges of several groups each: the running maxima rise.
        let (m, v) = (9, RANGE + 301);
        let mut rows: Vec<f64> = (0..m * v).map(|q| ((q * 7919) % 1000) as f64 * 0.013 - 6.0).collect();
        // Row 1: a -inf logit (an infinite smoothing term); row 2: a NaN; row 3: all -inf;
        // row 4: +inf; row 5: large logits, where `lse - x` needs the maximum.
        rows[v + 3] = f64::NEG_INFINITY;
        rows[2 * v + 40] = f64::NAN;
        rows[3 * v..4 * v].fill(f64::NEG_INFINITY);
        rows[4 * v + 10] = f64::INFINITY;
        for x in &mut rows[5 * v..6 * v] {
            *x += 1e4;
        }
        // Row 6: a first range of -inf, whose merge raises the maximum from -inf.
        rows[6 * v..6 * v + RANGE].fill(f64::NEG_INFINITY);
        let mut targets: Vec<i64> = (0..m as i64).map(|i| (i * 17 + 3) % v as i64).collect();
        targets[6] = (RANGE + 7) as i64;
        let weights: Vec<f64> = (0..v).map(|j| 0.25 + (j % 5) as f64 * 0.5).collect();
        let row_scale: Vec<f64> = (0..m).map(|i| 0.5 + i as f64 * 0.25).collect();
        for (case, (weight, label_smoothing, softcap, z_loss, scaled)) in [
            (false, 0.0, None, 0.0, false),
            (true, 0.0, None, 0.0, true),
            (false, 0.2, None, 0.0, false),
            (true, 0.1, None, 1e-3, true),
            (false, 0.0, Some(3.0), 0.0, false),
            (true, 0.3, Some(7.5), 1e-2, true),
        ]
        .into_iter()
        .enumerate()
        {
            let call = RowLossCall {
                loss: RowLoss::CrossEntropy {
                    label_smoothing,
                    softcap,
                    z_loss,
                },
                targets: targets.clone(),
                weight: weight.then(|| weights.clone()),
                ignore_index: -100,
                form: LossForm::ScaledSum(0.125),
            };
            let options = ClassOptions::new(&call, v);
            let kernel = LossRows {
                options: &options,
                targets: &targets,
                probabilities: &[],
                c: v,
                row_scale: scaled.then_some(&row_scale[..]),
            };
            let (want_loss, want_grad) = by_rows(&rows, v, &kernel);
            // In a buffer of their own, and held in a wider matrix (the classifier's gradient).
            for stride in [m, m + 5] {
                let (loss, grad) = class_major(&rows, m, stride, v, &kernel);
                for i in 0..m {
                    assert!(
                        close(loss[i], want_loss[i]),
                        "case {case} stride {stride} row {i}: loss {} vs {}",
                        loss[i],
                        want_loss[i]
                    );
                    for j in 0..v {
                        let (g, w) = (grad[i * v + j], want_grad[i * v + j]);
                        assert!(
                            close(g, w),
                            "case {case} stride {stride} row {i} class {j}: gradient {g} vs {w}"
                        );
                    }
                }
                // The edge rows are what they should be, not merely equal: a NaN stays NaN; a row
                // of -inf and an infinite logit give NaN, unless capped (to -cap and cap).
                assert!(loss[2].is_nan(), "case {case} stride {stride}");
                assert_eq!(
                    loss[3].is_nan() && loss[4].is_nan(),
                    softcap.is_none(),
                    "case {case} stride {stride}"
                );
                for i in [1, 6] {
                    assert_eq!(
                        loss[i].is_infinite(),
                        label_smoothing > 0.0 && softcap.is_none(),
                        "case {case} stride {stride}"
                    );
                }
                assert!(
                    loss[5].is_finite() && loss[0].is_finite(),
                    "case {case} stride {stride}"
                );
            }
        }
    }
}
