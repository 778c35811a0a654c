//! Simulated data-parallel training: a batch split into uneven shards, each reduced by
//! `Reduction::Sum` and divided by the total of the shards' denominators, gives the single
//! batch's mean and, with each shard's backward on its own leaf, its gradient (f64, 1e-12).

mod common;

use burn::tensor::{DType, Int, Tensor};
use common::{assert_close, f64s, ints, read, scalar, uniform};
use losskit::{
    BceWithLogitsLossConfig, CrossEntropyLossConfig, FocalAlpha, KlDivLossConfig, KlReduction, LossError,
    MeanDenominator, MseLossConfig, NllLossConfig, Reduction, SoftmaxFocalLossConfig,
};

const N: usize = 23;
const C: usize = 5;
/// Uneven shards, one of a single row, one whose targets are all ignored.
const SHARDS: [std::ops::Range<usize>; 5] = [0..7, 7..8, 8..11, 11..17, 17..23];
const IGNORE: i64 = -100;
const WEIGHT: [f64; C] = [0.5, 2.0, 1.0, 3.0, 0.25];

fn logits() -> Vec<f64> {
    uniform(N * C, 11, -3.0, 3.0)
}

/// Class indices, ignored in rows 3, 12 and all of 8..11.
fn labels() -> Vec<i64> {
    (0..N)
        .map(|i| {
            if i == 3 || i == 12 || (8..11).contains(&i) {
                IGNORE
            } else {
                (i * 7 % C) as i64
            }
        })
        .collect()
}

fn rows(values: &[f64], range: &std::ops::Range<usize>, width: usize) -> Vec<f64> {
    values[range.start * width..range.end * width].to_vec()
}

/// A loss of `(rows, C)` logits against `(rows)` class indices, as the test drives it.
struct ClassIndexCase<'a> {
    name: &'a str,
    /// The loss with `Reduction::Mean` or `Reduction::Sum`.
    loss: &'a dyn Fn(Reduction, Tensor<2>, Tensor<1, Int>) -> Result<Tensor<1>, LossError>,
    /// The mean's denominator of a target.
    denominator: &'a dyn Fn(&Tensor<1, Int>) -> Result<Tensor<1>, LossError>,
}

/// The batch's mean and gradient against the shards' sums over the total denominator.
fn check(case: &ClassIndexCase<'_>) {
    let (x, y) = (logits(), labels());
    let whole = f64s(&x, [N, C]).require_grad();
    let mean = (case.loss)(Reduction::Mean, whole.clone(), ints(&y, [N])).unwrap();
    let want_value = scalar(mean.clone());
    let want_grad = read(whole.grad(&mean.backward()).unwrap());

    let total: f64 = SHARDS
        .iter()
        .map(|r| scalar((case.denominator)(&ints(&y[r.clone()], [r.len()])).unwrap()))
        .sum();
    let (mut value, mut grad) = (0.0, Vec::new());
    for r in &SHARDS {
        let shard = f64s(&rows(&x, r, C), [r.len(), C]).require_grad();
        let summed = (case.loss)(Reduction::Sum, shard.clone(), ints(&y[r.clone()], [r.len()])).unwrap();
        let share = summed.div(f64s(&[total], [1]));
        value += scalar(share.clone());
        grad.extend(read(shard.grad(&share.backward()).unwrap()));
    }
    assert_close(&[value], &[want_value], 1e-12, 0.0, case.name);
    assert_close(&grad, &want_grad, 1e-12, 1e-15, case.name);
}

#[test]
fn sharded_class_index_losses_give_the_batchs_loss_and_gradient() {
    let device = common::device();
    let ce = |weight: Option<Vec<f64>>, smoothing: f64, r: Reduction| {
        CrossEntropyLossConfig::new()
            .with_weight(weight)
            .with_label_smoothing(smoothing)
            .with_reduction(r)
            .init(&device)
            .unwrap()
    };
    let nll = |r: Reduction| {
        NllLossConfig::new()
            .with_weight(Some(WEIGHT.to_vec()))
            .with_reduction(r)
            .init(&device)
    };
    let focal = |r: Reduction| {
        SoftmaxFocalLossConfig::new()
            .with_alpha(FocalAlpha::PerClass(WEIGHT.to_vec()))
            .with_reduction(r)
            .init(&device)
            .unwrap()
    };
    for (name, weight, smoothing) in [
        ("ce", None, 0.0),
        ("ce weighted", Some(WEIGHT.to_vec()), 0.0),
        ("ce weighted smoothed", Some(WEIGHT.to_vec()), 0.1),
    ] {
        let loss = |r: Reduction, x: Tensor<2>, y: Tensor<1, Int>| ce(weight.clone(), smoothing, r).forward(x, y);
        let denominator = |y: &Tensor<1, Int>| ce(weight.clone(), smoothing, Reduction::Sum).denominator(y, DType::F64);
        check(&ClassIndexCase {
            name,
            loss: &loss,
            denominator: &denominator,
        });
    }
    let loss = |r: Reduction, x: Tensor<2>, y: Tensor<1, Int>| nll(r).forward(losskit::log_softmax(x, 1)?, y);
    let denominator = |y: &Tensor<1, Int>| nll(Reduction::Sum).denominator(y, DType::F64);
    check(&ClassIndexCase {
        name: "nll weighted",
        loss: &loss,
        denominator: &denominator,
    });
    let loss = |r: Reduction, x: Tensor<2>, y: Tensor<1, Int>| focal(r).forward(x, y);
    let denominator = |y: &Tensor<1, Int>| focal(Reduction::Sum).denominator(y, DType::F64);
    check(&ClassIndexCase {
        name: "softmax focal, alpha per class",
        loss: &loss,
        denominator: &denominator,
    });
}

#[test]
fn denominators_count_weights_of_the_targets_not_ignored() {
    let device = common::device();
    let ce = CrossEntropyLossConfig::new()
        .with_weight(Some(WEIGHT.to_vec()))
        .init(&device)
        .unwrap();
    let y = ints(&[1, IGNORE, 3, 1], [4]);
    assert_eq!(scalar(ce.denominator(&y, DType::F64).unwrap()), 2.0 + 3.0 + 2.0);
    let plain = CrossEntropyLossConfig::new().init(&device).unwrap();
    assert_eq!(scalar(plain.denominator(&y, DType::F32).unwrap()), 3.0);
    assert_eq!(scalar(plain.denominator(&ints(&[], [0]), DType::F64).unwrap()), 0.0);
    // K-dim targets count every position.
    assert_eq!(
        scalar(
            plain
                .denominator(&ints(&[0, 1, IGNORE, 2, 0, 0], [2, 3]), DType::F64)
                .unwrap()
        ),
        5.0
    );
    assert_eq!(plain.probs_denominator(&[4, C, 3]).unwrap(), 12);
    // Refused as the loss refuses them: past the weight, or negative.
    assert_eq!(
        ce.denominator(&ints(&[5], [1]), DType::F64).unwrap_err(),
        LossError::TargetOutOfBounds { target: 5, classes: C }
    );
    assert!(
        plain
            .denominator(&ints(&[-3], [1]), DType::F64)
            .unwrap_err()
            .to_string()
            .contains("-3")
    );
    assert!(plain.probs_denominator(&[4]).is_err());
}

#[test]
fn sharded_probability_and_elementwise_losses_give_the_batchs_loss_and_gradient() {
    let device = common::device();
    let x = logits();
    let p: Vec<f64> = {
        let raw = uniform(N * C, 12, 0.0, 1.0);
        raw.chunks(C)
            .flat_map(|row| row.iter().map(move |v| v / row.iter().sum::<f64>()).collect::<Vec<_>>())
            .collect()
    };
    let targets = uniform(N * C, 13, 0.0, 1.0);
    type Loss<'a> = &'a dyn Fn(Reduction, Tensor<2>, Tensor<2>) -> Tensor<1>;
    type Denominator<'a> = &'a dyn Fn(&[usize]) -> usize;
    let ce = |r: Reduction| {
        CrossEntropyLossConfig::new()
            .with_weight(Some(WEIGHT.to_vec()))
            .with_label_smoothing(0.2)
            .with_reduction(r)
            .init(&device)
            .unwrap()
    };
    let probs: Loss<'_> = &|r, x, t| ce(r).forward_probs(x, t).unwrap();
    let bce: Loss<'_> = &|r, x, t| {
        BceWithLogitsLossConfig::new()
            .with_reduction(r)
            .init(&device)
            .unwrap()
            .forward(x, t)
            .unwrap()
    };
    let mse: Loss<'_> = &|r, x, t| MseLossConfig::new().with_reduction(r).init().forward(x, t).unwrap();
    let cases: [(&str, Loss<'_>, &[f64], Denominator<'_>); 3] = [
        ("ce with probabilities", probs, &p, &|dims| {
            ce(Reduction::Sum).probs_denominator(dims).unwrap()
        }),
        ("bce with logits", bce, &targets, &|dims| {
            BceWithLogitsLossConfig::new().init(&device).unwrap().denominator(dims)
        }),
        ("mse", mse, &targets, &|dims| {
            MseLossConfig::new().init().denominator(dims)
        }),
    ];
    for (name, loss, t, denominator) in cases {
        let whole = f64s(&x, [N, C]).require_grad();
        let mean = loss(Reduction::Mean, whole.clone(), f64s(t, [N, C]));
        let (want_value, want_grad) = (scalar(mean.clone()), read(whole.grad(&mean.backward()).unwrap()));
        let total: usize = SHARDS.iter().map(|r| denominator(&[r.len(), C])).sum();
        let (mut value, mut grad) = (0.0, Vec::new());
        for r in &SHARDS {
            let shard = f64s(&rows(&x, r, C), [r.len(), C]).require_grad();
            let share =
                loss(Reduction::Sum, shard.clone(), f64s(&rows(t, r, C), [r.len(), C])).div(f64s(&[total as f64], [1]));
            value += scalar(share.clone());
            grad.extend(read(shard.grad(&share.backward()).unwrap()));
        }
        assert_close(&[value], &[want_value], 1e-12, 0.0, name);
        assert_close(&grad, &want_grad, 1e-12, 1e-15, name);
    }
    let kl = |reduction| KlDivLossConfig::new().with_reduction(reduction).init();
    assert_eq!(kl(KlReduction::BatchMean).denominator(&[N, C]), N);
    assert_eq!(kl(KlReduction::Mean).denominator(&[N, C]), N * C);
}
