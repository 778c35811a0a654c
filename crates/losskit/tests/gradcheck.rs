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
    let w = f64s(&uniform(4, 3, 0.5, 2.0), [4]);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let o = BceOptions::default().with_weight(w.clone()).with_reduction(reduction);
        check(&p, [3, 4], "bce", |x| bce(x, f64s(&y, [3, 4]), &o).unwrap());
        let o = BceWithLogitsOptions::default()
            .with_weight(w.clone())
            .with_pos_weight(f64s(&uniform(4, 4, 0.5, 3.0), [4]))
            .with_reduction(reduction);
        let logits = uniform(12, 5, -6.0, 6.0);
        check(&logits, [3, 4], "bce_with_logits", |x| bce_with_logits(x, f64s(&y, [3, 4]), &o).unwrap());
    }
}

#[test]
fn cross_entropy_and_nll() {
    let x = uniform(2 * 4 * 3, 6, -3.0, 3.0);
    let target = ints(&[0, 3, -100, 1, 2, 2], [2, 3]);
    let weight = f64s(&uniform(4, 7, 0.2, 2.0), [4]);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let o = CrossEntropyOptions::default()
            .with_weight(weight.clone())
            .with_label_smoothing(0.2)
            .with_reduction(reduction);
        check(&x, [2, 4, 3], "cross_entropy", |x| cross_entropy(x, target.clone(), &o).unwrap());
        let probs = softmax(f64s(&uniform(24, 8, -2.0, 2.0), [2, 4, 3]), 1).unwrap();
        check(&x, [2, 4, 3], "cross_entropy_with_probs", |x| {
            cross_entropy_with_probs(x, probs.clone(), &o).unwrap()
        });
        let o = NllOptions::default().with_weight(weight.clone()).with_reduction(reduction);
        check(&x, [2, 4, 3], "nll", |x| nll(x, target.clone(), &o).unwrap());
    }
}

#[test]
fn focal_losses() {
    let x = uniform(10, 9, -5.0, 5.0);
    let y = uniform(10, 10, 0.0, 1.0);
    for gamma in [0.0, 0.5, 2.0] {
        let o = SigmoidFocalOptions::default()
            .with_gamma(gamma)
            .with_pos_weight(f64s(&[2.0], [1]))
            .with_reduction(Reduction::Sum);
        check(&x, [2, 5], "sigmoid_focal", |x| sigmoid_focal(x, f64s(&y, [2, 5]), &o).unwrap());
        let o = SoftmaxFocalOptions::default()
            .with_gamma(gamma)
            .with_alpha(FocalAlpha::PerClass(f64s(&[0.2, 0.3, 0.4, 0.5, 0.6], [5])))
            .with_ignore_index(4);
        check(&x, [2, 5], "softmax_focal", |x| softmax_focal(x, ints(&[1, 4], [2]), &o).unwrap());
    }
}

#[test]
fn softmax_entropy_kl() {
    let x = uniform(12, 11, -3.0, 3.0);
    let g = f64s(&uniform(12, 12, -1.0, 1.0), [3, 4]);
    check(&x, [3, 4], "softmax", |x| softmax(x, 0).unwrap().mul(g.clone()));
    check(&x, [3, 4], "log_softmax", |x| log_softmax(x, -1).unwrap().mul(g.clone()));
    let p = uniform(12, 13, 0.05, 1.0);
    check(&p, [3, 4], "entropy", |p| entropy(p, 1).unwrap());
    let t = softmax(f64s(&uniform(12, 14, -2.0, 2.0), [3, 4]), 1).unwrap();
    for reduction in [KlReduction::None, KlReduction::Mean, KlReduction::Sum, KlReduction::BatchMean] {
        check(&x, [3, 4], "kl_div", |x| kl_div(x, t.clone(), reduction, false).unwrap());
        check(&x, [3, 4], "kl_div log_target", |x| kl_div(x, t.clone().log(), reduction, true).unwrap());
    }
}
