//! The RNN transducer loss: torchaudio's `rnnt_loss` / `torchaudio.transforms.RNNTLoss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::sequence::rnnt_lattice::rnnt_losses;
use super::sequence::{host_lengths, in_form, sample_form};
use crate::fused::{self, RnntCall};
use crate::input::checks::indices;
use crate::{LossError, Reduction};

/// Configuration of [`RnntLoss`]: `torchaudio.functional.rnnt_loss(blank=-1, clamp=-1,
/// reduction='mean', fused_log_softmax=True)`.
#[derive(Config, Debug)]
pub struct RnntLossConfig {
    /// The blank class; a negative one counts from the end (-1, the last class, by default).
    #[config(default = -1)]
    pub blank: i64,
    /// Each element of a sample's gradient is clamped to `[-clamp, clamp]` before the
    /// reduction scales it; 0 or less (-1 by default) leaves the gradient as it is.
    #[config(default = -1.0)]
    pub clamp: f64,
    /// Whether the loss takes a log-softmax of the logits over the classes (true by
    /// default); false takes them as log-probabilities already.
    #[config(default = true)]
    pub fused_log_softmax: bool,
    /// How `forward` reduces: `Mean` averages the costs over the batch (not divided by the
    /// target lengths, unlike CTC).
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl RnntLossConfig {
    /// The loss; `blank` is checked against the classes of each call.
    pub fn init(&self) -> RnntLoss {
        RnntLoss {
            blank: self.blank,
            clamp: self.clamp,
            fused_log_softmax: self.fused_log_softmax,
            reduction: self.reduction,
        }
    }
}

/// The RNN-T loss of a joiner's logits against label sequences, as torchaudio's
/// `rnnt_loss(logits, targets, logit_lengths, target_lengths, blank, clamp, reduction,
/// fused_log_softmax)`.
///
/// Sample n has `T_n = logit_lengths[n]` frames and labels `y_0..y_{U_n - 1}`; its lattice's
/// node (t, u) either emits the blank, to (t + 1, u), or the next label `y_u`, to (t, u + 1),
/// with `lp = log_softmax(logits[n, t, u], classes)` (or the logits themselves when not
/// `fused_log_softmax`):
/// ```text
/// alpha(0, 0) = 0,  alpha(t, u) = logaddexp(alpha(t-1, u) + lp(t-1, u, blank), alpha(t, u-1) + lp(t, u-1, y_{u-1}))
/// cost_n = -(alpha(T_n - 1, U_n) + lp(T_n - 1, U_n, blank)),   mean = (1 / N) sum_n cost_n
/// ```
/// The gradient is torchaudio's: the derivative of the cost with respect to the logits (or to
/// the inputs taken as log-probabilities), 0 outside each sample's lattice, clamped per
/// element when `clamp > 0` before the reduction's (or upstream) weight. For a label equal to
/// the blank, which torchaudio accepts, its gradient is not the derivative (the blank's
/// transition is counted where the blank can move, and the label's is not): this reproduces
/// it.
///
/// # Shapes
/// - `logits`: `(N, T, U + 1, V)`, V counting the blank
/// - `targets`: `(N, U)`, sample n's labels the first `target_lengths[n]` of its row
/// - `logit_lengths`, `target_lengths`: `(N)`, with `max(logit_lengths) = T` and
///   `max(target_lengths) = U`, as torchaudio requires
/// - reduced: `[1]`; unreduced: `(N)`
///
/// Errors, with torchaudio's messages, on batch sizes that differ, lengths that do not match
/// the logits, a blank outside `[-V, V)`, empty logits, and (where torchaudio reads other
/// memory) negative lengths and labels outside `[0, V)`. A sample of 0 frames has cost +inf
/// and gradient 0.
///
/// On the CPU a fused kernel computes cost and gradient in one pass in f64 whatever the
/// input's precision; torchaudio computes in f32 throughout, and its gradients lose up to
/// 2e-5 where two exponentials near 1 cancel (large logits), which these do not. Elsewhere
/// (other backends, [`with_composed`](crate::with_composed)) the same numbers come from burn
/// tensor ops, the recursion over the lattice's anti-diagonals differentiated by autodiff.
#[derive(Module, Debug)]
pub struct RnntLoss {
    blank: i64,
    clamp: f64,
    fused_log_softmax: bool,
    #[module(skip)]
    reduction: Reduction,
}

impl RnntLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(
        &self,
        logits: Tensor<4>,
        targets: Tensor<2, Int>,
        logit_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        self.run(logits, targets, logit_lengths, target_lengths, Some(self.reduction))
    }

    /// Each sample's cost, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(
        &self,
        logits: Tensor<4>,
        targets: Tensor<2, Int>,
        logit_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        self.run(logits, targets, logit_lengths, target_lengths, None)
    }

    fn run(
        &self,
        logits: Tensor<4>,
        targets: Tensor<2, Int>,
        logit_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let call = self.call(logits.dims(), &targets, &logit_lengths, &target_lengths, reduction)?;
        if let Some(loss) = fused::rnnt_losses(&logits, &call)? {
            return Ok(loss);
        }
        Ok(in_form(rnnt_losses(logits, &call), &call.form))
    }

    /// The call's targets and lengths read on the host and checked against `dims`, in
    /// torchaudio's order.
    fn call(
        &self,
        dims: [usize; 4],
        targets: &Tensor<2, Int>,
        logit_lengths: &Tensor<1, Int>,
        target_lengths: &Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<RnntCall, LossError> {
        let [batch, max_time, nodes, classes] = dims;
        if dims.iter().product::<usize>() == 0 {
            return Err(LossError::Shape(format!(
                "logits must not be empty, got shape {dims:?}"
            )));
        }
        let sizes = [
            ("logit_lengths", logit_lengths.dims()[0]),
            ("target_lengths", target_lengths.dims()[0]),
            ("targets", targets.dims()[0]),
        ];
        if let Some((name, len)) = sizes.into_iter().find(|&(_, len)| len != batch) {
            return Err(LossError::Shape(format!(
                "batch dimension mismatch between logits ({batch}) and {name} ({len})"
            )));
        }
        let resolved = if self.blank < 0 {
            self.blank + classes as i64
        } else {
            self.blank
        };
        let blank = usize::try_from(resolved)
            .ok()
            .filter(|&b| b < classes)
            .ok_or(LossError::Blank {
                blank: self.blank,
                classes,
            })?;
        let logit_lengths = host_lengths("logit_lengths", logit_lengths)?;
        let longest = logit_lengths.iter().copied().max().unwrap_or(0);
        if longest != max_time {
            return Err(LossError::Shape(format!(
                "input length mismatch: the longest logit length is {longest}, the logits have {max_time} frames"
            )));
        }
        let target_lengths = host_lengths("target_lengths", target_lengths)?;
        let longest = target_lengths.iter().copied().max().unwrap_or(0);
        if longest + 1 != nodes {
            return Err(LossError::Shape(format!(
                "output length mismatch: the longest target length is {longest}, the logits have {nodes} target nodes (U + 1)"
            )));
        }
        let width = targets.dims()[1];
        if width != longest {
            return Err(LossError::Shape(format!(
                "target length mismatch: the targets have {width} columns, the longest target length is {longest}"
            )));
        }
        let targets = indices(targets);
        let mut counted = target_lengths
            .iter()
            .enumerate()
            .flat_map(|(n, &l)| targets[n * width..][..l].iter());
        if let Some(&target) = counted.find(|&&l| !(0..classes as i64).contains(&l)) {
            return Err(LossError::TargetOutOfBounds { target, classes });
        }
        let clamp = (self.clamp > 0.0).then_some(self.clamp);
        let form = sample_form(reduction, batch, |_| 1.0 / batch as f64);
        Ok(RnntCall {
            targets,
            logit_lengths,
            target_lengths,
            blank,
            clamp,
            fused_log_softmax: self.fused_log_softmax,
            form,
        })
    }
}
