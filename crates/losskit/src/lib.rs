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
//! | connectionist temporal classification | [`CtcLossConfig`] / [`CtcLoss`] | `nn.CTCLoss` |
//! | RNN transducer | [`RnntLossConfig`] / [`RnntLoss`] | `torchaudio.functional.rnnt_loss` |
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
//! ## Exact accumulation: the denominators of the means
//!
//! A mean over micro-batches (gradient accumulation) or over ranks (data-parallel
//! training) is not the mean of the parts' means when the parts count differently: a short
//! last batch, ignored targets, class weights. The exact rule is to reduce each part by
//! [`Reduction::Sum`], add up the parts' denominators, and divide the summed losses by that
//! total. Each loss tells the denominator of its `Mean` for a part:
//!
//! - [`CrossEntropyLoss::denominator`], [`NllLoss::denominator`] (a `[1]` tensor, from the
//!   class-index target): the summed class weights of the targets that are not ignored, or
//!   their count without a weight; [`SoftmaxFocalLoss::denominator`]: the count of targets
//!   not ignored. Label smoothing and alpha do not change them.
//! - [`CrossEntropyLoss::probs_denominator`]: probability targets divide by the positions,
//!   `N d1 .. dk` (the element count over `C`).
//! - [`MeanDenominator`] for the others, from the input's shape: the element count, or the
//!   batch size for the per-sample losses (and KL's `batchmean`).
//!
//! ```
//! use burn::tensor::{DType, Device, Int, Tensor};
//! use losskit::{CrossEntropyLossConfig, Reduction};
//!
//! let device = Device::flex().autodiff();
//! let ce = CrossEntropyLossConfig::new().with_weight(Some(vec![1.0, 2.0])).with_reduction(Reduction::Sum).init(&device)?;
//! let parts = [(Tensor::<2>::from_data([[0.5, -0.5]], &device).require_grad(), Tensor::<1, Int>::from_data([1], &device)),
//!              (Tensor::<2>::from_data([[1.0, 0.0], [0.0, 1.0]], &device).require_grad(), Tensor::<1, Int>::from_data([0, -100], &device))];
//! let total: f32 = parts.iter().map(|(_, y)| ce.denominator(y, DType::F32).unwrap().into_scalar::<f32>()).sum();
//! assert_eq!(total, 3.0); // weight 2 for class 1, 1 for class 0, nothing for the ignored target
//! for (logits, y) in parts {
//!     let loss = ce.forward(logits, y)?.div_scalar(total); // this part's share of the whole batch's mean
//!     let _grads = loss.backward(); // gradients add up to the whole batch's
//! }
//! # Ok::<(), losskit::LossError>(())
//! ```
//!
//! A class-index cross entropy with `z_loss` has two denominators (the summed weights for
//! the cross entropy, the count for the z term): its `denominator` refuses such a loss
//! when it has class weights (the two differ) and returns the count without them.
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
pub mod layers;
mod loss;
mod reduction;

pub use burn;
pub use error::LossError;
pub use fused::with_composed;
pub use input::broadcast::BroadcastWeight;
pub use input::class_index::IGNORE_INDEX;
pub use loss::bce::{BceLoss, BceLossConfig};
pub use loss::bce_with_logits::{BceWithLogitsLoss, BceWithLogitsLossConfig};
pub use loss::boxes::{BoxIou, BoxIouLoss, BoxIouLossConfig};
pub use loss::cross_entropy::{CrossEntropyLoss, CrossEntropyLossConfig};
pub use loss::ctc::{CtcLoss, CtcLossConfig, CtcTargets};
pub use loss::embedding::{
    CosineEmbeddingLoss, CosineEmbeddingLossConfig, TripletDistance, TripletMarginLoss, TripletMarginLossConfig,
    TripletMarginWithDistanceLoss, TripletMarginWithDistanceLossConfig,
};
pub use loss::kl_div::{KlDivLoss, KlDivLossConfig, KlReduction};
pub use loss::likelihood::{GaussianNllLoss, GaussianNllLossConfig, PoissonNllLoss, PoissonNllLossConfig};
pub use loss::linear_cross_entropy::{LinearCrossEntropyLoss, LinearCrossEntropyLossConfig};
pub use loss::linear_head::{LinearCrossEntropyHead, LinearCrossEntropyHeadConfig};
pub use loss::margin::{
    HingeEmbeddingLoss, HingeEmbeddingLossConfig, MarginRankingLoss, MarginRankingLossConfig, MultiMarginLoss,
    MultiMarginLossConfig, SoftMarginLoss, SoftMarginLossConfig,
};
pub use loss::mean_denominator::MeanDenominator;
pub use loss::multilabel::{
    MultiLabelMarginLoss, MultiLabelMarginLossConfig, MultiLabelSoftMarginLoss, MultiLabelSoftMarginLossConfig,
};
pub use loss::nll::{NllLoss, NllLossConfig};
pub use loss::regression::{
    HuberLoss, HuberLossConfig, L1Loss, L1LossConfig, MseLoss, MseLossConfig, SmoothL1Loss, SmoothL1LossConfig,
};
pub use loss::rnnt::{RnntLoss, RnntLossConfig};
pub use loss::sigmoid_focal::{SigmoidFocalLoss, SigmoidFocalLossConfig};
pub use loss::softmax::{entropy, log_softmax, softmax};
pub use loss::softmax_focal::{FocalAlpha, SoftmaxFocalLoss, SoftmaxFocalLossConfig};
pub use reduction::Reduction;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
