//! The sequence losses' gradients against f64 central differences, on both paths.
//!
//! CTC: PyTorch's gradient is the derivative with respect to logits whose log-softmax is
//! `log_probs` (checked through a log-softmax); with respect to `log_probs` themselves the
//! derivative is that gradient minus `exp(log_probs)` on the counted frames. RNN-T: the
//! derivative with respect to the logits (fused log-softmax) or to the inputs taken as
//! log-probabilities.

mod common;

use burn::tensor::{DType, Tensor};
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs, log_softmax};
use common::{assert_close, numeric_grad, value_and_grad};
use losskit::{CtcLossConfig, Reduction, RnntLossConfig, with_composed};

/// Autodiff's gradient of `f` against central differences, with the kernels and composed.
fn check<const D: usize>(x: &[f64], dims: [usize; D], what: &str, f: impl Fn(Tensor<D>) -> Tensor<1>) {
    for composed in [false, true] {
        let run = || {
            let (_, autodiff) = value_and_grad(x, dims, DType::F64, &f);
            (autodiff, numeric_grad(x, dims, &f))
        };
        let (autodiff, numeric) = if composed { with_composed(run) } else { run() };
        assert_close(
            &autodiff,
            &numeric,
            1e-6,
            1e-8,
            &format!("{what} (composed: {composed})"),
        );
    }
}

/// A repeated label in the first sample, a shorter input in the second: `(T, N, C) = (8, 2, 5)`.
const CTC_DIMS: [usize; 3] = [8, 2, 5];
const CTC_INPUTS: CtcInputs<'static> = CtcInputs {
    labels: Labels::Padded {
        labels: &[1, 3, 3, 2, 4, 0],
        width: 3,
    },
    input_lengths: &[8, 6],
    target_lengths: &[3, 2],
};

#[test]
fn ctc_through_a_log_softmax_is_the_true_gradient() {
    let mut rng = Rng::new(4);
    let logits: Vec<f64> = (0..CTC_DIMS.iter().product()).map(|_| rng.normal(1.0)).collect();
    for blank in [0, 4] {
        for reduction in [None, Some(Reduction::Mean), Some(Reduction::Sum)] {
            let loss = CtcLossConfig::new()
                .with_blank(blank)
                .with_reduction(reduction.unwrap_or_default())
                .init();
            check(&logits, CTC_DIMS, &format!("blank {blank} {reduction:?}"), |x| {
                let lp = losskit::log_softmax(x, 2).unwrap();
                match reduction {
                    None => CTC_INPUTS.per_sample(&loss, lp),
                    Some(_) => CTC_INPUTS.reduced(&loss, lp),
                }
                .unwrap()
            });
        }
    }
}

#[test]
fn ctc_true_gradient_is_the_returned_one_minus_exp_log_probs() {
    let lp = Rng::new(3).log_probs(CTC_DIMS.iter().product(), CTC_DIMS[2], 1.0);
    let loss = CtcLossConfig::new().init();
    let f = |x: Tensor<3>| CTC_INPUTS.per_sample(&loss, x).unwrap();
    let [_, batch, classes] = CTC_DIMS;
    for composed in [false, true] {
        let run = || {
            (
                value_and_grad(&lp, CTC_DIMS, DType::F64, f).1,
                numeric_grad(&lp, CTC_DIMS, f),
            )
        };
        let (returned, numeric) = if composed { with_composed(run) } else { run() };
        let derivative: Vec<f64> = returned
            .iter()
            .zip(&lp)
            .enumerate()
            .map(|(i, (g, x))| {
                let (t, n) = (i / (batch * classes), i / classes % batch);
                // Frames past the input length have no exp(log_probs) term: they are 0.
                if t < CTC_INPUTS.input_lengths[n] as usize {
                    g - x.exp()
                } else {
                    *g
                }
            })
            .collect();
        assert_close(
            &derivative,
            &numeric,
            1e-6,
            1e-8,
            &format!("derivative (composed: {composed})"),
        );
    }
}

#[test]
fn ctc_last_label_equal_to_the_blank_gets_the_true_derivative() {
    // PyTorch keeps one of the blank class's two occupations on the last frame here; losskit
    // keeps both, the derivative.
    let logits: Vec<f64> = {
        let mut rng = Rng::new(5);
        (0..12).map(|_| rng.normal(1.0)).collect()
    };
    let inputs = CtcInputs {
        labels: Labels::Concatenated(&[2, 0]),
        input_lengths: &[4],
        target_lengths: &[2],
    };
    let loss = CtcLossConfig::new().init();
    check(&logits, [4, 1, 3], "label = blank", |x| {
        inputs.per_sample(&loss, losskit::log_softmax(x, 2).unwrap()).unwrap()
    });
}

#[test]
fn rnnt_gradient_is_the_derivative_of_the_cost() {
    let (batch, max_time, max_target, classes) = (2, 4, 3, 5);
    let dims = [batch, max_time, max_target + 1, classes];
    let mut rng = Rng::new(6);
    for fused in [true, false] {
        for blank in [0i64, 2, 4] {
            let mut logits: Vec<f64> = (0..dims.iter().product()).map(|_| rng.normal(1.0)).collect();
            if !fused {
                log_softmax(&mut logits, classes);
            }
            let targets: Vec<i64> = [1, 3, 3, 2, 4, 0]
                .iter()
                .map(|&l| if l == blank { (l + 1) % classes as i64 } else { l })
                .collect();
            let inputs = RnntInputs {
                targets: &targets,
                max_target,
                logit_lengths: &[4, 3],
                target_lengths: &[3, 2],
            };
            for reduction in [None, Some(Reduction::Mean)] {
                let loss = RnntLossConfig::new()
                    .with_blank(blank)
                    .with_fused_log_softmax(fused)
                    .with_reduction(reduction.unwrap_or_default())
                    .init();
                check(
                    &logits,
                    dims,
                    &format!("fused {fused} blank {blank} {reduction:?}"),
                    |x| {
                        match reduction {
                            None => inputs.per_sample(&loss, x),
                            Some(_) => inputs.reduced(&loss, x),
                        }
                        .unwrap()
                    },
                );
            }
        }
    }
}
