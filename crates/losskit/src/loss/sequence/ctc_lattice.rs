//! CTC as burn tensor ops, what other backends run: the forward recursion over frames in
//! log space on `(N, W)` tensors, differentiated by autodiff, plus the terms that make its
//! gradient PyTorch's (`exp(log_probs)`, NaN for infeasible samples).

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::log_space::log_sum_exp;
use super::{flags, positions, rows_of};
use crate::fused::CtcCall;

const NEG_INF: f64 = f64::NEG_INFINITY;

/// Each sample's loss `(N)` of `log_probs` `(T, N, C)`, with the fused kernel's values and
/// gradients (see `fused::sequence::ctc`).
pub(crate) fn ctc_losses(log_probs: Tensor<3>, call: &CtcCall) -> Tensor<1> {
    let [max_time, batch, classes] = log_probs.dims();
    let device = log_probs.device();
    let counted: Vec<bool> = (0..max_time)
        .flat_map(|t| call.input_lengths.iter().map(move |&l| t < l))
        .collect();
    let uncounted = flags(counted, [max_time, batch, 1], &device)
        .bool_not()
        .expand([max_time, batch, classes]);
    // Frames past a sample's input length are never read, as in PyTorch: zeroed (without a
    // gradient) before anything reads them, so that whatever they hold cannot reach a value.
    let lp = log_probs.mask_fill(uncounted.clone(), 0.0);
    let likelihood = Lattice::new(call, batch, &device).log_likelihood(lp.clone());
    let per_sample = |t: Tensor<3>| t.mask_fill(uncounted.clone(), 0.0).sum_dims(&[0, 2]).reshape([batch]);
    // PyTorch's gradient adds exp(log_probs) on the counted frames: a term of value 0 whose
    // gradient is that.
    let exp = lp.clone().exp();
    let exp_term = per_sample(exp.clone() - exp.detach());
    // `0 * r` with r = (1 + lp^2)^(-1/2) is 0 for every finite lp, but its gradient is NaN
    // where lp = -inf (sqrt's derivative at 0, infinite, times 0), as PyTorch's and the
    // kernel's; and times an infinite -likelihood it makes every counted frame of an
    // infeasible sample NaN, as theirs do. Elsewhere its gradient is 0.
    let r = per_sample(lp.square().add_scalar(1.0).recip().sqrt());
    let infeasible = likelihood.clone().equal_elem(NEG_INF);
    let nll = likelihood.neg();
    if !call.zero_infinity {
        return nll.mul(r.mul_scalar(0.0).add_scalar(1.0)) + exp_term;
    }
    // zero_infinity: the infinite -likelihood goes before it meets the product, whose
    // backward would multiply it by the zero gradient of a zeroed loss.
    let nll = nll.mask_fill(infeasible.clone(), 0.0);
    (nll.mul(r.mul_scalar(0.0).add_scalar(1.0)) + exp_term).mask_fill(infeasible, 0.0)
}

/// The host side of the lattice: each sample's extended target `l'` (padded with blanks to
/// the longest, W = 2 max(S) + 1) and the masks of its recursion.
struct Lattice {
    batch: usize,
    width: usize,
    /// `l'` `(N, W)`.
    ext: Tensor<2, Int>,
    /// Where the skip from s - 2 is not allowed, `(N, W)`.
    no_skip: Tensor<2, Bool>,
    /// Positions past a sample's own 2 S + 1, `(N, W)`.
    beyond: Tensor<2, Bool>,
    /// The input lengths `(N, 1)`.
    input_lengths: Tensor<2, Int>,
    /// The two positions the likelihood is read at, W_n - 1 and W_n - 2 (clamped to 0),
    /// each `(N, 1)`.
    last: Tensor<2, Int>,
    second_last: Tensor<2, Int>,
    /// Samples without labels, whose likelihood is the last position alone, `(N, 1)`.
    no_labels: Tensor<2, Bool>,
    device: Device,
}

impl Lattice {
    fn new(call: &CtcCall, batch: usize, device: &Device) -> Self {
        let longest = call.target_lengths.iter().copied().max().unwrap_or(0);
        let width = 2 * longest + 1;
        let (mut ext, mut no_skip, mut beyond) = (Vec::new(), Vec::new(), Vec::new());
        let mut offset = 0;
        for &length in &call.target_lengths {
            let labels = &call.labels[offset..offset + length];
            offset += length;
            let own: Vec<i64> = (0..width)
                .map(|s| {
                    if s % 2 == 1 && s < 2 * length {
                        labels[s / 2]
                    } else {
                        call.blank as i64
                    }
                })
                .collect();
            no_skip.extend((0..width).map(|s| s < 2 || own[s] == own[s - 2]));
            beyond.extend((0..width).map(|s| s > 2 * length));
            ext.extend(own);
        }
        let lengths = |values: Vec<i64>| positions(values, [batch, 1], device);
        let widths = call.target_lengths.iter().map(|&l| 2 * l as i64 + 1);
        Self {
            batch,
            width,
            ext: positions(ext, [batch, width], device),
            no_skip: flags(no_skip, [batch, width], device),
            beyond: flags(beyond, [batch, width], device),
            input_lengths: lengths(call.input_lengths.iter().map(|&l| l as i64).collect()),
            last: lengths(widths.clone().map(|w| w - 1).collect()),
            second_last: lengths(widths.map(|w| (w - 2).max(0)).collect()),
            no_labels: flags(
                call.target_lengths.iter().map(|&l| l == 0).collect(),
                [batch, 1],
                device,
            ),
            device: device.clone(),
        }
    }

    /// `alpha` shifted right by `k` positions, -inf shifted in.
    fn shifted(&self, alpha: Tensor<2>, k: usize) -> Tensor<2> {
        let fill = Tensor::full([self.batch, k.min(self.width)], NEG_INF, (&self.device, alpha.dtype()));
        if k >= self.width {
            return fill;
        }
        Tensor::cat(vec![fill, alpha.narrow(1, 0, self.width - k)], 1)
    }

    /// Each sample's log-likelihood `(N)` from the log-probabilities `(T, N, C)`: alpha
    /// starts one frame early at position 0 (log 1), so that a sample without frames reads
    /// its likelihood from there, and stops changing after the sample's last frame.
    fn log_likelihood(&self, lp: Tensor<3>) -> Tensor<1> {
        let (batch, width) = (self.batch, self.width);
        let start: Vec<f64> = (0..batch * width)
            .map(|i| if i % width == 0 { 0.0 } else { NEG_INF })
            .collect();
        let mut alpha = Tensor::<2>::from_data(TensorData::new(start, [batch, width]), (&self.device, lp.dtype()));
        let classes = lp.dims()[2];
        for (t, frame) in rows_of(lp).into_iter().enumerate() {
            let emissions = frame.reshape([batch, classes]).gather(1, self.ext.clone());
            let stay = alpha.clone();
            let step = self.shifted(alpha.clone(), 1);
            let jump = self.shifted(alpha.clone(), 2).mask_fill(self.no_skip.clone(), NEG_INF);
            let next = (log_sum_exp(vec![stay, step, jump]) + emissions).mask_fill(self.beyond.clone(), NEG_INF);
            let active = self.input_lengths.clone().greater_elem(t as i64).expand([batch, width]);
            alpha = alpha.mask_where(active, next);
        }
        let last = alpha.clone().gather(1, self.last.clone());
        let second_last = alpha
            .gather(1, self.second_last.clone())
            .mask_fill(self.no_labels.clone(), NEG_INF);
        log_sum_exp(vec![last, second_last]).reshape([batch])
    }
}
