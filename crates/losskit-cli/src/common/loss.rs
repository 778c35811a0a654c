//! The losses that `train` and `compare` train with, each with its settings, computed by
//! losskit on the network's logits and the class labels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Int, Tensor};
use losskit::{
    BceLossConfig, BceWithLogitsLossConfig, BroadcastWeight, CrossEntropyLossConfig, FocalAlpha, LossError,
    NllLossConfig, SigmoidFocalLossConfig, SoftmaxFocalLossConfig,
};

/// A loss and the settings it trains with.
#[derive(Debug, Clone, PartialEq)]
pub enum Loss {
    /// `nn.CrossEntropyLoss`, optionally smoothed and weighted per class.
    CrossEntropy {
        /// Label smoothing in `[0, 1]`.
        label_smoothing: f64,
        /// A weight per class.
        class_weight: Option<Vec<f64>>,
    },
    /// `nn.NLLLoss` on `log_softmax` of the logits.
    Nll,
    /// Softmax focal loss.
    SoftmaxFocal {
        /// Focusing exponent.
        gamma: f64,
        /// A factor on every class's loss.
        alpha: Option<f64>,
    },
    /// Sigmoid focal loss (torchvision's).
    SigmoidFocal {
        /// Focusing exponent.
        gamma: f64,
        /// The weight of positives (negatives get `1 - alpha`).
        alpha: f64,
    },
    /// `nn.BCEWithLogitsLoss`.
    BceWithLogits {
        /// The weight of positives.
        pos_weight: Option<f64>,
    },
    /// `nn.BCELoss` on the sigmoid of the logits: the naive form, for comparison.
    BceOnProbabilities,
}

impl Loss {
    /// The mean loss of `logits` `(N, C)` against class `labels` `(N)`. The softmax losses
    /// take the labels as they are; the sigmoid ones take one-hot targets or, with a
    /// single output column (a binary task), the labels 0 and 1 themselves.
    pub fn forward(
        &self,
        logits: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> Result<Tensor<1>, LossError> {
        let device = logits.device();
        match self {
            Loss::CrossEntropy { label_smoothing, class_weight } => CrossEntropyLossConfig::new()
                .with_label_smoothing(*label_smoothing)
                .with_weight(class_weight.clone())
                .init(&device)?
                .forward(logits, labels),
            Loss::Nll => NllLossConfig::new().init(&device).forward(losskit::log_softmax(logits, 1)?, labels),
            Loss::SoftmaxFocal { gamma, alpha } => {
                let alpha = alpha.map_or(FocalAlpha::None, FocalAlpha::Scalar);
                SoftmaxFocalLossConfig::new().with_gamma(*gamma).with_alpha(alpha).init(&device)?.forward(logits, labels)
            }
            Loss::SigmoidFocal { gamma, alpha } => {
                let targets = binary_targets(&logits, labels);
                let loss = SigmoidFocalLossConfig::new().with_gamma(*gamma).with_alpha(Some(*alpha)).init(&device)?;
                loss.forward(logits, targets)
            }
            Loss::BceWithLogits { pos_weight } => {
                let targets = binary_targets(&logits, labels);
                let pos_weight = pos_weight.map(|pw| BroadcastWeight::last_dim(vec![pw]));
                BceWithLogitsLossConfig::new().with_pos_weight(pos_weight).init(&device)?.forward(logits, targets)
            }
            Loss::BceOnProbabilities => {
                let targets = binary_targets(&logits, labels);
                BceLossConfig::new().init(&device)?.forward(sigmoid(logits), targets)
            }
        }
    }
}

/// The sigmoid losses' targets, in the logits' dtype: one-hot over the columns, or the
/// labels themselves for a single column.
fn binary_targets(logits: &Tensor<2>, labels: Tensor<1, Int>) -> Tensor<2> {
    let [rows, columns] = logits.dims();
    let targets = if columns == 1 {
        labels.reshape([rows, 1]).float()
    } else {
        labels.one_hot::<2>(columns).float()
    };
    targets.cast(logits.dtype())
}
