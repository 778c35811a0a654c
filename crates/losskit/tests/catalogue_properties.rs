//! Identities between the rest of PyTorch's losses, over random inputs (proptest).

mod common;

use common::*;
use losskit::*;
use proptest::prelude::*;

fn values(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-6.0f64..6.0, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Huber(delta) / delta is smooth L1 with beta = delta.
    #[test]
    fn huber_over_delta_is_smooth_l1(x in values(8), y in values(8), delta in 0.05f64..4.0) {
        let huber = HuberLossConfig::new().with_delta(delta).init().unwrap();
        let smooth = SmoothL1LossConfig::new().with_beta(delta).init().unwrap();
        let h: Vec<f64> = read(huber.forward_no_reduction(f64s(&x, [8]), f64s(&y, [8])).unwrap()).iter().map(|v| v / delta).collect();
        let s = read(smooth.forward_no_reduction(f64s(&x, [8]), f64s(&y, [8])).unwrap());
        assert_close(&h, &s, 1e-12, 1e-15, "huber / delta");
    }

    /// Smooth L1 with beta 0 is the L1 loss, in value and gradient.
    #[test]
    fn smooth_l1_with_beta_zero_is_l1(x in values(6), y in values(6)) {
        let smooth = SmoothL1LossConfig::new().with_beta(0.0).init().unwrap();
        let l1 = L1LossConfig::new().init();
        let t = f64s(&y, [6]);
        let (a, ga) = value_and_grad(&x, [6], burn::tensor::DType::F64, |x| smooth.forward(x, t.clone()).unwrap());
        let (b, gb) = value_and_grad(&x, [6], burn::tensor::DType::F64, |x| l1.forward(x, t.clone()).unwrap());
        prop_assert_eq!(a, b);
        assert_close(&ga, &gb, 0.0, 0.0, "gradient");
    }

    /// The soft margin loss on +-1 targets is BCE with logits on 0/1 targets.
    #[test]
    fn soft_margin_is_bce_with_logits(x in values(6), t in prop::collection::vec(any::<bool>(), 6)) {
        let signs: Vec<f64> = t.iter().map(|&b| if b { 1.0 } else { -1.0 }).collect();
        let labels: Vec<f64> = t.iter().map(|&b| f64::from(u8::from(b))).collect();
        let soft = SoftMarginLossConfig::new().init();
        let bce = BceWithLogitsLossConfig::new().init(&device()).unwrap();
        let a = read(soft.forward_no_reduction(f64s(&x, [6]), f64s(&signs, [6])).unwrap());
        let b = read(bce.forward_no_reduction(f64s(&x, [6]), f64s(&labels, [6])).unwrap());
        assert_close(&a, &b, 1e-12, 1e-15, "soft margin");
    }

    /// The triplet loss with the pairwise distance is the triplet margin loss with p = 2.
    #[test]
    fn triplet_with_pairwise_distance_is_triplet_margin(a in values(12), p in values(12), n in values(12), swap in any::<bool>()) {
        let with = TripletMarginWithDistanceLossConfig::new().with_margin(2.0).with_swap(swap).init().unwrap();
        let plain = TripletMarginLossConfig::new().with_margin(2.0).with_swap(swap).init().unwrap();
        let args = || (f64s(&a, [3, 4]), f64s(&p, [3, 4]), f64s(&n, [3, 4]));
        let (x, y, z) = args();
        let one = read(with.forward_no_reduction(x, y, z).unwrap());
        let (x, y, z) = args();
        let two = read(plain.forward_no_reduction(x, y, z).unwrap());
        assert_close(&one, &two, 1e-12, 1e-15, "triplet");
    }

    /// The multi-label soft margin loss of a sample is the mean over its classes of BCE with logits.
    #[test]
    fn multilabel_soft_margin_is_the_class_mean_of_bce(x in values(12), y in prop::collection::vec(0.0f64..=1.0, 12)) {
        let multi = MultiLabelSoftMarginLossConfig::new().init(&device()).unwrap();
        let per_sample = read(multi.forward_no_reduction(f64s(&x, [3, 4]), f64s(&y, [3, 4])).unwrap());
        let bce = BceWithLogitsLossConfig::new().init(&device()).unwrap();
        let terms = read(bce.forward_no_reduction(f64s(&x, [3, 4]), f64s(&y, [3, 4])).unwrap());
        let means: Vec<f64> = terms.chunks(4).map(|row| row.iter().sum::<f64>() / 4.0).collect();
        assert_close(&per_sample, &means, 1e-12, 1e-15, "per-sample mean");
    }

    /// For a box inside another the enclosing box is the outer one, so GIoU loss = 1 - IoU.
    #[test]
    fn giou_of_nested_boxes_is_one_minus_iou(x in 0.0f64..5.0, y in 0.0f64..5.0, w in 0.5f64..5.0, h in 0.5f64..5.0, fx in 0.05f64..0.45, fy in 0.05f64..0.45) {
        let outer = [x, y, x + w, y + h];
        let inner = [x + fx * w, y + fy * h, x + w - fx * w, y + h - fy * h];
        let loss = BoxIouLossConfig::new(BoxIou::Generalized).init();
        let giou = read(loss.forward_no_reduction(f64s(&inner, [1, 4]), f64s(&outer, [1, 4])).unwrap())[0];
        let iou = (inner[2] - inner[0]) * (inner[3] - inner[1]) / (w * h + 1e-7);
        prop_assert!((giou - (1.0 - iou)).abs() < 1e-7, "giou {} iou {}", giou, iou);
    }
}
