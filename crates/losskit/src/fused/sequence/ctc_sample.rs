//! One CTC sample: its extended target, its emissions per frame, and the passes over its
//! two lattices (the recursions are in `ctc.rs`'s module docs, the row kernels in
//! `ctc_rows.rs`).

use rayon::prelude::*;

use super::ctc_rows::{Emissions, LANES, Lattice, alpha_row, beta_row, gradient_row, occupations, scale_emissions};
use super::scaled::{ZERO_K, normalise, sum3, to_log};
use crate::LossError;
use crate::fused::math::Real;
use crate::fused::simd::BASELINE;

const NEG_INF: f64 = f64::NEG_INFINITY;

/// The (T, N, C) log-probabilities, read one sample's frame at a time.
pub(super) struct Frames<'a, T> {
    pub data: &'a [T],
    /// N * C.
    pub stride: usize,
    pub classes: usize,
}

impl<T: Real> Frames<'_, T> {
    /// `log_probs[t][n][..]`.
    #[inline]
    fn frame(&self, t: usize, n: usize) -> &[T] {
        &self.data[t * self.stride + n * self.classes..][..self.classes]
    }
}

/// One sample: its lengths and extended target.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    n: usize,
    /// L.
    input_length: usize,
    /// S = 0: the lattice has the blank position only.
    no_labels: bool,
    /// `l'_s` for s < W.
    ext: Vec<usize>,
    /// The distinct classes of `ext`, blank first: a frame's emissions are computed once
    /// per class, not per position.
    used: Vec<usize>,
    /// `used[slot[s]] = l'_s` for s < W; the padding positions (up to the padded width) have
    /// slot `used.len()`, whose emission is zero.
    slot: Vec<usize>,
    /// 1 where `skip(s)` holds, 0 elsewhere, for s < padded width + 2.
    skip: Vec<f64>,
    blank: usize,
    classes: usize,
    /// The factor on this sample's gradient rows.
    weight: f64,
}

impl Sample {
    /// The sample of `labels`, each checked to be a class.
    pub(super) fn new(
        n: usize,
        input_length: usize,
        labels: &[i64],
        blank: usize,
        classes: usize,
        weight: f64,
    ) -> Result<Self, LossError> {
        let mut ext = Vec::with_capacity(2 * labels.len() + 1);
        ext.push(blank);
        for &label in labels {
            let class = usize::try_from(label).ok().filter(|&c| c < classes);
            let class = class.ok_or(LossError::TargetOutOfBounds { target: label, classes })?;
            ext.extend([class, blank]);
        }
        let width = ext.len();
        let padded = width.next_multiple_of(LANES);
        let mut used = vec![blank];
        let mut slot: Vec<usize> = ext
            .iter()
            .map(|&c| {
                used.iter().position(|&u| u == c).unwrap_or_else(|| {
                    used.push(c);
                    used.len() - 1
                })
            })
            .collect();
        slot.resize(padded, used.len());
        let skip = (0..padded + 2)
            .map(|s| f64::from(u8::from(s >= 2 && s < width && ext[s] != ext[s - 2])))
            .collect();
        Ok(Self {
            n,
            input_length,
            no_labels: labels.is_empty(),
            ext,
            used,
            slot,
            skip,
            blank,
            classes,
            weight,
        })
    }

    /// L.
    pub(super) fn input_length(&self) -> usize {
        self.input_length
    }

    /// W.
    fn width(&self) -> usize {
        self.ext.len()
    }

    /// W rounded up to [`LANES`].
    fn padded(&self) -> usize {
        self.slot.len()
    }

    /// The nll when the lattice cannot be built (L = 0).
    fn empty_input_nll(&self) -> f64 {
        if self.no_labels { 0.0 } else { f64::INFINITY }
    }

    /// The loss alone: alpha in two rows.
    pub(super) fn forward_only<T: Real>(&self, frames: &Frames<'_, T>, zero_infinity: bool) -> f64 {
        let nll = if self.input_length == 0 {
            self.empty_input_nll()
        } else {
            let mut alpha = Lattice::new(2, self.padded() + 2);
            -to_log_sum(self.alpha(frames, &mut alpha, 2))
        };
        if zero_infinity && nll == f64::INFINITY {
            0.0
        } else {
            nll
        }
    }

    /// The loss, and the weighted gradient into `rows` (this sample's rows t < L, zeroed).
    pub(super) fn forward_backward<T: Real>(
        &self,
        frames: &Frames<'_, T>,
        zero_infinity: bool,
        mut rows: Vec<&mut [T]>,
    ) -> f64 {
        let (len, padded) = (self.input_length, self.padded());
        if len == 0 {
            let nll = self.empty_input_nll();
            return if zero_infinity && nll == f64::INFINITY {
                0.0
            } else {
                nll
            };
        }
        let mut alpha = Lattice::new(len, padded + 2);
        let mut beta = Lattice::new(len, padded);
        let (likelihood, ()) = rayon::join(|| self.alpha(frames, &mut alpha, len), || self.beta(frames, &mut beta));
        let nll = -to_log_sum(likelihood);
        if zero_infinity && nll == f64::INFINITY {
            return 0.0;
        }
        // An infeasible sample, or a NaN that reached the likelihood: PyTorch's formula puts
        // the nll into every element of the sample's frames, and gives NaN there.
        if nll == f64::INFINITY || nll.is_nan() {
            rows.iter_mut().for_each(|row| row.fill(T::NAN));
            return nll;
        }
        let (p_f, p_k) = normalise(likelihood.0, likelihood.1);
        let inverse = 1.0 / p_f;
        rows.par_iter_mut().enumerate().with_min_len(16).for_each_init(
            || (vec![0.0; padded], vec![0.0; self.classes]),
            |(gamma, per_class), (t, row)| {
                occupations(&alpha, &beta, t, p_k, inverse, gamma);
                self.gradient_frame(frames.frame(t, self.n), gamma, per_class, row);
            },
        );
        nll
    }

    fn emissions(&self) -> Emissions {
        // The padding slot (zero) and room for whole blocks.
        let used = (self.used.len() + 1).next_multiple_of(LANES);
        Emissions {
            class_f: vec![NEG_INF; used],
            class_k: vec![ZERO_K; used],
            f: vec![0.0; self.padded()],
            k: vec![ZERO_K; self.padded()],
        }
    }

    /// Fills `e` with frame t's emissions `exp(y_t(l'_s))` as scaled numbers, zero on the
    /// padding.
    fn emit<T: Real>(&self, frame: &[T], e: &mut Emissions) {
        // Gather first, so that the exponentials run on whole blocks; the padding slot and
        // the blocks' tails hold -inf, i.e. zero.
        for (f, &c) in e.class_f.iter_mut().zip(&self.used) {
            *f = frame[c].to_f64();
        }
        e.class_f[self.used.len()..].fill(NEG_INF);
        scale_emissions(&mut e.class_f, &mut e.class_k);
        for ((f, k), &slot) in e.f.iter_mut().zip(e.k.iter_mut()).zip(&self.slot) {
            (*f, *k) = (e.class_f[slot], e.class_k[slot]);
        }
    }

    /// Fills the alpha lattice and returns the likelihood (unnormalised). Row t lives at row
    /// `t % rows` of `lattice` (`rows` = L keeps them all, 2 the last two), alpha_t(s) at
    /// column s + 2 after two zero columns, so that the shifted terms alpha_{t-1}(s-1) and
    /// alpha_{t-1}(s-2) are plain slices.
    fn alpha<T: Real>(&self, frames: &Frames<'_, T>, lattice: &mut Lattice, rows: usize) -> (f64, f64) {
        let stride = lattice.stride;
        let mut e = self.emissions();
        self.emit(frames.frame(0, self.n), &mut e);
        let positions = if self.no_labels { 1 } else { 2 };
        for s in 0..positions {
            (lattice.f[2 + s], lattice.k[2 + s]) = normalise(e.f[s], e.k[s]);
        }
        for t in 1..self.input_length {
            self.emit(frames.frame(t, self.n), &mut e);
            let (cur, prev) = ((t % rows) * stride, ((t - 1) % rows) * stride);
            alpha_row(lattice, prev, cur, &self.skip, &e);
        }
        let last = ((self.input_length - 1) % rows) * stride + 2;
        let (f, k) = (&lattice.f[last..], &lattice.k[last..]);
        let width = self.width();
        if self.no_labels {
            (f[0], k[0])
        } else {
            sum3(f[width - 1], k[width - 1], f[width - 2], k[width - 2], 0.0, ZERO_K)
        }
    }

    /// Fills the b lattice (L rows of the padded width, b_t(s) at row t, column s; see the
    /// module docs of `ctc.rs`).
    fn beta<T: Real>(&self, frames: &Frames<'_, T>, lattice: &mut Lattice) {
        let (width, padded, len) = (self.width(), self.padded(), self.input_length);
        let last = (len - 1) * padded;
        let positions = if self.no_labels { 1 } else { 2 };
        for s in width - positions..width {
            (lattice.f[last + s], lattice.k[last + s]) = (1.0, 0.0);
        }
        let mut e = self.emissions();
        // B(s) = b_{t+1}(s) e_{t+1}(s), with two zero columns after it.
        let mut next = Lattice::new(1, padded + 2);
        for t in (0..len - 1).rev() {
            self.emit(frames.frame(t + 1, self.n), &mut e);
            beta_row(lattice, &mut next, t, &self.skip, &e);
        }
    }

    /// One frame's gradient row from its occupations, summed per class.
    fn gradient_frame<T: Real>(&self, frame: &[T], gamma: &[f64], per_class: &mut [f64], out: &mut [T]) {
        per_class.fill(0.0);
        per_class[self.blank] = gamma[..self.width()].iter().step_by(2).sum();
        for (&class, &g) in self.ext.iter().zip(gamma).skip(1).step_by(2) {
            per_class[class] += g;
        }
        gradient_row(frame, per_class, self.weight, out);
    }
}

/// ln of an unnormalised scaled number.
fn to_log_sum((f, k): (f64, f64)) -> f64 {
    let (f, k) = normalise(f, k);
    to_log(BASELINE, f, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_positions_emit_zero_on_every_frame() {
        let sample = Sample::new(0, 3, &[1, 2, 1], 0, 4, 1.0).unwrap();
        let mut e = sample.emissions();
        for frame in [[-1.0f64, -2.0, -0.5, -3.0], [0.0, -1.0, -2.0, -0.1]] {
            sample.emit(&frame, &mut e);
            assert!(e.f[sample.width()..].iter().all(|&f| f == 0.0));
            assert!(e.f[..sample.width()].iter().all(|&f| f > 0.0));
        }
    }
}
