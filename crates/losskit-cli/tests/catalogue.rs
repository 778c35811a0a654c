//! The rest of PyTorch's losses (and torchvision's box losses, torchaudio's RNN-T) against
//! their own numbers (`tools/golden/catalogue.py` wrote the fixtures; no Python is needed here), on
//! the fused and the composed path.

mod common;

use serde_json::Value;

/// The catalogue's cases of the ops in `ops`.
fn cases_of(ops: &[&str]) -> String {
    include_str!("fixtures/catalogue_cases.jsonl")
        .lines()
        .filter(|line| {
            let case: Value = serde_json::from_str(line).unwrap();
            ops.contains(&case["request"]["op"].as_str().unwrap())
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

const ELEMENTWISE: [&str; 9] = [
    "l1",
    "mse",
    "smooth_l1",
    "huber",
    "soft_margin",
    "poisson_nll",
    "gaussian_nll",
    "hinge_embedding",
    "margin_ranking",
];
const CLASSES: [&str; 3] = ["multilabel_soft_margin", "multilabel_margin", "multi_margin"];
const EMBEDDINGS: [&str; 3] = ["cosine_embedding", "triplet_margin", "triplet_margin_with_distance"];
const BOXES: [&str; 3] = ["generalized_box_iou", "distance_box_iou", "complete_box_iou"];
const SEQUENCES: [&str; 2] = ["ctc", "rnnt"];

#[test]
fn elementwise_losses_match_pytorch() {
    for kernels in [true, false] {
        assert!(common::check_cases_with(&cases_of(&ELEMENTWISE), kernels) >= 200);
    }
}

#[test]
fn multi_class_and_multi_label_margins_match_pytorch() {
    for kernels in [true, false] {
        assert!(common::check_cases_with(&cases_of(&CLASSES), kernels) >= 70);
    }
}

#[test]
fn embedding_losses_match_pytorch() {
    for kernels in [true, false] {
        assert!(common::check_cases_with(&cases_of(&EMBEDDINGS), kernels) >= 90);
    }
}

#[test]
fn box_losses_match_torchvision() {
    for kernels in [true, false] {
        assert!(common::check_cases_with(&cases_of(&BOXES), kernels) >= 80);
    }
}

#[test]
fn sequence_losses_match_pytorch_and_torchaudio() {
    for kernels in [true, false] {
        assert!(common::check_cases_with(&cases_of(&SEQUENCES), kernels) >= 136);
    }
}
