//! Bad input is an error naming the values, never a panic and never a silent number.

mod common;

use burn::tensor::DType;
use common::*;
use losskit::*;

fn ce() -> CrossEntropyLoss {
    CrossEntropyLossConfig::new().init(&device()).unwrap()
}

#[test]
fn class_index_out_of_range() {
    let x = f64s(&[0.0; 9], [3, 3]);
    let err = ce().forward(x.clone(), ints(&[0, 5, 1], [3])).unwrap_err();
    assert_eq!(err.to_string(), "Target 5 is out of bounds for 3 classes");
    let err = NllLossConfig::new()
        .init(&device())
        .forward(x.clone(), ints(&[0, -2, 1], [3]))
        .unwrap_err();
    assert_eq!(err, LossError::TargetOutOfBounds { target: -2, classes: 3 });
    // The ignore_index is allowed, even when it is a valid class.
    assert!(ce().forward(x, ints(&[0, 1, -100], [3])).is_ok());
}

#[test]
fn bce_probabilities_outside_unit_interval() {
    let bce = BceLossConfig::new().init(&device()).unwrap();
    let err = bce.forward(f64s(&[0.5, 1.5], [2]), f64s(&[0.0, 1.0], [2])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "all elements of input should be between 0 and 1, found 1.5"
    );
    let err = bce
        .forward(f64s(&[0.5, 0.5], [2]), f64s(&[-0.25, 1.0], [2]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "all elements of target should be between 0 and 1, found -0.25"
    );
    let err = bce
        .forward(f64s(&[f64::NAN, 0.5], [2]), f64s(&[0.0, 1.0], [2]))
        .unwrap_err();
    assert!(matches!(err, LossError::NotAProbability { name: "input", value } if value.is_nan()));
}

#[test]
fn the_first_value_outside_the_unit_interval_is_named_in_a_long_tensor() {
    // Past the first block of the scan, with a later bad value that must not be reported.
    let mut target = vec![0.5; 5000];
    (target[3001], target[4500]) = (1.25, -3.0);
    let bce = BceLossConfig::new().init(&device()).unwrap();
    for dtype in [DType::F64, DType::F32] {
        let (x, target) = (float(&[0.5; 5000], [5000], dtype), float(&target, [5000], dtype));
        let err = bce.forward(x, target).unwrap_err();
        assert_eq!(
            err.to_string(),
            "all elements of target should be between 0 and 1, found 1.25",
            "{dtype:?}"
        );
    }
}

#[test]
fn shapes_that_do_not_fit() {
    let bce = BceWithLogitsLossConfig::new().init(&device()).unwrap();
    let err = bce
        .forward(f64s(&[0.0; 4], [2, 2]), f64s(&[0.0; 4], [4, 1]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Target size [4, 1] must be the same as input size [2, 2]"
    );
    let err = ce().forward(f64s(&[0.0; 9], [3, 3]), ints(&[0, 1], [2])).unwrap_err();
    assert_eq!(err.to_string(), "Expected target size [3], got [2] (input size [3, 3])");
    let pos_weight = Some(BroadcastWeight::last_dim(vec![1.0, 2.0, 3.0]));
    let bce = BceWithLogitsLossConfig::new()
        .with_pos_weight(pos_weight)
        .init(&device())
        .unwrap();
    let err = bce
        .forward(f64s(&[0.0; 4], [2, 2]), f64s(&[0.0; 4], [2, 2]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pos_weight of shape [3] cannot be broadcast to the target's shape [2, 2]"
    );
    let bad = Some(BroadcastWeight::new(vec![1.0, 2.0], vec![3]));
    let err = BceLossConfig::new().with_weight(bad).init(&device()).unwrap_err();
    assert_eq!(err.to_string(), "weight of shape [3] needs 3 values, found 2");
}

#[test]
fn weight_of_the_wrong_length() {
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0; 4]))
        .init(&device())
        .unwrap();
    let err = loss
        .forward(f64s(&[0.0; 9], [3, 3]), ints(&[0, 1, 2], [3]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "weight should have 3 elements (one per class), found 4"
    );
}

#[test]
fn options_out_of_their_domain() {
    let device = device();
    assert_eq!(
        CrossEntropyLossConfig::new()
            .with_label_smoothing(1.5)
            .init(&device)
            .unwrap_err()
            .to_string(),
        "label_smoothing must be between 0.0 and 1.0, found 1.5"
    );
    assert!(SigmoidFocalLossConfig::new().with_gamma(-1.0).init(&device).is_err());
    assert!(
        SigmoidFocalLossConfig::new()
            .with_alpha(Some(f64::NAN))
            .init(&device)
            .is_err()
    );
    assert!(
        SoftmaxFocalLossConfig::new()
            .with_gamma(f64::NAN)
            .init(&device)
            .is_err()
    );
    let probs = f64s(&[0.5; 4], [2, 2]);
    let loss = CrossEntropyLossConfig::new()
        .with_ignore_index(0)
        .init(&device)
        .unwrap();
    assert_eq!(
        loss.forward_probs(probs.clone(), probs).unwrap_err(),
        LossError::IgnoreIndexWithProbabilities(0)
    );
    assert_eq!(
        "avg".parse::<Reduction>().unwrap_err(),
        LossError::Reduction("avg".into())
    );
}

#[test]
fn softcap_and_z_loss_out_of_their_domain() {
    let device = device();
    for cap in [0.0, -2.0, f64::NAN, f64::INFINITY] {
        let err = CrossEntropyLossConfig::new()
            .with_softcap(Some(cap))
            .init(&device)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("softcap must be finite and > 0, found"),
            "{err}"
        );
    }
    for z in [-1e-4, f64::NAN, f64::INFINITY] {
        let err = CrossEntropyLossConfig::new().with_z_loss(z).init(&device).unwrap_err();
        assert!(
            err.to_string().starts_with("z_loss must be finite and >= 0, found"),
            "{err}"
        );
    }
    let probs = f64s(&[0.5; 4], [2, 2]);
    let capped = CrossEntropyLossConfig::new()
        .with_softcap(Some(5.0))
        .init(&device)
        .unwrap();
    assert_eq!(
        capped.forward_probs(probs.clone(), probs.clone()).unwrap_err(),
        LossError::ClassIndexOnly("softcap")
    );
    let z = CrossEntropyLossConfig::new().with_z_loss(0.1).init(&device).unwrap();
    let err = z.forward_probs_no_reduction::<2, 1>(probs.clone(), probs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "z_loss is defined for class-index targets only, not for class probabilities"
    );
}

#[test]
fn dimension_out_of_range() {
    let err = softmax(f64s(&[0.0; 6], [2, 3]), 2).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
    );
    assert!(log_softmax(f64s(&[0.0; 6], [2, 3]), -3).is_err());
    assert!(entropy::<2, 1>(f64s(&[0.5; 6], [2, 3]), -2).is_ok());
}

#[test]
fn nan_and_infinity_propagate_on_every_path() {
    let nan = f64::NAN;
    for composed in [false, true] {
        let run = |f: &dyn Fn() -> Vec<f64>| if composed { with_composed(f) } else { f() };
        let rows = run(&|| {
            read(
                ce().forward_no_reduction(f64s(&[nan, 0.0, 1.0, 2.0], [2, 2]), ints(&[1, 0], [2]))
                    .unwrap(),
            )
        });
        assert!(rows[0].is_nan() && rows[1].is_finite(), "{composed}: {rows:?}");
        let mean = run(&|| {
            read(
                ce().forward(f64s(&[nan, 0.0, 1.0, 2.0], [2, 2]), ints(&[1, 0], [2]))
                    .unwrap(),
            )
        });
        assert!(mean[0].is_nan());
        let focal = SigmoidFocalLossConfig::new().init(&device()).unwrap();
        let focal = run(&|| {
            read(
                focal
                    .forward_no_reduction(f64s(&[nan, f64::INFINITY, -1.0], [3]), f64s(&[1.0, 0.0, 1.0], [3]))
                    .unwrap(),
            )
        });
        assert!(
            focal[0].is_nan() && focal[1] == f64::INFINITY && focal[2].is_finite(),
            "{composed}: {focal:?}"
        );
        let bce = BceWithLogitsLossConfig::new().init(&device()).unwrap();
        let bce = run(&|| {
            read(
                bce.forward_no_reduction(f64s(&[f64::NEG_INFINITY, 3.0], [2]), f64s(&[1.0, 1.0], [2]))
                    .unwrap(),
            )
        });
        assert!(bce[0] == f64::INFINITY && bce[1].is_finite(), "{composed}: {bce:?}");
        let sm = run(&|| read(softmax(f64s(&[nan, 1.0, 2.0, 3.0], [2, 2]), 1).unwrap()));
        assert!(
            sm[0].is_nan() && sm[1].is_nan() && sm[2].is_finite(),
            "{composed}: {sm:?}"
        );
    }
    let nll = NllLossConfig::new().init(&device());
    let nl = read(
        nll.forward_no_reduction(f64s(&[nan, 0.0, -1.0, -2.0], [2, 2]), ints(&[0, 1], [2]))
            .unwrap(),
    );
    assert!(nl[0].is_nan() && nl[1] == 2.0);
}

#[test]
fn an_ignore_index_the_target_type_cannot_hold_ignores_nothing() {
    // The default integer tensor may be i32; i64::MAX must not fail a cast.
    let x = || f64s(&[1.0, 2.0, 3.0, 0.5, 0.1, -1.0], [2, 3]);
    let huge = CrossEntropyLossConfig::new()
        .with_ignore_index(i64::MAX)
        .init(&device())
        .unwrap();
    let with_huge = scalar(huge.forward(x(), ints(&[2, 0], [2])).unwrap());
    let plain = scalar(ce().forward(x(), ints(&[2, 0], [2])).unwrap());
    assert_eq!(with_huge, plain);
    let composed = with_composed(|| scalar(huge.forward(x(), ints(&[2, 0], [2])).unwrap()));
    assert!((composed - plain).abs() < 1e-12);
}
