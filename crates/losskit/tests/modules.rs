//! The burn face of the losses: PyTorch's defaults, configurations that save and load,
//! losses a model can hold, burn's shapes for reduced and unreduced results.

mod common;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{DType, Int, Tensor};
use common::*;
use losskit::*;

#[test]
fn defaults_are_pytorchs() {
    let ce = CrossEntropyLossConfig::new();
    assert_eq!(
        (ce.ignore_index, ce.label_smoothing, ce.reduction),
        (-100, 0.0, Reduction::Mean)
    );
    let focal = SigmoidFocalLossConfig::new();
    assert_eq!((focal.alpha, focal.gamma), (Some(0.25), 2.0));
    assert_eq!(SoftmaxFocalLossConfig::new().gamma, 2.0);
    assert_eq!(KlDivLossConfig::new().reduction, KlReduction::Mean);
    assert_eq!(Reduction::default(), Reduction::Mean);
    assert_eq!("sum".parse::<Reduction>(), Ok(Reduction::Sum));
}

#[test]
fn configurations_round_trip_through_save_and_load() {
    let dir = std::env::temp_dir().join(format!("losskit-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ce.json");
    let config = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.5, 1.0, 2.0]))
        .with_label_smoothing(0.1)
        .with_ignore_index(3)
        .with_reduction(Reduction::Sum);
    config.save(&path).unwrap();
    let loaded = CrossEntropyLossConfig::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        (
            loaded.weight,
            loaded.label_smoothing,
            loaded.ignore_index,
            loaded.reduction
        ),
        (Some(vec![0.5, 1.0, 2.0]), 0.1, 3, Reduction::Sum)
    );
    let focal = SoftmaxFocalLossConfig::new().with_alpha(FocalAlpha::PerClass(vec![0.25, 0.75]));
    let text = serde_json::to_string(&focal).unwrap();
    let back: SoftmaxFocalLossConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back.alpha, FocalAlpha::PerClass(vec![0.25, 0.75]));
    let bce = BceWithLogitsLossConfig::new().with_pos_weight(Some(BroadcastWeight::new(vec![1.0, 2.0], vec![2, 1, 1])));
    let back: BceWithLogitsLossConfig = serde_json::from_str(&serde_json::to_string(&bce).unwrap()).unwrap();
    assert_eq!(
        back.pos_weight,
        Some(BroadcastWeight::new(vec![1.0, 2.0], vec![2, 1, 1]))
    );
}

/// A model that owns its loss, as a burn user writes one.
#[derive(Module, Debug)]
struct Classifier {
    linear: burn::nn::Linear,
    loss: CrossEntropyLoss,
}

#[test]
fn a_model_holds_a_loss_as_a_module_field() {
    let device = device();
    let model = Classifier {
        linear: burn::nn::LinearConfig::new(4, 3).init(&device),
        loss: CrossEntropyLossConfig::new()
            .with_weight(Some(vec![1.0, 2.0, 0.5]))
            .init(&device)
            .unwrap(),
    };
    let x = float(&uniform(8, 30, -1.0, 1.0), [2, 4], DType::F32);
    let loss = model.loss.forward(model.linear.forward(x), ints(&[0, 2], [2])).unwrap();
    let grads = loss.backward();
    assert!(model.linear.weight.grad(&grads).is_some());
    // The loss holds no parameter: the model's parameters are the linear layer's alone.
    assert_eq!(model.num_params(), 4 * 3 + 3);
    let valid = model.valid();
    let plain = valid.loss.forward(
        float(&[0.0; 6], [2, 3], DType::F32).without_autodiff(),
        Tensor::<1, Int>::from_data([0, 1], &valid.linear.weight.device()),
    );
    assert!(plain.is_ok());
}

#[test]
fn reduced_losses_are_burns_scalar_and_unreduced_losses_pytorchs_shape() {
    let x = || f64s(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [2, 3]);
    let y = || f64s(&[0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [2, 3]);
    let bce = BceWithLogitsLossConfig::new().init(&device()).unwrap();
    assert_eq!(bce.forward(x(), y()).unwrap().dims(), [1]);
    assert_eq!(bce.forward_no_reduction(x(), y()).unwrap().dims(), [2, 3]);
    let ce = CrossEntropyLossConfig::new().init(&device()).unwrap();
    assert_eq!(ce.forward(x(), ints(&[0, 2], [2])).unwrap().dims(), [1]);
    assert_eq!(ce.forward_no_reduction(x(), ints(&[0, 2], [2])).unwrap().dims(), [2]);
    let probs = softmax(f64s(&uniform(24, 31, -1.0, 1.0), [2, 3, 4]), 1).unwrap();
    let unreduced: Tensor<2> = ce
        .forward_probs_no_reduction(f64s(&uniform(24, 32, -1.0, 1.0), [2, 3, 4]), probs)
        .unwrap();
    assert_eq!(unreduced.dims(), [2, 4]);
    assert_eq!(entropy::<3, 2>(f64s(&[0.25; 24], [2, 3, 4]), 1).unwrap().dims(), [2, 4]);
}

#[test]
fn entropy_of_a_distribution_with_zeros_is_finite() {
    let (h, grad) = value_and_grad(&[0.0, 0.5, 0.5, 0.0], [1, 4], DType::F64, |p| {
        entropy::<2, 1>(p, 1).unwrap()
    });
    assert!((h - std::f64::consts::LN_2).abs() < 1e-15);
    assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
}

#[test]
fn saturated_focal_gradients_are_finite_where_pytorchs_are_nan() {
    let focal = SigmoidFocalLossConfig::new()
        .with_gamma(0.5)
        .with_reduction(Reduction::Sum)
        .init(&device())
        .unwrap();
    for dtype in [DType::F32, DType::F64] {
        let (value, grad) = value_and_grad(&[30.0, -30.0, 1e3, -1e3], [4], dtype, |x| {
            focal.forward(x, float(&[1.0, 0.0, 1.0, 0.0], [4], dtype)).unwrap()
        });
        assert!(value.is_finite() && value >= 0.0);
        assert!(grad.iter().all(|g| g.is_finite()), "{dtype:?}: {grad:?}");
    }
}
