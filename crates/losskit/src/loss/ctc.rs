//! The connectionist temporal classification loss: `torch.nn.CTCLoss` / `F.ctc_loss`.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::sequence::ctc_lattice::ctc_losses;
use super::sequence::{host_lengths, in_form, sample_form};
use crate::fused::{self, CtcCall};
use crate::input::checks::indices;
use crate::{LossError, Reduction};

/// Configuration of [`CtcLoss`]: `torch.nn.CTCLoss(blank=0, reduction='mean',
/// zero_infinity=False)`.
#[derive(Config, Debug)]
pub struct CtcLossConfig {
    /// The blank class, in `[0, C)`. 0 by default.
    #[config(default = 0)]
    pub blank: i64,
    /// Whether a target that no alignment of its input can produce gets loss 0 and gradient
    /// 0 (instead of +inf and NaN). False by default.
    #[config(default = false)]
    pub zero_infinity: bool,
    /// How `forward` reduces: `Mean` divides each sample's loss by its target length (at
    /// least 1) and averages over the batch, as PyTorch does.
    #[config(default = "Reduction::Mean")]
    pub reduction: Reduction,
}

impl CtcLossConfig {
    /// The loss; `blank` is checked against the classes of each call.
    pub fn init(&self) -> CtcLoss {
        CtcLoss {
            blank: self.blank,
            zero_infinity: self.zero_infinity,
            reduction: self.reduction,
        }
    }
}

/// The targets of a CTC call, in either of PyTorch's layouts (`From` both tensors).
#[derive(Debug, Clone)]
pub enum CtcTargets {
    /// `(N, S)`: sample n's labels are the first `target_lengths[n]` of row n; the padding
    /// after them is never read (any value, out of range included).
    Padded(Tensor<2, Int>),
    /// `(sum of target_lengths)`: every sample's labels, one sample after another.
    Concatenated(Tensor<1, Int>),
}

impl From<Tensor<2, Int>> for CtcTargets {
    fn from(targets: Tensor<2, Int>) -> Self {
        CtcTargets::Padded(targets)
    }
}

impl From<Tensor<1, Int>> for CtcTargets {
    fn from(targets: Tensor<1, Int>) -> Self {
        CtcTargets::Concatenated(targets)
    }
}

/// The CTC loss of log-probabilities against label sequences, as `torch.nn.CTCLoss` /
/// `F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, reduction,
/// zero_infinity)`.
///
/// Sample n has `L_n = input_lengths[n]` frames, labels `l_1..l_S` (`S = target_lengths[n]`)
/// and the extended target `l' = (blank, l_1, blank, ..., l_S, blank)`:
/// ```text
/// loss_n = -ln sum over alignments pi of l' (|pi| = L_n) of prod_t exp(log_probs[t, n, pi_t])
/// ```
/// where an alignment stays on a position, moves to the next, or skips a blank between two
/// different labels (so a repeated label needs a blank between its copies: the target fits
/// iff `L_n >= S + the number of adjacent repeats`). A target that does not fit has loss
/// +inf and a NaN gradient on its frames `t < L_n`, or 0 and a zero gradient with
/// `zero_infinity`; `S = 0` is the all-blank path, `L_n = 0` gives 0 (`S = 0`) or +inf.
/// `mean = (1 / N) sum_n loss_n / max(S_n, 1)`.
///
/// The gradient is PyTorch's, `exp(log_probs) - occupation` on frames `t < L_n` (0 after):
/// it presumes that `log_probs` is a log-softmax, through which it is the true gradient of
/// the logits (the extra `exp(log_probs)` is what the log-softmax's backward cancels); with
/// respect to `log_probs` themselves the true gradient is `-occupation`. Where a counted
/// log-probability is -inf, PyTorch's (and this) gradient is NaN.
///
/// # Shapes
/// - `log_probs`: `(T, N, C)`, C counting the blank (an unbatched `(T, C)` is `(T, 1, C)`)
/// - `targets`: `(N, S)` padded or `(sum of target_lengths)` concatenated ([`CtcTargets`])
/// - `input_lengths`, `target_lengths`: `(N)`, `0 <= L_n <= T`, `0 <= S_n <= S`
/// - reduced: `[1]`; unreduced: `(N)`
///
/// Errors, with PyTorch's messages, on lengths of the wrong size, negative or longer than
/// their axis, targets that do not fit the lengths, a blank outside `[0, C)`, empty
/// `log_probs`, and (where PyTorch reads another class) a label outside `[0, C)`.
///
/// On the CPU a fused kernel computes loss and gradient in one pass, over f64 lattices of
/// scaled numbers whatever the input's precision: f32 inputs at T = 2000 keep the loss to
/// 1e-6 and the gradient to 1e-5 relative of an f64 run, which PyTorch's f32 recursion does
/// not (its losses of thousands are off by a few f32 ulps, and those sit in the exponent of
/// every occupation). Elsewhere (other backends, [`with_composed`](crate::with_composed))
/// the same numbers come from burn tensor ops, a log-space recursion over the frames
/// differentiated by autodiff. One case is computed differently from PyTorch: a last label
/// equal to the blank, where PyTorch's gradient on the last frame keeps one of the blank's
/// two occupations and this keeps their sum, the derivative.
#[derive(Module, Debug)]
pub struct CtcLoss {
    blank: i64,
    zero_infinity: bool,
    #[module(skip)]
    reduction: Reduction,
}

impl CtcLoss {
    /// The loss reduced by the configured [`Reduction`], shape `[1]`.
    pub fn forward(
        &self,
        log_probs: Tensor<3>,
        targets: impl Into<CtcTargets>,
        input_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        self.run(
            log_probs,
            targets.into(),
            input_lengths,
            target_lengths,
            Some(self.reduction),
        )
    }

    /// Each sample's loss, `(N)` (`reduction='none'`).
    pub fn forward_no_reduction(
        &self,
        log_probs: Tensor<3>,
        targets: impl Into<CtcTargets>,
        input_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        self.run(log_probs, targets.into(), input_lengths, target_lengths, None)
    }

    fn run(
        &self,
        log_probs: Tensor<3>,
        targets: CtcTargets,
        input_lengths: Tensor<1, Int>,
        target_lengths: Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<Tensor<1>, LossError> {
        let call = self.call(log_probs.dims(), &targets, &input_lengths, &target_lengths, reduction)?;
        if let Some(loss) = fused::ctc_losses(&log_probs, &call)? {
            return Ok(loss);
        }
        Ok(in_form(ctc_losses(log_probs, &call), &call.form))
    }

    /// The call's targets and lengths read on the host and checked against `dims`.
    fn call(
        &self,
        dims: [usize; 3],
        targets: &CtcTargets,
        input_lengths: &Tensor<1, Int>,
        target_lengths: &Tensor<1, Int>,
        reduction: Option<Reduction>,
    ) -> Result<CtcCall, LossError> {
        let [max_time, batch, classes] = dims;
        if max_time * batch * classes == 0 {
            return Err(LossError::Shape(format!(
                "log_probs tensor must not be empty, got shape {dims:?}"
            )));
        }
        let blank = usize::try_from(self.blank)
            .ok()
            .filter(|&b| b < classes)
            .ok_or(LossError::Blank {
                blank: self.blank,
                classes,
            })?;
        for (name, lengths) in [("input_lengths", input_lengths), ("target_lengths", target_lengths)] {
            let [len] = lengths.dims();
            if len != batch {
                return Err(LossError::Shape(format!(
                    "{name} must be of size batch_size ({batch}), found {len}"
                )));
            }
        }
        let input_lengths = host_lengths("input_lengths", input_lengths)?;
        if let Some(&value) = input_lengths.iter().find(|&&l| l > max_time) {
            return Err(LossError::LengthAboveAxis {
                name: "input_lengths",
                value,
                max: max_time,
            });
        }
        let target_lengths = host_lengths("target_lengths", target_lengths)?;
        let labels = match targets {
            CtcTargets::Padded(t) => padded_labels(t, batch, &target_lengths)?,
            CtcTargets::Concatenated(t) => {
                let (total, [len]) = (target_lengths.iter().sum::<usize>(), t.dims());
                if len != total {
                    return Err(size_error(total, 0, len));
                }
                indices(t)
            }
        };
        if let Some(&target) = labels.iter().find(|&&l| !(0..classes as i64).contains(&l)) {
            return Err(LossError::TargetOutOfBounds { target, classes });
        }
        let form = sample_form(reduction, batch, |n| {
            1.0 / (batch as f64 * target_lengths[n].max(1) as f64)
        });
        Ok(CtcCall {
            labels,
            input_lengths,
            target_lengths,
            blank,
            zero_infinity: self.zero_infinity,
            form,
        })
    }
}

/// The labels of padded targets `(N, S)`, each sample's first `target_lengths[n]`, one
/// sample after another.
fn padded_labels(targets: &Tensor<2, Int>, batch: usize, target_lengths: &[usize]) -> Result<Vec<i64>, LossError> {
    let [rows, width] = targets.dims();
    if rows != batch {
        return Err(size_error(batch, 0, rows));
    }
    if let Some(&longest) = target_lengths.iter().find(|&&l| l > width) {
        return Err(LossError::Shape(format!(
            "Expected tensor to have size at least {longest} at dimension 1, but got size {width} for argument #2 'targets'"
        )));
    }
    let all = indices(targets);
    Ok(target_lengths
        .iter()
        .enumerate()
        .flat_map(|(n, &l)| all[n * width..][..l].iter().copied())
        .collect())
}

/// PyTorch's message for targets whose dimension `dim` is not `expected` long.
fn size_error(expected: usize, dim: usize, found: usize) -> LossError {
    LossError::Shape(format!(
        "Expected tensor to have size {expected} at dimension {dim}, but got size {found} for argument #2 'targets'"
    ))
}
