//! The fused CPU kernels against the composed tensor-op path (what every other backend
//! runs), value and gradient, for every row loss and option: at small shapes, with extra
//! dimensions, and at a shape large enough for the streamed gradient, whose rows start at
//! every alignment.

mod common;

use burn::tensor::{DType, Int, Tensor};
use common::*;
use losskit::*;

/// Value and input gradient of `sum(f(x) * upstream)`, with a random upstream gradient
/// so that an unreduced loss's backward is held to more than ones.
fn run<const D: usize, const O: usize>(
    x: &[f64],
    dims: [usize; D],
    dtype: DType,
    f: &dyn Fn(Tensor<D>) -> Tensor<O>,
) -> (Vec<f64>, Vec<f64>) {
    let leaf = float(x, dims, dtype).require_grad();
    let out = f(leaf.clone());
    let upstream = float(&uniform(out.shape().num_elements(), 99, -2.0, 2.0), out.dims(), dtype);
    let value = read(out.clone());
    let grads = out.mul(upstream).sum().backward();
    (value, read(leaf.grad(&grads).expect("the loss depends on its input")))
}

fn agree<const D: usize, const O: usize>(what: &str, x: &[f64], dims: [usize; D], f: &dyn Fn(Tensor<D>) -> Tensor<O>) {
    for dtype in [DType::F32, DType::F64] {
        let (rtol, atol) = if dtype == DType::F32 {
            (2e-4, 1e-6)
        } else {
            (1e-10, 1e-13)
        };
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
    let weight = Some(uniform(c, 3, 0.2, 2.0));
    let alpha: Vec<f64> = uniform(c, 4, 0.1, 1.0);
    for r in REDUCTIONS {
        let ce_configs = [
            CrossEntropyLossConfig::new(),
            CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_ignore_index(1),
            CrossEntropyLossConfig::new().with_label_smoothing(0.2),
            CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_label_smoothing(0.1)
                .with_ignore_index(-100),
            CrossEntropyLossConfig::new().with_softcap(Some(3.0)).with_z_loss(0.01),
            CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_ignore_index(1)
                .with_label_smoothing(0.1)
                .with_softcap(Some(6.0))
                .with_z_loss(0.002),
            CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_label_smoothing(0.2)
                .with_softcap(Some(2.0)),
            CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_ignore_index(2)
                .with_z_loss(0.05),
        ];
        for (k, config) in ce_configs.iter().enumerate() {
            let ignore = (k % 2 == 1).then_some(config.ignore_index);
            let ce = config.clone().with_reduction(configured(r)).init(&device()).unwrap();
            let (t2, t3) = (targets([n], c, ignore, 5), targets([n, d], c, ignore, 6));
            let what = format!("cross_entropy {k} {r:?}");
            agree(&what, &x2, [n, c], &|x| {
                by(
                    r,
                    || ce.forward(x.clone(), t2.clone()),
                    || ce.forward_no_reduction(x.clone(), t2.clone()),
                )
            });
            agree(&what, &x3, [n, c, d], &|x| {
                by(
                    r,
                    || ce.forward(x.clone(), t3.clone()),
                    || ce.forward_no_reduction(x.clone(), t3.clone()),
                )
            });
        }
        let nll = NllLossConfig::new()
            .with_weight(weight.clone())
            .with_ignore_index(0)
            .with_reduction(configured(r))
            .init(&device());
        let t2 = targets([n], c, Some(0), 7);
        agree(&format!("nll {r:?}"), &x2, [n, c], &|x| {
            by(
                r,
                || nll.forward(x.clone(), t2.clone()),
                || nll.forward_no_reduction(x.clone(), t2.clone()),
            )
        });
        for (k, alpha) in [
            FocalAlpha::None,
            FocalAlpha::Scalar(0.25),
            FocalAlpha::PerClass(alpha.clone()),
        ]
        .into_iter()
        .enumerate()
        {
            for gamma in [0.0, 0.5, 2.0] {
                let focal = SoftmaxFocalLossConfig::new()
                    .with_alpha(alpha.clone())
                    .with_gamma(gamma)
                    .with_ignore_index(3)
                    .with_reduction(configured(r))
                    .init(&device())
                    .unwrap();
                let (t2, t3) = (targets([n], c, Some(3), 8), targets([n, d], c, None, 9));
                let what = format!("softmax_focal {k} {gamma} {r:?}");
                agree(&what, &x2, [n, c], &|x| {
                    by(
                        r,
                        || focal.forward(x.clone(), t2.clone()),
                        || focal.forward_no_reduction(x.clone(), t2.clone()),
                    )
                });
                agree(&what, &x3, [n, c, d], &|x| {
                    by(
                        r,
                        || focal.forward(x.clone(), t3.clone()),
                        || focal.forward_no_reduction(x.clone(), t3.clone()),
                    )
                });
            }
        }
    }
}

/// Probability-target cross entropy, softmax and log-softmax.
fn dense_losses(n: usize, c: usize, d: usize) {
    let x3 = uniform(n * c * d, 10, -8.0, 8.0);
    let p3 = uniform(n * c * d, 11, 0.0, 1.0);
    let weight = Some(uniform(c, 12, 0.2, 2.0));
    for r in REDUCTIONS {
        for smoothing in [0.0, 0.3] {
            let ce = CrossEntropyLossConfig::new()
                .with_weight(weight.clone())
                .with_label_smoothing(smoothing)
                .with_reduction(configured(r))
                .init(&device())
                .unwrap();
            let t = || f64s(&p3, [n, c, d]);
            agree(
                &format!("cross_entropy probs {smoothing} {r:?}"),
                &x3,
                [n, c, d],
                &|x| {
                    by::<2, _>(
                        r,
                        || ce.forward_probs(x.clone(), t()),
                        || ce.forward_probs_no_reduction(x.clone(), t()),
                    )
                },
            );
        }
    }
    for dim in [-1, 1, 0] {
        agree(&format!("softmax {dim}"), &x3, [n, c, d], &|x| softmax(x, dim).unwrap());
        agree(&format!("log_softmax {dim}"), &x3, [n, c, d], &|x| {
            log_softmax(x, dim).unwrap()
        });
    }
}

/// BCE with logits and the sigmoid focal loss with every weight layout the kernel takes.
fn sigmoid_losses(n: usize, c: usize) {
    let x = uniform(n * c, 13, -12.0, 12.0);
    let hard: Vec<f64> = uniform(n * c, 14, 0.0, 2.0).iter().map(|v| v.floor()).collect();
    let soft = uniform(n * c, 15, 0.0, 1.0);
    let per_index = || Some(BroadcastWeight::last_dim(uniform(c, 16, 0.2, 3.0)));
    let one = || Some(BroadcastWeight::last_dim(vec![1.7]));
    for r in REDUCTIONS {
        for (k, (weight, pos_weight)) in [
            (None, None),
            (per_index(), None),
            (None, per_index()),
            (one(), per_index()),
            (one(), one()),
        ]
        .into_iter()
        .enumerate()
        {
            for y in [&hard, &soft] {
                let t = || f64s(y, [n, c]);
                let bce = BceWithLogitsLossConfig::new()
                    .with_weight(weight.clone())
                    .with_pos_weight(pos_weight.clone())
                    .with_reduction(configured(r))
                    .init(&device())
                    .unwrap();
                agree(&format!("bce_with_logits {k} {r:?}"), &x, [n, c], &|x| {
                    by(
                        r,
                        || bce.forward(x.clone(), t()),
                        || bce.forward_no_reduction(x.clone(), t()),
                    )
                });
                for alpha in [Some(0.25), None] {
                    let focal = SigmoidFocalLossConfig::new()
                        .with_alpha(alpha)
                        .with_gamma(1.5)
                        .with_weight(weight.clone())
                        .with_pos_weight(pos_weight.clone())
                        .with_reduction(configured(r))
                        .init(&device())
                        .unwrap();
                    agree(&format!("sigmoid_focal {k} {alpha:?} {r:?}"), &x, [n, c], &|x| {
                        by(
                            r,
                            || focal.forward(x.clone(), t()),
                            || focal.forward_no_reduction(x.clone(), t()),
                        )
                    });
                }
            }
        }
    }
}

/// The regression losses, at kinks too (differences of exactly 0 and of exactly beta).
fn regression_losses(n: usize, c: usize) {
    let mut x = uniform(n * c, 17, -4.0, 4.0);
    let y = uniform(n * c, 18, -4.0, 4.0);
    x[0] = y[0];
    x[1] = y[1] + 0.5;
    for r in REDUCTIONS {
        let t = || f64s(&y, [n, c]);
        let cfg = configured(r);
        let l1 = L1LossConfig::new().with_reduction(cfg).init();
        agree(&format!("l1 {r:?}"), &x, [n, c], &|x| {
            by(
                r,
                || l1.forward(x.clone(), t()),
                || l1.forward_no_reduction(x.clone(), t()),
            )
        });
        let mse = MseLossConfig::new().with_reduction(cfg).init();
        agree(&format!("mse {r:?}"), &x, [n, c], &|x| {
            by(
                r,
                || mse.forward(x.clone(), t()),
                || mse.forward_no_reduction(x.clone(), t()),
            )
        });
        for beta in [0.0, 0.5, 2.0] {
            let smooth = SmoothL1LossConfig::new()
                .with_beta(beta)
                .with_reduction(cfg)
                .init()
                .unwrap();
            agree(&format!("smooth_l1 {beta} {r:?}"), &x, [n, c], &|x| {
                by(
                    r,
                    || smooth.forward(x.clone(), t()),
                    || smooth.forward_no_reduction(x.clone(), t()),
                )
            });
            let huber = HuberLossConfig::new()
                .with_delta(beta + 0.5)
                .with_reduction(cfg)
                .init()
                .unwrap();
            agree(&format!("huber {beta} {r:?}"), &x, [n, c], &|x| {
                by(
                    r,
                    || huber.forward(x.clone(), t()),
                    || huber.forward_no_reduction(x.clone(), t()),
                )
            });
        }
    }
}

/// The box losses, both box sets' gradients, with ties between coordinates and disjoint,
/// nested and touching pairs among random ones.
fn box_losses(n: usize) {
    let mut a = Vec::with_capacity(4 * n);
    let mut b = Vec::with_capacity(4 * n);
    let raw = uniform(8 * n, 19, 0.0, 4.0);
    for (k, v) in raw.chunks(8).enumerate() {
        let (x, y, w, h) = (v[0], v[1], v[2] + 0.1, v[3] + 0.1);
        a.extend([x, y, x + w, y + h]);
        match k % 4 {
            0 => b.extend([x, v[5], x + v[6] + 0.1, v[5] + v[7] + 0.1]), // a shared x1: a tie
            1 => b.extend([x + w, y, x + 2.0 * w, y + h]),               // touching edges
            _ => b.extend([v[4], v[5], v[4] + v[6] + 0.1, v[5] + v[7] + 0.1]),
        }
    }
    for kind in [BoxIou::Generalized, BoxIou::Distance, BoxIou::Complete] {
        for r in REDUCTIONS {
            let loss = BoxIouLossConfig::new(kind)
                .with_eps(1e-6)
                .with_reduction(configured(r))
                .init();
            for dtype in [DType::F32, DType::F64] {
                let (rtol, atol) = if dtype == DType::F32 {
                    (2e-4, 1e-6)
                } else {
                    (1e-10, 1e-13)
                };
                let run = || {
                    let (x, y) = (
                        float(&a, [n, 4], dtype).require_grad(),
                        float(&b, [n, 4], dtype).require_grad(),
                    );
                    let out = by(
                        r,
                        || loss.forward(x.clone(), y.clone()),
                        || loss.forward_no_reduction(x.clone(), y.clone()),
                    );
                    let upstream = float(&uniform(out.shape().num_elements(), 98, -2.0, 2.0), out.dims(), dtype);
                    let value = read(out.clone());
                    let grads = out.mul(upstream).sum().backward();
                    (value, read(x.grad(&grads).unwrap()), read(y.grad(&grads).unwrap()))
                };
                let (fused, composed) = (run(), with_composed(run));
                let what = format!("{kind:?} {r:?} {dtype:?}");
                assert_close(&fused.0, &composed.0, rtol, atol, &format!("{what} value"));
                assert_close(&fused.1, &composed.1, rtol, atol, &format!("{what} boxes1 gradient"));
                assert_close(&fused.2, &composed.2, rtol, atol, &format!("{what} boxes2 gradient"));
            }
        }
    }
}

#[test]
fn fused_matches_composed_on_small_shapes() {
    box_losses(64);
    regression_losses(5, 9);
    class_index_losses(9, 7, 3);
    class_index_losses(4, 1, 2);
    dense_losses(5, 6, 3);
    sigmoid_losses(5, 7);
}

#[test]
fn fused_matches_composed_past_the_elementwise_chunk() {
    // Rows longer than a chunk of the elementwise kernel (8,192), and a per-index weight
    // whose rows straddle the chunks.
    sigmoid_losses(3, 20_000);
    sigmoid_losses(9, 3_001);
    regression_losses(3, 9_000);
    box_losses(5_000);
}

#[test]
fn fused_matches_composed_when_the_gradient_is_streamed() {
    // 131 rows of 65,541 f32 values (34 MB): past the streaming threshold, and rows that
    // start at every 16-byte offset.
    let (n, c) = (131, 65_541);
    let x = uniform(n * c, 20, -10.0, 10.0);
    let t = targets([n], c, Some(-100), 21);
    let ce = CrossEntropyLossConfig::new()
        .with_weight(Some(uniform(c, 22, 0.5, 1.5)))
        .with_label_smoothing(0.1)
        .init(&device())
        .unwrap();
    agree("cross_entropy streamed", &x, [n, c], &|x| {
        ce.forward(x, t.clone()).unwrap()
    });
    let capped = CrossEntropyLossConfig::new()
        .with_weight(Some(uniform(c, 23, 0.5, 1.5)))
        .with_softcap(Some(4.0))
        .with_z_loss(1e-3)
        .init(&device())
        .unwrap();
    agree("cross_entropy softcap streamed", &x, [n, c], &|x| {
        capped.forward_no_reduction(x, t.clone()).unwrap()
    });
    let focal = SoftmaxFocalLossConfig::new().init(&device()).unwrap();
    agree("softmax_focal streamed", &x, [n, c], &|x| {
        focal.forward_no_reduction(x, t.clone().clamp_min(0)).unwrap()
    });
    agree("log_softmax streamed", &x, [n, c], &|x| log_softmax(x, 1).unwrap());
}

#[test]
fn softmax_focal_stays_accurate_where_the_composed_path_cannot() {
    // p_t = 1 - 4e-9: in f32 the composed path's 1 - p_t has no digits left; the fused row
    // sums the other classes apart. The f64 composed path is the reference.
    let x = [20.0, 0.0, 0.0, -3.0, 1.0, 2.0];
    let t = ints(&[0, 2], [2]);
    let focal = SoftmaxFocalLossConfig::new().init(&device()).unwrap();
    let f = |x: Tensor<2>| focal.forward_no_reduction(x, t.clone()).unwrap();
    let (want, want_grad) = with_composed(|| run(&x, [2, 3], DType::F64, &f));
    let (got, got_grad) = run(&x, [2, 3], DType::F32, &f);
    assert_close(&got, &want, 1e-5, 0.0, "focal value");
    assert_close(&got_grad, &want_grad, 1e-5, 1e-12, "focal gradient");
}
