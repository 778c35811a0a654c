//! `--accumulate N`: the step after N micro-batches is the step of the one big batch, the
//! short last group included; exactly (f64, 1e-12) for one step of the library, to f32
//! rounding for a whole run of the binary.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use burn::tensor::{DType, Device, FloatDType, Int, Tensor, TensorData};
use losskit_cli::common::batch::Batch;
use losskit_cli::common::loss::Loss;
use losskit_cli::common::model::Mlp;
use losskit_cli::common::sgd::Sgd;
use losskit_cli::train::{step, trained_model};

use common::cli::{losskit, text};
use common::scratch::scratch;

const INPUTS: usize = 12;
const CLASSES: usize = 5;
const ROWS: usize = 24;
const IGNORE: i64 = -100;

/// The flex device with autodiff, its floats f64 (configured once, before any tensor of
/// this test process; the binary's runs are other processes).
fn f64_device() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let mut device = Device::flex();
            device
                .configure(FloatDType::F64)
                .expect("f64 is configured before any tensor");
            device.autodiff()
        })
        .clone()
}

/// A pseudo-random sequence in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Rows `range` of the step's data as a batch; `labels` may hold the ignored -100.
fn batch(images: &[f64], labels: &[i64], range: std::ops::Range<usize>, device: &Device) -> Batch {
    let n = range.len();
    let pixels = images[range.start * INPUTS..range.end * INPUTS].to_vec();
    Batch {
        images: Tensor::from_data(TensorData::new(pixels, [n, INPUTS]), (device, DType::F64)),
        labels: Tensor::<1, Int>::from_data(TensorData::new(labels[range].to_vec(), [n]), device),
    }
}

/// Three steps of SGD with momentum and weight decay under `loss`, each on one batch of
/// `ROWS` or on the micro-batches `split` of it; the parameters after them.
fn train(loss: &Loss, split: Option<&[std::ops::Range<usize>]>) -> Vec<f64> {
    let device = f64_device();
    device.seed(5);
    let mut model = Mlp::new(INPUTS, 8, CLASSES, &device);
    let mut optim = Sgd::new(0.9, 1e-3).init();
    let built = loss.build(losskit::Reduction::Sum, &device).expect("the loss builds");
    for k in 0..3 {
        let images = values(ROWS * INPUTS, 10 + k);
        let labels: Vec<i64> = (0..ROWS)
            .map(|i| match (i + k as usize) % 7 {
                3 => IGNORE,
                r => (r % CLASSES) as i64,
            })
            .collect();
        let group = match split {
            Some(split) => split
                .iter()
                .map(|r| batch(&images, &labels, r.clone(), &device))
                .collect(),
            None => vec![batch(&images, &labels, 0..ROWS, &device)],
        };
        model = step(model, &mut optim, &built, group, 0.1, CLASSES)
            .expect("the step runs")
            .model;
    }
    model.parameters()
}

fn assert_close(got: &[f64], want: &[f64], rtol: f64, atol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: parameter {i}: {g} against {w}"
        );
    }
}

#[test]
fn micro_batches_step_as_the_big_batch_in_f64() {
    let weight = Some(vec![0.5, 2.0, 1.0, 3.0, 0.25]);
    // Uneven, a single row, one micro-batch whose every target is ignored (rows 3 and 10
    // are ignored in the first step).
    let split = [0..3, 3..4, 4..11, 11..ROWS];
    for (name, loss) in [
        (
            "cross entropy",
            Loss::CrossEntropy {
                label_smoothing: 0.0,
                class_weight: None,
            },
        ),
        (
            "label smoothing",
            Loss::CrossEntropy {
                label_smoothing: 0.1,
                class_weight: None,
            },
        ),
        (
            "class weights",
            Loss::CrossEntropy {
                label_smoothing: 0.1,
                class_weight: weight.clone(),
            },
        ),
        ("nll", Loss::Nll),
        (
            "softmax focal",
            Loss::SoftmaxFocal {
                gamma: 2.0,
                alpha: Some(0.5),
            },
        ),
    ] {
        let whole = train(&loss, None);
        let parts = train(&loss, Some(&split));
        assert_close(&parts, &whole, 1e-12, 1e-14, name);
    }
}

/// The parameters a run left in `dir`.
fn parameters(dir: &Path) -> Vec<f64> {
    trained_model(dir).expect("the run left a checkpoint").parameters()
}

/// The `step,epoch,loss,lr` rows of a run's metrics.csv, the loss parsed.
fn metrics(dir: &Path) -> Vec<(String, f64)> {
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let key = format!("{},{},{}", fields[0], fields[1], fields[3]);
            (key, fields[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn accumulated_runs_end_with_the_big_batch_runs_weights() {
    for (name, small, accumulate, big, extra) in [
        ("plain", "16", "4", "64", &[][..]),
        // 8,000 examples in groups of 120: the last group is 30 + 30 + 20.
        (
            "smoothing, short last group",
            "30",
            "4",
            "120",
            &["--label-smoothing", "0.1"][..],
        ),
    ] {
        let (a, b) = (scratch("accumulated"), scratch("big-batch"));
        let run = |dir: &Path, args: &[&str]| {
            let mut all = vec!["train", "--epochs", "1", "--out", dir.to_str().unwrap()];
            all.extend_from_slice(args);
            all.extend_from_slice(extra);
            let run = losskit(&all);
            assert!(run.status.success(), "{name}: {}", text(&run.stderr));
        };
        run(&a, &["--batch-size", small, "--accumulate", accumulate]);
        run(&b, &["--batch-size", big]);
        let (steps_a, steps_b) = (metrics(&a), metrics(&b));
        assert_eq!(steps_a.len(), steps_b.len(), "{name}: one row per optimizer step");
        for ((key_a, loss_a), (key_b, loss_b)) in steps_a.iter().zip(&steps_b) {
            assert_eq!(key_a, key_b, "{name}");
            assert!(
                (loss_a - loss_b).abs() <= 1e-4 * loss_b.abs(),
                "{name}: {key_a}: {loss_a} against {loss_b}"
            );
        }
        assert_close(&parameters(&a), &parameters(&b), 1e-3, 1e-5, name);
    }
}
