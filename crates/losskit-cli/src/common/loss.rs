//! The losses that `train` and `compare` train with, each with its settings, computed by
//! losskit on the network's logits and the class labels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Int, Tensor, TensorData};
use losskit::{
    BceOptions, BceWithLogitsOptions, CrossEntropyOptions, FocalAlpha, LossError, NllOptions,
    SigmoidFocalOptions, SoftmaxFocalOptions,
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
        match self {
            Loss::CrossEntropy {
                label_smoothing,
                class_weight,
            } => {
                let mut options =
                    CrossEntropyOptions::default().with_label_smoothing(*label_smoothing);
                if let Some(weight) = class_weight {
                    let classes = weight.len();
                    options = options.with_weight(Tensor::from_data(
                        TensorData::new(weight.clone(), [classes]),
                        &logits.device(),
                    ));
                }
                losskit::cross_entropy(logits, labels, &options)
            }
            Loss::Nll => losskit::log_softmax(logits, 1)
                .and_then(|lp| losskit::nll(lp, labels, &NllOptions::default())),
            Loss::SoftmaxFocal { gamma, alpha } => {
                let alpha = alpha.map_or(FocalAlpha::None, FocalAlpha::Scalar);
                losskit::softmax_focal(
                    logits,
                    labels,
                    &SoftmaxFocalOptions::default()
                        .with_gamma(*gamma)
                        .with_alpha(alpha),
                )
            }
            Loss::SigmoidFocal { gamma, alpha } => {
                let targets = binary_targets(&logits, labels);
                let options = SigmoidFocalOptions::default()
                    .with_gamma(*gamma)
                    .with_alpha(Some(*alpha));
                losskit::sigmoid_focal(logits, targets, &options).map(|l| l.reshape([1]))
            }
            Loss::BceWithLogits { pos_weight } => {
                let targets = binary_targets(&logits, labels);
                let mut options = BceWithLogitsOptions::default();
                if let Some(pw) = pos_weight {
                    options = options.with_pos_weight(Tensor::<1>::from_data(
                        TensorData::new(vec![*pw], [1]),
                        &logits.device(),
                    ));
                }
                losskit::bce_with_logits(logits, targets, &options).map(|l| l.reshape([1]))
            }
            Loss::BceOnProbabilities => {
                let targets = binary_targets(&logits, labels);
                losskit::bce(sigmoid(logits), targets, &BceOptions::default())
                    .map(|l| l.reshape([1]))
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
