//! Bad input is an error naming the values, never a panic and never a silent number.

mod common;

use common::*;
use losskit::*;

#[test]
fn class_index_out_of_range() {
    let x = f64s(&[0.0; 9], [3, 3]);
    let err = cross_entropy(x.clone(), ints(&[0, 5, 1], [3]), &CrossEntropyOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "Target 5 is out of bounds for 3 classes");
    let err = nll(x.clone(), ints(&[0, -2, 1], [3]), &NllOptions::default()).unwrap_err();
    assert_eq!(err, LossError::TargetOutOfBounds { target: -2, classes: 3 });
    // The ignore_index is allowed, even when it is a valid class.
    assert!(cross_entropy(x, ints(&[0, 1, -100], [3]), &CrossEntropyOptions::default()).is_ok());
}

#[test]
fn bce_probabilities_outside_unit_interval() {
    let err = bce(f64s(&[0.5, 1.5], [2]), f64s(&[0.0, 1.0], [2]), &BceOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "all elements of input should be between 0 and 1, found 1.5");
    let err = bce(f64s(&[0.5, 0.5], [2]), f64s(&[-0.25, 1.0], [2]), &BceOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "all elements of target should be between 0 and 1, found -0.25");
    let err = bce(f64s(&[f64::NAN, 0.5], [2]), f64s(&[0.0, 1.0], [2]), &BceOptions::default()).unwrap_err();
    assert!(matches!(err, LossError::NotAProbability { name: "input", value } if value.is_nan()));
}

#[test]
fn the_first_value_outside_the_unit_interval_is_named_in_a_long_tensor() {
    // Past the first block of the scan, with a later bad value that must not be reported.
    let mut target = vec![0.5; 5000];
    (target[3001], target[4500]) = (1.25, -3.0);
    for dtype in [burn::tensor::DType::F64, burn::tensor::DType::F32] {
        let (x, target) = (float(&[0.5; 5000], [5000], dtype), float(&target, [5000], dtype));
        let err = bce(x, target, &BceOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "all elements of target should be between 0 and 1, found 1.25", "{dtype:?}");
    }
}

#[test]
fn shapes_that_do_not_fit() {
    let err = bce_with_logits(f64s(&[0.0; 4], [2, 2]), f64s(&[0.0; 4], [4, 1]), &BceWithLogitsOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "Target size [4, 1] must be the same as input size [2, 2]");
    let err = cross_entropy(f64s(&[0.0; 9], [3, 3]), ints(&[0, 1], [2]), &CrossEntropyOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "Expected target size [3], got [2] (input size [3, 3])");
    let o = BceWithLogitsOptions::default().with_pos_weight(f64s(&[1.0, 2.0, 3.0], [3]));
    let err = bce_with_logits(f64s(&[0.0; 4], [2, 2]), f64s(&[0.0; 4], [2, 2]), &o).unwrap_err();
    assert_eq!(err.to_string(), "pos_weight of shape [3] cannot be broadcast to the target's shape [2, 2]");
}

#[test]
fn weight_of_the_wrong_length() {
    let o = CrossEntropyOptions::default().with_weight(f64s(&[1.0; 4], [4]));
    let err = cross_entropy(f64s(&[0.0; 9], [3, 3]), ints(&[0, 1, 2], [3]), &o).unwrap_err();
    assert_eq!(err.to_string(), "weight should have 3 elements (one per class), found 4");
}

#[test]
fn options_out_of_their_domain() {
    let device = device();
    assert_eq!(
        CrossEntropyLossConfig::new().with_label_smoothing(1.5).init(&device).unwrap_err().to_string(),
        "label_smoothing must be between 0.0 and 1.0, found 1.5"
    );
    assert!(SigmoidFocalLossConfig::new().with_gamma(-1.0).init(&device).is_err());
    assert!(SoftmaxFocalLossConfig::new().with_gamma(f64::NAN).init(&device).is_err());
    let probs = f64s(&[0.5; 4], [2, 2]);
    let err = cross_entropy_with_probs(probs.clone(), probs, &CrossEntropyOptions::default().with_ignore_index(0)).unwrap_err();
    assert_eq!(err, LossError::IgnoreIndexWithProbabilities(0));
}

#[test]
fn dimension_out_of_range() {
    let err = softmax(f64s(&[0.0; 6], [2, 3]), 2).unwrap_err();
    assert_eq!(err.to_string(), "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    assert!(log_softmax(f64s(&[0.0; 6], [2, 3]), -3).is_err());
    assert!(entropy(f64s(&[0.5; 6], [2, 3]), -2).is_ok());
}

#[test]
fn non_finite_inputs_propagate_as_in_pytorch() {
    let o = CrossEntropyOptions::default().with_reduction(Reduction::None);
    let out = read(cross_entropy(f64s(&[f64::NAN, 0.0, 1.0, 2.0], [2, 2]), ints(&[0, 1], [2]), &o).unwrap());
    assert!(out[0].is_nan() && out[1].is_finite());
    let o = BceWithLogitsOptions::default().with_reduction(Reduction::None);
    let out = read(bce_with_logits(f64s(&[f64::INFINITY, f64::NAN], [2]), f64s(&[0.0, 1.0], [2]), &o).unwrap());
    assert_eq!(out[0], f64::INFINITY);
    assert!(out[1].is_nan());
}

#[test]
fn nan_and_infinity_propagate_on_every_path() {
    let nan = f64::NAN;
    for composed in [false, true] {
        let run = |f: &dyn Fn() -> Vec<f64>| if composed { losskit::kernel::with_composed(f) } else { f() };
        let none = Reduction::None;
        let ce = run(&|| read(cross_entropy(f64s(&[nan, 0.0, 1.0, 2.0], [2, 2]), ints(&[1, 0], [2]), &CrossEntropyOptions::default().with_reduction(none)).unwrap()));
        assert!(ce[0].is_nan() && ce[1].is_finite(), "{composed}: {ce:?}");
        let mean = run(&|| read(cross_entropy(f64s(&[nan, 0.0, 1.0, 2.0], [2, 2]), ints(&[1, 0], [2]), &CrossEntropyOptions::default()).unwrap()));
        assert!(mean[0].is_nan());
        let focal = run(&|| read(sigmoid_focal(f64s(&[nan, f64::INFINITY, -1.0], [3]), f64s(&[1.0, 0.0, 1.0], [3]), &SigmoidFocalOptions::default().with_reduction(none)).unwrap()));
        assert!(focal[0].is_nan() && focal[1] == f64::INFINITY && focal[2].is_finite(), "{composed}: {focal:?}");
        let bcel = run(&|| read(bce_with_logits(f64s(&[f64::NEG_INFINITY, 3.0], [2]), f64s(&[1.0, 1.0], [2]), &BceWithLogitsOptions::default().with_reduction(none)).unwrap()));
        assert!(bcel[0] == f64::INFINITY && bcel[1].is_finite(), "{composed}: {bcel:?}");
    }
    let sm = read(softmax(f64s(&[nan, 1.0, 2.0, 3.0], [2, 2]), 1).unwrap());
    assert!(sm[0].is_nan() && sm[1].is_nan() && sm[2].is_finite());
    let nl = read(nll(f64s(&[nan, 0.0, -1.0, -2.0], [2, 2]), ints(&[0, 1], [2]), &NllOptions::default().with_reduction(Reduction::None)).unwrap());
    assert!(nl[0].is_nan() && nl[1] == 2.0);
}

#[test]
fn an_ignore_index_the_target_type_cannot_hold_ignores_nothing() {
    // The default integer tensor may be i32; i64::MAX must not fail a cast.
    let x = f64s(&[1.0, 2.0, 3.0, 0.5, 0.1, -1.0], [2, 3]);
    let o = CrossEntropyOptions::default().with_ignore_index(i64::MAX);
    let with_huge = scalar(cross_entropy(x.clone(), ints(&[2, 0], [2]), &o).unwrap());
    let plain = scalar(cross_entropy(x, ints(&[2, 0], [2]), &CrossEntropyOptions::default()).unwrap());
    assert_eq!(with_huge, plain);
    let composed = losskit::kernel::with_composed(|| {
        let x = f64s(&[1.0, 2.0, 3.0, 0.5, 0.1, -1.0], [2, 3]);
        scalar(cross_entropy(x, ints(&[2, 0], [2]), &o).unwrap())
    });
    assert!((composed - plain).abs() < 1e-12);
}
