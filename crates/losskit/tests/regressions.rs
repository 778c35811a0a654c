//! Inputs that once gave a wrong gradient or a panic, each held to the composed path (and
//! PyTorch's answer) on both paths.

mod common;

use burn::tensor::{DType, Tensor, TensorData};
use common::*;
use losskit::*;

/// Value and gradient of `sum(f(x))` on the fused path and on the composed one.
fn both_paths<const D: usize, const O: usize>(
    x: &[f64],
    dims: [usize; D],
    f: &dyn Fn(Tensor<D>) -> Tensor<O>,
) -> [(f64, Vec<f64>); 2] {
    [
        value_and_grad(x, dims, DType::F64, f),
        with_composed(|| value_and_grad(x, dims, DType::F64, f)),
    ]
}

#[test]
fn a_non_finite_weight_on_a_class_no_target_uses_leaves_the_gradient_finite() {
    // PyTorch: F.cross_entropy(x, [0, 2], weight=[1, w, 1]) is finite for any w, since no
    // target is class 1; only label smoothing brings every class's weight in.
    let x = [2.0, 1.0, 0.1, 1.0, 0.2, 1.5];
    for w in [f64::NAN, f64::INFINITY, f64::MAX] {
        for targets in [[0i64, 2], [0, -100]] {
            let loss = CrossEntropyLossConfig::new()
                .with_weight(Some(vec![1.0, w, 1.0]))
                .init(&device())
                .unwrap();
            for (path, (value, grad)) in both_paths(&x, [2, 3], &|x| loss.forward(x, ints(&targets, [2])).unwrap())
                .into_iter()
                .enumerate()
            {
                assert!(
                    value.is_finite() && grad.iter().all(|g| g.is_finite()),
                    "w {w}, path {path}: {value} {grad:?}"
                );
            }
        }
    }
    // F.cross_entropy(torch.tensor([[2., 1., .1], [1., .2, 1.5]]), torch.tensor([0, 2]), weight=torch.tensor([1., float('nan'), 1.]))
    let loss = CrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0, f64::NAN, 1.0]))
        .init(&device())
        .unwrap();
    let [fused, composed] = both_paths(&x, [2, 3], &|x| loss.forward(x, ints(&[0, 2], [2])).unwrap());
    assert_close(&fused.1, &composed.1, 1e-12, 1e-15, "gradient");
    assert!((fused.0 - 0.523_901_486_691_140_4).abs() < 1e-15, "{}", fused.0);
}

#[test]
fn a_per_index_weight_along_a_last_dimension_longer_than_a_chunk() {
    let (n, c) = (4, 20_000);
    let x = uniform(n * c, 40, -4.0, 4.0);
    let y: Vec<f64> = uniform(n * c, 41, 0.0, 2.0).iter().map(|v| v.floor()).collect();
    let pw = Some(BroadcastWeight::last_dim(uniform(c, 42, 0.5, 2.0)));
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let bce = BceWithLogitsLossConfig::new()
            .with_pos_weight(pw.clone())
            .with_reduction(reduction)
            .init(&device())
            .unwrap();
        let focal = SigmoidFocalLossConfig::new()
            .with_weight(pw.clone())
            .with_reduction(reduction)
            .init(&device())
            .unwrap();
        let bce = |x| bce.forward(x, f64s(&y, [n, c])).unwrap();
        let focal = |x| focal.forward(x, f64s(&y, [n, c])).unwrap();
        let losses: [(&str, &dyn Fn(Tensor<2>) -> Tensor<1>); 2] =
            [("bce_with_logits", &bce), ("sigmoid_focal", &focal)];
        for (what, f) in losses {
            let [fused, composed] = both_paths(&x, [n, c], f);
            assert!(
                (fused.0 - composed.0).abs() < 1e-9 * composed.0.abs(),
                "{what}: {} {}",
                fused.0,
                composed.0
            );
            assert_close(&fused.1, &composed.1, 1e-9, 1e-15, what);
        }
    }
}

#[test]
fn class_losses_over_an_empty_extra_dimension() {
    // PyTorch: F.cross_entropy(torch.zeros(2, 3, 0), torch.zeros(2, 0, dtype=torch.long)) is
    // nan (mean), 0 (sum), an empty (2, 0) tensor (none); the gradient is empty.
    let target = || Tensor::<2, burn::tensor::Int>::from_data(TensorData::new(Vec::<i64>::new(), [2, 0]), &device());
    for composed in [false, true] {
        let run = |f: &dyn Fn() -> (Vec<f64>, usize)| if composed { with_composed(f) } else { f() };
        for reduction in [Reduction::Mean, Reduction::Sum] {
            let ce = CrossEntropyLossConfig::new()
                .with_reduction(reduction)
                .init(&device())
                .unwrap();
            let nll = NllLossConfig::new().with_reduction(reduction).init(&device());
            let focal = SoftmaxFocalLossConfig::new()
                .with_reduction(reduction)
                .init(&device())
                .unwrap();
            let (value, grad_len) = run(&|| {
                let x = f64s(&[], [2, 3, 0]).require_grad();
                let loss = ce.forward(x.clone(), target()).unwrap();
                let grads = loss.backward();
                (read(loss), x.grad(&grads).map_or(0, |g| g.shape().num_elements()))
            });
            assert_eq!(grad_len, 0);
            let want = if reduction == Reduction::Sum { 0.0 } else { f64::NAN };
            assert!(
                value[0] == want || (value[0].is_nan() && want.is_nan()),
                "{composed} {reduction}: {value:?}"
            );
            let other = run(&|| (read(nll.forward(f64s(&[], [2, 3, 0]), target()).unwrap()), 0));
            assert!(other.0[0] == want || (other.0[0].is_nan() && want.is_nan()));
            let other = run(&|| (read(focal.forward(f64s(&[], [2, 3, 0]), target()).unwrap()), 0));
            assert!(other.0[0] == want || (other.0[0].is_nan() && want.is_nan()));
        }
        let ce = CrossEntropyLossConfig::new().init(&device()).unwrap();
        let unreduced = run(&|| {
            let out = ce.forward_no_reduction(f64s(&[], [2, 3, 0]), target()).unwrap();
            assert_eq!(out.dims(), [2, 0]);
            (read(out), 0)
        });
        assert!(unreduced.0.is_empty());
    }
}

#[test]
fn softmax_and_sigmoid_losses_of_empty_tensors() {
    for composed in [false, true] {
        let run = |f: &dyn Fn()| if composed { with_composed(f) } else { f() };
        run(&|| {
            for dim in [0, 1, -1] {
                assert_eq!(softmax(f64s(&[], [5, 0]), dim).unwrap().dims(), [5, 0]);
                assert_eq!(log_softmax(f64s(&[], [5, 0]), dim).unwrap().dims(), [5, 0]);
            }
            // Four billion rows of nothing: no scratch row may be sized by the other dimension.
            let huge = Tensor::<2>::from_data(
                TensorData::new(Vec::<f64>::new(), [1usize << 32, 0]),
                (&device(), DType::F64),
            );
            assert_eq!(softmax(huge.clone(), 0).unwrap().dims(), [1usize << 32, 0]);
            assert_eq!(log_softmax(huge, 1).unwrap().dims(), [1usize << 32, 0]);
            let pw = Some(BroadcastWeight::last_dim(Vec::new()));
            let bce = BceWithLogitsLossConfig::new()
                .with_pos_weight(pw)
                .init(&device())
                .unwrap();
            assert!(read(bce.forward(f64s(&[], [5, 0]), f64s(&[], [5, 0])).unwrap())[0].is_nan());
            assert_eq!(
                bce.forward_no_reduction(f64s(&[], [5, 0]), f64s(&[], [5, 0]))
                    .unwrap()
                    .dims(),
                [5, 0]
            );
        });
    }
}

/// Found by the generated stream (`eval_generated`): the two paths' answers where an input is
/// infinite, each now PyTorch's (or, where PyTorch's is a NaN the math does not have, the
/// limit on both paths).
#[test]
fn infinities_give_the_same_gradient_on_both_paths() {
    let inf = f64::INFINITY;
    // smooth_l1 / huber: the slope's sign beyond the kink, NaN for a NaN difference (PyTorch).
    let smooth = SmoothL1LossConfig::new()
        .with_beta(3.0)
        .with_reduction(Reduction::Sum)
        .init()
        .unwrap();
    let huber = HuberLossConfig::new()
        .with_delta(0.5)
        .with_reduction(Reduction::Sum)
        .init()
        .unwrap();
    let target = f64s(&[0.0, 0.0, 0.0], [3]);
    for [fused, composed] in [
        both_paths(&[inf, -inf, f64::NAN], [3], &|x| {
            smooth.forward(x, target.clone()).unwrap()
        }),
        both_paths(&[inf, -inf, f64::NAN], [3], &|x| {
            huber.forward(x, target.clone()).unwrap()
        }),
    ] {
        assert_eq!(fused.1[..2], composed.1[..2]);
        assert!(
            fused.1[0] > 0.0 && fused.1[1] < 0.0 && fused.1[2].is_nan() && composed.1[2].is_nan(),
            "{fused:?} {composed:?}"
        );
    }
    // An ignored row holding an infinity has no gradient (PyTorch's log-softmax backward gives
    // NaN there, for an upstream of 0).
    let ce = CrossEntropyLossConfig::new()
        .with_ignore_index(0)
        .with_reduction(Reduction::Sum)
        .init(&device())
        .unwrap();
    for (_, grad) in both_paths(&[1.0, 2.0, 0.5, inf], [2, 2], &|x| {
        ce.forward(x, ints(&[1, 0], [2])).unwrap()
    }) {
        assert!(
            grad[..2].iter().all(|g| g.is_finite()) && grad[2..] == [0.0, 0.0],
            "{grad:?}"
        );
    }
    // Softmax focal: a target logit of -inf (p = 0) is an infinite loss, its row NaN through
    // the focal factor; with gamma 0 it is cross entropy, finite gradient.
    for gamma in [2.0, 0.0] {
        let focal = SoftmaxFocalLossConfig::new()
            .with_gamma(gamma)
            .with_reduction(Reduction::Sum)
            .init(&device())
            .unwrap();
        let [fused, composed] = both_paths(&[1.0, -inf], [1, 2], &|x| focal.forward(x, ints(&[1], [1])).unwrap());
        assert_eq!(fused.0, inf);
        assert!(
            fused
                .1
                .iter()
                .zip(&composed.1)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())),
            "{gamma}: {fused:?} {composed:?}"
        );
        assert_eq!(fused.1[0].is_nan(), gamma != 0.0);
    }
    // Sigmoid focal with gamma 0 keeps BCE's slope at an infinite BCE term.
    let focal = SigmoidFocalLossConfig::new()
        .with_gamma(0.0)
        .with_reduction(Reduction::Sum)
        .init(&device())
        .unwrap();
    let [fused, composed] = both_paths(&[-inf], [1], &|x| focal.forward(x, f64s(&[0.5], [1])).unwrap());
    assert!(
        fused.1[0].is_finite() && fused.1 == composed.1,
        "{fused:?} {composed:?}"
    );
}

#[test]
fn probability_cross_entropy_over_an_empty_extra_dimension() {
    let ce = CrossEntropyLossConfig::new().init(&device()).unwrap();
    for composed in [false, true] {
        let run = || {
            ce.forward_probs_no_reduction::<3, 2>(f64s(&[], [1, 6, 0]), f64s(&[], [1, 6, 0]))
                .unwrap()
                .dims()
        };
        assert_eq!(if composed { with_composed(run) } else { run() }, [1, 0]);
    }
}

#[test]
fn ciou_of_a_zero_height_box_has_the_gradient_of_the_valid_side() {
    // torchvision's complete_box_iou_loss gives NaN gradients for a box of zero height
    // (atan'(w / 0) * d(w / h) = 0 * inf): losskit's is the limit of the gradient as h -> 0+
    // (CIoU's alpha is a constant in the backward, so a difference quotient of the loss is
    // not its gradient; the gradient at a tiny positive height, where torchvision is finite
    // too, is the reference).
    let loss = BoxIouLossConfig::new(BoxIou::Complete)
        .with_reduction(Reduction::Sum)
        .init();
    let other = float(&[3.0, 3.0, 4.0, 5.5], [1, 4], DType::F64);
    let f = |x: Tensor<2>| loss.forward(x, other.clone()).unwrap();
    let [fused, composed] = both_paths(&[0.0, 0.0, 2.0, 0.0], [1, 4], &f);
    assert!(
        fused.0.is_finite() && fused.1.iter().all(|g| g.is_finite()),
        "{fused:?}"
    );
    assert_close(&[fused.0], &[composed.0], 1e-14, 1e-14, "value");
    assert_close(&fused.1, &composed.1, 1e-12, 1e-14, "gradient");
    let [nearly_flat, _] = both_paths(&[0.0, 0.0, 2.0, 1e-10], [1, 4], &f);
    assert_close(&[fused.0], &[nearly_flat.0], 1e-8, 1e-12, "value against h = 1e-10");
    assert_close(&fused.1, &nearly_flat.1, 1e-8, 1e-12, "gradient against h = 1e-10");
    // A box of zero width and height: torchvision's loss is NaN (atan(0 / 0)); here the
    // aspect term takes angle 0 and no gradient, on both paths alike.
    let point = [1.0, 1.0, 1.0, 1.0];
    let [fused, composed] = both_paths(&point, [1, 4], &f);
    assert!(
        fused.0.is_finite() && fused.1.iter().all(|g| g.is_finite()),
        "{fused:?}"
    );
    assert_close(&[fused.0], &[composed.0], 1e-14, 1e-14, "point value");
    assert_close(&fused.1, &composed.1, 1e-12, 1e-14, "point gradient");
}

#[test]
fn a_non_finite_input_row_whose_target_is_ignored_leaves_the_linear_cross_entropy_finite() {
    // The fused path skips ignored rows; the composed path took them into the logits (a NaN
    // loss) and into `sum(input * d_input)` (0 * inf): both paths now agree, finite.
    let loss = LinearCrossEntropyLossConfig::new().init(&device()).unwrap();
    let classifier = float(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [3, 2], DType::F64);
    for bad in [f64::INFINITY, f64::NAN] {
        let f = |x: Tensor<2>| {
            loss.forward(x, classifier.clone(), None, ints(&[-100, 1], [2]))
                .unwrap()
        };
        let [fused, composed] = both_paths(&[1.0, bad, 0.5, 0.2], [2, 2], &f);
        assert!(
            fused.0.is_finite() && fused.1.iter().all(|g| g.is_finite()),
            "{bad}: {fused:?}"
        );
        assert_close(&[fused.0], &[composed.0], 1e-14, 1e-14, "value");
        assert_close(&fused.1, &composed.1, 1e-12, 1e-14, "input gradient");
    }
}

#[test]
fn a_linear_cross_entropy_of_no_hidden_units_is_the_loss_of_its_bias() {
    // H = 0: the logits are the bias alone. burn records no gradient for the empty input
    // and classifier, which the chunked path once took as a broken graph and panicked on.
    // PyTorch 2.15: F.cross_entropy(F.linear(zeros(3, 0), zeros(4, 0), b), [0, 2, 3]).
    let loss = LinearCrossEntropyLossConfig::new().init(&device()).unwrap();
    let b = [0.5, -1.0, 2.0, 0.0];
    for fused in [true, false] {
        let run = || {
            let x = float(&[], [3, 0], DType::F64).require_grad();
            let w = float(&[], [4, 0], DType::F64).require_grad();
            let bias = float(&b, [4], DType::F64).require_grad();
            let l = loss
                .forward(x.clone(), w.clone(), Some(bias.clone()), ints(&[0, 2, 3], [3]))
                .unwrap();
            let grads = l.backward();
            let dx = x.grad(&grads).map(|g| g.dims());
            let dw = w.grad(&grads).map(|g| g.dims());
            (read(l), read(bias.grad(&grads).unwrap()), dx, dw)
        };
        let (value, db, dx, dw) = if fused { run() } else { with_composed(run) };
        assert_close(&value, &[1.509016249056489], 1e-14, 0.0, "value");
        let want = [
            -0.17488862381835357,
            0.03535379340874887,
            0.3767665895528409,
            -0.23723175914323613,
        ];
        assert_close(&db, &want, 1e-13, 1e-15, "bias gradient");
        for dims in [dx, dw].into_iter().flatten() {
            assert_eq!(dims[1], 0, "fused {fused}");
        }
    }
}

#[test]
fn a_triplet_margin_loss_of_a_huge_norm_order_is_pytorchs() {
    // p = 1e20 once reached burn's integer power and panicked. PyTorch 2.15 gives 0.5: the
    // first triplet's differences are under 1 (both distances 0, the loss the margin), the
    // second's negative is over 1 away (an infinite distance, no loss).
    // p = 1e300 too, which as an f32 is inf (its gradient was NaN); PyTorch's is 0 here.
    for (p, dtype) in [(1e20, DType::F64), (1e300, DType::F64), (1e300, DType::F32)] {
        let loss = TripletMarginLossConfig::new().with_p(p).init().unwrap();
        let t = |v: &[f64]| float(v, [2, 2], dtype);
        for fused in [true, false] {
            let run = || {
                read(
                    loss.forward(
                        t(&[0.1, 0.2, 0.3, -0.4]),
                        t(&[0.5, 0.1, 0.2, 0.2]),
                        t(&[0.9, -0.3, 2.0, 0.1]),
                    )
                    .unwrap(),
                )
            };
            let value = if fused { run() } else { with_composed(run) };
            assert_eq!(value, [0.5], "p {p} {dtype:?} fused {fused}");
        }
    }
    // Where no distance is infinite, PyTorch's gradient is 0, not NaN.
    let loss = TripletMarginLossConfig::new().with_p(1e300).init().unwrap();
    for dtype in [DType::F64, DType::F32] {
        let anchor = float(&[0.1, 0.2], [1, 2], dtype).require_grad();
        let l = loss
            .forward(
                anchor.clone(),
                float(&[0.1, 0.3], [1, 2], dtype),
                float(&[0.5, 0.2], [1, 2], dtype),
            )
            .unwrap();
        let grads = l.backward();
        assert_eq!(read(l), [1.0], "{dtype:?}");
        assert_eq!(read(anchor.grad(&grads).unwrap()), [0.0, 0.0], "{dtype:?}");
    }
}
