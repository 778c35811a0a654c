//! The RNN-T kernel's passes over the logits: the log-softmax denominators and each node's
//! gradient row (the formulas are in `rnnt.rs`'s module docs).

use super::logspace::{exp, ln};
use super::rnnt::{Lattice, RnntPlan, Sample, Transitions};
use crate::fused::math::Real;
use crate::fused::simd::{BASELINE, multiversion};

const NEG_INF: f64 = f64::NEG_INFINITY;

/// Everything one node's gradient row reads.
pub(super) struct Gradient<'a> {
    pub plan: &'a RnntPlan,
    pub sample: &'a Sample,
    pub transitions: &'a Transitions,
    pub alpha: &'a Lattice,
    pub beta: &'a Lattice,
    pub cost: f64,
}

impl Gradient<'_> {
    /// The weighted gradient row of node (t, u) from its logits `x`.
    #[inline]
    pub(super) fn node<T: Real>(&self, t: usize, u: usize, x: &[T], out: &mut [T]) {
        let (blank, clamp_at, weight) = (self.plan.blank, self.plan.clamp, self.sample.weight);
        let label = self.sample.labels.get(u).copied();
        let alpha = self.alpha.at(t, u) + self.cost;
        if self.plan.fused_log_softmax {
            let base = alpha - self.transitions.denom.at(t, u);
            softmax_row(x, base + self.beta.at(t, u), clamp_at, weight, out);
            for d in [Some(blank), label].into_iter().flatten() {
                let g = x[d].to_f64() + base;
                let v = exp(BASELINE, g + self.beta.at(t, u)) - exp(BASELINE, g + self.next(t, u, d));
                out[d] = T::from_f64(clamp(clamp_at, v) * weight);
            }
        } else {
            for d in [Some(blank), label].into_iter().flatten() {
                let v = -exp(BASELINE, x[d].to_f64() + alpha + self.next(t, u, d));
                out[d] = T::from_f64(clamp(clamp_at, v) * weight);
            }
        }
    }

    /// The beta after the transition class d makes from (t, u), -inf for none; torchaudio's
    /// order of tests (the blank first).
    #[inline]
    fn next(&self, t: usize, u: usize, d: usize) -> f64 {
        let (last_t, last_u) = (self.sample.frames - 1, self.sample.labels.len());
        let blank = self.plan.blank;
        if d == blank && t == last_t && u == last_u {
            0.0
        } else if d == blank && t < last_t {
            self.beta.at(t + 1, u)
        } else if u < last_u && d == self.sample.labels[u] {
            self.beta.at(t, u + 1)
        } else {
            NEG_INF
        }
    }
}

/// torchaudio's clamp of a gradient element: `min(g, c)` then `max(g, -c)` with its `x > y`
/// comparisons (so a NaN becomes -c).
#[inline(always)]
fn clamp(c: Option<f64>, g: f64) -> f64 {
    match c {
        Some(c) => {
            let g = if g > c { c } else { g };
            if g > -c { g } else { -c }
        }
        None => g,
    }
}

/// Independent accumulators of the row reductions: strict IEEE order forbids LLVM to
/// vectorise one running sum or maximum, these map onto vector lanes.
const LANES: usize = 8;

/// Block `j` of `x` widened, past its end filled with -inf (whose exponential is 0): the
/// loops over a row run in whole blocks, without a scalar remainder.
#[inline(always)]
fn block<T: Real>(x: &[T], j: usize) -> [f64; LANES] {
    let mut block = [NEG_INF; LANES];
    // Two loops, so that the common one has a fixed length.
    if let Some(whole) = x.get(j..j + LANES) {
        for (b, &v) in block.iter_mut().zip(whole) {
            *b = v.to_f64();
        }
    } else {
        for (b, &v) in block.iter_mut().zip(&x[j..]) {
            *b = v.to_f64();
        }
    }
    block
}

multiversion! {
    /// ln(sum_d e^x_d) in f64, torchaudio's denominator (maximum first, then the sum of
    /// `exp(x - max)`, whose largest term is 1); `terms` is scratch of x's length.
    pub(super) fn log_sum_exp[T: Real](fma, x: &[T], terms: &mut [f64]) -> f64 {
        let mut max = [NEG_INF; LANES];
        for j in (0..x.len()).step_by(LANES) {
            let v = block(x, j);
            for i in 0..LANES {
                max[i] = if v[i] > max[i] { v[i] } else { max[i] };
            }
        }
        let max = max.into_iter().fold(NEG_INF, f64::max);
        // A plain loop for the exponentials (LLVM vectorises it whole; the fixed-size blocks
        // of the reductions it would leave scalar), then the sum in lanes.
        for (e, &v) in terms.iter_mut().zip(x) {
            *e = exp(fma, v.to_f64() - max);
        }
        let mut sum = [0.0; LANES];
        let chunks = terms.chunks_exact(LANES);
        let tail: f64 = chunks.remainder().iter().sum();
        for chunk in chunks {
            for (s, &e) in sum.iter_mut().zip(chunk) {
                *s += e;
            }
        }
        max + ln(fma, sum.iter().sum::<f64>() + tail)
    }
}

multiversion! {
    /// `out[d] = clamp(exp(x[d] + shift)) * weight`: a node's softmax times its occupation,
    /// the fused gradient of every class that makes no transition.
    fn softmax_row[T: Real](fma, x: &[T], shift: f64, c: Option<f64>, weight: f64, out: &mut [T]) -> () {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = T::from_f64(clamp(c, exp(fma, v.to_f64() + shift)) * weight);
        }
    }
}
