//! The losses that `train` and `compare` train with, each with its settings, built once
//! per run into a losskit module that computes them on the network's logits and the class
//! labels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{DType, Device, Int, Tensor};
use losskit::{
    BceLoss, BceLossConfig, BceWithLogitsLoss, BceWithLogitsLossConfig, BroadcastWeight, CrossEntropyLoss,
    CrossEntropyLossConfig, FocalAlpha, LossError, MeanDenominator, NllLoss, NllLossConfig, Reduction,
    SigmoidFocalLoss, SigmoidFocalLossConfig, SoftmaxFocalLoss, SoftmaxFocalLossConfig,
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
    /// The loss module, built once for a run, reducing by `reduction`.
    pub fn build(&self, reduction: Reduction, device: &Device) -> Result<LossModule, LossError> {
        let module = match self {
            Loss::CrossEntropy {
                label_smoothing,
                class_weight,
            } => Module::CrossEntropy(
                CrossEntropyLossConfig::new()
                    .with_label_smoothing(*label_smoothing)
                    .with_weight(class_weight.clone())
                    .with_reduction(reduction)
                    .init(device)?,
            ),
            Loss::Nll => Module::Nll(NllLossConfig::new().with_reduction(reduction).init(device)),
            Loss::SoftmaxFocal { gamma, alpha } => Module::SoftmaxFocal(
                SoftmaxFocalLossConfig::new()
                    .with_gamma(*gamma)
                    .with_alpha(alpha.map_or(FocalAlpha::None, FocalAlpha::Scalar))
                    .with_reduction(reduction)
                    .init(device)?,
            ),
            Loss::SigmoidFocal { gamma, alpha } => Module::SigmoidFocal(
                SigmoidFocalLossConfig::new()
                    .with_gamma(*gamma)
                    .with_alpha(Some(*alpha))
                    .with_reduction(reduction)
                    .init(device)?,
            ),
            Loss::BceWithLogits { pos_weight } => Module::BceWithLogits(
                BceWithLogitsLossConfig::new()
                    .with_pos_weight(pos_weight.map(|pw| BroadcastWeight::last_dim(vec![pw])))
                    .with_reduction(reduction)
                    .init(device)?,
            ),
            Loss::BceOnProbabilities => {
                Module::BceOnProbabilities(BceLossConfig::new().with_reduction(reduction).init(device)?)
            }
        };
        Ok(LossModule(module))
    }
}

/// A [`Loss`] built: the losskit module it computes with.
#[derive(Debug)]
pub struct LossModule(Module);

#[derive(Debug)]
enum Module {
    CrossEntropy(CrossEntropyLoss),
    Nll(NllLoss),
    SoftmaxFocal(SoftmaxFocalLoss),
    SigmoidFocal(SigmoidFocalLoss),
    BceWithLogits(BceWithLogitsLoss),
    BceOnProbabilities(BceLoss),
}

impl LossModule {
    /// The loss of `logits` `(N, C)` against class `labels` `(N)`, reduced as the module
    /// was built. The softmax losses take the labels as they are (`-100` is ignored); the
    /// sigmoid ones take one-hot targets or, with a single output column (a binary task),
    /// the labels 0 and 1 themselves.
    pub fn forward(&self, logits: Tensor<2>, labels: Tensor<1, Int>) -> Result<Tensor<1>, LossError> {
        match &self.0 {
            Module::CrossEntropy(ce) => ce.forward(logits, labels),
            Module::Nll(nll) => nll.forward(losskit::log_softmax(logits, 1)?, labels),
            Module::SoftmaxFocal(focal) => focal.forward(logits, labels),
            Module::SigmoidFocal(focal) => {
                let targets = binary_targets(&logits, labels);
                focal.forward(logits, targets)
            }
            Module::BceWithLogits(bce) => {
                let targets = binary_targets(&logits, labels);
                bce.forward(logits, targets)
            }
            Module::BceOnProbabilities(bce) => {
                let targets = binary_targets(&logits, labels);
                bce.forward(sigmoid(logits), targets)
            }
        }
    }

    /// What the mean of [`forward`](Self::forward) over `labels` divides its sum by, with
    /// `classes` output columns: the counted (weighted) targets of the softmax losses, the
    /// elements of the sigmoid losses' targets.
    pub fn denominator(&self, labels: &Tensor<1, Int>, classes: usize) -> Result<f64, LossError> {
        let counted = |total: Tensor<1>| total.into_scalar::<f64>();
        let elements = [labels.dims()[0], classes];
        Ok(match &self.0 {
            Module::CrossEntropy(ce) => counted(ce.denominator(labels, DType::F64)?),
            Module::Nll(nll) => counted(nll.denominator(labels, DType::F64)?),
            Module::SoftmaxFocal(focal) => counted(focal.denominator(labels, DType::F64)?),
            Module::SigmoidFocal(focal) => focal.denominator(&elements) as f64,
            Module::BceWithLogits(bce) => bce.denominator(&elements) as f64,
            Module::BceOnProbabilities(bce) => bce.denominator(&elements) as f64,
        })
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
