//! The fused CPU kernels against the composed tensor-op path (what every other backend
//! runs), value and gradient, for every row loss and option: at small shapes, with extra
//! dimensions, and at a shape large enough for the streamed gradient, whose rows start at
//! every alignment.

mod common;

use burn::tensor::{DType, Int, Tensor};
use common::*;
use losskit::kernel::with_composed;
use losskit::*;

/// Value and input gradient of `sum(f(x) * upstream)`, with a random upstream gradient
/// so that an unreduced loss's backward is held to more than ones.
fn run<const D: usize, const O: usize>(x: &[f64], dims: [usize; D], dtype: DType, f: &dyn Fn(Tensor<D>) -> Tensor<O>) -> (Vec<f64>, Vec<f64>) {
    let leaf = float(x, dims, dtype).require_grad();
    let out = f(leaf.clone());
    let upstream = float(&uniform(out.shape().num_elements(), 99, -2.0, 2.0), out.dims(), dtype);
    let value = read(out.clone());
    let grads = out.mul(upstream).sum().backward();
    (value, read(leaf.grad(&grads).expect("the loss depends on its input")))
}

fn agree<const D: usize, const O: usize>(what: &str, x: &[f64], dims: [usize; D], f: &dyn Fn(Tensor<D>) -> Tensor<O>) {
    for dtype in [DType::F32, DType::F64] {
        let (rtol, atol) = if dtype == DType::F32 { (2e-4, 1e-6) } else { (1e-10, 1e-13) };
        let fused = run(x, dims, dtype, f);
        let composed = with_composed(|| run(x, dims, dtype, f));
        let what = format!("{what} {dtype:?} {dims:?}");
        assert_close(&fused.0, &composed.0, rtol, atol, &format!("{what} value"));
        assert_close(&fused.1, &composed.1, rtol, atol, &format!("{what} gradient"));
    }
}

fn targets<const T: usize>(dims: [usize; T], classes: usize, ignore: Option<i64>, seed: u64) -> Tensor<T, Int> {
    let n = dims.iter().product();
    let t: Vec<i64> = uniform(n, seed, 0.0, classes as f64)
        .iter()
        .enumerate()
        .map(|(i, &v)| match ignore {
            Some(ignored) if i % 5 == 2 => ignored,
            _ => v as i64,
        })
        .collect();
    ints(&t, dims)
}

/// Every class-index loss with every option, on `(N, C)` and on `(N, C, d)`.
fn class_index_losses(n: usize, c: usize, d: usize) {
    let x2 = uniform(n * c, 1, -8.0, 8.0);
    let x3 = uniform(n * c * d, 2, -8.0, 8.0);
    let weight = f64s(&uniform(c, 3, 0.2, 2.0), [c]);
    let alpha: Vec<f64> = uniform(c, 4, 0.1, 1.0);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        let ce_options = [
            CrossEntropyOptions::default(),
            CrossEntropyOptions::default().with_weight(weight.clone()).with_ignore_index(1),
            CrossEntropyOptions::default().with_label_smoothing(0.2),
            CrossEntropyOptions::default().with_weight(weight.clone()).with_label_smoothing(0.1).with_ignore_index(-100),
        ];
        for (k, o) in ce_options.iter().enumerate() {
            let o = o.clone().with_reduction(reduction);
            let ignore = (k % 2 == 1).then_some(o.ignore_index);
            let (t2, t3) = (targets([n], c, ignore, 5), targets([n, d], c, ignore, 6));
            agree(&format!("cross_entropy {k} {reduction}"), &x2, [n, c], &|x| cross_entropy(x, t2.clone(), &o).unwrap());
            agree(&format!("cross_entropy {k} {reduction}"), &x3, [n, c, d], &|x| cross_entropy(x, t3.clone(), &o).unwrap());
        }
        let o = NllOptions::default().with_weight(weight.clone()).with_ignore_index(0).with_reduction(reduction);
        let t2 = targets([n], c, Some(0), 7);
        agree(&format!("nll {reduction}"), &x2, [n, c], &|x| nll(x, t2.clone(), &o).unwrap());
        for (k, alpha) in [FocalAlpha::None, FocalAlpha::Scalar(0.25), FocalAlpha::PerClass(f64s(&alpha, [c]))].into_iter().enumerate() {
            for gamma in [0.0, 0.5, 2.0] {
                let o = SoftmaxFocalOptions::default().with_alpha(alpha.clone()).with_gamma(gamma).with_ignore_index(3).with_reduction(reduction);
                let (t2, t3) = (targets([n], c, Some(3), 8), targets([n, d], c, None, 9));
                agree(&format!("softmax_focal {k} {gamma} {reduction}"), &x2, [n, c], &|x| softmax_focal(x, t2.clone(), &o).unwrap());
                agree(&format!("softmax_focal {k} {gamma} {reduction}"), &x3, [n, c, d], &|x| softmax_focal(x, t3.clone(), &o).unwrap());
            }
        }
    }
}

/// Probability-target cross entropy, softmax and log-softmax.
fn dense_losses(n: usize, c: usize, d: usize) {
    let x3 = uniform(n * c * d, 10, -8.0, 8.0);
    let p3 = uniform(n * c * d, 11, 0.0, 1.0);
    let weight = f64s(&uniform(c, 12, 0.2, 2.0), [c]);
    for reduction in [Reduction::None, Reduction::Mean, Reduction::Sum] {
        for smoothing in [0.0, 0.3] {
            let o = CrossEntropyOptions::default().with_weight(weight.clone()).with_label_smoothing(smoothing).with_reduction(reduction);
            let t = f64s(&p3, [n, c, d]);
            agree(&format!("cross_entropy probs {smoothing} {reduction}"), &x3, [n, c, d], &|x| {
                cross_entropy_with_probs(x, t.clone(), &o).unwrap()
            });
        }
    }
    for dim in [-1, 1, 0] {
        agree(&format!("softmax {dim}"), &x3, [n, c, d], &|x| softmax(x, dim).unwrap());
        agree(&format!("log_softmax {dim}"), &x3, [n, c, d], &|x| log_softmax(x, dim).unwrap());
    }
}

#[test]
fn fused_matches_composed_on_small_shapes() {
    class_index_losses(9, 7, 3);
    class_index_losses(4, 1, 2);
    dense_losses(5, 6, 3);
}

#[test]
fn fused_matches_composed_when_the_gradient_is_streamed() {
    // 131 rows of 65,541 f32 values (34 MB): past the streaming threshold, and rows that
    // start at every 16-byte offset.
    let (n, c) = (131, 65_541);
    let x = uniform(n * c, 20, -10.0, 10.0);
    let t = targets([n], c, Some(-100), 21);
    let o = CrossEntropyOptions::default().with_weight(f64s(&uniform(c, 22, 0.5, 1.5), [c])).with_label_smoothing(0.1);
    agree("cross_entropy streamed", &x, [n, c], &|x| cross_entropy(x, t.clone(), &o).unwrap());
    let o = SoftmaxFocalOptions::default().with_reduction(Reduction::None);
    agree("softmax_focal streamed", &x, [n, c], &|x| softmax_focal(x, t.clone().clamp_min(0), &o).unwrap());
    agree("log_softmax streamed", &x, [n, c], &|x| log_softmax(x, 1).unwrap());
}

#[test]
fn softmax_focal_stays_accurate_where_the_composed_path_cannot() {
    // p_t = 1 - 4e-9: in f32 the composed path's 1 - p_t has no digits left; the fused row
    // sums the other classes apart. The f64 composed path is the reference.
    let x = [20.0, 0.0, 0.0, -3.0, 1.0, 2.0];
    let t = ints(&[0, 2], [2]);
    let o = SoftmaxFocalOptions::default().with_reduction(Reduction::None);
    let f = |x: Tensor<2>| softmax_focal(x, t.clone(), &o).unwrap();
    let (want, want_grad) = with_composed(|| run(&x, [2, 3], DType::F64, &f));
    let (got, got_grad) = run(&x, [2, 3], DType::F32, &f);
    assert_close(&got, &want, 1e-5, 0.0, "focal value");
    assert_close(&got_grad, &want_grad, 1e-5, 1e-12, "focal gradient");
}
