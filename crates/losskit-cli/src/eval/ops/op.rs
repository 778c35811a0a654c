//! [`Op`]: the protocol's ops, parsed once, each naming its tensors and options.

use super::super::error::RequestError;
use super::super::wire::Field;

/// One op of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Bce,
    BceWithLogits,
    SigmoidFocal,
    CrossEntropy,
    Nll,
    SoftmaxFocal,
    Softmax,
    LogSoftmax,
    Entropy,
    KlDiv,
    L1,
    Mse,
    SmoothL1,
    Huber,
    SoftMargin,
    PoissonNll,
    GaussianNll,
    HingeEmbedding,
    MultiLabelSoftMargin,
    MultiLabelMargin,
    MultiMargin,
    MarginRanking,
    CosineEmbedding,
    TripletMargin,
    TripletMarginWithDistance,
    GeneralizedBoxIou,
    DistanceBoxIou,
    CompleteBoxIou,
    Ctc,
    Rnnt,
    LinearCrossEntropy,
}

/// What an op takes: its name, its tensors besides `input` and `grad_output`, its options.
pub(super) struct OpSpec {
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
    pub(super) options: &'static [&'static str],
}

impl Op {
    const ALL: [Op; 31] = [
        Op::Bce,
        Op::BceWithLogits,
        Op::SigmoidFocal,
        Op::CrossEntropy,
        Op::Nll,
        Op::SoftmaxFocal,
        Op::Softmax,
        Op::LogSoftmax,
        Op::Entropy,
        Op::KlDiv,
        Op::L1,
        Op::Mse,
        Op::SmoothL1,
        Op::Huber,
        Op::SoftMargin,
        Op::PoissonNll,
        Op::GaussianNll,
        Op::HingeEmbedding,
        Op::MultiLabelSoftMargin,
        Op::MultiLabelMargin,
        Op::MultiMargin,
        Op::MarginRanking,
        Op::CosineEmbedding,
        Op::TripletMargin,
        Op::TripletMarginWithDistance,
        Op::GeneralizedBoxIou,
        Op::DistanceBoxIou,
        Op::CompleteBoxIou,
        Op::Ctc,
        Op::Rnnt,
        Op::LinearCrossEntropy,
    ];

    pub(super) fn spec(self) -> OpSpec {
        use Field::{Bias, Classifier, Input2, InputLengths, Negative, Positive, Target, TargetLengths, Var};
        const REDUCTION: &[&str] = &["reduction"];
        const BOX: &[&str] = &["eps", "reduction"];
        let spec = |name, fields, options| OpSpec { name, fields, options };
        match self {
            Op::Bce => spec("bce", &[Target], &["weight", "reduction"]),
            Op::BceWithLogits => spec("bce_with_logits", &[Target], &["weight", "pos_weight", "reduction"]),
            Op::SigmoidFocal => spec(
                "sigmoid_focal",
                &[Target],
                &["alpha", "gamma", "weight", "pos_weight", "reduction"],
            ),
            Op::CrossEntropy => spec(
                "cross_entropy",
                &[Target],
                &[
                    "weight",
                    "ignore_index",
                    "label_smoothing",
                    "reduction",
                    "softcap",
                    "z_loss",
                ],
            ),
            Op::Nll => spec("nll", &[Target], &["weight", "ignore_index", "reduction"]),
            Op::SoftmaxFocal => spec(
                "softmax_focal",
                &[Target],
                &["alpha", "gamma", "ignore_index", "reduction"],
            ),
            Op::Softmax => spec("softmax", &[], &["dim"]),
            Op::LogSoftmax => spec("log_softmax", &[], &["dim"]),
            Op::Entropy => spec("entropy", &[], &["dim"]),
            Op::KlDiv => spec("kl_div", &[Target], &["reduction", "log_target"]),
            Op::L1 => spec("l1", &[Target], REDUCTION),
            Op::Mse => spec("mse", &[Target], REDUCTION),
            Op::SmoothL1 => spec("smooth_l1", &[Target], &["beta", "reduction"]),
            Op::Huber => spec("huber", &[Target], &["delta", "reduction"]),
            Op::SoftMargin => spec("soft_margin", &[Target], REDUCTION),
            Op::PoissonNll => spec("poisson_nll", &[Target], &["log_input", "full", "eps", "reduction"]),
            Op::GaussianNll => spec("gaussian_nll", &[Target, Var], &["full", "eps", "reduction"]),
            Op::HingeEmbedding => spec("hinge_embedding", &[Target], &["margin", "reduction"]),
            Op::MultiLabelSoftMargin => spec("multilabel_soft_margin", &[Target], &["weight", "reduction"]),
            Op::MultiLabelMargin => spec("multilabel_margin", &[Target], REDUCTION),
            Op::MultiMargin => spec("multi_margin", &[Target], &["p", "margin", "weight", "reduction"]),
            Op::MarginRanking => spec("margin_ranking", &[Input2, Target], &["margin", "reduction"]),
            Op::CosineEmbedding => spec("cosine_embedding", &[Input2, Target], &["margin", "reduction"]),
            Op::TripletMargin => spec(
                "triplet_margin",
                &[Positive, Negative],
                &["margin", "p", "eps", "swap", "reduction"],
            ),
            Op::TripletMarginWithDistance => spec(
                "triplet_margin_with_distance",
                &[Positive, Negative],
                &["distance", "margin", "swap", "reduction"],
            ),
            Op::GeneralizedBoxIou => spec("generalized_box_iou", &[Target], BOX),
            Op::DistanceBoxIou => spec("distance_box_iou", &[Target], BOX),
            Op::CompleteBoxIou => spec("complete_box_iou", &[Target], BOX),
            Op::Ctc => spec(
                "ctc",
                &[Target, InputLengths, TargetLengths],
                &["blank", "zero_infinity", "reduction"],
            ),
            Op::Rnnt => spec(
                "rnnt",
                &[Target, InputLengths, TargetLengths],
                &["blank", "clamp", "fused_log_softmax", "reduction"],
            ),
            Op::LinearCrossEntropy => spec(
                "linear_cross_entropy",
                &[Target, Classifier, Bias],
                &[
                    "weight",
                    "ignore_index",
                    "label_smoothing",
                    "reduction",
                    "softcap",
                    "z_loss",
                ],
            ),
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether PyTorch takes an integer `target` for this op's float one (type promotion:
    /// `F.mse_loss(x, torch.tensor([1, -1]))` works; BCE, BCE with logits and KL refuse
    /// one). The box losses keep refusing one: torchvision's were not checked.
    pub(super) fn promotes_integer_target(self) -> bool {
        matches!(
            self,
            Op::L1
                | Op::Mse
                | Op::SmoothL1
                | Op::Huber
                | Op::SoftMargin
                | Op::PoissonNll
                | Op::GaussianNll
                | Op::HingeEmbedding
                | Op::MultiLabelSoftMargin
                | Op::MarginRanking
                | Op::CosineEmbedding
        )
    }

    pub(super) fn parse(name: &str) -> Result<Op, RequestError> {
        Op::ALL
            .into_iter()
            .find(|op| op.name() == name)
            .ok_or_else(|| RequestError::UnknownOp {
                op: name.to_string(),
                expected: Op::ALL.map(Op::name).join(", "),
            })
    }
}
