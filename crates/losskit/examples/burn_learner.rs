//! A losskit loss inside burn's own training loop.
//!
//! The model owns its loss as a module field (`CrossEntropyLoss` derives burn's `Module`), its
//! `TrainStep` and `InferenceStep` call it, and `burn-train`'s `SupervisedTraining` runs the
//! epochs, the metrics and the optimizer: nothing here is losskit's own loop. The data are three
//! interleaved spirals in the plane, made here so that the example needs no download.
//!
//! `cargo run --release -p losskit --example burn_learner`

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::AdamConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn_train::metric::{AccuracyMetric, LossMetric, MetricDefinition};
use burn_train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation, MetricsRendererTraining,
};
use burn_train::{ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep};
use losskit::{CrossEntropyLoss, CrossEntropyLossConfig};

const CLASSES: usize = 3;
const HIDDEN: usize = 64;

/// A two-layer classifier that carries the loss it is trained with.
#[derive(Module, Debug)]
struct SpiralClassifier {
    hidden: Linear,
    activation: Relu,
    output: Linear,
    loss: CrossEntropyLoss,
}

impl SpiralClassifier {
    fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(2, HIDDEN).init(device),
            activation: Relu::new(),
            output: LinearConfig::new(HIDDEN, CLASSES).init(device),
            loss: CrossEntropyLossConfig::new()
                .with_label_smoothing(0.05)
                .init(device)
                .expect("a label smoothing of 0.05 is in [0, 1]"),
        }
    }

    fn logits(&self, points: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.activation.forward(self.hidden.forward(points)))
    }

    fn classify(&self, batch: SpiralBatch) -> ClassificationOutput {
        let logits = self.logits(batch.points);
        // The shapes are the model's own ((batch, 3) logits, (batch) labels in 0..3), so an error
        // here is a bug in this file, not bad data: a training step has no way to return it.
        let loss = self
            .loss
            .forward(logits.clone(), batch.labels.clone())
            .expect("logits and labels of one batch");
        ClassificationOutput::new(loss, logits, batch.labels)
    }
}

impl TrainStep for SpiralClassifier {
    type Input = SpiralBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: SpiralBatch) -> TrainOutput<ClassificationOutput> {
        let output = self.classify(batch);
        let grads = output.loss.backward();
        TrainOutput::new(self, grads, output)
    }
}

impl InferenceStep for SpiralClassifier {
    type Input = SpiralBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: SpiralBatch) -> ClassificationOutput {
        self.classify(batch)
    }
}

/// One labelled point of the data set.
#[derive(Clone, Debug)]
struct SpiralPoint {
    x: f32,
    y: f32,
    label: i64,
}

/// `count` points per class on three spiral arms, a deterministic wobble standing in for noise;
/// `phase` shifts the points along the arms so that a validation set is not the training set.
fn spirals(count: usize, phase: f32) -> Vec<SpiralPoint> {
    (0..CLASSES)
        .flat_map(|class| {
            (0..count).map(move |i| {
                let t = (i as f32 + phase) / count as f32;
                let angle =
                    4.0 * t + class as f32 * 2.0 * std::f32::consts::PI / CLASSES as f32 + 0.2 * (37.0 * t).sin();
                SpiralPoint {
                    x: t * angle.cos(),
                    y: t * angle.sin(),
                    label: class as i64,
                }
            })
        })
        .collect()
}

#[derive(Clone, Debug)]
struct SpiralBatch {
    points: Tensor<2>,
    labels: Tensor<1, Int>,
}

#[derive(Clone, Default)]
struct SpiralBatcher;

impl Batcher<SpiralPoint, SpiralBatch> for SpiralBatcher {
    fn batch(&self, items: Vec<SpiralPoint>, device: &Device) -> SpiralBatch {
        let coordinates: Vec<f32> = items.iter().flat_map(|p| [p.x, p.y]).collect();
        let labels: Vec<i64> = items.iter().map(|p| p.label).collect();
        SpiralBatch {
            points: Tensor::from_data(TensorData::new(coordinates, [items.len(), 2]), device),
            labels: Tensor::from_data(TensorData::new(labels, [items.len()]), device),
        }
    }
}

/// What a run ends with: the trained model's accuracy and mean loss on the validation points.
struct Outcome {
    accuracy: f64,
    loss: f64,
}

fn train(epochs: usize, directory: &std::path::Path) -> Outcome {
    let device = Device::flex().autodiff();
    let loader = |points: Vec<SpiralPoint>, seed: u64| {
        DataLoaderBuilder::new(SpiralBatcher)
            .batch_size(32)
            .shuffle(seed)
            .set_device(device.clone())
            .build(InMemDataset::new(points))
    };
    let training = SupervisedTraining::new(directory, loader(spirals(200, 0.0), 1), loader(spirals(100, 0.5), 2))
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .metric_valid_numeric(AccuracyMetric::new())
        .with_application_logger(None)
        .renderer(Box::new(EpochLines::default()))
        .num_epochs(epochs);
    let learner = Learner::new(SpiralClassifier::new(&device), AdamConfig::new().init(), 0.01);
    let trained = training.launch(learner).model;

    let validation = SpiralBatcher.batch(spirals(100, 0.5), &device);
    let labels = validation.labels.clone();
    let output = InferenceStep::step(&trained, validation);
    let correct = output.output.argmax(1).squeeze_dim::<1>(1).equal(labels).int().sum();
    let correct = correct.try_into_vec_as::<i64>().expect("a count on the host")[0];
    Outcome {
        accuracy: correct as f64 / (100 * CLASSES) as f64,
        loss: output.loss.try_into_vec_as::<f64>().expect("a loss on the host")[0],
    }
}

/// One line per epoch on standard output. burn-train's own renderers are a terminal UI (its
/// `tui` feature, left off here) or, without one, a debug print of every batch's progress.
#[derive(Default)]
struct EpochLines {
    total_epochs: usize,
}

impl TrainingProgressLogger for EpochLines {
    fn start(&mut self, total_epochs: usize, _starting_epoch: usize, _items: Option<usize>, _label: Option<&str>) {
        self.total_epochs = total_epochs;
    }
    fn update_epoch(&mut self, epoch: usize) {
        println!("epoch {epoch}/{}", self.total_epochs);
    }
    fn start_split(&mut self, _split: &str, _total_items: usize) {}
    fn update_split(&mut self, _items_processed: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochLines {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}

/// A directory for burn-train's logs, removed when the run is over.
struct ScratchDirectory(std::path::PathBuf);

impl ScratchDirectory {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!("losskit-{name}-{}", std::process::id())))
    }
}

impl Drop for ScratchDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let directory = ScratchDirectory::new("burn-learner");
    let outcome = train(30, &directory.0);
    println!(
        "validation: accuracy {:.3}, cross entropy (label smoothing 0.05) {:.4}",
        outcome.accuracy, outcome.loss
    );
}

#[test]
fn burns_learner_trains_a_model_that_holds_a_losskit_loss() {
    let directory = ScratchDirectory::new("burn-learner-test");
    let untrained_loss = (CLASSES as f64).ln();
    let outcome = train(10, &directory.0);
    // Chance is 1/3 and the untrained loss near ln 3: ten epochs must do clearly better.
    assert!(outcome.accuracy > 0.6, "accuracy {}", outcome.accuracy);
    assert!(
        outcome.loss < 0.8 * untrained_loss,
        "loss {} against ln 3 = {untrained_loss}",
        outcome.loss
    );
}
