//! The CPU kernels of the two sequence losses, over plain slices:
//!
//! - [`ctc`]: the connectionist temporal classification loss as PyTorch's `F.ctc_loss`
//!   computes it (`aten/src/ATen/native/LossCTC.cpp`), gradient in PyTorch's convention;
//! - [`rnnt`]: the RNN transducer loss as torchaudio's `rnnt_loss` computes it
//!   (`src/libtorchaudio/rnnt/cpu/`), fused log-softmax or not, gradient clamping.
//!
//! Both run their alpha-beta recursions with f64 accumulation whatever the element type
//! (f32 inputs are widened as they are read), parallel over the batch with rayon. A call is
//! first checked into a plan (lengths and labels against the shape, no pass over the
//! floating-point data), so that running it cannot fail or read out of bounds; the run
//! returns each sample's loss in f64 and, when asked, the gradient of each sample's loss
//! times its weight (1, or the reduction's weight when the call asks for a weighted sum) in
//! the input's layout.

pub(crate) mod ctc;
mod ctc_rows;
mod ctc_sample;
mod logspace;
pub(crate) mod rnnt;
mod rnnt_gradient;
mod scaled;

/// What a sequence kernel computed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SequenceResult<T> {
    /// Each sample's negative log-likelihood, unweighted (0 for an infeasible CTC sample
    /// under `zero_infinity`).
    pub nll: Vec<f64>,
    /// With a gradient: each sample's part for its own loss times its weight, laid out as
    /// the input.
    pub grad: Option<Vec<T>>,
}
