//! Identities between the losses, over random inputs (proptest).

mod common;

use burn::tensor::DType;
use common::*;
use losskit::*;
use proptest::prelude::*;

fn logits(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-20.0f64..20.0, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Two-class cross entropy is BCE with logits on the logit difference.
    #[test]
    fn ce_two_classes_is_bce_with_logits(x in logits(12), y in prop::collection::vec(0i64..2, 6)) {
        let ce = scalar(CrossEntropyLossConfig::new().init(&device()).unwrap().forward(f64s(&x, [6, 2]), ints(&y, [6])).unwrap());
        let diff: Vec<f64> = x.chunks(2).map(|r| r[1] - r[0]).collect();
        let yf: Vec<f64> = y.iter().map(|&v| v as f64).collect();
        let bce = scalar(BceWithLogitsLossConfig::new().init(&device()).unwrap().forward(f64s(&diff, [6]), f64s(&yf, [6])).unwrap());
        prop_assert!((ce - bce).abs() <= 1e-12 * ce.abs().max(1.0), "ce {} bce {}", ce, bce);
    }

    /// Focal loss with gamma 0 and no alpha is BCE with logits, pos_weight included.
    #[test]
    fn sigmoid_focal_gamma_zero_is_bce(x in logits(8), y in prop::collection::vec(0.0f64..=1.0, 8), pw in 0.1f64..5.0) {
        let pos_weight = Some(BroadcastWeight::last_dim(vec![pw]));
        let focal = SigmoidFocalLossConfig::new().with_gamma(0.0).with_alpha(None).with_pos_weight(pos_weight.clone());
        let focal = read(focal.init(&device()).unwrap().forward_no_reduction(f64s(&x, [8]), f64s(&y, [8])).unwrap());
        let bce = BceWithLogitsLossConfig::new().with_pos_weight(pos_weight).init(&device()).unwrap();
        let bce = read(bce.forward_no_reduction(f64s(&x, [8]), f64s(&y, [8])).unwrap());
        assert_close(&focal, &bce, 1e-12, 1e-15, "focal vs bce");
    }

    /// Softmax focal loss with gamma 0 and no alpha is cross entropy (ignored targets too).
    #[test]
    fn softmax_focal_gamma_zero_is_cross_entropy(x in logits(15), y in prop::collection::vec(-1i64..3, 5)) {
        let y: Vec<i64> = y.iter().map(|&v| if v < 0 { IGNORE_INDEX } else { v }).collect();
        let focal = SoftmaxFocalLossConfig::new().with_gamma(0.0).init(&device()).unwrap();
        let focal = scalar(focal.forward(f64s(&x, [5, 3]), ints(&y, [5])).unwrap());
        let ce = scalar(CrossEntropyLossConfig::new().init(&device()).unwrap().forward(f64s(&x, [5, 3]), ints(&y, [5])).unwrap());
        prop_assert!((focal - ce).abs() <= 1e-12 * ce.abs().max(1.0) || (focal.is_nan() && ce.is_nan()), "focal {} ce {}", focal, ce);
    }

    /// Cross entropy is NLL of log-softmax, weights and ignored targets included.
    #[test]
    fn cross_entropy_is_nll_of_log_softmax(x in logits(16), y in prop::collection::vec(0i64..4, 4), w in prop::collection::vec(0.1f64..3.0, 4)) {
        let y: Vec<i64> = y.iter().enumerate().map(|(i, &v)| if i == 1 { IGNORE_INDEX } else { v }).collect();
        let ce = CrossEntropyLossConfig::new().with_weight(Some(w.clone())).init(&device()).unwrap();
        let ce = scalar(ce.forward(f64s(&x, [4, 4]), ints(&y, [4])).unwrap());
        let lp = log_softmax(f64s(&x, [4, 4]), 1).unwrap();
        let nl = scalar(NllLossConfig::new().with_weight(Some(w)).init(&device()).forward(lp, ints(&y, [4])).unwrap());
        prop_assert!((ce - nl).abs() <= 1e-12 * ce.abs().max(1.0), "ce {} nll {}", ce, nl);
    }

    /// One-hot probability targets give the class-index loss (no weights), smoothing included.
    #[test]
    fn one_hot_probabilities_equal_indices(x in logits(12), y in prop::collection::vec(0i64..3, 4), e in 0.0f64..1.0) {
        let onehot: Vec<f64> = y.iter().flat_map(|&c| (0..3).map(move |k| if k == c { 1.0 } else { 0.0 })).collect();
        let ce = CrossEntropyLossConfig::new().with_label_smoothing(e).init(&device()).unwrap();
        let by_index = scalar(ce.forward(f64s(&x, [4, 3]), ints(&y, [4])).unwrap());
        let by_probs = scalar(ce.forward_probs(f64s(&x, [4, 3]), f64s(&onehot, [4, 3])).unwrap());
        prop_assert!((by_index - by_probs).abs() <= 1e-12 * by_index.abs().max(1.0));
    }

    /// BCE on sigmoid probabilities is BCE with logits where the sigmoid is representable.
    #[test]
    fn bce_of_sigmoid_is_bce_with_logits(x in prop::collection::vec(-8.0f64..8.0, 6), y in prop::collection::vec(0.0f64..=1.0, 6)) {
        let p = burn::tensor::activation::sigmoid(f64s(&x, [6]));
        let a = scalar(BceLossConfig::new().init(&device()).unwrap().forward(p, f64s(&y, [6])).unwrap());
        let b = scalar(BceWithLogitsLossConfig::new().init(&device()).unwrap().forward(f64s(&x, [6]), f64s(&y, [6])).unwrap());
        prop_assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0), "bce {} logits {}", a, b);
    }

    /// softmax sums to 1, log_softmax is its log, KL(p || p) = 0, entropy is -sum p log p.
    #[test]
    fn softmax_identities(x in logits(12)) {
        let p = softmax(f64s(&x, [3, 4]), -1).unwrap();
        let sums = read(p.clone().sum_dim(1));
        assert_close(&sums, &[1.0; 3], 1e-12, 0.0, "row sums");
        let lp = log_softmax(f64s(&x, [3, 4]), -1).unwrap();
        assert_close(&read(lp.clone().exp()), &read(p.clone()), 1e-12, 1e-300, "exp(log_softmax)");
        let kl = scalar(KlDivLossConfig::new().with_reduction(KlReduction::Sum).init().forward(lp.clone(), p.clone()).unwrap());
        prop_assert!(kl.abs() < 1e-12, "kl {}", kl);
        let h = read(entropy::<2, 1>(p.clone(), 1).unwrap());
        let manual = read(p.mul(lp).sum_dim(1).neg().squeeze_dim::<1>(1));
        assert_close(&h, &manual, 1e-12, 1e-15, "entropy");
    }

    /// f32 stays within 1e-4 (relative) of the f64 value of the same loss at large logits.
    #[test]
    fn f32_tracks_f64(x in prop::collection::vec(-1.0e4f64..1.0e4, 6), y in prop::collection::vec(0.0f64..=1.0, 6)) {
        let x32: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
        for f in [
            |x: burn::tensor::Tensor<1>, y: burn::tensor::Tensor<1>| BceWithLogitsLossConfig::new().init(&device()).unwrap().forward_no_reduction(x, y).unwrap(),
            |x, y| SigmoidFocalLossConfig::new().init(&device()).unwrap().forward_no_reduction(x, y).unwrap(),
        ] {
            let lo = read(f(float(&x32, [6], DType::F32), float(&y, [6], DType::F32)));
            let y32: Vec<f64> = y.iter().map(|&v| v as f32 as f64).collect();
            let hi = read(f(f64s(&x32, [6]), f64s(&y32, [6])));
            for (a, b) in lo.iter().zip(&hi) {
                prop_assert!(a.is_finite());
                prop_assert!((a - b).abs() <= 1e-4 * b.abs() + 1e-6, "f32 {} f64 {}", a, b);
            }
        }
    }
}
