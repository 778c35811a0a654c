//! RNN-T as burn tensor ops, what other backends run: the alpha recursion over the
//! lattice's anti-diagonals (t + u constant: each depends on the one before only), on
//! `(N, U + 1)` tensors, differentiated by autodiff; a clamped gradient is computed apart
//! and attached to the costs.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

use super::log_space::log_sum_exp;
use super::{flags, positions, rows_of};
use crate::fused::RnntCall;

const NEG_INF: f64 = f64::NEG_INFINITY;

/// Each sample's cost `(N)` of `logits` `(N, T, U + 1, V)`, with the fused kernel's values
/// and gradients (see `fused::sequence::rnnt`).
pub(crate) fn rnnt_losses(logits: Tensor<4>, call: &RnntCall) -> Tensor<1> {
    match call.clamp {
        Some(c) if c > 0.0 && logits.is_tracked() => clamped(logits, call, c),
        _ => costs(logits, call),
    }
}

/// Autodiff cannot clamp a gradient: the costs are differentiated on a copy of the logits,
/// that gradient clamped as torchaudio does (`min(g, c)`, then `max(g, -c)` with a NaN
/// becoming -c), and attached to the costs as the gradient of a term of value 0.
fn clamped(logits: Tensor<4>, call: &RnntCall, c: f64) -> Tensor<1> {
    let batch = logits.dims()[0];
    let copy = logits.clone().detach().require_grad();
    let cost = costs(copy.clone(), call);
    let grads = cost.clone().sum().backward();
    let grad = Tensor::from_inner(copy.grad(&grads).expect("the costs depend on the logits"));
    let grad = grad.clone().mask_fill(grad.is_nan(), -c).clamp(-c, c);
    // Read inside the lattices only, as the costs are.
    let x = inside_lattices(logits, call);
    let attached = (x.clone() - x.detach()).mul(grad).sum_dims(&[1, 2, 3]).reshape([batch]);
    cost.detach() + attached
}

/// `logits` with the nodes outside each sample's lattice (t >= T_n or u > U_n) zeroed,
/// without a gradient there: they are never read, as in torchaudio, and so whatever they
/// hold cannot reach a value.
fn inside_lattices(logits: Tensor<4>, call: &RnntCall) -> Tensor<4> {
    let [batch, max_time, nodes, classes] = logits.dims();
    let inside = |i: usize| {
        let (n, t, u) = (i / (max_time * nodes), i / nodes % max_time, i % nodes);
        t < call.logit_lengths[n] && u <= call.target_lengths[n]
    };
    let outside: Vec<bool> = (0..batch * max_time * nodes).map(|i| !inside(i)).collect();
    let outside =
        flags(outside, [batch, max_time, nodes, 1], &logits.device()).expand([batch, max_time, nodes, classes]);
    logits.mask_fill(outside, 0.0)
}

/// The costs, differentiable by autodiff.
fn costs(logits: Tensor<4>, call: &RnntCall) -> Tensor<1> {
    let [batch, max_time, nodes, _] = logits.dims();
    let max_target = nodes - 1;
    let device = logits.device();
    let frames = &call.logit_lengths;
    let x = inside_lattices(logits, call);
    let lp = if call.fused_log_softmax {
        log_softmax(x.clone(), 3)
    } else {
        x.clone()
    };
    let blank = lp.clone().narrow(3, call.blank, 1).reshape([batch, max_time, nodes]);
    // The padding of the targets may hold anything: label 0 stands in for it.
    let labels: Vec<i64> = (0..batch * max_target)
        .map(|i| {
            if i % max_target.max(1) < call.target_lengths[i / max_target.max(1)] {
                call.targets[i]
            } else {
                0
            }
        })
        .collect();
    let emit = (max_target > 0).then(|| {
        let index = positions(labels.clone(), [batch, 1, max_target, 1], &device).repeat_dim(1, max_time);
        let pick = |t: Tensor<4>| {
            t.narrow(2, 0, max_target)
                .gather(3, index.clone())
                .reshape([batch, max_time, max_target])
        };
        let emit = pick(lp);
        // torchaudio's gradient takes a label equal to the blank for a blank wherever the
        // blank can move (t < T - 1): the label's own logit then gets no share of the
        // emission, which stays in the cost and in the softmax's part of the gradient.
        let quirk: Vec<bool> = (0..batch * max_time * max_target)
            .map(|i| {
                let (n, t, u) = (i / (max_time * max_target), i / max_target % max_time, i % max_target);
                u < call.target_lengths[n] && labels[n * max_target + u] == call.blank as i64 && t + 1 < frames[n]
            })
            .collect();
        if quirk.contains(&true) {
            let own = pick(x);
            let quirk = flags(quirk, [batch, max_time, max_target], &device);
            emit.clone().mask_where(quirk, emit - (own.clone() - own.detach()))
        } else {
            emit
        }
    });
    let diagonals = max_time + max_target;
    let alpha = Diagonals {
        batch,
        max_time,
        nodes,
        diagonals,
    }
    .alpha(blank.clone(), emit);
    // cost = -(alpha(T_n - 1, U_n) + blank(T_n - 1, U_n)), both read from the flattened
    // tensors (at frame 0 for a sample without frames, whose cost is set below).
    let ends: Vec<(usize, usize)> = (0..batch)
        .map(|n| (frames[n].max(1) - 1, call.target_lengths[n]))
        .collect();
    let alpha_ends = ends
        .iter()
        .enumerate()
        .map(|(n, &(t, u))| (((t + u) * batch + n) * nodes + u) as i64)
        .collect();
    let blank_ends = ends
        .iter()
        .enumerate()
        .map(|(n, &(t, u))| ((n * max_time + t) * nodes + u) as i64)
        .collect();
    let read = |t: Tensor<1>, index: Vec<i64>| t.select(0, positions(index, [batch], &device));
    let end = read(alpha.reshape([diagonals * batch * nodes]), alpha_ends)
        + read(blank.reshape([batch * max_time * nodes]), blank_ends);
    let no_frames = flags(frames.iter().map(|&f| f == 0).collect(), [batch], &device);
    // A sample without frames has no alignment: +inf, with no gradient (the kernel's answer).
    end.neg().mask_fill(no_frames, f64::INFINITY)
}

/// The lattice's anti-diagonals: diagonal d holds alpha(d - u, u) at index u.
struct Diagonals {
    batch: usize,
    max_time: usize,
    nodes: usize,
    /// T + U.
    diagonals: usize,
}

impl Diagonals {
    /// `lattice` `(N, T, K)` skewed to `(D, N, K)`: row d holds node (d - u, u) at index u,
    /// -inf where d - u is not a frame.
    fn skewed(&self, lattice: Tensor<3>) -> Tensor<3> {
        let (d_count, n_count, k_count) = (self.diagonals, self.batch, lattice.dims()[2]);
        let device = lattice.device();
        let time = |i: usize| (i / (n_count * k_count)) as i64 - (i % k_count) as i64;
        let index: Vec<i64> = (0..d_count * n_count * k_count)
            .map(|i| time(i).clamp(0, self.max_time as i64 - 1))
            .collect();
        let invalid: Vec<bool> = (0..d_count * n_count * k_count)
            .map(|i| !(0..self.max_time as i64).contains(&time(i)))
            .collect();
        let index: Tensor<3, Int> = positions(index, [d_count, n_count, k_count], &device);
        lattice
            .swap_dims(0, 1)
            .gather(0, index)
            .mask_fill(flags(invalid, [d_count, n_count, k_count], &device), NEG_INF)
    }

    /// Every diagonal of alpha, `(D, N, U + 1)`, from the blank `(N, T, U + 1)` and label
    /// `(N, T, U)` log-probabilities (none when U = 0).
    fn alpha(&self, blank: Tensor<3>, emit: Option<Tensor<3>>) -> Tensor<3> {
        let (batch, nodes) = (self.batch, self.nodes);
        let device = blank.device();
        let dtype = blank.dtype();
        let blanks = rows_of(self.skewed(blank));
        let emits = emit.map(|e| rows_of(self.skewed(e)));
        let start: Vec<f64> = (0..batch * nodes)
            .map(|i| if i % nodes == 0 { 0.0 } else { NEG_INF })
            .collect();
        let mut alpha = Tensor::<2>::from_data(burn::tensor::TensorData::new(start, [batch, nodes]), (&device, dtype));
        let mut all = Vec::with_capacity(self.diagonals);
        for d in 1..self.diagonals {
            let from_blank = alpha.clone() + blanks[d - 1].clone().reshape([batch, nodes]);
            let next = match &emits {
                Some(emits) => {
                    let emitted =
                        alpha.clone().narrow(1, 0, nodes - 1) + emits[d - 1].clone().reshape([batch, nodes - 1]);
                    let fill = Tensor::full([batch, 1], NEG_INF, (&device, dtype));
                    log_sum_exp(vec![from_blank, Tensor::cat(vec![fill, emitted], 1)])
                }
                None => from_blank,
            };
            all.push(std::mem::replace(&mut alpha, next));
        }
        all.push(alpha);
        Tensor::stack(all, 0)
    }
}
