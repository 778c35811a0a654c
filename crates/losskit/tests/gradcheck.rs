//! Autodiff gradients against f64 central finite differences, for every loss and its options.

mod common;

use burn::tensor::{DType, Tensor};
use common::*;
use losskit::*;

fn check<const D: usize, const O: usize>(x: &[f64], dims: [usize; D], what: &str, f: impl Fn(Tensor<D>) -> Tensor<O>) {
    let (_, autodiff) = value_and_grad(x, dims, DType::F64, &f);
    let numeric = numeric_grad(x, dims, &f);
    assert_close(&autodiff, &numeric, 1e-6, 1e-8, what);
}

#[test]
fn bce_family() {
    let p = uniform(12, 1, 0.05, 0.95);
    let y = uniform(12, 2, 0.0, 1.0);
    let w = Some(BroadcastWeight::last_dim(uniform(4, 3, 0.5, 2.0)));
    let logits = uniform(12, 5, -6.0, 6.0);
    for r in REDUCTIONS {
        let loss = BceLossConfig::new()
            .with_weight(w.clone())
            .with_reduction(configured(r))
            .init(&device())
            .unwrap();
        let target = || f64s(&y, [3, 4]);
        check(&p, [3, 4], "bce", |x| {
            by(
                r,
                || loss.forward(x.clone(), target()),
                || loss.forward_no_reduction(x.clone(), target()),
            )
        });
        let loss = BceWithLogitsLossConfig::new()
            .with_weight(w.clone())
            .with_pos_weight(Some(BroadcastWeight::last_dim(uniform(4, 4, 0.5, 3.0))))
            .with_reduction(configured(r))
            .init(&device())
            .unwrap();
        check(&logits, [3, 4], "bce_with_logits", |x| {
            by(
                r,
                || loss.forward(x.clone(), target()),
                || loss.forward_no_reduction(x.clone(), target()),
            )
        });
    }
}

#[test]
fn cross_entropy_and_nll() {
    let x = uniform(2 * 4 * 3, 6, -3.0, 3.0);
    let target = ints(&[0, 3, -100, 1, 2, 2], [2, 3]);
    let weight = Some(uniform(4, 7, 0.2, 2.0));
    let probs = softmax(f64s(&uniform(24, 8, -2.0, 2.0), [2, 4, 3]), 1).unwrap();
    for r in REDUCTIONS {
        let ce = CrossEntropyLossConfig::new()
            .with_weight(weight.clone())
            .with_label_smoothing(0.2)
            .with_reduction(configured(r))
            .init(&device())
            .unwrap();
        check(&x, [2, 4, 3], "cross_entropy", |x| {
            by(
                r,
                || ce.forward(x.clone(), target.clone()),
                || ce.forward_no_reduction(x.clone(), target.clone()),
            )
        });
        let capped = CrossEntropyLossConfig::new()
            .with_weight(weight.clone())
            .with_label_smoothing(0.1)
            .with_softcap(Some(2.5))
            .with_z_loss(0.03)
            .with_reduction(configured(r))
            .init(&device())
            .unwrap();
        check(&x, [2, 4, 3], "cross_entropy softcap z_loss", |x| {
            by(
                r,
                || capped.forward(x.clone(), target.clone()),
                || capped.forward_no_reduction(x.clone(), target.clone()),
            )
        });
        check(&x, [2, 4, 3], "cross_entropy probabilities", |x| {
            by::<2, _>(
                r,
                || ce.forward_probs(x.clone(), probs.clone()),
                || ce.forward_probs_no_reduction(x.clone(), probs.clone()),
            )
        });
        let nll = NllLossConfig::new()
            .with_weight(weight.clone())
            .with_reduction(configured(r))
            .init(&device());
        check(&x, [2, 4, 3], "nll", |x| {
            by(
                r,
                || nll.forward(x.clone(), target.clone()),
                || nll.forward_no_reduction(x.clone(), target.clone()),
            )
        });
    }
}

#[test]
fn focal_losses() {
    let x = uniform(10, 9, -5.0, 5.0);
    let y = uniform(10, 10, 0.0, 1.0);
    for gamma in [0.0, 0.5, 2.0] {
        let sigmoid = SigmoidFocalLossConfig::new()
            .with_gamma(gamma)
            .with_pos_weight(Some(BroadcastWeight::last_dim(vec![2.0])))
            .with_reduction(Reduction::Sum)
            .init(&device())
            .unwrap();
        check(&x, [2, 5], "sigmoid_focal", |x| {
            sigmoid.forward(x, f64s(&y, [2, 5])).unwrap()
        });
        let softmax = SoftmaxFocalLossConfig::new()
            .with_gamma(gamma)
            .with_alpha(FocalAlpha::PerClass(vec![0.2, 0.3, 0.4, 0.5, 0.6]))
            .with_ignore_index(4)
            .init(&device())
            .unwrap();
        check(&x, [2, 5], "softmax_focal", |x| {
            softmax.forward(x, ints(&[1, 4], [2])).unwrap()
        });
    }
}

#[test]
fn softmax_entropy_kl() {
    let x = uniform(12, 11, -3.0, 3.0);
    let g = f64s(&uniform(12, 12, -1.0, 1.0), [3, 4]);
    check(&x, [3, 4], "softmax", |x| softmax(x, 0).unwrap().mul(g.clone()));
    check(&x, [3, 4], "log_softmax", |x| {
        log_softmax(x, -1).unwrap().mul(g.clone())
    });
    let p = uniform(12, 13, 0.05, 1.0);
    check(&p, [3, 4], "entropy", |p| entropy::<2, 1>(p, 1).unwrap());
    let t = softmax(f64s(&uniform(12, 14, -2.0, 2.0), [3, 4]), 1).unwrap();
    for log_target in [false, true] {
        let target = if log_target { t.clone().log() } else { t.clone() };
        let unreduced = KlDivLossConfig::new().with_log_target(log_target).init();
        check(&x, [3, 4], "kl_div none", |x| {
            unreduced.forward_no_reduction(x, target.clone()).unwrap()
        });
        for reduction in [KlReduction::Mean, KlReduction::Sum, KlReduction::BatchMean] {
            let kl = KlDivLossConfig::new()
                .with_reduction(reduction)
                .with_log_target(log_target)
                .init();
            check(&x, [3, 4], "kl_div", |x| kl.forward(x, target.clone()).unwrap());
        }
    }
}
