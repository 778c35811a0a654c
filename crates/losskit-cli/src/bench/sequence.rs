//! The sequence losses' cases: CTC of `(T, N, C)` log-probabilities against `(N, S)`
//! targets (shape `TxNxCxS`) and RNN-T of `(N, T, U + 1, V)` logits against `(N, U)` targets
//! (shape `NxTxUxV`), every sample of full length, against burn's versions.

use burn::nn::loss::{CTCLossConfig, RNNTLossConfig, Reduction as BurnReduction};
use burn::tensor::{Device, Int, Tensor, TensorData};
use losskit::{CtcLossConfig, RnntLossConfig, with_composed};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::Measurement;
use super::cases::Op;
use super::measure::{Rows, time, uniform};

pub(super) fn measure(op: Op, shape: &[usize], repeats: usize) -> Vec<Measurement> {
    match (op, shape) {
        (Op::Ctc, &[t, n, c, s]) => ctc(CtcShape { t, n, c, s }, repeats),
        (_, &[n, t, u, v]) => rnnt(RnntShape { n, t, u, v }, repeats),
        _ => unreachable!("the sequence losses are timed at four-dimensional shapes"),
    }
}

/// CTC's shape: frames, batch, classes (the blank, 0, included), target length.
struct CtcShape {
    t: usize,
    n: usize,
    c: usize,
    s: usize,
}

/// RNN-T's shape: batch, frames, target length, classes (the blank, the last, included).
struct RnntShape {
    n: usize,
    t: usize,
    u: usize,
    v: usize,
}

/// `count` labels uniform in `range`, as an `(rows, count / rows)` tensor.
fn labels(count: usize, rows: usize, range: std::ops::Range<i64>, device: &Device) -> Tensor<2, Int> {
    let mut rng = StdRng::seed_from_u64(2);
    let values: Vec<i64> = (0..count).map(|_| rng.random_range(range.clone())).collect();
    Tensor::from_data(TensorData::new(values, [rows, count / rows]), device)
}

/// `n` lengths of `length`.
fn full(n: usize, length: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(vec![length as i64; n], [n]), device)
}

fn ctc(shape: CtcShape, repeats: usize) -> Vec<Measurement> {
    let CtcShape { t, n, c, s } = shape;
    let device = Device::flex().autodiff();
    // Log-probabilities: the log-softmax of uniform logits, taken on the host.
    let mut log_probs = uniform(t * n * c, 1, -3.0, 3.0);
    for row in log_probs.chunks_mut(c) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
        row.iter_mut().for_each(|x| *x -= lse);
    }
    let input = TensorData::new(log_probs, [t, n, c]);
    let targets = labels(n * s, n, 1..c as i64, &device);
    let (input_lengths, target_lengths) = (full(n, t, &device), full(n, s, &device));
    let mut rows = Rows::new(Op::Ctc, &[t, n, c, s]);
    let loss = CtcLossConfig::new().init();
    let ours = |x: Tensor<3>| {
        loss.forward(x, targets.clone(), input_lengths.clone(), target_lengths.clone())
            .expect("the benchmark's targets fit")
    };
    rows.record("losskit", time(&input, repeats, &ours, None));
    rows.record("losskit-composed", with_composed(|| time(&input, repeats, &ours, None)));
    let burn_loss = CTCLossConfig::new().init();
    let burns = |x: Tensor<3>| {
        burn_loss.forward_with_reduction(
            x,
            targets.clone(),
            input_lengths.clone(),
            target_lengths.clone(),
            BurnReduction::Mean,
        )
    };
    rows.record("burn", time(&input, repeats, &burns, None));
    rows.finish()
}

fn rnnt(shape: RnntShape, repeats: usize) -> Vec<Measurement> {
    let RnntShape { n, t, u, v } = shape;
    let device = Device::flex().autodiff();
    let input = TensorData::new(uniform(n * t * (u + 1) * v, 1, -3.0, 3.0), [n, t, u + 1, v]);
    let targets = labels(n * u, n, 0..v as i64 - 1, &device);
    let (logit_lengths, target_lengths) = (full(n, t, &device), full(n, u, &device));
    let mut rows = Rows::new(Op::Rnnt, &[n, t, u, v]);
    let loss = RnntLossConfig::new().init();
    let ours = |x: Tensor<4>| {
        loss.forward(x, targets.clone(), logit_lengths.clone(), target_lengths.clone())
            .expect("the benchmark's targets fit")
    };
    rows.record("losskit", time(&input, repeats, &ours, None));
    rows.record("losskit-composed", with_composed(|| time(&input, repeats, &ours, None)));
    let burn_loss = RNNTLossConfig::new().with_blank(v - 1).init();
    let burns = |x: Tensor<4>| {
        burn_loss.forward_with_reduction(
            x,
            targets.clone(),
            logit_lengths.clone(),
            target_lengths.clone(),
            BurnReduction::Mean,
        )
    };
    rows.record("burn", time(&input, repeats, &burns, None));
    rows.finish()
}
