//! The losses, one file per PyTorch loss (or family of one formula), each a burn `Config`
//! and `Module` pair; `ce_terms`, `class_loss`, `logits` and `sequence` are what several of
//! them share.

pub(crate) mod bce;
pub(crate) mod bce_with_logits;
pub(crate) mod boxes;
mod ce_terms;
mod class_loss;
pub(crate) mod cross_entropy;
pub(crate) mod ctc;
mod denominator;
pub(crate) mod embedding;
mod kinks;
pub(crate) mod kl_div;
pub(crate) mod likelihood;
mod linear_chunks;
pub(crate) mod linear_cross_entropy;
pub(crate) mod linear_head;
mod logits;
pub(crate) mod margin;
pub(crate) mod mean_denominator;
pub(crate) mod multilabel;
pub(crate) mod nll;
pub(crate) mod regression;
pub(crate) mod rnnt;
mod sequence;
pub(crate) mod sigmoid_focal;
pub(crate) mod softmax;
pub(crate) mod softmax_focal;
