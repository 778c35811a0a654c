//! The tutorial's hand-written BCE-with-logits (sigmoid, then logs with a 1e-9 epsilon)
//! against the library's, on logits [[1, -1, 2], [-0.5, 0.5, -1.5]] and targets [[1, 0, 1], [0, 1, 0]].
//!
//! PyTorch prints 0.31716978549957275 (by hand) and 0.31716975569725037 (built in).

use burn::tensor::{Device, Tensor, activation::sigmoid};
use losskit::BceWithLogitsLossConfig;

fn both() -> (f32, f32) {
    let device = Device::flex();
    let logits = Tensor::<2>::from_data([[1.0, -1.0, 2.0], [-0.5, 0.5, -1.5]], &device);
    let targets = Tensor::<2>::from_data([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]], &device);

    let probs = sigmoid(logits.clone());
    let epsilon = 1e-9;
    let by_hand = (targets.clone() * probs.clone().add_scalar(epsilon).log()
        + targets.clone().neg().add_scalar(1.0) * probs.neg().add_scalar(1.0 + epsilon).log())
    .mean()
    .neg();
    let library = BceWithLogitsLossConfig::new()
        .init(&device)
        .unwrap()
        .forward(logits, targets)
        .unwrap();
    (by_hand.into_scalar(), library.into_scalar())
}

fn main() {
    let (by_hand, library) = both();
    println!("by hand (sigmoid + log, eps 1e-9): {by_hand}");
    println!("losskit::bce_with_logits:          {library}");
}

#[test]
fn hand_written_matches_the_library() {
    let (by_hand, library) = both();
    assert!((library - 0.317_169_76).abs() < 1e-6, "{library}");
    assert!((by_hand - library).abs() < 1e-6);
}
