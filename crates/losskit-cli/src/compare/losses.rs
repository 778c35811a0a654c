//! The losses compared on each task, as the table and results.json name them.

use crate::common::loss::Loss;

/// A loss of the binary task (one logit; the positive class is 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryLoss {
    /// BCE with logits.
    BceWithLogits,
    /// BCE with logits, positives weighted by the negatives-to-positives ratio.
    BceWithLogitsPosWeight,
    /// Sigmoid focal loss, alpha 0.25, gamma 2 (torchvision's defaults).
    SigmoidFocalGamma2,
    /// Sigmoid focal loss, alpha 0.25, gamma 0.5.
    SigmoidFocalGammaHalf,
    /// Sigmoid focal loss, alpha 0.25, gamma 5.
    SigmoidFocalGamma5,
    /// BCE on sigmoid probabilities.
    BceOnProbabilities,
}

impl BinaryLoss {
    /// Every binary loss, in the order of the table.
    pub const ALL: [BinaryLoss; 6] = [
        BinaryLoss::BceWithLogits,
        BinaryLoss::BceWithLogitsPosWeight,
        BinaryLoss::SigmoidFocalGamma2,
        BinaryLoss::SigmoidFocalGammaHalf,
        BinaryLoss::SigmoidFocalGamma5,
        BinaryLoss::BceOnProbabilities,
    ];

    /// Its name in the table and in results.json.
    pub fn name(self) -> &'static str {
        match self {
            BinaryLoss::BceWithLogits => "bce-with-logits",
            BinaryLoss::BceWithLogitsPosWeight => "bce-with-logits+pos_weight",
            BinaryLoss::SigmoidFocalGamma2 => "sigmoid-focal(a=0.25,g=2)",
            BinaryLoss::SigmoidFocalGammaHalf => "sigmoid-focal(a=0.25,g=0.5)",
            BinaryLoss::SigmoidFocalGamma5 => "sigmoid-focal(a=0.25,g=5)",
            BinaryLoss::BceOnProbabilities => "bce-on-probabilities",
        }
    }

    /// The loss, with `pos_weight` the training set's negatives per positive.
    pub fn loss(self, pos_weight: f64) -> Loss {
        let focal = |gamma| Loss::SigmoidFocal { gamma, alpha: 0.25 };
        match self {
            BinaryLoss::BceWithLogits => Loss::BceWithLogits { pos_weight: None },
            BinaryLoss::BceWithLogitsPosWeight => Loss::BceWithLogits {
                pos_weight: Some(pos_weight),
            },
            BinaryLoss::SigmoidFocalGamma2 => focal(2.0),
            BinaryLoss::SigmoidFocalGammaHalf => focal(0.5),
            BinaryLoss::SigmoidFocalGamma5 => focal(5.0),
            BinaryLoss::BceOnProbabilities => Loss::BceOnProbabilities,
        }
    }
}

/// A loss of the multi-class task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiLoss {
    /// Cross entropy.
    CrossEntropy,
    /// Cross entropy weighted by inverse class frequency.
    CrossEntropyClassWeights,
    /// Cross entropy with label smoothing 0.1.
    LabelSmoothing,
    /// Softmax focal loss, gamma 2.
    SoftmaxFocal,
}

impl MultiLoss {
    /// Every multi-class loss, in the order of the table.
    pub const ALL: [MultiLoss; 4] = [
        MultiLoss::CrossEntropy,
        MultiLoss::CrossEntropyClassWeights,
        MultiLoss::LabelSmoothing,
        MultiLoss::SoftmaxFocal,
    ];

    /// Its name in the table and in results.json.
    pub fn name(self) -> &'static str {
        match self {
            MultiLoss::CrossEntropy => "cross-entropy",
            MultiLoss::CrossEntropyClassWeights => "cross-entropy+class-weights",
            MultiLoss::LabelSmoothing => "label-smoothing-0.1",
            MultiLoss::SoftmaxFocal => "softmax-focal(g=2)",
        }
    }

    /// The loss, with `class_weight` the training set's inverse class frequencies.
    pub fn loss(self, class_weight: &[f64]) -> Loss {
        let cross_entropy = |label_smoothing, class_weight| Loss::CrossEntropy {
            label_smoothing,
            class_weight,
        };
        match self {
            MultiLoss::CrossEntropy => cross_entropy(0.0, None),
            MultiLoss::CrossEntropyClassWeights => cross_entropy(0.0, Some(class_weight.to_vec())),
            MultiLoss::LabelSmoothing => cross_entropy(0.1, None),
            MultiLoss::SoftmaxFocal => Loss::SoftmaxFocal {
                gamma: 2.0,
                alpha: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_compared_loss_is_its_own_loss() {
        // Every name maps to its own loss: no name falls through to a default one.
        let binary: Vec<Loss> = BinaryLoss::ALL.iter().map(|l| l.loss(99.0)).collect();
        let multi: Vec<Loss> = MultiLoss::ALL.iter().map(|l| l.loss(&[0.5; 10])).collect();
        for losses in [&binary, &multi] {
            for (i, a) in losses.iter().enumerate() {
                assert!(losses[i + 1..].iter().all(|b| a != b), "{a:?} twice");
            }
        }
        let mut names: Vec<&str> = BinaryLoss::ALL
            .iter()
            .map(|l| l.name())
            .chain(MultiLoss::ALL.iter().map(|l| l.name()))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 10);
        assert_eq!(
            BinaryLoss::BceWithLogitsPosWeight.loss(99.0),
            Loss::BceWithLogits { pos_weight: Some(99.0) }
        );
        assert_eq!(
            BinaryLoss::SigmoidFocalGammaHalf.loss(99.0),
            Loss::SigmoidFocal {
                gamma: 0.5,
                alpha: 0.25
            }
        );
        assert_eq!(
            MultiLoss::SoftmaxFocal.loss(&[0.5; 10]),
            Loss::SoftmaxFocal {
                gamma: 2.0,
                alpha: None
            }
        );
    }
}
