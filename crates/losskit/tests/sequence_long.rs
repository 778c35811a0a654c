//! Long inputs stay accurate in f32: the fused kernels accumulate in f64 whatever the input
//! type, so an f32 run differs from an f64 run on the same values only by the final rounding
//! of its gradient, where a recursion in f32 (PyTorch's and torchaudio's for f32 inputs)
//! drifts by more than the 1e-6 relative bound of the loss.

mod common;

use burn::tensor::DType;
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs, log_softmax, run};
use losskit::{CtcLossConfig, RnntLossConfig};

/// The largest |got - want| / max(|want|, floor).
fn max_rel_err(got: &[f64], want: &[f64], floor: f64) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs() / w.abs().max(floor))
        .fold(0.0, f64::max)
}

/// ln(e^a + e^b + e^c) in f32, PyTorch's way.
fn lse3_f32(a: f32, b: f32, c: f32) -> f32 {
    let m = a.max(b).max(c);
    if m == f32::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp() + (c - m).exp()).ln()
}

/// Sample n's nll and gradient (PyTorch's convention, (T, C) rows for t < len) with the
/// alpha-beta recursion in f32, as PyTorch's CPU kernel runs it for f32 inputs.
fn naive_f32_ctc(lp: &[f32], batch: usize, classes: usize, n: usize, len: usize, labels: &[i64]) -> (f32, Vec<f32>) {
    let mut ext = vec![0usize];
    for &l in labels {
        ext.extend([l as usize, 0]);
    }
    let w = ext.len();
    let y = |t: usize, s: usize| lp[(t * batch + n) * classes + ext[s]];
    let skip = |s: usize| s > 1 && ext[s] != ext[s - 2];
    let mut alpha = vec![vec![f32::NEG_INFINITY; w]; len];
    alpha[0][0] = y(0, 0);
    alpha[0][1] = y(0, 1);
    for t in 1..len {
        for s in 0..w {
            let step = if s > 0 { alpha[t - 1][s - 1] } else { f32::NEG_INFINITY };
            let jump = if skip(s) {
                alpha[t - 1][s - 2]
            } else {
                f32::NEG_INFINITY
            };
            alpha[t][s] = lse3_f32(alpha[t - 1][s], step, jump) + y(t, s);
        }
    }
    let nll = -lse3_f32(alpha[len - 1][w - 1], alpha[len - 1][w - 2], f32::NEG_INFINITY);
    let mut beta = vec![vec![f32::NEG_INFINITY; w]; len];
    beta[len - 1][w - 1] = y(len - 1, w - 1);
    beta[len - 1][w - 2] = y(len - 1, w - 2);
    for t in (0..len - 1).rev() {
        for s in 0..w {
            let step = if s + 1 < w {
                beta[t + 1][s + 1]
            } else {
                f32::NEG_INFINITY
            };
            let jump = if s + 2 < w && skip(s + 2) {
                beta[t + 1][s + 2]
            } else {
                f32::NEG_INFINITY
            };
            beta[t][s] = lse3_f32(beta[t + 1][s], step, jump) + y(t, s);
        }
    }
    let mut grad = Vec::with_capacity(len * classes);
    for t in 0..len {
        let mut occupied = vec![0f32; classes];
        for s in 0..w {
            occupied[ext[s]] += (alpha[t][s] + beta[t][s] + nll - y(t, s)).exp();
        }
        let row = &lp[(t * batch + n) * classes..][..classes];
        grad.extend(row.iter().zip(&occupied).map(|(lp, o)| lp.exp() - o));
    }
    (nll, grad)
}

#[test]
fn ctc_at_two_thousand_frames_in_f32_matches_f64() {
    let (max_time, batch, classes, width) = (2000, 2, 30, 300);
    let mut rng = Rng::new(17);
    let log_probs = rng.log_probs(max_time * batch * classes, classes, 2.0);
    // The same f32 values in both runs.
    let lp32: Vec<f32> = log_probs.iter().map(|&x| x as f32).collect();
    let lp64: Vec<f64> = lp32.iter().map(|&x| f64::from(x)).collect();
    let labels: Vec<i64> = (0..batch * width).map(|_| rng.label(classes, 0)).collect();
    let inputs = CtcInputs {
        labels: Labels::Padded { labels: &labels, width },
        input_lengths: &[2000, 1500],
        target_lengths: &[300, 250],
    };
    let loss = CtcLossConfig::new().init();
    let dims = [max_time, batch, classes];
    let r32 = run(&lp64, dims, DType::F32, |x| inputs.per_sample(&loss, x)).unwrap();
    let r64 = run(&lp64, dims, DType::F64, |x| inputs.per_sample(&loss, x)).unwrap();
    assert!(r64.loss.iter().all(|l| l.is_finite() && *l > 1000.0), "{:?}", r64.loss);
    let loss_err = max_rel_err(&r32.loss, &r64.loss, 1.0);
    let grad_err = max_rel_err(&r32.grad, &r64.grad, 1e-20);
    assert!(loss_err < 1e-6, "loss relative error {loss_err:e}");
    assert!(grad_err < 1e-5, "gradient relative error {grad_err:e}");
    // The f32 recursion does not hold the gradient's bound: its losses (about 5000) are off
    // by a few f32 ulps, and those sit in the exponent of every occupation.
    let (naive_nll, naive_grad) = naive_f32_ctc(&lp32, batch, classes, 0, 2000, &labels[..300]);
    let naive_loss_err = (f64::from(naive_nll) - r64.loss[0]).abs() / r64.loss[0];
    let own: Vec<f64> = (0..max_time)
        .flat_map(|t| r32.grad[t * batch * classes..][..classes].to_vec())
        .collect();
    let naive_grad: Vec<f64> = naive_grad.iter().map(|&g| f64::from(g)).collect();
    let naive_grad_err = max_rel_err(&naive_grad, &own, 1e-3);
    assert!(
        naive_grad_err > 1e-5,
        "the f32 recursion's gradient is off by only {naive_grad_err:e}"
    );
    println!(
        "CTC T=2000: f32 input {loss_err:e} (loss), {grad_err:e} (gradient); \
         f32 recursion {naive_loss_err:e} (loss), {naive_grad_err:e} (gradient)"
    );
}

/// The RNN-T cost of sample 0 with an alpha recursion in f32 (torchaudio's, log-softmax
/// included).
fn naive_f32_rnnt(logits: &[f32], frames: usize, nodes: usize, classes: usize, labels: &[i64], blank: usize) -> f32 {
    let lp = |t: usize, u: usize, d: usize| {
        let row = &logits[(t * nodes + u) * classes..][..classes];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row[d] - (max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln())
    };
    let lse = |a: f32, b: f32| {
        if a > b {
            a + (b - a).exp().ln_1p()
        } else {
            b + (a - b).exp().ln_1p()
        }
    };
    let mut alpha = vec![vec![0f32; nodes]; frames];
    for t in 0..frames {
        for u in 0..nodes {
            alpha[t][u] = match (t, u) {
                (0, 0) => 0.0,
                (0, u) => alpha[0][u - 1] + lp(0, u - 1, labels[u - 1] as usize),
                (t, 0) => alpha[t - 1][0] + lp(t - 1, 0, blank),
                (t, u) => lse(
                    alpha[t - 1][u] + lp(t - 1, u, blank),
                    alpha[t][u - 1] + lp(t, u - 1, labels[u - 1] as usize),
                ),
            };
        }
    }
    -(alpha[frames - 1][nodes - 1] + lp(frames - 1, nodes - 1, blank))
}

#[test]
fn rnnt_at_five_hundred_frames_in_f32_matches_f64() {
    let (batch, max_time, max_target, classes) = (2, 500, 50, 10);
    let nodes = max_target + 1;
    let mut rng = Rng::new(18);
    let logits32: Vec<f32> = (0..batch * max_time * nodes * classes)
        .map(|_| rng.normal(2.0) as f32)
        .collect();
    let logits64: Vec<f64> = logits32.iter().map(|&x| f64::from(x)).collect();
    let targets: Vec<i64> = (0..batch * max_target).map(|_| rng.label(classes, 9)).collect();
    let inputs = RnntInputs {
        targets: &targets,
        max_target,
        logit_lengths: &[500, 420],
        target_lengths: &[50, 44],
    };
    for fused in [true, false] {
        let x: Vec<f64> = if fused {
            logits64.clone()
        } else {
            let mut lp = logits64.clone();
            log_softmax(&mut lp, classes);
            lp.iter().map(|&x| f64::from(x as f32)).collect()
        };
        let loss = RnntLossConfig::new().with_blank(9).with_fused_log_softmax(fused).init();
        let dims = [batch, max_time, nodes, classes];
        let r32 = run(&x, dims, DType::F32, |x| inputs.per_sample(&loss, x)).unwrap();
        let r64 = run(&x, dims, DType::F64, |x| inputs.per_sample(&loss, x)).unwrap();
        let loss_err = max_rel_err(&r32.loss, &r64.loss, 1.0);
        let grad_err = max_rel_err(&r32.grad, &r64.grad, 1e-20);
        assert!(loss_err < 1e-6, "fused {fused}: loss relative error {loss_err:e}");
        assert!(grad_err < 1e-5, "fused {fused}: gradient relative error {grad_err:e}");
        if fused {
            let naive = f64::from(naive_f32_rnnt(
                &logits32[..max_time * nodes * classes],
                500,
                nodes,
                classes,
                &targets[..50],
                9,
            ));
            let naive_err = (naive - r64.loss[0]).abs() / r64.loss[0];
            println!(
                "RNN-T T=500: f32 input {loss_err:e} (loss), {grad_err:e} (gradient); f32 recursion {naive_err:e} (loss)"
            );
        }
    }
}
