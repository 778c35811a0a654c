//! Properties of the sequence losses that need no reference: closed forms, infeasibility,
//! invariance to the padding and the layout of the targets, occupations summing to one,
//! zero gradients outside the lengths, PyTorch's reductions; on both paths.

mod common;

use burn::tensor::DType;
use common::assert_close;
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs, Run, both_paths, log_softmax, run};
use losskit::{CtcLossConfig, Reduction, RnntLossConfig};

/// The per-sample CTC run of `inputs` on `log_probs` `(T, N, C)`, f64, on both paths.
fn ctc_runs(log_probs: &[f64], dims: [usize; 3], inputs: CtcInputs<'_>, blank: i64, zero_infinity: bool) -> [Run; 2] {
    let loss = CtcLossConfig::new()
        .with_blank(blank)
        .with_zero_infinity(zero_infinity)
        .init();
    both_paths(log_probs, dims, DType::F64, |lp| inputs.per_sample(&loss, lp)).map(Result::unwrap)
}

#[test]
fn ctc_single_label_single_frame_is_its_nll() {
    let mut rng = Rng::new(7);
    for classes in 2..6 {
        let lp = rng.log_probs(classes, classes, 2.0);
        for label in 1..classes {
            let inputs = CtcInputs {
                labels: Labels::Padded {
                    labels: &[label as i64],
                    width: 1,
                },
                input_lengths: &[1],
                target_lengths: &[1],
            };
            for r in ctc_runs(&lp, [1, 1, classes], inputs, 0, false) {
                assert!((r.loss[0] + lp[label]).abs() < 1e-15, "{} vs {}", r.loss[0], -lp[label]);
                // PyTorch's gradient: softmax minus the one-hot of the label.
                let want: Vec<f64> = (0..classes)
                    .map(|c| lp[c].exp() - f64::from(u8::from(c == label)))
                    .collect();
                assert_close(&r.grad, &want, 0.0, 1e-15, "single frame");
            }
        }
    }
}

#[test]
fn ctc_repeated_label_needs_a_blank_between() {
    let (classes, max_time) = (4, 4);
    let lp = Rng::new(8).log_probs(max_time * classes, classes, 1.0);
    let at = |t: usize, c: usize| lp[t * classes + c];
    let inputs = |lengths: &'static [i64]| CtcInputs {
        labels: Labels::Padded {
            labels: &[2, 2],
            width: 2,
        },
        input_lengths: lengths,
        target_lengths: &[2],
    };
    // Two frames cannot hold [a, a]: +inf, NaN on the frames, 0 after them.
    for r in ctc_runs(&lp, [max_time, 1, classes], inputs(&[2]), 0, false) {
        assert_eq!(r.loss[0], f64::INFINITY);
        assert!(r.grad[..2 * classes].iter().all(|g| g.is_nan()));
        assert!(r.grad[2 * classes..].iter().all(|&g| g == 0.0));
    }
    // zero_infinity: loss 0, gradient 0 everywhere.
    for r in ctc_runs(&lp, [max_time, 1, classes], inputs(&[2]), 0, true) {
        assert_eq!(r.loss[0], 0.0);
        assert!(r.grad.iter().all(|&g| g == 0.0));
    }
    // Three frames hold exactly one alignment, a blank a.
    for r in ctc_runs(&lp, [max_time, 1, classes], inputs(&[3]), 0, false) {
        let want = -(at(0, 2) + at(1, 0) + at(2, 2));
        assert!((r.loss[0] - want).abs() < 1e-14 * want.abs());
    }
}

#[test]
fn ctc_empty_input_and_empty_target() {
    let lp = Rng::new(9).log_probs(27, 3, 1.0);
    let inputs = CtcInputs {
        labels: Labels::Padded {
            labels: &[1, 2, 1, 2, 1, 2],
            width: 2,
        },
        input_lengths: &[0, 0, 3],
        target_lengths: &[0, 1, 0],
    };
    for r in ctc_runs(&lp, [3, 3, 3], inputs, 0, false) {
        // No frames: 0 for no labels, +inf for some; an empty target is the all-blank path.
        assert_eq!(r.loss[..2], [0.0, f64::INFINITY]);
        let all_blank: f64 = (0..3).map(|t| lp[(t * 3 + 2) * 3]).sum();
        assert!((r.loss[2] + all_blank).abs() < 1e-14);
        for t in 0..3 {
            assert!(
                r.grad[t * 9..][..6].iter().all(|&g| g == 0.0),
                "samples without frames have no gradient"
            );
        }
    }
}

#[test]
fn ctc_loss_ignores_the_padding_value_and_the_layout() {
    let mut rng = Rng::new(10);
    let (max_time, batch, classes, width) = (15, 4, 6, 5);
    let lp = rng.log_probs(max_time * batch * classes, classes, 1.5);
    let (input_lengths, target_lengths) = ([15, 11, 9, 15], [5, 3, 0, 4]);
    let labels: Vec<i64> = (0..batch * width).map(|_| rng.label(classes, 0)).collect();
    let padded_with = |pad: i64| -> Vec<i64> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if (i % width) < target_lengths[i / width] as usize {
                    l
                } else {
                    pad
                }
            })
            .collect()
    };
    let runs = |labels: Labels<'_>| {
        ctc_runs(
            &lp,
            [max_time, batch, classes],
            CtcInputs {
                labels,
                input_lengths: &input_lengths,
                target_lengths: &target_lengths,
            },
            0,
            false,
        )
    };
    let reference = runs(Labels::Padded {
        labels: &padded_with(0),
        width,
    });
    // Any padding value, out-of-range ones included (they are never read).
    for pad in [-1, 0, 3, 5, 1000, -100_000] {
        assert_eq!(
            runs(Labels::Padded {
                labels: &padded_with(pad),
                width
            }),
            reference,
            "padding {pad}"
        );
    }
    let concatenated: Vec<i64> = (0..batch)
        .flat_map(|n| labels[n * width..][..target_lengths[n] as usize].iter().copied())
        .collect();
    assert_eq!(runs(Labels::Concatenated(&concatenated)), reference);
    // A wider padded tensor changes nothing either.
    let wider: Vec<i64> = (0..batch)
        .flat_map(|n| labels[n * width..][..width].iter().copied().chain([7, 7]))
        .collect();
    assert_eq!(
        runs(Labels::Padded {
            labels: &wider,
            width: width + 2
        }),
        reference
    );
}

#[test]
fn ctc_occupations_sum_to_one_and_late_frames_are_zero() {
    let mut rng = Rng::new(11);
    let (max_time, batch, classes, width) = (30, 5, 7, 8);
    for blank in [0, 3, 6] {
        let lp = rng.log_probs(max_time * batch * classes, classes, 2.0);
        let labels: Vec<i64> = (0..batch * width).map(|_| rng.label(classes, blank)).collect();
        let (input_lengths, target_lengths) = ([30, 22, 17, 30, 1], [8, 5, 8, 0, 0]);
        let inputs = CtcInputs {
            labels: Labels::Padded { labels: &labels, width },
            input_lengths: &input_lengths,
            target_lengths: &target_lengths,
        };
        for r in ctc_runs(&lp, [max_time, batch, classes], inputs, blank as i64, false) {
            for t in 0..max_time {
                for (n, &len) in input_lengths.iter().enumerate() {
                    let row = (t * batch + n) * classes;
                    let (g, x) = (&r.grad[row..][..classes], &lp[row..][..classes]);
                    if t < len as usize {
                        // grad = exp(lp) - occupation, and the occupations of a frame sum to 1.
                        let occupied: f64 = g.iter().zip(x).map(|(g, x)| x.exp() - g).sum();
                        assert!((occupied - 1.0).abs() < 1e-11, "t {t} n {n}: {occupied}");
                    } else {
                        assert!(g.iter().all(|&g| g == 0.0));
                    }
                }
            }
        }
    }
}

#[test]
fn ctc_is_the_same_in_batches_and_alone() {
    let mut rng = Rng::new(12);
    let (max_time, batch, classes) = (20, 6, 5);
    let lp = rng.log_probs(max_time * batch * classes, classes, 1.0);
    let labels: Vec<i64> = (0..batch * 4).map(|_| rng.label(classes, 0)).collect();
    let (input_lengths, target_lengths) = ([20, 10, 5, 20, 7, 3], [4, 4, 2, 1, 3, 4]);
    let inputs = CtcInputs {
        labels: Labels::Padded {
            labels: &labels,
            width: 4,
        },
        input_lengths: &input_lengths,
        target_lengths: &target_lengths,
    };
    let all = ctc_runs(&lp, [max_time, batch, classes], inputs, 0, false);
    for n in 0..batch {
        let own: Vec<f64> = (0..max_time)
            .flat_map(|t| lp[(t * batch + n) * classes..][..classes].to_vec())
            .collect();
        let alone = CtcInputs {
            labels: Labels::Padded {
                labels: &labels[n * 4..][..4],
                width: 4,
            },
            input_lengths: &input_lengths[n..=n],
            target_lengths: &target_lengths[n..=n],
        };
        for (path, (one, all)) in ctc_runs(&own, [max_time, 1, classes], alone, 0, false)
            .iter()
            .zip(&all)
            .enumerate()
        {
            assert_close(
                &one.loss,
                &all.loss[n..=n],
                1e-14,
                0.0,
                &format!("path {path} sample {n} loss"),
            );
            let column: Vec<f64> = (0..max_time)
                .flat_map(|t| all.grad[(t * batch + n) * classes..][..classes].to_vec())
                .collect();
            assert_close(
                &one.grad,
                &column,
                1e-13,
                1e-15,
                &format!("path {path} sample {n} gradient"),
            );
        }
    }
}

#[test]
fn ctc_nan_log_probability_spreads_over_the_frames_as_in_pytorch() {
    // The fused kernel's behaviour; the composed path gives a NaN loss too, but NaN
    // gradients only where the NaN reaches.
    let (max_time, classes) = (4, 4);
    let lp = Rng::new(19).log_probs(max_time * classes, classes, 1.0);
    let inputs = CtcInputs {
        labels: Labels::Padded {
            labels: &[1, 2],
            width: 2,
        },
        input_lengths: &[3],
        target_lengths: &[2],
    };
    for zero_infinity in [false, true] {
        let loss = CtcLossConfig::new().with_zero_infinity(zero_infinity).init();
        // A class of the target: the loss is NaN and so are all frames t < L.
        let mut x = lp.clone();
        x[classes + 1] = f64::NAN;
        let r = run(&x, [max_time, 1, classes], DType::F64, |lp| {
            inputs.per_sample(&loss, lp)
        })
        .unwrap();
        assert!(r.loss[0].is_nan());
        assert!(r.grad[..3 * classes].iter().all(|g| g.is_nan()));
        assert!(r.grad[3 * classes..].iter().all(|&g| g == 0.0));
    }
    // A class no alignment uses: NaN in that element alone.
    let mut x = lp;
    x[classes + 3] = f64::NAN;
    let loss = CtcLossConfig::new().init();
    let r = run(&x, [max_time, 1, classes], DType::F64, |lp| {
        inputs.per_sample(&loss, lp)
    })
    .unwrap();
    assert!(r.loss[0].is_finite());
    assert!(r.grad.iter().enumerate().all(|(i, g)| g.is_nan() == (i == classes + 3)));
}

#[test]
fn ctc_reductions_are_pytorchs() {
    let mut rng = Rng::new(20);
    let (max_time, batch, classes) = (9, 3, 5);
    let lp = rng.log_probs(max_time * batch * classes, classes, 1.0);
    let inputs = CtcInputs {
        labels: Labels::Concatenated(&[1, 2, 3, 4, 4]),
        input_lengths: &[9, 7, 8],
        target_lengths: &[3, 0, 2],
    };
    let [per_sample, _] = ctc_runs(&lp, [max_time, batch, classes], inputs, 0, false);
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let loss = CtcLossConfig::new().with_reduction(reduction).init();
        let want = match reduction {
            // Each loss over its target length, at least 1, then the batch mean.
            Reduction::Mean => (per_sample.loss[0] / 3.0 + per_sample.loss[1] + per_sample.loss[2] / 2.0) / 3.0,
            Reduction::Sum => per_sample.loss.iter().sum(),
        };
        for r in both_paths(&lp, [max_time, batch, classes], DType::F64, |x| {
            inputs.reduced(&loss, x)
        }) {
            let r = r.unwrap();
            assert_eq!(r.loss.len(), 1);
            assert!(
                (r.loss[0] - want).abs() <= 1e-13 * want,
                "{reduction:?}: {} vs {want}",
                r.loss[0]
            );
        }
    }
}

/// The per-sample RNN-T run of `inputs` on `logits` `(N, T, U + 1, V)`, f64, on both paths.
fn rnnt_runs(
    logits: &[f64],
    dims: [usize; 4],
    inputs: RnntInputs<'_>,
    blank: i64,
    clamp: f64,
    fused: bool,
) -> [Run; 2] {
    let loss = RnntLossConfig::new()
        .with_blank(blank)
        .with_clamp(clamp)
        .with_fused_log_softmax(fused)
        .init();
    both_paths(logits, dims, DType::F64, |x| inputs.per_sample(&loss, x)).map(Result::unwrap)
}

#[test]
fn rnnt_with_two_classes_and_no_labels_is_the_sum_of_the_blanks() {
    let mut rng = Rng::new(13);
    let (batch, max_time, classes) = (3, 9, 2);
    for blank in [0, 1] {
        let logits: Vec<f64> = (0..batch * max_time * classes).map(|_| rng.normal(2.0)).collect();
        let lengths = [9, 4, 1];
        let inputs = RnntInputs {
            targets: &[],
            max_target: 0,
            logit_lengths: &lengths,
            target_lengths: &[0, 0, 0],
        };
        for r in rnnt_runs(&logits, [batch, max_time, 1, classes], inputs, blank, -1.0, true) {
            for n in 0..batch {
                let mut lp = logits[n * max_time * classes..][..max_time * classes].to_vec();
                log_softmax(&mut lp, classes);
                // One path, a blank on every frame: the closed form -sum_t ln sigmoid(x_blank - x_other).
                let want: f64 = -(0..lengths[n] as usize)
                    .map(|t| lp[t * classes + blank as usize])
                    .sum::<f64>();
                assert!(
                    (r.loss[n] - want).abs() < 1e-13 * want.abs().max(1.0),
                    "{} vs {want}",
                    r.loss[n]
                );
                // Its gradient is softmax - one-hot(blank) on the frames, 0 after.
                for t in 0..max_time {
                    for d in 0..classes {
                        let g = r.grad[(n * max_time + t) * classes + d];
                        let want = if t < lengths[n] as usize {
                            lp[t * classes + d].exp() - f64::from(u8::from(d == blank as usize))
                        } else {
                            0.0
                        };
                        assert!((g - want).abs() < 1e-14, "n {n} t {t} d {d}: {g} vs {want}");
                    }
                }
            }
        }
    }
}

#[test]
fn rnnt_outside_the_lengths_is_zero_and_no_frames_is_infinite() {
    let mut rng = Rng::new(14);
    let (batch, max_time, max_target, classes) = (3, 5, 3, 4);
    let nodes = max_target + 1;
    let logits: Vec<f64> = (0..batch * max_time * nodes * classes)
        .map(|_| rng.normal(1.0))
        .collect();
    let (logit_lengths, target_lengths) = ([5, 3, 0], [2, 1, 3]);
    let inputs = RnntInputs {
        targets: &[1, 2, 1, 3, 3, 0, 2, 2, 2],
        max_target,
        logit_lengths: &logit_lengths,
        target_lengths: &target_lengths,
    };
    for fused in [true, false] {
        for r in rnnt_runs(&logits, [batch, max_time, nodes, classes], inputs, 0, -1.0, fused) {
            assert!(r.loss[..2].iter().all(|l| l.is_finite()));
            assert_eq!(r.loss[2], f64::INFINITY);
            for n in 0..batch {
                for t in 0..max_time {
                    for u in 0..nodes {
                        let g = &r.grad[((n * max_time + t) * nodes + u) * classes..][..classes];
                        if t >= logit_lengths[n] as usize || u > target_lengths[n] as usize {
                            assert!(g.iter().all(|&g| g == 0.0), "n {n} t {t} u {u}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn rnnt_clamp_bounds_every_element_and_changes_nothing_below_it() {
    let mut rng = Rng::new(15);
    let (batch, max_time, max_target, classes) = (2, 6, 3, 5);
    let dims = [batch, max_time, max_target + 1, classes];
    let logits: Vec<f64> = (0..dims.iter().product()).map(|_| rng.normal(2.0)).collect();
    let inputs = RnntInputs {
        targets: &[1, 2, 3, 4, 4, 1],
        max_target,
        logit_lengths: &[6, 5],
        target_lengths: &[3, 2],
    };
    let free = rnnt_runs(&logits, dims, inputs, 0, -1.0, true);
    for c in [0.05, 0.3] {
        for (free, clamped) in free.iter().zip(rnnt_runs(&logits, dims, inputs, 0, c, true)) {
            assert_eq!(clamped.loss, free.loss);
            let want: Vec<f64> = free.grad.iter().map(|g| g.clamp(-c, c)).collect();
            assert_close(&clamped.grad, &want, 0.0, 1e-15, "clamped");
        }
    }
    // clamp <= 0 is off, as torchaudio's default -1.
    for c in [0.0, -1.0] {
        assert_eq!(rnnt_runs(&logits, dims, inputs, 0, c, true), free);
    }
}

#[test]
fn rnnt_reductions_are_torchaudios() {
    let mut rng = Rng::new(21);
    let dims = [3, 4, 3, 5];
    let logits: Vec<f64> = (0..dims.iter().product()).map(|_| rng.normal(1.0)).collect();
    let inputs = RnntInputs {
        targets: &[1, 2, 3, 0, 2, 2],
        max_target: 2,
        logit_lengths: &[4, 2, 3],
        target_lengths: &[2, 1, 2],
    };
    let [per_sample, _] = rnnt_runs(&logits, dims, inputs, -1, -1.0, true);
    for reduction in [Reduction::Mean, Reduction::Sum] {
        let loss = RnntLossConfig::new().with_reduction(reduction).init();
        let sum: f64 = per_sample.loss.iter().sum();
        // The mean is over the batch, not divided by the target lengths.
        let want = if reduction == Reduction::Mean { sum / 3.0 } else { sum };
        for r in both_paths(&logits, dims, DType::F64, |x| inputs.reduced(&loss, x)) {
            let r = r.unwrap();
            assert!(
                (r.loss[0] - want).abs() <= 1e-13 * want,
                "{reduction:?}: {} vs {want}",
                r.loss[0]
            );
        }
    }
}
