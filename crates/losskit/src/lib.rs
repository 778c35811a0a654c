//! # losskit: PyTorch's losses for burn, exact in value and gradient
//!
//! | loss | configuration / module | PyTorch |
//! | --- | --- | --- |
//! | binary cross entropy | [`BceLossConfig`] / [`BceLoss`] | `nn.BCELoss` |
//! | BCE with logits | [`BceWithLogitsLossConfig`] / [`BceWithLogitsLoss`] | `nn.BCEWithLogitsLoss` |
//! | cross entropy (class indices or probabilities) | [`CrossEntropyLossConfig`] / [`CrossEntropyLoss`] | `nn.CrossEntropyLoss` |
//! | negative log likelihood | [`NllLossConfig`] / [`NllLoss`] | `nn.NLLLoss` |
//! | sigmoid focal | [`SigmoidFocalLossConfig`] / [`SigmoidFocalLoss`] | `torchvision.ops.sigmoid_focal_loss`, YOLOv5 `FocalLoss` |
//! | softmax focal | [`SoftmaxFocalLossConfig`] / [`SoftmaxFocalLoss`] | (multi-class focal loss) |
//! | KL divergence | [`KlDivLossConfig`] / [`KlDivLoss`] | `nn.KLDivLoss` |
//! | cross entropy of a linear layer, in chunks (no `(N, V)` logits) | [`LinearCrossEntropyLossConfig`] / [`LinearCrossEntropyLoss`], the head [`LinearCrossEntropyHead`] | `F.cross_entropy(F.linear(x, W, b), y)` |
//! | softmax, log-softmax, entropy | functions [`softmax`], [`log_softmax`], [`entropy`] | `torch.softmax`, `torch.log_softmax`, `Categorical(probs).entropy()` |
//!
//! Each loss is a burn [`Config`](burn::config::Config) (serde, `save` and `load`) with
//! PyTorch's option names and defaults, and a burn [`Module`](burn::module::Module) that a
//! model can hold as a field. Its `forward` reduces as the configuration's [`Reduction`]
//! says (`Mean` with PyTorch's denominators, or `Sum`) to shape `[1]`, and its
//! `forward_no_reduction` is PyTorch's `reduction='none'`, in PyTorch's unreduced shape.
//! Values and gradients (through burn's autodiff) match PyTorch to 1e-9 in f64, and are
//! computed in forms that stay finite and accurate where PyTorch's are not (logits of
//! +-1e4, saturated focal losses).
//!
//! Tensors carry no backend type in burn 0.22: the [`Device`](burn::tensor::Device)
//! chooses it at run time, so the losses run on flex (CPU), CUDA, wgpu and the rest, in
//! f32 or f64. On flex, fused kernels compute loss and gradient in one pass; elsewhere the
//! same formulas run as burn tensor ops ([`with_composed`] forces that path on the CPU).
//!
//! Bad input is a [`LossError`], never a panic: a class index out of range, a BCE
//! probability outside `[0, 1]`, shapes that do not fit, a weight of the wrong length,
//! `label_smoothing` outside `[0, 1]`, a dimension out of range. The checks that read
//! tensor values back to the host can be turned off with `check_values` where that costs a
//! synchronisation (an accelerator).
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
mod fused;
mod input;
mod loss;
mod reduction;

pub use burn;
pub use error::LossError;
pub use fused::with_composed;
pub use input::broadcast::BroadcastWeight;
pub use input::class_index::IGNORE_INDEX;
pub use loss::bce::{BceLoss, BceLossConfig};
pub use loss::bce_with_logits::{BceWithLogitsLoss, BceWithLogitsLossConfig};
pub use loss::cross_entropy::{CrossEntropyLoss, CrossEntropyLossConfig};
pub use loss::kl_div::{KlDivLoss, KlDivLossConfig, KlReduction};
pub use loss::linear_cross_entropy::{LinearCrossEntropyLoss, LinearCrossEntropyLossConfig};
pub use loss::linear_head::{LinearCrossEntropyHead, LinearCrossEntropyHeadConfig};
pub use loss::nll::{NllLoss, NllLossConfig};
pub use loss::sigmoid_focal::{SigmoidFocalLoss, SigmoidFocalLossConfig};
pub use loss::softmax::{entropy, log_softmax, softmax};
pub use loss::softmax_focal::{FocalAlpha, SoftmaxFocalLoss, SoftmaxFocalLossConfig};
pub use reduction::Reduction;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
