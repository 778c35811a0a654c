//! The fused sequence kernels against the composed tensor-op path (what every other backend
//! runs), value and gradient, for every reduction and option, in f64 and f32, with a random
//! upstream gradient so that the per-sample outputs' backward is held to more than ones.

mod common;

use burn::tensor::{DType, Tensor};
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs};
use common::{assert_close, float, read, uniform};
use losskit::{CtcLossConfig, LossError, Reduction, RnntLossConfig, with_composed};

/// Value and input gradient of `sum(f(x) * upstream)`.
fn run<const D: usize>(
    x: &[f64],
    dims: [usize; D],
    dtype: DType,
    f: &dyn Fn(Tensor<D>) -> Result<Tensor<1>, LossError>,
) -> [Vec<f64>; 2] {
    let leaf = float(x, dims, dtype).require_grad();
    let out = f(leaf.clone()).unwrap();
    let upstream = float(&uniform(out.dims()[0], 99, -2.0, 2.0), out.dims(), dtype);
    let value = read(out.clone());
    let grads = out.mul(upstream).sum().backward();
    [value, read(leaf.grad(&grads).expect("the loss depends on its input"))]
}

fn agree<const D: usize>(
    what: &str,
    x: &[f64],
    dims: [usize; D],
    f: &dyn Fn(Tensor<D>) -> Result<Tensor<1>, LossError>,
) {
    for dtype in [DType::F64, DType::F32] {
        let (rtol, atol) = if dtype == DType::F32 {
            (1e-4, 1e-5)
        } else {
            (1e-9, 1e-12)
        };
        let [fused_value, fused_grad] = run(x, dims, dtype, f);
        let [value, grad] = with_composed(|| run(x, dims, dtype, f));
        assert_close(&value, &fused_value, rtol, atol, &format!("{what} {dtype:?} value"));
        assert_close(&grad, &fused_grad, rtol, atol, &format!("{what} {dtype:?} gradient"));
    }
}

const REDUCTIONS: [Option<Reduction>; 3] = [None, Some(Reduction::Mean), Some(Reduction::Sum)];

#[test]
fn ctc_paths_agree() {
    let mut rng = Rng::new(30);
    let (max_time, batch, classes, width) = (12, 5, 6, 4);
    let mut lp = rng.log_probs(max_time * batch * classes, classes, 2.0);
    // A log-probability of -inf on a counted frame (NaN in PyTorch's gradient), and garbage
    // on frames past an input length (never read).
    lp[(3 * batch + 1) * classes + 4] = f64::NEG_INFINITY;
    lp[(11 * batch + 2) * classes] = f64::NAN;
    for blank in [0, 5] {
        let labels: Vec<i64> = (0..batch * width).map(|_| rng.label(classes, blank)).collect();
        // Sample 3 has a run of repeats that cannot fit its frames; sample 4 no frames.
        let mut labels = labels;
        labels[3 * width..][..4].fill(if blank == 0 { 2 } else { 1 });
        let (input_lengths, target_lengths) = ([12, 9, 10, 5, 0], [4, 2, 0, 4, 1]);
        for zero_infinity in [false, true] {
            for layout in 0..2 {
                let concatenated: Vec<i64> = (0..batch)
                    .flat_map(|n| labels[n * width..][..target_lengths[n] as usize].iter().copied())
                    .collect();
                let labels = if layout == 0 {
                    Labels::Padded { labels: &labels, width }
                } else {
                    Labels::Concatenated(&concatenated)
                };
                let inputs = CtcInputs {
                    labels,
                    input_lengths: &input_lengths,
                    target_lengths: &target_lengths,
                };
                for r in REDUCTIONS {
                    let loss = CtcLossConfig::new()
                        .with_blank(blank as i64)
                        .with_zero_infinity(zero_infinity)
                        .with_reduction(r.unwrap_or_default())
                        .init();
                    let what = format!("ctc blank {blank} zero_infinity {zero_infinity} layout {layout} {r:?}");
                    agree(&what, &lp, [max_time, batch, classes], &|x| match r {
                        None => inputs.per_sample(&loss, x),
                        Some(_) => inputs.reduced(&loss, x),
                    });
                }
            }
        }
    }
}

#[test]
fn ctc_paths_agree_on_long_targets() {
    let mut rng = Rng::new(31);
    let (max_time, batch, classes, width) = (60, 3, 12, 20);
    let lp = rng.log_probs(max_time * batch * classes, classes, 3.0);
    let labels: Vec<i64> = (0..batch * width).map(|_| rng.label(classes, 0)).collect();
    let inputs = CtcInputs {
        labels: Labels::Padded { labels: &labels, width },
        input_lengths: &[60, 47, 33],
        target_lengths: &[20, 20, 13],
    };
    let loss = CtcLossConfig::new().init();
    agree("ctc long", &lp, [max_time, batch, classes], &|x| {
        inputs.reduced(&loss, x)
    });
}

#[test]
fn rnnt_paths_agree() {
    let mut rng = Rng::new(32);
    let (batch, max_time, max_target, classes) = (3, 6, 4, 7);
    let dims = [batch, max_time, max_target + 1, classes];
    let mut logits: Vec<f64> = (0..dims.iter().product()).map(|_| rng.normal(2.0)).collect();
    // Garbage outside sample 1's lattice (never read).
    logits[((max_time + 5) * (max_target + 1) + 4) * classes] = f64::NAN;
    for blank in [0i64, 3, -1] {
        let resolved = blank.rem_euclid(classes as i64) as usize;
        let mut targets: Vec<i64> = (0..batch * max_target).map(|_| rng.label(classes, resolved)).collect();
        // A label equal to the blank, which torchaudio accepts and takes for a blank where
        // the blank can move.
        targets[1] = resolved as i64;
        let inputs = RnntInputs {
            targets: &targets,
            max_target,
            logit_lengths: &[6, 4, 1],
            target_lengths: &[4, 2, 3],
        };
        for fused in [true, false] {
            for clamp in [-1.0, 0.05] {
                for r in REDUCTIONS {
                    let loss = RnntLossConfig::new()
                        .with_blank(blank)
                        .with_clamp(clamp)
                        .with_fused_log_softmax(fused)
                        .with_reduction(r.unwrap_or_default())
                        .init();
                    let what = format!("rnnt blank {blank} fused {fused} clamp {clamp} {r:?}");
                    agree(&what, &logits, dims, &|x| match r {
                        None => inputs.per_sample(&loss, x),
                        Some(_) => inputs.reduced(&loss, x),
                    });
                }
            }
        }
    }
}

#[test]
fn rnnt_paths_agree_without_labels_and_frames() {
    let mut rng = Rng::new(33);
    let dims = [3, 5, 1, 4];
    let logits: Vec<f64> = (0..dims.iter().product()).map(|_| rng.normal(3.0)).collect();
    let inputs = RnntInputs {
        targets: &[],
        max_target: 0,
        logit_lengths: &[5, 0, 2],
        target_lengths: &[0, 0, 0],
    };
    let loss = RnntLossConfig::new().init();
    agree("rnnt U = 0", &logits, dims, &|x| inputs.per_sample(&loss, x));
}
