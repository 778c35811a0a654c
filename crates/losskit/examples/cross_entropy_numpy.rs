//! The tutorial's NumPy cross entropy (max-subtracted softmax, pick the target, -log, mean)
//! against `nn.CrossEntropyLoss`, on logits [[2, 1, 0.1], [1, 0.2, 1.5]] and targets [0, 2].
//!
//! PyTorch prints `compare : celoss_self 0.5239014... celoss_correct 0.5239014...`.

use burn::tensor::{Device, Int, Tensor};
use losskit::CrossEntropyLossConfig;

/// The tutorial's `cross_entropy_loss`, on plain slices.
fn by_hand(logits: &[[f64; 3]], targets: &[usize]) -> f64 {
    let losses: Vec<f64> = logits
        .iter()
        .zip(targets)
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
            let probs_t = exps[t] / exps.iter().sum::<f64>();
            -probs_t.ln()
        })
        .collect();
    losses.iter().sum::<f64>() / losses.len() as f64
}

fn both() -> (f64, f32) {
    let logits = [[2.0, 1.0, 0.1], [1.0, 0.2, 1.5]];
    let device = Device::flex();
    let library = CrossEntropyLossConfig::new()
        .init(&device)
        .unwrap()
        .forward(
            Tensor::<2>::from_data(logits, &device),
            Tensor::<1, Int>::from_data([0, 2], &device),
        )
        .unwrap();
    (by_hand(&logits, &[0, 2]), library.into_scalar())
}

fn main() {
    let (self_made, correct) = both();
    println!("compare : celoss_self {self_made} celoss_correct {correct}");
}

#[test]
fn hand_written_matches_the_library() {
    let (self_made, correct) = both();
    assert!((self_made - 0.523_901_46).abs() < 1e-7, "{self_made}");
    assert!((correct as f64 - self_made).abs() < 1e-6);
}
