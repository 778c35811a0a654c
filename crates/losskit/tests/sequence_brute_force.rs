//! Tiny cases against brute force, on both paths: every CTC alignment (C^L paths of L <= 5
//! frames, C <= 3 classes, S <= 2 labels) and every RNN-T lattice path (T, U <= 3), summed
//! in f64; losses and gradients, the latter from the paths' posteriors.

mod common;

use burn::tensor::DType;
use common::assert_close;
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs, both_paths, log_softmax};
use losskit::{CtcLossConfig, RnntLossConfig};

/// Collapses an alignment: merges repeats, drops blanks.
fn collapse(path: &[usize], blank: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev = None;
    for &c in path {
        if Some(c) != prev && c != blank {
            out.push(c);
        }
        prev = Some(c);
    }
    out
}

/// A loss and its true gradient by brute force.
struct Brute<G> {
    nll: f64,
    grad: G,
}

/// -ln P(target) and d(-ln P)/d log_probs for one sample, summed over all C^L alignments;
/// `lp[t][c]`.
fn ctc_brute(lp: &[Vec<f64>], target: &[usize], blank: usize) -> Brute<Vec<Vec<f64>>> {
    let (len, classes) = (lp.len(), lp.first().map_or(0, Vec::len));
    let mut total = 0.0;
    let mut through = vec![vec![0.0; classes]; len];
    let mut path = vec![0; len];
    for code in 0..classes.pow(len as u32) {
        let mut rest = code;
        for p in path.iter_mut() {
            *p = rest % classes;
            rest /= classes;
        }
        if collapse(&path, blank) != target {
            continue;
        }
        let prob: f64 = path.iter().enumerate().map(|(t, &c)| lp[t][c]).sum::<f64>().exp();
        total += prob;
        for (t, &c) in path.iter().enumerate() {
            through[t][c] += prob;
        }
    }
    let grad = through
        .iter()
        .map(|row| row.iter().map(|p| -p / total).collect())
        .collect();
    Brute { nll: -total.ln(), grad }
}

#[test]
#[allow(clippy::needless_range_loop)] // t indexes the (T, N, C) gradient and the sample's frames
fn ctc_equals_the_sum_over_all_alignments() {
    let mut rng = Rng::new(1);
    let mut checked = 0;
    for classes in 2..=3 {
        for max_time in 1..=5 {
            for _ in 0..6 {
                let batch = 3;
                let blank = rng.below(classes);
                let lp = rng.log_probs(max_time * batch * classes, classes, 1.5);
                let input_lengths: Vec<i64> = (0..batch).map(|_| 1 + rng.below(max_time) as i64).collect();
                let target_lengths: Vec<i64> = (0..batch).map(|_| rng.below(3) as i64).collect();
                // Labels from the non-blank classes, so that repeats come often with C <= 3.
                let labels: Vec<i64> = (0..batch * 2).map(|_| rng.label(classes, blank)).collect();
                let inputs = CtcInputs {
                    labels: Labels::Padded {
                        labels: &labels,
                        width: 2,
                    },
                    input_lengths: &input_lengths,
                    target_lengths: &target_lengths,
                };
                let loss = CtcLossConfig::new().with_blank(blank as i64).init();
                for r in both_paths(&lp, [max_time, batch, classes], DType::F64, |x| {
                    inputs.per_sample(&loss, x)
                }) {
                    let r = r.unwrap();
                    for n in 0..batch {
                        let frames = input_lengths[n] as usize;
                        let own: Vec<Vec<f64>> = (0..frames)
                            .map(|t| lp[(t * batch + n) * classes..][..classes].to_vec())
                            .collect();
                        let target: Vec<usize> = labels[n * 2..][..target_lengths[n] as usize]
                            .iter()
                            .map(|&l| l as usize)
                            .collect();
                        let brute = ctc_brute(&own, &target, blank);
                        if brute.nll.is_infinite() {
                            assert_eq!(r.loss[n], f64::INFINITY);
                            continue;
                        }
                        assert!(
                            (r.loss[n] - brute.nll).abs() <= 1e-12 * brute.nll.abs().max(1.0),
                            "nll {} vs {}",
                            r.loss[n],
                            brute.nll
                        );
                        for t in 0..max_time {
                            let got = &r.grad[(t * batch + n) * classes..][..classes];
                            // PyTorch's convention: exp(log_probs) plus the true gradient.
                            let want: Vec<f64> = if t < frames {
                                (0..classes).map(|c| own[t][c].exp() + brute.grad[t][c]).collect()
                            } else {
                                vec![0.0; classes]
                            };
                            assert_close(got, &want, 1e-11, 1e-13, &format!("grad t={t} n={n}"));
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 200, "{checked} feasible samples checked");
}

/// -ln P(target) and the true gradient with respect to the transitions' log-probabilities
/// `lp[t][u][d]` (minus each transition's posterior), over all lattice paths of T frames and
/// U labels.
fn rnnt_brute(lp: &[Vec<Vec<f64>>], target: &[usize], blank: usize) -> Brute<Vec<Vec<Vec<f64>>>> {
    let (frames, nodes) = (lp.len(), target.len() + 1);
    let classes = lp[0][0].len();
    let mut total = 0.0;
    let mut through = vec![vec![vec![0.0; classes]; nodes]; frames];
    // A path is which of the T - 1 + U moves are emissions; then the final blank.
    let moves = frames - 1 + target.len();
    for code in 0u32..(1 << moves) {
        if code.count_ones() as usize != target.len() {
            continue;
        }
        let (mut t, mut u) = (0, 0);
        let mut used = Vec::with_capacity(moves + 1);
        for m in 0..moves {
            if code >> m & 1 == 1 {
                used.push((t, u, target[u]));
                u += 1;
            } else {
                used.push((t, u, blank));
                t += 1;
            }
        }
        used.push((frames - 1, target.len(), blank));
        let prob = used.iter().map(|&(t, u, d)| lp[t][u][d]).sum::<f64>().exp();
        total += prob;
        for &(t, u, d) in &used {
            through[t][u][d] += prob;
        }
    }
    let grad = through
        .iter()
        .map(|f| f.iter().map(|n| n.iter().map(|p| -p / total).collect()).collect())
        .collect();
    Brute { nll: -total.ln(), grad }
}

#[test]
#[allow(clippy::needless_range_loop)] // t and u index the (N, T, U + 1, V) gradient and the lattice
fn rnnt_equals_the_sum_over_all_lattice_paths() {
    let mut rng = Rng::new(2);
    for fused in [true, false] {
        for classes in 2..=4 {
            for _ in 0..8 {
                let (batch, max_time, max_target) = (3, 3, 3);
                let blank = rng.below(classes);
                let nodes = max_target + 1;
                let mut logits: Vec<f64> = (0..batch * max_time * nodes * classes)
                    .map(|_| rng.normal(1.5))
                    .collect();
                if !fused {
                    log_softmax(&mut logits, classes);
                }
                // torchaudio wants the longest lengths to be the axes: sample 0 has them.
                let logit_lengths: Vec<i64> = (0..batch)
                    .map(|n| if n == 0 { 3 } else { 1 + rng.below(max_time) as i64 })
                    .collect();
                let target_lengths: Vec<i64> = (0..batch)
                    .map(|n| if n == 0 { 3 } else { rng.below(max_target + 1) as i64 })
                    .collect();
                let targets: Vec<i64> = (0..batch * max_target).map(|_| rng.label(classes, blank)).collect();
                let inputs = RnntInputs {
                    targets: &targets,
                    max_target,
                    logit_lengths: &logit_lengths,
                    target_lengths: &target_lengths,
                };
                let loss = RnntLossConfig::new()
                    .with_blank(blank as i64)
                    .with_fused_log_softmax(fused)
                    .init();
                for r in both_paths(&logits, [batch, max_time, nodes, classes], DType::F64, |x| {
                    inputs.per_sample(&loss, x)
                }) {
                    let r = r.unwrap();
                    for n in 0..batch {
                        let (frames, labels) = (logit_lengths[n] as usize, target_lengths[n] as usize);
                        let node =
                            |t: usize, u: usize| &logits[((n * max_time + t) * nodes + u) * classes..][..classes];
                        let mut lp: Vec<Vec<Vec<f64>>> = (0..frames)
                            .map(|t| (0..=labels).map(|u| node(t, u).to_vec()).collect())
                            .collect();
                        if fused {
                            lp.iter_mut().flatten().for_each(|row| log_softmax(row, classes));
                        }
                        let target: Vec<usize> = targets[n * max_target..][..labels]
                            .iter()
                            .map(|&l| l as usize)
                            .collect();
                        let brute = rnnt_brute(&lp, &target, blank);
                        assert!(
                            (r.loss[n] - brute.nll).abs() <= 1e-12 * brute.nll.abs().max(1.0),
                            "nll {} vs {}",
                            r.loss[n],
                            brute.nll
                        );
                        for t in 0..max_time {
                            for u in 0..nodes {
                                let got = &r.grad[((n * max_time + t) * nodes + u) * classes..][..classes];
                                let want: Vec<f64> = if t >= frames || u > labels {
                                    vec![0.0; classes]
                                } else if fused {
                                    // Through the log-softmax: g_k - softmax_k * sum_d g_d.
                                    let g = &brute.grad[t][u];
                                    let sum: f64 = g.iter().sum();
                                    (0..classes).map(|k| g[k] - lp[t][u][k].exp() * sum).collect()
                                } else {
                                    brute.grad[t][u].clone()
                                };
                                assert_close(got, &want, 1e-11, 1e-13, &format!("fused {fused} n={n} t={t} u={u}"));
                            }
                        }
                    }
                }
            }
        }
    }
}
