//! Bad calls of the sequence losses are errors naming the values, in PyTorch's and
//! torchaudio's words, never a panic: each precondition, then random shapes, lengths and
//! labels a little out of range.

mod common;

use burn::tensor::DType;
use common::sequence::{CtcInputs, Labels, Rng, RnntInputs};
use common::{float, ints};
use losskit::{CtcLossConfig, CtcTargets, LossError, RnntLossConfig, with_composed};

fn ctc_error(dims: [usize; 3], inputs: CtcInputs<'_>, blank: i64) -> LossError {
    let loss = CtcLossConfig::new().with_blank(blank).init();
    let lp = float(&vec![-1.0; dims.iter().product()], dims, DType::F64);
    inputs.per_sample(&loss, lp).unwrap_err()
}

#[test]
fn ctc_refuses_what_pytorch_refuses() {
    let padded = Labels::Padded {
        labels: &[1, 2, 3, 1, 1, 2],
        width: 3,
    };
    let ok = CtcInputs {
        labels: padded,
        input_lengths: &[6, 6],
        target_lengths: &[3, 2],
    };
    let cases: [(CtcInputs<'_>, i64, &str); 9] = [
        (
            CtcInputs {
                input_lengths: &[6, 6, 6],
                ..ok
            },
            0,
            "input_lengths must be of size batch_size (2), found 3",
        ),
        (
            CtcInputs {
                target_lengths: &[3],
                ..ok
            },
            0,
            "target_lengths must be of size batch_size (2), found 1",
        ),
        (
            CtcInputs {
                input_lengths: &[7, 6],
                ..ok
            },
            0,
            "Expected input_lengths to have value at most 6, but got value 7",
        ),
        (
            CtcInputs {
                input_lengths: &[-1, 6],
                ..ok
            },
            0,
            "Expected input_lengths to have value at least 0, but got value -1",
        ),
        (
            CtcInputs {
                target_lengths: &[3, -1],
                ..ok
            },
            0,
            "Expected target_lengths to have value at least 0, but got value -1",
        ),
        (
            CtcInputs {
                target_lengths: &[4, 2],
                ..ok
            },
            0,
            "Expected tensor to have size at least 4 at dimension 1, but got size 3 for argument #2 'targets'",
        ),
        (
            CtcInputs {
                labels: Labels::Concatenated(&[1, 2, 3, 1]),
                ..ok
            },
            0,
            "Expected tensor to have size 5 at dimension 0, but got size 4 for argument #2 'targets'",
        ),
        (
            CtcInputs {
                labels: Labels::Padded {
                    labels: &[1, 2, 3],
                    width: 3,
                },
                ..ok
            },
            0,
            "Expected tensor to have size 2 at dimension 0, but got size 1 for argument #2 'targets'",
        ),
        (
            CtcInputs {
                labels: Labels::Padded {
                    labels: &[1, 2, 3, 1, 4, 9],
                    width: 3,
                },
                ..ok
            },
            0,
            "Target 4 is out of bounds for 4 classes",
        ),
    ];
    for (inputs, blank, message) in cases {
        for composed in [false, true] {
            let err = if composed {
                with_composed(|| ctc_error([6, 2, 4], inputs, blank))
            } else {
                ctc_error([6, 2, 4], inputs, blank)
            };
            assert_eq!(err.to_string(), message);
        }
    }
    assert_eq!(ctc_error([6, 2, 4], ok, 4), LossError::Blank { blank: 4, classes: 4 });
    assert_eq!(
        ctc_error([6, 2, 4], ok, -1).to_string(),
        "blank must be in label range [0, 4), found -1"
    );
    let empty = CtcInputs {
        labels: Labels::Padded { labels: &[], width: 3 },
        input_lengths: &[],
        target_lengths: &[],
    };
    assert_eq!(
        ctc_error([6, 0, 4], empty, 0).to_string(),
        "log_probs tensor must not be empty, got shape [6, 0, 4]"
    );
    // The padding of padded targets is never read, even out of range.
    let loss = CtcLossConfig::new().init();
    let lp = float(&vec![-1.0; 48], [6, 2, 4], DType::F64);
    let padding = CtcInputs {
        labels: Labels::Padded {
            labels: &[1, 2, 3, 1, 1, 99],
            width: 3,
        },
        ..ok
    };
    assert!(padding.per_sample(&loss, lp).is_ok());
}

fn rnnt_error(dims: [usize; 4], inputs: RnntInputs<'_>, blank: i64) -> String {
    let loss = RnntLossConfig::new().with_blank(blank).init();
    let logits = float(&vec![0.5; dims.iter().product()], dims, DType::F64);
    inputs.per_sample(&loss, logits).unwrap_err().to_string()
}

#[test]
fn rnnt_refuses_what_torchaudio_refuses() {
    let dims = [2, 4, 3, 5];
    let ok = RnntInputs {
        targets: &[1, 2, 3, 0],
        max_target: 2,
        logit_lengths: &[4, 3],
        target_lengths: &[2, 1],
    };
    let cases: [(RnntInputs<'_>, i64, &str); 9] = [
        (
            RnntInputs {
                logit_lengths: &[4, 3, 3],
                ..ok
            },
            -1,
            "batch dimension mismatch between logits (2) and logit_lengths (3)",
        ),
        (
            RnntInputs {
                target_lengths: &[2],
                ..ok
            },
            -1,
            "batch dimension mismatch between logits (2) and target_lengths (1)",
        ),
        (
            RnntInputs {
                logit_lengths: &[3, 3],
                ..ok
            },
            -1,
            "input length mismatch: the longest logit length is 3, the logits have 4 frames",
        ),
        (
            RnntInputs {
                logit_lengths: &[5, 3],
                ..ok
            },
            -1,
            "input length mismatch: the longest logit length is 5, the logits have 4 frames",
        ),
        (
            RnntInputs {
                target_lengths: &[1, 1],
                ..ok
            },
            -1,
            "output length mismatch: the longest target length is 1, the logits have 3 target nodes (U + 1)",
        ),
        (
            RnntInputs {
                logit_lengths: &[4, -2],
                ..ok
            },
            -1,
            "Expected logit_lengths to have value at least 0, but got value -2",
        ),
        (
            RnntInputs {
                targets: &[1, 7, 3, 0],
                ..ok
            },
            -1,
            "Target 7 is out of bounds for 5 classes",
        ),
        (ok, 5, "blank must be in label range [0, 5), found 5"),
        (ok, -6, "blank must be in label range [0, 5), found -6"),
    ];
    for (inputs, blank, message) in cases {
        assert_eq!(rnnt_error(dims, inputs, blank), message);
        assert_eq!(with_composed(|| rnnt_error(dims, inputs, blank)), message);
    }
    let wide = RnntInputs {
        targets: &[1, 2, 3, 0, 1, 1],
        max_target: 3,
        ..ok
    };
    assert_eq!(
        rnnt_error(dims, wide, -1),
        "target length mismatch: the targets have 3 columns, the longest target length is 2"
    );
    let empty = RnntInputs {
        targets: &[],
        max_target: 2,
        logit_lengths: &[],
        target_lengths: &[],
    };
    assert_eq!(
        rnnt_error([0, 4, 3, 5], empty, -1),
        "logits must not be empty, got shape [0, 4, 3, 5]"
    );
    // Labels past a sample's target length are padding, never read.
    let padding = RnntInputs {
        targets: &[1, 2, 3, 99],
        ..ok
    };
    let logits = float(&vec![0.5; 120], dims, DType::F64);
    assert!(padding.per_sample(&RnntLossConfig::new().init(), logits).is_ok());
}

/// `count` values in `-1..=range`: lengths and labels a little out of range now and then.
fn pick(rng: &mut Rng, count: usize, range: usize) -> Vec<i64> {
    (0..count).map(|_| rng.below(range + 2) as i64 - 1).collect()
}

#[test]
fn random_calls_never_panic() {
    let mut rng = Rng::new(16);
    for i in 0..400 {
        let (t, n, c, s) = (1 + rng.below(5), 1 + rng.below(3), 1 + rng.below(4), rng.below(3));
        let (labels, il, tl) = (
            pick(&mut rng, n * s, c),
            pick(&mut rng, n + usize::from(i % 7 == 0), t),
            pick(&mut rng, n, s),
        );
        let lp = float(&vec![-0.5; t * n * c], [t, n, c], DType::F32).require_grad();
        let targets = if i % 2 == 0 {
            CtcTargets::Padded(ints(&labels, [n, s]))
        } else {
            CtcTargets::Concatenated(ints(&labels, [labels.len()]))
        };
        let ctc = CtcLossConfig::new()
            .with_blank(rng.below(c + 1) as i64)
            .with_zero_infinity(i % 3 == 0)
            .init();
        let run = || {
            ctc.forward(
                lp.clone(),
                targets.clone(),
                ints(&il, [il.len()]),
                ints(&tl, [tl.len()]),
            )
            .map(|l| l.backward())
        };
        let _ = if i % 4 == 0 {
            with_composed(run).is_ok()
        } else {
            run().is_ok()
        };

        let (ll, tl) = (pick(&mut rng, n, t), pick(&mut rng, n, s));
        let logits = float(&vec![0.25; n * t * (s + 1) * c], [n, t, s + 1, c], DType::F64).require_grad();
        let rnnt = RnntLossConfig::new()
            .with_blank(rng.below(2 * c + 1) as i64 - c as i64)
            .with_clamp(0.1)
            .init();
        let targets = ints(&pick(&mut rng, n * s, c), [n, s]);
        let run = || {
            rnnt.forward_no_reduction(logits.clone(), targets.clone(), ints(&ll, [n]), ints(&tl, [n]))
                .map(|l| l.sum().backward())
        };
        let _ = if i % 4 == 1 {
            with_composed(run).is_ok()
        } else {
            run().is_ok()
        };
    }
}
