//! The options of each fused call, as the losses hand them to the kernels: what a call
//! computes, over which operands, and in which form it returns.

use super::BoxKind;

/// The loss a fused row kernel computes over the rows of `(N, C)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RowLoss {
    /// Cross entropy of logits with class-index targets, label smoothing in `[0, 1]`, the
    /// logits soft-capped to `softcap tanh(x / softcap)` when set, and a z-loss
    /// `z_loss lse^2` per counted row. In a [`RowLossCall`], `z_loss` is in units of the
    /// call's [`LossForm`] factor (see [`class_index_rows`]): the z term's mean has a
    /// denominator of its own.
    CrossEntropy {
        label_smoothing: f64,
        softcap: Option<f64>,
        z_loss: f64,
    },
    /// Cross entropy of logits with a probability row per row (the `target` tensor).
    Probabilities { label_smoothing: f64 },
    /// Negative log likelihood of log-probabilities with class-index targets.
    Nll,
    /// Softmax focal loss with class-index targets; a per-class alpha comes as `weight`.
    SoftmaxFocal {
        gamma: f64,
        /// A scalar alpha (1 without one).
        alpha: f64,
    },
}

/// What a fused call returns: one loss per row or element, or their sum times a factor
/// (the reduction folded into the pass, its factor on the gradient too).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LossForm {
    /// The unreduced losses.
    PerItem,
    /// `factor * sum` as a `[1]` tensor; the gradient already carries the factor.
    ScaledSum(f64),
}

impl LossForm {
    /// The factor on the gradient.
    pub(crate) fn grad_scale(self) -> f64 {
        match self {
            LossForm::PerItem => 1.0,
            LossForm::ScaledSum(factor) => factor,
        }
    }
}

/// One fused row-loss call.
#[derive(Debug, Clone)]
pub(crate) struct RowLossCall {
    pub loss: RowLoss,
    /// One class index per row (`ignore_index` marks ignored rows); empty for
    /// [`RowLoss::Probabilities`]. Checked against `[0, C)` by the caller.
    pub targets: Vec<i64>,
    /// Per-class weights (alpha for the focal loss), or `None` for all-ones.
    pub weight: Option<Vec<f64>>,
    pub ignore_index: i64,
    pub form: LossForm,
}

/// One fused elementwise call: each element's loss from one input and one target value.
#[derive(Debug, Clone)]
pub(crate) struct PointwiseCall {
    pub loss: PointwiseLoss,
    pub form: LossForm,
}

/// The elementwise losses the kernels compute.
#[derive(Debug, Clone)]
pub(crate) enum PointwiseLoss {
    /// BCE with logits or the sigmoid focal loss.
    Sigmoid(SigmoidCall),
    /// A regression loss of `input - target`.
    Regression(RegressionLoss),
}

/// BCE with logits or the sigmoid focal loss, with its weights.
#[derive(Debug, Clone)]
pub(crate) struct SigmoidCall {
    /// `pos_weight` along the last dimension (one value, or one per last-dimension index).
    pub pos_weight: Option<Vec<f64>>,
    /// `weight` along the last dimension (one value, or one per last-dimension index).
    pub weight: Option<Vec<f64>>,
    /// The focal factor; `None` for BCE with logits.
    pub focal: Option<SigmoidFocalOptions>,
}

/// The regression losses of `d = input - target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum RegressionLoss {
    L1,
    Mse,
    /// `beta >= 0`; 0 is the L1 loss.
    SmoothL1 {
        beta: f64,
    },
    /// `delta > 0`.
    Huber {
        delta: f64,
    },
}

/// One fused box-loss call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BoxCall {
    pub kind: BoxKind,
    pub eps: f64,
    pub form: LossForm,
}

/// The focal options of a [`SigmoidCall`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SigmoidFocalOptions {
    pub gamma: f64,
    /// `None` when the alpha factor is off.
    pub alpha: Option<f64>,
}

/// What a fused sequence call returns: each sample's loss, or their sum with a weight per
/// sample (the reduction folded into the pass, each sample's weight on its gradient too).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SampleForm {
    /// The unreduced losses `(N)`.
    PerSample,
    /// `sum_n weights[n] * loss_n` as a `[1]` tensor (CTC's mean weighs sample n by
    /// `1 / (N max(L_n, 1))`).
    WeightedSum(Vec<f64>),
}

/// One fused CTC call: the targets and lengths as the loss read and checked them on the host.
#[derive(Debug, Clone)]
pub(crate) struct CtcCall {
    /// Every sample's labels one after another (padded targets without their padding).
    pub labels: Vec<i64>,
    pub input_lengths: Vec<usize>,
    pub target_lengths: Vec<usize>,
    pub blank: usize,
    pub zero_infinity: bool,
    pub form: SampleForm,
}

/// One fused RNN-T call: the targets and lengths as the loss read and checked them on the host.
#[derive(Debug, Clone)]
pub(crate) struct RnntCall {
    /// `(N, U)` row-major: sample n's labels are the first `target_lengths[n]` of its row.
    pub targets: Vec<i64>,
    pub logit_lengths: Vec<usize>,
    pub target_lengths: Vec<usize>,
    /// In `[0, V)` (torchaudio's negative blanks resolved).
    pub blank: usize,
    /// Each gradient element clamped to `[-c, c]` for `Some(c)` with c > 0.
    pub clamp: Option<f64>,
    pub fused_log_softmax: bool,
    pub form: SampleForm,
}
