//! `losskit::layers`: the fused dense layer against burn's `Linear::forward` (and `relu`),
//! values and every gradient, in f64 and f32, at shapes that stay on one thread and at the
//! training loop's, whose products are split over the threads.

mod common;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{DType, Tensor};
use common::{assert_close, float, read, uniform};
use losskit::layers::{linear, linear_relu};
use losskit::{LossError, with_composed};

/// A layer `(k, m)` with the given weight and bias, its parameters tracked.
fn layer(weight: &[f64], bias: Option<&[f64]>, k: usize, m: usize, dtype: DType) -> Linear {
    Linear {
        weight: Param::from_tensor(float(weight, [k, m], dtype).require_grad()),
        bias: bias.map(|b| Param::from_tensor(float(b, [m], dtype).require_grad())),
    }
}

/// Output, input gradient, weight gradient and bias gradient (empty without a bias) of
/// `sum(upstream * f(layer, x))`.
fn run(f: &dyn Fn(&Linear, Tensor<2>) -> Tensor<2>, p: &Problem, dtype: DType) -> [Vec<f64>; 4] {
    let l = layer(&p.weight, p.bias.as_deref(), p.k, p.m, dtype);
    let x = float(&p.input, [p.n, p.k], dtype).require_grad();
    let out = f(&l, x.clone());
    let upstream = float(&p.upstream, [p.n, p.m], dtype);
    let grads = (out.clone() * upstream).sum().backward();
    let bias = l
        .bias
        .as_ref()
        .map_or(Vec::new(), |b| read(b.val().grad(&grads).unwrap()));
    [
        read(out),
        read(x.grad(&grads).unwrap()),
        read(l.weight.val().grad(&grads).unwrap()),
        bias,
    ]
}

struct Problem {
    n: usize,
    k: usize,
    m: usize,
    input: Vec<f64>,
    weight: Vec<f64>,
    bias: Option<Vec<f64>>,
    upstream: Vec<f64>,
}

impl Problem {
    fn new(n: usize, k: usize, m: usize, with_bias: bool) -> Self {
        Problem {
            n,
            k,
            m,
            input: uniform(n * k, 1, -1.0, 1.0),
            weight: uniform(k * m, 2, -0.2, 0.2),
            bias: with_bias.then(|| uniform(m, 3, -0.5, 0.5)),
            upstream: uniform(n * m, 4, -1.0, 1.0),
        }
    }
}

fn burns(relu_after: bool) -> impl Fn(&Linear, Tensor<2>) -> Tensor<2> {
    move |l, x| {
        let out = l.forward(x);
        if relu_after { relu(out) } else { out }
    }
}

fn ours(relu_after: bool) -> impl Fn(&Linear, Tensor<2>) -> Tensor<2> {
    move |l, x| if relu_after { linear_relu(l, x) } else { linear(l, x) }.expect("shapes fit")
}

fn matches_burn(n: usize, k: usize, m: usize) {
    for with_bias in [true, false] {
        let p = Problem::new(n, k, m, with_bias);
        for relu_after in [false, true] {
            for dtype in [DType::F64, DType::F32] {
                let (rtol, atol) = if dtype == DType::F64 {
                    (1e-12, 1e-13)
                } else {
                    (1e-5, 1e-5)
                };
                let want = run(&burns(relu_after), &p, dtype);
                let got = run(&ours(relu_after), &p, dtype);
                let off = with_composed(|| run(&ours(relu_after), &p, dtype));
                for (i, what) in ["output", "input gradient", "weight gradient", "bias gradient"]
                    .iter()
                    .enumerate()
                {
                    let what = format!("({n}, {k}) -> {m}, bias {with_bias}, relu {relu_after}, {dtype:?}: {what}");
                    assert_close(&got[i], &want[i], rtol, atol, &what);
                    assert_eq!(off[i], want[i], "{what}: the composed path is burn's own");
                }
                if relu_after {
                    // The test must see both sides of the ReLU.
                    assert!(got[0].contains(&0.0) && got[0].iter().any(|&v| v > 0.0));
                }
            }
        }
    }
}

#[test]
fn the_fused_layer_matches_burns_on_one_thread() {
    matches_burn(5, 7, 3);
}

#[test]
fn the_fused_layer_matches_burns_where_the_products_are_split_over_the_threads() {
    // The tutorial's first layer at its batch size (the forward split by columns, the
    // weight gradient by rows), and a tall product split by rows, on 3 threads so that
    // the blocks are uneven.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    pool.install(|| {
        matches_burn(64, 784, 500);
        matches_burn(600, 70, 60);
    });
}

#[test]
fn a_bias_of_the_wrong_length_is_an_error() {
    let mut l = layer(&[0.0; 6], None, 3, 2, DType::F32);
    l.bias = Some(Param::from_tensor(float(&[0.0; 3], [3], DType::F32)));
    let err = linear_relu(&l, float(&[0.0; 6], [2, 3], DType::F32)).unwrap_err();
    assert!(err.to_string().contains("bias must be (2)"), "{err}");
}

#[test]
fn an_input_of_the_wrong_width_is_an_error_naming_both_shapes() {
    let l = layer(&[0.0; 6], None, 3, 2, DType::F32);
    let err = linear(&l, float(&[0.0; 8], [2, 4], DType::F32)).unwrap_err();
    assert!(matches!(err, LossError::Shape(_)));
    let message = err.to_string();
    assert!(message.contains("(N, 3)") && message.contains("(2, 4)"), "{message}");
}
