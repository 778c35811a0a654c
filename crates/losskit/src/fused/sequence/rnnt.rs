//! The RNN-T loss, as torchaudio's `rnnt_loss` (CPU, `src/libtorchaudio/rnnt/cpu/`).
//!
//! # The recursion
//!
//! Sample n has T frames (its logit length) and targets `y_0..y_{U-1}`; its lattice has
//! nodes (t, u), t < T, u <= U. With `x(t, u, .)` the logits of node (t, u) and
//! `denom(t, u) = lse_d x(t, u, d)` (fused log-softmax) or 0 (without: the logits are taken
//! as log-probabilities already), the transitions' log-probabilities are
//! `blank(t, u) = x(t, u, blank) - denom(t, u)` (to (t + 1, u), or out of the lattice from
//! (T - 1, U)) and `emit(t, u) = x(t, u, y_u) - denom(t, u)` (to (t, u + 1)). Then
//!
//! ```text
//! alpha(0, 0) = 0,  alpha(t, u) = lse(alpha(t-1, u) + blank(t-1, u), alpha(t, u-1) + emit(t, u-1)),
//! beta(T-1, U) = blank(T-1, U),  beta(t, u) = lse(beta(t+1, u) + blank(t, u), beta(t, u+1) + emit(t, u)),
//! ```
//!
//! (terms outside the lattice are -inf) and the loss is `cost = -beta(0, 0)`, the value
//! torchaudio returns (`alpha(T-1, U) + blank(T-1, U)` is the same in exact arithmetic).
//!
//! # The gradient
//!
//! With `next(t, u, d)` the beta after the transition that class d makes from (t, u) —
//! `beta(t+1, u)` for the blank when t < T - 1, 0 for the blank at (T - 1, U),
//! `beta(t, u+1)` for `y_u` when u < U, -inf for every other class (torchaudio tests the
//! blank first, so a label equal to the blank counts as a blank where the blank can move) —
//! torchaudio's gradient, which this module reproduces, is
//!
//! ```text
//! fused:      grad(t, u, d) = exp(x + alpha + cost - denom + beta(t, u)) - exp(x + alpha + cost - denom + next(t, u, d)),
//! not fused:  grad(t, u, d) = -exp(x + alpha + cost + next(t, u, d)),
//! ```
//!
//! (`x = x(t, u, d)`, `alpha = alpha(t, u)`): with the fused log-softmax the derivative of
//! the cost with respect to the logits (softmax times the node's occupation, minus the
//! posterior of the transition); without, the derivative with respect to the inputs taken as
//! log-probabilities (minus the transition's posterior, 0 for classes that make none). Then,
//! when `clamp` is c > 0, each element is clamped as torchaudio does it,
//! `g = if g > c { c } else { g }; g = if g > -c { g } else { -c }` (a NaN becomes -c),
//! before the sample's weight. Nodes t >= T or u > U get 0. A sample without frames has no
//! alignment: cost +inf, gradient 0 (torchaudio reads outside its lattice there).
//!
//! # Cost
//!
//! Per sample, lattices of T x (U + 1) f64: the denominators, the two transition
//! log-probabilities, alpha and beta (computed concurrently); nothing of size V beyond the
//! gradient. The work is in the two passes over the logits, the log-sum-exp (one `exp` per
//! element) and the gradient (one `exp` per element), both vectorised loops over V and
//! parallel over frames as well as samples; the lattice recursions are a sequential
//! two-term log-sum-exp per node.

use rayon::prelude::*;

use super::SequenceResult;
use super::logspace::lse2;
use super::rnnt_gradient::{Gradient, log_sum_exp};
use crate::LossError;
use crate::fused::math::Real;
use crate::fused::simd::BASELINE;
use crate::fused::{RnntCall, SampleForm};

const NEG_INF: f64 = f64::NEG_INFINITY;

/// The (N, T, U + 1, V) shape of a call's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RnntShape {
    /// N.
    pub batch: usize,
    /// T, the time axis.
    pub max_time: usize,
    /// U, the target axis (the logits have U + 1 nodes on it).
    pub max_target: usize,
    /// V, the classes, blank included.
    pub classes: usize,
}

impl RnntShape {
    /// The logits of one sample: T (U + 1) V.
    fn block(self) -> usize {
        self.max_time * (self.max_target + 1) * self.classes
    }
}

/// A checked RNN-T call: each sample's frames and labels, ready to run on logits of its shape.
#[derive(Debug, Clone)]
pub(crate) struct RnntPlan {
    shape: RnntShape,
    samples: Vec<Sample>,
    pub(super) blank: usize,
    /// c > 0, or none.
    pub(super) clamp: Option<f64>,
    pub(super) fused_log_softmax: bool,
    form: SampleForm,
}

/// One sample: its frames and labels.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// T.
    pub frames: usize,
    /// y_0..y_{U-1}.
    pub labels: Vec<usize>,
    /// The factor on this sample's gradient, after the clamp.
    pub weight: f64,
}

impl RnntPlan {
    /// Checks `call` against `shape` (lengths, blank, labels). The loss's front end has
    /// checked all of it with torchaudio's messages already; these checks keep the kernel in
    /// bounds on its own.
    pub(crate) fn new(shape: RnntShape, call: &RnntCall) -> Result<Self, LossError> {
        let RnntShape {
            batch,
            max_time,
            max_target,
            classes,
        } = shape;
        if call.blank >= classes {
            return Err(LossError::Blank {
                blank: call.blank as i64,
                classes,
            });
        }
        let sizes = [
            ("targets", call.targets.len(), batch * max_target),
            ("logit_lengths", call.logit_lengths.len(), batch),
            ("target_lengths", call.target_lengths.len(), batch),
        ];
        if let Some((name, len, expected)) = sizes.into_iter().find(|&(_, len, expected)| len != expected) {
            return Err(LossError::Shape(format!(
                "{name} has {len} elements where the logits' shape needs {expected}"
            )));
        }
        let mut samples = Vec::with_capacity(batch);
        for (n, (&frames, &target_length)) in call.logit_lengths.iter().zip(&call.target_lengths).enumerate() {
            if frames > max_time {
                return Err(LossError::LengthAboveAxis {
                    name: "logit_lengths",
                    value: frames,
                    max: max_time,
                });
            }
            if target_length > max_target {
                return Err(LossError::LengthAboveAxis {
                    name: "target_lengths",
                    value: target_length,
                    max: max_target,
                });
            }
            let labels = call.targets[n * max_target..][..target_length]
                .iter()
                .map(|&label| {
                    usize::try_from(label)
                        .ok()
                        .filter(|&c| c < classes)
                        .ok_or(LossError::TargetOutOfBounds { target: label, classes })
                })
                .collect::<Result<_, _>>()?;
            let weight = match &call.form {
                SampleForm::PerSample => 1.0,
                SampleForm::WeightedSum(weights) => weights[n],
            };
            samples.push(Sample { frames, labels, weight });
        }
        let clamp = call.clamp.filter(|&c| c > 0.0);
        Ok(Self {
            shape,
            samples,
            blank: call.blank,
            clamp,
            fused_log_softmax: call.fused_log_softmax,
            form: call.form.clone(),
        })
    }

    pub(crate) fn form(&self) -> &SampleForm {
        &self.form
    }

    /// The cost of every sample and, with `with_grad`, the weighted gradient (see the module
    /// docs); `logits` is (N, T, U + 1, V) row-major in the plan's shape.
    pub(crate) fn run<T: Real>(&self, logits: &[T], with_grad: bool) -> SequenceResult<T> {
        let block = self.shape.block();
        assert_eq!(logits.len(), self.shape.batch * block, "logits of the plan's shape");
        let sample_logits = |n: usize| &logits[n * block..][..block];
        if !with_grad || block == 0 {
            let nll = self
                .samples
                .par_iter()
                .enumerate()
                .map(|(n, s)| self.cost(s, sample_logits(n), None))
                .collect();
            let grad = with_grad.then(|| vec![T::ZERO; logits.len()]);
            return SequenceResult { nll, grad };
        }
        let mut grad = vec![T::ZERO; logits.len()];
        let nll = self
            .samples
            .par_iter()
            .zip(grad.par_chunks_mut(block))
            .enumerate()
            .map(|(n, (s, g))| self.cost(s, sample_logits(n), Some(g)))
            .collect();
        SequenceResult { nll, grad: Some(grad) }
    }

    /// One sample's cost, and its weighted gradient into `grad` (its block, zeroed) if given.
    fn cost<T: Real>(&self, sample: &Sample, logits: &[T], grad: Option<&mut [T]>) -> f64 {
        if sample.frames == 0 {
            return f64::INFINITY;
        }
        let classes = self.shape.classes;
        let row = (self.shape.max_target + 1) * classes;
        let nodes = sample.labels.len() + 1;
        let transitions = self.transitions(sample, logits);
        let mut alpha = Lattice::new(sample.frames, nodes);
        let mut beta = Lattice::new(sample.frames, nodes);
        rayon::join(
            || alpha_lattice(sample, &transitions, &mut alpha),
            || beta_lattice(sample, &transitions, &mut beta),
        );
        let cost = -beta.at(0, 0);
        if let Some(grad) = grad {
            let g = Gradient {
                plan: self,
                sample,
                transitions: &transitions,
                alpha: &alpha,
                beta: &beta,
                cost,
            };
            grad.par_chunks_mut(row)
                .zip(logits.par_chunks(row))
                .take(sample.frames)
                .enumerate()
                .for_each(|(t, (out, x))| {
                    for u in 0..nodes {
                        g.node(t, u, &x[u * classes..][..classes], &mut out[u * classes..][..classes]);
                    }
                });
        }
        cost
    }

    /// Denominators (log-softmax or 0) and the blank and label log-probabilities of every node.
    fn transitions<T: Real>(&self, sample: &Sample, logits: &[T]) -> Transitions {
        let (v, row) = (self.shape.classes, (self.shape.max_target + 1) * self.shape.classes);
        let nodes = sample.labels.len() + 1;
        let mut denom = Lattice::new(sample.frames, nodes);
        if self.fused_log_softmax {
            denom
                .data
                .par_chunks_mut(nodes)
                .zip(logits.par_chunks(row))
                .for_each_init(
                    || vec![0.0; v],
                    |terms, (d, x)| {
                        for (u, d) in d.iter_mut().enumerate() {
                            *d = log_sum_exp(&x[u * v..][..v], terms);
                        }
                    },
                );
        } else {
            denom.data.fill(0.0);
        }
        let mut blank = Lattice::new(sample.frames, nodes);
        let mut emit = Lattice::new(sample.frames, nodes);
        for t in 0..sample.frames {
            for u in 0..nodes {
                let x = &logits[t * row + u * v..][..v];
                let d = denom.at(t, u);
                blank.set(t, u, x[self.blank].to_f64() - d);
                if let Some(&label) = sample.labels.get(u) {
                    emit.set(t, u, x[label].to_f64() - d);
                }
            }
        }
        Transitions { denom, blank, emit }
    }
}

/// A T x (U + 1) lattice of f64, row-major.
pub(super) struct Lattice {
    data: Vec<f64>,
    nodes: usize,
}

impl Lattice {
    fn new(frames: usize, nodes: usize) -> Self {
        Self {
            data: vec![NEG_INF; frames * nodes],
            nodes,
        }
    }

    #[inline]
    pub(super) fn at(&self, t: usize, u: usize) -> f64 {
        self.data[t * self.nodes + u]
    }

    #[inline]
    fn set(&mut self, t: usize, u: usize, v: f64) {
        self.data[t * self.nodes + u] = v;
    }
}

/// The per-node quantities of the forward pass.
pub(super) struct Transitions {
    pub denom: Lattice,
    pub blank: Lattice,
    pub emit: Lattice,
}

fn alpha_lattice(sample: &Sample, tr: &Transitions, alpha: &mut Lattice) {
    let nodes = sample.labels.len() + 1;
    alpha.set(0, 0, 0.0);
    for u in 1..nodes {
        alpha.set(0, u, alpha.at(0, u - 1) + tr.emit.at(0, u - 1));
    }
    for t in 1..sample.frames {
        alpha.set(t, 0, alpha.at(t - 1, 0) + tr.blank.at(t - 1, 0));
        for u in 1..nodes {
            let v = lse2(
                BASELINE,
                alpha.at(t - 1, u) + tr.blank.at(t - 1, u),
                alpha.at(t, u - 1) + tr.emit.at(t, u - 1),
            );
            alpha.set(t, u, v);
        }
    }
}

fn beta_lattice(sample: &Sample, tr: &Transitions, beta: &mut Lattice) {
    let (last_t, last_u) = (sample.frames - 1, sample.labels.len());
    beta.set(last_t, last_u, tr.blank.at(last_t, last_u));
    for u in (0..last_u).rev() {
        beta.set(last_t, u, beta.at(last_t, u + 1) + tr.emit.at(last_t, u));
    }
    for t in (0..last_t).rev() {
        beta.set(t, last_u, beta.at(t + 1, last_u) + tr.blank.at(t, last_u));
        for u in (0..last_u).rev() {
            let v = lse2(
                BASELINE,
                beta.at(t + 1, u) + tr.blank.at(t, u),
                beta.at(t, u + 1) + tr.emit.at(t, u),
            );
            beta.set(t, u, v);
        }
    }
}
