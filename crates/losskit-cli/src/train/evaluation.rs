//! The network on the held-out split after each epoch: its loss and accuracy, as PyTorch's
//! MNIST example reports them (`Test set: Average loss: ..., Accuracy: .../... (..%)`).

use burn::module::Module;
use burn::tensor::Device;
use losskit::LossError;
use serde::{Deserialize, Serialize};

use crate::common::batch::Batch;
use crate::common::loss::LossModule;
use crate::common::model::Mlp;
use crate::data::{CLASSES, Split};

/// Test images per forward pass.
const CHUNK: usize = 1000;

/// How a network did on the test set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accuracy {
    /// Correct predictions over test examples.
    pub test_accuracy: f64,
    /// Correct test predictions.
    pub correct: usize,
    /// Test examples.
    pub test_examples: usize,
    /// Accuracy of each true class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion_matrix[true][predicted]` counts.
    pub confusion_matrix: Vec<Vec<usize>>,
}

/// The network's loss and accuracy on the test set.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The run's loss over the whole test set (its mean, with the loss's denominator).
    pub test_loss: f64,
    /// The accuracy figures.
    pub accuracy: Accuracy,
}

impl Evaluation {
    /// `model` on `split` under `loss` (built with `Reduction::Sum` on `device`, the
    /// model's device without autodiff).
    pub fn of(model: &Mlp, split: &Split, loss: &LossModule, device: &Device) -> Result<Self, LossError> {
        let model = model.valid();
        let mut confusion = vec![vec![0usize; CLASSES]; CLASSES];
        let (mut summed, mut counted) = (0.0, 0.0);
        let all: Vec<usize> = (0..split.len()).collect();
        for chunk in all.chunks(CHUNK) {
            let batch = Batch::new(split, chunk, device);
            let logits = model.forward(batch.images);
            counted += loss.denominator(&batch.labels, CLASSES)?;
            summed += loss.forward(logits.clone(), batch.labels)?.into_scalar::<f64>();
            let predicted = logits.argmax(1).try_into_vec_as::<i64>().expect("argmax reads as i64");
            for (&i, &p) in chunk.iter().zip(&predicted) {
                confusion[split.labels[i] as usize][p as usize] += 1;
            }
        }
        Ok(Self {
            test_loss: summed / counted,
            accuracy: Accuracy::from_confusion(confusion),
        })
    }

    /// PyTorch's MNIST example's line: `Test set: Average loss: 0.0457, Accuracy: 9853/10000 (99%)`.
    pub fn line(&self) -> String {
        let a = &self.accuracy;
        format!(
            "Test set: Average loss: {:.4}, Accuracy: {}/{} ({:.0}%)",
            self.test_loss,
            a.correct,
            a.test_examples,
            100.0 * a.test_accuracy
        )
    }
}

impl Accuracy {
    fn from_confusion(confusion: Vec<Vec<usize>>) -> Self {
        let correct = (0..CLASSES).map(|c| confusion[c][c]).sum::<usize>();
        let total = confusion.iter().flatten().sum::<usize>();
        let per_class = (0..CLASSES)
            .map(|c| {
                let n = confusion[c].iter().sum::<usize>();
                if n == 0 {
                    f64::NAN
                } else {
                    confusion[c][c] as f64 / n as f64
                }
            })
            .collect();
        Self {
            test_accuracy: correct as f64 / total as f64,
            correct,
            test_examples: total,
            per_class_accuracy: per_class,
            confusion_matrix: confusion,
        }
    }
}
