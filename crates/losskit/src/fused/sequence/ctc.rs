//! The CTC loss, as PyTorch's `F.ctc_loss` (CPU, `aten/src/ATen/native/LossCTC.cpp`).
//!
//! # The recursion
//!
//! Sample n has input length L, target `l_1..l_S` and the extended target `l'` of
//! W = 2S + 1 positions, `l'_s` = blank for even s and `l_{(s+1)/2}` for odd s. With
//! `e_t(c) = exp(log_probs[t][n][c])` and `skip(s)` true when s >= 2 and `l'_s != l'_{s-2}`
//! (PyTorch's test: a blank, or a label equal to the one two positions back, cannot be
//! skipped to), the forward variables are PyTorch's, out of log space:
//!
//! ```text
//! alpha_0(0) = e_0(blank),  alpha_0(1) = e_0(l_1),  alpha_0(s) = 0 otherwise,
//! alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip(s)] alpha_{t-1}(s-2)) e_t(l'_s),
//! P = alpha_{L-1}(W-1) + alpha_{L-1}(W-2)  (alpha_{L-1}(0) when S = 0),  nll = -ln P.
//! ```
//!
//! The backward variables are kept without the emission of their own frame (PyTorch's
//! beta_t(s) is `b_t(s) e_t(l'_s)`):
//!
//! ```text
//! b_{L-1}(W-1) = b_{L-1}(W-2) = 1,  b_{L-1}(s) = 0 otherwise,
//! b_t(s) = B(s) + B(s+1) + [skip(s+2)] B(s+2),  B(s) = b_{t+1}(s) e_{t+1}(l'_s),
//! ```
//!
//! so that the occupation `gamma_t(s) = alpha_t(s) b_t(s) / P` is the posterior probability
//! of being at position s at frame t (sum over s = 1).
//!
//! # Arithmetic: log space's range without its exponentials
//!
//! PyTorch runs these in log space, a three-term log-sum-exp (two `exp`, one `ln`) per cell.
//! Here every lattice value is a scaled number `f * 2^k` (`scaled.rs`: f64 mantissa,
//! integral f64 exponent), so a cell is three power-of-two scalings, two additions, a
//! product and a renormalisation, without transcendental functions; `e_t(c)` is one `exp`
//! per frame and class of the target, and nothing under- or overflows where log space
//! would not (the exponent reaches 2^50). Each operation rounds once in f64 (relative
//! 1e-16), so the nll is accurate to about L * 1e-16 relative, where log space's absolute
//! error grows with |log alpha|.
//!
//! # The gradient, in PyTorch's convention
//!
//! The true derivative of the loss with respect to `log_probs[t][n][c]` is
//! `-sum_{s: l'_s = c} gamma_t(s)`. PyTorch returns that plus `exp(log_probs[t][n][c])`,
//!
//! ```text
//! grad[t][n][c] = exp(y_t(c)) - sum_{s: l'_s = c} gamma_t(s)     for t < L,  0 for t >= L,
//! ```
//!
//! which is the derivative with respect to the logits when `log_probs` is their
//! log-softmax (and passes unchanged through log-softmax's backward, whose input then sums
//! to zero). Where `y_t(c) = -inf` (t < L) PyTorch's formula
//! `exp(y) - exp(ln(sum alpha beta) + nll - y)` evaluates `-inf - -inf` and gives NaN; so
//! does this module, to match. A last label equal to the blank is where this differs from
//! PyTorch: its gradient on the last frame keeps one of the blank class's two occupations
//! (it assigns where it should add), this keeps their sum, the derivative.
//!
//! # Infeasible samples, empty inputs and targets
//!
//! A target that no alignment of L frames can produce (L < S + the number of adjacent
//! repeats) has nll = +inf and a NaN gradient on its frames t < L; with `zero_infinity` its
//! loss and its whole gradient are 0 instead (PyTorch zeroes the loss in the forward and the
//! gradient in the backward). L = 0 gives nll 0 when S = 0 and +inf otherwise, with no
//! frame to carry a gradient. S = 0 is the all-blank path. A NaN log-probability on some
//! alignment makes the nll NaN and, as in PyTorch, the sample's frames t < L NaN (with or
//! without `zero_infinity`); elsewhere it is NaN in its own gradient element only.
//!
//! # Cost
//!
//! Per sample, two lattices of scaled numbers (mantissas and exponents, f64) of
//! L x (W + 2) (alpha) and L x W (b), W padded to a multiple of 8, computed concurrently
//! (rayon `join`), and row buffers of W and C; nothing of size (T, N, S). Each lattice row
//! is a loop over s in blocks of 8 (no scalar remainder) on rows gathered per frame and
//! shifted by padding columns, which LLVM vectorises, compiled for AVX2 and AVX-512 where
//! the processor has them (`fused::simd::multiversion!`). The gradient costs one scaling
//! per (t, s) and one `exp` per (t, c), the occupations summed per class in linear space
//! (each is a probability in [0, 1], so f64 loses nothing a log-space sum would keep).

use rayon::prelude::*;

use super::SequenceResult;
use super::ctc_sample::{Frames, Sample};
use crate::LossError;
use crate::fused::math::Real;
use crate::fused::{CtcCall, SampleForm};

/// The (T, N, C) shape of a call's log-probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CtcShape {
    /// T, the time axis.
    pub max_time: usize,
    /// N, the batch axis.
    pub batch: usize,
    /// C, the class axis, blank included.
    pub classes: usize,
}

/// A checked CTC call: each sample's lengths and extended target, ready to run on
/// log-probabilities of its shape.
#[derive(Debug, Clone)]
pub(crate) struct CtcPlan {
    shape: CtcShape,
    samples: Vec<Sample>,
    zero_infinity: bool,
    form: SampleForm,
}

impl CtcPlan {
    /// Checks `call` against `shape` (lengths, blank, labels) and builds each sample's
    /// extended target. The loss's front end has checked all of it with PyTorch's messages
    /// already; these checks keep the kernel in bounds on its own.
    pub(crate) fn new(shape: CtcShape, call: &CtcCall) -> Result<Self, LossError> {
        let CtcShape {
            max_time,
            batch,
            classes,
        } = shape;
        if call.blank >= classes {
            return Err(LossError::Blank {
                blank: call.blank as i64,
                classes,
            });
        }
        let sizes = [
            ("input_lengths", call.input_lengths.len()),
            ("target_lengths", call.target_lengths.len()),
        ];
        if let Some((name, len)) = sizes.into_iter().find(|&(_, len)| len != batch) {
            return Err(LossError::Shape(format!(
                "{name} must be of size batch_size ({batch}), found {len}"
            )));
        }
        let total: usize = call.target_lengths.iter().sum();
        if total != call.labels.len() {
            return Err(LossError::Shape(format!(
                "the target lengths add up to {total}, the concatenated targets have {}",
                call.labels.len()
            )));
        }
        let mut samples = Vec::with_capacity(batch);
        let mut offset = 0;
        for (n, (&input_length, &target_length)) in call.input_lengths.iter().zip(&call.target_lengths).enumerate() {
            if input_length > max_time {
                return Err(LossError::LengthAboveAxis {
                    name: "input_lengths",
                    value: input_length,
                    max: max_time,
                });
            }
            let labels = &call.labels[offset..offset + target_length];
            offset += target_length;
            let weight = match &call.form {
                SampleForm::PerSample => 1.0,
                SampleForm::WeightedSum(weights) => weights[n],
            };
            samples.push(Sample::new(n, input_length, labels, call.blank, classes, weight)?);
        }
        Ok(Self {
            shape,
            samples,
            zero_infinity: call.zero_infinity,
            form: call.form.clone(),
        })
    }

    pub(crate) fn form(&self) -> &SampleForm {
        &self.form
    }

    /// The loss of every sample and, with `with_grad`, the weighted gradient (see the module
    /// docs); `log_probs` is (T, N, C) row-major in the plan's shape.
    pub(crate) fn run<T: Real>(&self, log_probs: &[T], with_grad: bool) -> SequenceResult<T> {
        let CtcShape {
            max_time,
            batch,
            classes,
        } = self.shape;
        assert_eq!(
            log_probs.len(),
            max_time * batch * classes,
            "log-probabilities of the plan's shape"
        );
        let frames = Frames {
            data: log_probs,
            stride: batch * classes,
            classes,
        };
        if !with_grad {
            let nll = self
                .samples
                .par_iter()
                .map(|s| s.forward_only(&frames, self.zero_infinity))
                .collect();
            return SequenceResult { nll, grad: None };
        }
        let mut grad = vec![T::ZERO; log_probs.len()];
        let rows = self.sample_rows(&mut grad);
        let nll = self
            .samples
            .par_iter()
            .zip(rows)
            .map(|(s, rows)| s.forward_backward(&frames, self.zero_infinity, rows))
            .collect();
        SequenceResult { nll, grad: Some(grad) }
    }

    /// Splits the (T, N, C) gradient into each sample's rows t < its input length, so that
    /// samples are computed in parallel in safe code (the rows of one sample are strided).
    fn sample_rows<'g, T: Real>(&self, grad: &'g mut [T]) -> Vec<Vec<&'g mut [T]>> {
        let CtcShape { batch, classes, .. } = self.shape;
        let mut rows: Vec<Vec<&mut [T]>> = self
            .samples
            .iter()
            .map(|s| Vec::with_capacity(s.input_length()))
            .collect();
        for (i, row) in grad.chunks_exact_mut(classes).enumerate() {
            let (t, n) = (i / batch, i % batch);
            if t < self.samples[n].input_length() {
                rows[n].push(row);
            }
        }
        rows
    }
}
