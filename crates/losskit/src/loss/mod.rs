//! The losses, one file per PyTorch loss (or family of one formula), each a burn `Config`
//! and `Module` pair; `ce_terms`, `class_loss` and `logits` are what several of them share.

pub(crate) mod bce;
pub(crate) mod bce_with_logits;
mod ce_terms;
mod class_loss;
pub(crate) mod cross_entropy;
pub(crate) mod kl_div;
mod linear_chunks;
pub(crate) mod linear_cross_entropy;
pub(crate) mod linear_head;
mod logits;
pub(crate) mod nll;
pub(crate) mod sigmoid_focal;
pub(crate) mod softmax;
pub(crate) mod softmax_focal;
