//! The protocol's ops: each parsed once into an [`Op`], which names its tensors and
//! options; a [`Call`] holds a request's checked tensors and options while an op reads
//! them, and builds the response (output and every float tensor's gradient).

mod boxes;
mod call;
mod classification;
mod distribution;
mod embedding;
mod linear;
mod multiclass;
mod op;
mod options;
mod pair;
mod regression;
mod sequence;

use burn::tensor::{Device, Tensor};
use losskit::{LossError, Reduction};
use serde_json::Value;

use super::error::RequestError;
use super::wire::{MAX_ELEMENTS, Request, span};

pub(super) use call::{Call, Output};
pub use op::Op;
pub(super) use options::Options;

/// Serves one parsed request.
pub fn serve(request: Request, device: &Device) -> Result<Value, RequestError> {
    let op = Op::parse(&request.op)?;
    let mut call = Call::new(op, request, device)?;
    match op {
        Op::Bce | Op::BceWithLogits | Op::SigmoidFocal => classification::elementwise(&mut call),
        Op::CrossEntropy | Op::Nll | Op::SoftmaxFocal => classification::class_loss(&mut call),
        Op::Softmax | Op::LogSoftmax | Op::Entropy => distribution::along_dim(&mut call),
        Op::KlDiv => distribution::kl_div(&mut call),
        Op::L1 | Op::Mse | Op::SmoothL1 | Op::Huber | Op::SoftMargin | Op::PoissonNll | Op::HingeEmbedding => {
            regression::elementwise(&mut call)
        }
        Op::GaussianNll => regression::gaussian_nll(&mut call),
        Op::MarginRanking => regression::margin_ranking(&mut call),
        Op::MultiMargin => multiclass::multi_margin(&mut call),
        Op::MultiLabelMargin => multiclass::multilabel_margin(&mut call),
        Op::MultiLabelSoftMargin => multiclass::multilabel_soft_margin(&mut call),
        Op::CosineEmbedding => embedding::cosine_embedding(&mut call),
        Op::TripletMargin | Op::TripletMarginWithDistance => embedding::triplet(&mut call),
        Op::GeneralizedBoxIou | Op::DistanceBoxIou | Op::CompleteBoxIou => boxes::box_iou(&mut call),
        Op::Ctc => sequence::ctc(&mut call),
        Op::Rnnt => sequence::rnnt(&mut call),
        Op::LinearCrossEntropy => linear::linear_cross_entropy(&mut call),
    }
}

/// The rank the elementwise ops run at: burn's ndarray backend takes at most 6 dimensions.
pub(super) const ELEMENTWISE_RANK: usize = 6;

/// The shapes of tensors that broadcast together, laid out at [`ELEMENTWISE_RANK`]:
/// right-aligned and padded with leading 1s (which leaves broadcasting as it was); beyond
/// that rank, neighbouring dimensions are merged where every tensor spans both or neither.
pub(super) fn lay_out(shapes: &[&[usize]]) -> Result<Vec<[usize; ELEMENTWISE_RANK]>, RequestError> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut aligned: Vec<Vec<usize>> = shapes
        .iter()
        .map(|s| [vec![1; rank - s.len()], s.to_vec()].concat())
        .collect();
    // Each tensor is within the limit, but two of them can broadcast to far more: `(n, 1)`
    // against `(1, n)` is `n^2`, refused here before it is allocated.
    let extent: Vec<usize> = (0..rank)
        .map(|k| aligned.iter().map(|s| s[k]).max().unwrap_or(1))
        .collect();
    if span(&extent) > MAX_ELEMENTS {
        return Err(RequestError::Shape(format!(
            "shapes {shapes:?} broadcast to {extent:?}, more than {MAX_ELEMENTS} elements"
        )));
    }
    while aligned.first().is_some_and(|s| s.len() > ELEMENTWISE_RANK) {
        let full = |k: usize| aligned.iter().map(|s| s[k]).max().unwrap_or(1);
        let mergeable = |k: usize| {
            aligned
                .iter()
                .all(|s| (s[k] == full(k) && s[k + 1] == full(k + 1)) || (s[k] == 1 && s[k + 1] == 1))
        };
        let Some(k) = (0..aligned[0].len() - 1).find(|&k| mergeable(k)) else {
            return Err(RequestError::Shape(format!(
                "shapes {shapes:?} broadcast along more than {ELEMENTWISE_RANK} separate dimensions"
            )));
        };
        for s in &mut aligned {
            let merged = s[k] * s[k + 1];
            s.splice(k..k + 2, [merged]);
        }
    }
    Ok(aligned
        .into_iter()
        .map(|s| {
            let mut dims = [1; ELEMENTWISE_RANK];
            dims[ELEMENTWISE_RANK - s.len()..].copy_from_slice(&s);
            dims
        })
        .collect())
}

/// A loss's output by the requested reduction: `forward` (PyTorch's 0-dim scalar on the
/// wire) or `forward_no_reduction` (in `unreduced`, the wire shape).
pub(super) fn by_reduction<const T: usize>(
    reduction: Option<Reduction>,
    unreduced: Vec<usize>,
    forward: impl FnOnce() -> Result<Tensor<1>, LossError>,
    forward_no_reduction: impl FnOnce() -> Result<Tensor<T>, LossError>,
) -> Result<Output<T>, RequestError> {
    Ok(match reduction {
        None => Output {
            tensor: forward_no_reduction()?,
            shape: unreduced,
        },
        Some(_) => Output {
            tensor: forward()?.reshape([1; T]),
            shape: Vec::new(),
        },
    })
}
