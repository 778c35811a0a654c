//! # losskit: PyTorch's losses for burn, exact in value and gradient
//!
//! | loss | function | module | PyTorch |
//! | --- | --- | --- | --- |
//! | binary cross entropy | [`bce`] | [`BceLossConfig`] | `nn.BCELoss` |
//! | BCE with logits | [`bce_with_logits`] | [`BceWithLogitsLossConfig`] | `nn.BCEWithLogitsLoss` |
//! | cross entropy, class indices | [`cross_entropy`] | [`CrossEntropyLossConfig`] | `nn.CrossEntropyLoss` |
//! | cross entropy, probabilities | [`cross_entropy_with_probs`] | [`CrossEntropyLoss::forward_probs`] | `nn.CrossEntropyLoss` |
//! | negative log likelihood | [`nll`] | [`NllLossConfig`] | `nn.NLLLoss` |
//! | sigmoid focal | [`sigmoid_focal`] | [`SigmoidFocalLossConfig`] | `torchvision.ops.sigmoid_focal_loss`, YOLOv5 `FocalLoss` |
//! | softmax focal | [`softmax_focal`] | [`SoftmaxFocalLossConfig`] | (multi-class focal loss) |
//! | softmax, log-softmax | [`softmax`], [`log_softmax`] | | `torch.softmax`, `torch.log_softmax` |
//! | entropy | [`entropy`] | | `Categorical(probs).entropy()` |
//! | KL divergence | [`kl_div`] | | `nn.KLDivLoss` |
//!
//! Every loss takes PyTorch's options with PyTorch's names and defaults, and
//! [`Reduction`] `None`, `Mean` or `Sum` with PyTorch's denominators. Values and
//! gradients (through burn's autodiff) match PyTorch to 1e-9 in f64, and are
//! computed in forms that stay finite and accurate where PyTorch's are not
//! (logits of +-1e4, saturated focal losses).
//!
//! Tensors carry no backend type in burn 0.22: the [`Device`](burn::tensor::Device)
//! chooses it at run time, so these functions work on flex (CPU), CUDA, wgpu and
//! the rest, in f32 or f64.
//!
//! Bad input is a [`LossError`], never a panic: a class index out of range, a BCE
//! probability outside `[0, 1]`, shapes that do not fit, a weight of the wrong
//! length, `label_smoothing` outside `[0, 1]`, a dimension out of range.
//!
//! ## Quick start
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use losskit::CrossEntropyLossConfig;
//!
//! let device = Device::flex().autodiff();
//! let logits = Tensor::<2>::from_data([[2.0, 1.0, 0.1], [1.0, 0.2, 1.5]], &device).require_grad();
//! let target = Tensor::<1, Int>::from_data([0, 2], &device);
//!
//! let loss = CrossEntropyLossConfig::new().init(&device)?.forward(logits.clone(), target)?;
//! let grads = loss.backward();
//! let value: f32 = loss.into_scalar();
//! assert!((value - 0.5239).abs() < 1e-4); // F.cross_entropy gives 0.5239
//! assert!(logits.grad(&grads).is_some());
//! # Ok::<(), losskit::LossError>(())
//! ```
#![deny(missing_docs)]

mod error;
pub mod kernel;
pub mod loss;
mod operand;
mod reduction;

pub use burn;
pub use error::LossError;
pub use loss::bce::{
    BceLoss, BceLossConfig, BceOptions, BceWithLogitsLoss, BceWithLogitsLossConfig,
    BceWithLogitsOptions, bce, bce_with_logits,
};
pub use loss::cross_entropy::{
    CrossEntropyLoss, CrossEntropyLossConfig, CrossEntropyOptions, IGNORE_INDEX, NllLoss,
    NllLossConfig, NllOptions, cross_entropy, cross_entropy_with_probs, nll,
};
pub use loss::focal::{
    FocalAlpha, SigmoidFocalLoss, SigmoidFocalLossConfig, SigmoidFocalOptions, SoftmaxFocalLoss,
    SoftmaxFocalLossConfig, SoftmaxFocalOptions, sigmoid_focal, softmax_focal,
};
pub use loss::softmax::{KlReduction, entropy, kl_div, log_softmax, resolve_dim, softmax};
pub use operand::Broadcast;
pub use reduction::Reduction;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
