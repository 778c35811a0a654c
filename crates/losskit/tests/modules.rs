//! The config + module face: PyTorch defaults, options carried to the function, both dtypes.

mod common;

use burn::tensor::DType;
use common::*;
use losskit::*;

#[test]
fn defaults_are_pytorchs() {
    let ce = CrossEntropyLossConfig::new();
    assert_eq!((ce.ignore_index, ce.label_smoothing, ce.reduction), (-100, 0.0, Reduction::Mean));
    let focal = SigmoidFocalLossConfig::new();
    assert_eq!((focal.alpha, focal.gamma), (Some(0.25), 2.0));
    assert_eq!(SoftmaxFocalLossConfig::new().gamma, 2.0);
    assert_eq!(Reduction::default(), Reduction::Mean);
    assert_eq!("sum".parse::<Reduction>(), Ok(Reduction::Sum));
    assert!("avg".parse::<Reduction>().is_err());
}

#[test]
fn module_and_function_agree_in_both_dtypes() {
    let device = device();
    let x = uniform(12, 21, -3.0, 3.0);
    let y = [2i64, 0, 1, -100];
    let loss = CrossEntropyLossConfig::new()
        .with_weight(vec![0.5, 1.0, 2.0])
        .with_label_smoothing(0.1)
        .init(&device)
        .unwrap();
    let f64_value = scalar(loss.forward(f64s(&x, [4, 3]), ints(&y, [4])).unwrap());
    let f32_value = scalar(loss.forward(float(&x, [4, 3], DType::F32), ints(&y, [4])).unwrap());
    let options = CrossEntropyOptions::default()
        .with_weight(f64s(&[0.5, 1.0, 2.0], [3]))
        .with_label_smoothing(0.1);
    let direct = scalar(cross_entropy(f64s(&x, [4, 3]), ints(&y, [4]), &options).unwrap());
    assert_eq!(f64_value, direct);
    assert!((f32_value - f64_value).abs() < 1e-5 * f64_value.abs());

    let focal = SigmoidFocalLossConfig::new().with_pos_weight(vec![1.0, 2.0, 3.0]).init(&device).unwrap();
    let t = uniform(12, 22, 0.0, 1.0);
    let v = scalar(focal.forward(f64s(&x, [4, 3]), f64s(&t, [4, 3])).unwrap());
    assert!(v.is_finite() && v > 0.0);
}

#[test]
fn reduced_losses_have_burns_scalar_shape_and_none_keeps_shape() {
    let x = f64s(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [2, 3]);
    let y = f64s(&[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [2, 3]);
    let mean = bce_with_logits(x.clone(), y.clone(), &BceWithLogitsOptions::default()).unwrap();
    assert_eq!(mean.dims(), [1, 1]);
    let none = bce_with_logits(x.clone(), y, &BceWithLogitsOptions::default().with_reduction(Reduction::None)).unwrap();
    assert_eq!(none.dims(), [2, 3]);
    let ce = cross_entropy(x, ints(&[0, 2], [2]), &CrossEntropyOptions::default()).unwrap();
    assert_eq!(ce.dims(), [1]);
}

#[test]
fn entropy_of_a_distribution_with_zeros_is_finite() {
    let (h, grad) = value_and_grad(&[0.0, 0.5, 0.5, 0.0], [1, 4], DType::F64, |p| entropy(p, 1).unwrap());
    assert!((h - std::f64::consts::LN_2).abs() < 1e-15);
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
}

#[test]
fn saturated_focal_gradients_are_finite_where_pytorchs_are_nan() {
    for dtype in [DType::F32, DType::F64] {
        let (value, grad) = value_and_grad(&[30.0, -30.0, 1e3, -1e3], [4], dtype, |x| {
            let o = SigmoidFocalOptions::default().with_gamma(0.5).with_reduction(Reduction::Sum);
            sigmoid_focal(x, float(&[1.0, 0.0, 1.0, 0.0], [4], dtype), &o).unwrap()
        });
        assert!(value.is_finite() && value >= 0.0);
        assert!(grad.iter().all(|g| g.is_finite()), "{dtype:?}: {grad:?}");
    }
}
