//! The chunked linear cross entropy against the unfused `cross_entropy(linear(...))`, value
//! and every gradient, on the fused CPU path and on the tensor-op path other backends run:
//! every option, chunk sizes that do not divide the batch, fully ignored chunks, empty and
//! fully ignored batches; f64 finite differences; errors; the head module.

mod common;

use burn::module::Module;
use burn::tensor::{DType, Int, Tensor};
use common::*;
use losskit::*;

/// A linear cross-entropy problem: `input` `(n, h)`, `classifier` `(v, h)`, `bias` `(v)`.
struct Problem {
    n: usize,
    h: usize,
    v: usize,
    input: Vec<f64>,
    classifier: Vec<f64>,
    bias: Option<Vec<f64>>,
    target: Vec<i64>,
}

impl Problem {
    /// Targets in `[0, v)`, with `ignore` at the rows `ignored` picks.
    fn new(n: usize, h: usize, v: usize, bias: bool, ignore: i64, ignored: impl Fn(usize) -> bool, seed: u64) -> Self {
        let target = uniform(n, seed, 0.0, v as f64)
            .iter()
            .enumerate()
            .map(|(i, &t)| if ignored(i) { ignore } else { t as i64 })
            .collect();
        Problem {
            n,
            h,
            v,
            input: uniform(n * h, seed + 1, -2.0, 2.0),
            classifier: uniform(v * h, seed + 2, -1.5, 1.5),
            bias: bias.then(|| uniform(v, seed + 3, -1.0, 1.0)),
            target,
        }
    }
}

/// The values, then the gradients of `sum(loss * upstream)` for input, classifier, bias.
#[derive(Debug)]
struct Outcome {
    value: Vec<f64>,
    grads: Vec<Vec<f64>>,
}

/// Runs `f(input, classifier, bias, target)` on leaves of `p` in `dtype`, with a fixed
/// random upstream gradient so that an unreduced loss's backward is held to more than ones.
fn run(
    p: &Problem,
    dtype: DType,
    f: &dyn Fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>, Tensor<1, Int>) -> Tensor<1>,
) -> Outcome {
    let x = float(&p.input, [p.n, p.h], dtype).require_grad();
    let w = float(&p.classifier, [p.v, p.h], dtype).require_grad();
    let b = p.bias.as_ref().map(|b| float(b, [p.v], dtype).require_grad());
    let out = f(x.clone(), w.clone(), b.clone(), ints(&p.target, [p.n]));
    let upstream = float(&uniform(out.dims()[0], 77, -2.0, 2.0), out.dims(), dtype);
    let value = read(out.clone());
    let grads = out.mul(upstream).sum().backward();
    let mut all = vec![read(x.grad(&grads).unwrap()), read(w.grad(&grads).unwrap())];
    all.extend(b.map(|b| read(b.grad(&grads).unwrap())));
    Outcome { value, grads: all }
}

/// The unfused expression: burn's matmul, then cross entropy with the same options.
fn unfused(
    config: &LinearCrossEntropyLossConfig,
    r: Option<Reduction>,
) -> impl Fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>, Tensor<1, Int>) -> Tensor<1> + use<> {
    let ce = CrossEntropyLossConfig::new()
        .with_weight(config.weight.clone())
        .with_ignore_index(config.ignore_index)
        .with_label_smoothing(config.label_smoothing)
        .with_softcap(config.softcap)
        .with_z_loss(config.z_loss)
        .with_reduction(configured(r))
        .init(&device())
        .unwrap();
    move |x, w, b, t| {
        let logits = x.matmul(w.transpose());
        let logits = match b {
            Some(b) => logits + b.unsqueeze_dim::<2>(0),
            None => logits,
        };
        by(
            r,
            || ce.forward(logits.clone(), t.clone()),
            || ce.forward_no_reduction(logits.clone(), t.clone()),
        )
    }
}

fn chunked(
    config: &LinearCrossEntropyLossConfig,
    r: Option<Reduction>,
) -> impl Fn(Tensor<2>, Tensor<2>, Option<Tensor<1>>, Tensor<1, Int>) -> Tensor<1> + use<> {
    let loss = config.clone().with_reduction(configured(r)).init(&device()).unwrap();
    move |x, w, b, t| {
        by(
            r,
            || loss.forward(x.clone(), w.clone(), b.clone(), t.clone()),
            || loss.forward_no_reduction(x.clone(), w.clone(), b.clone(), t.clone()),
        )
    }
}

fn assert_agree(got: &Outcome, want: &Outcome, rtol: f64, atol: f64, what: &str) {
    assert_close(&got.value, &want.value, rtol, atol, &format!("{what} value"));
    assert_eq!(got.grads.len(), want.grads.len());
    for (k, (g, w)) in got.grads.iter().zip(&want.grads).enumerate() {
        assert_close(
            g,
            w,
            rtol,
            atol,
            &format!("{what} grad {}", ["input", "classifier", "bias"][k]),
        );
    }
}

/// The chunked loss, fused and composed, against the unfused expression for `p` with
/// `config` at every reduction and `chunks` rows per chunk.
fn agree(p: &Problem, config: &LinearCrossEntropyLossConfig, chunks: &[Option<usize>], what: &str) {
    for r in REDUCTIONS {
        for dtype in [DType::F64, DType::F32] {
            let (rtol, atol) = if dtype == DType::F64 {
                (1e-9, 1e-12)
            } else {
                (2e-4, 2e-6)
            };
            let want = with_composed(|| run(p, DType::F64, &unfused(config, r)));
            for &rows in chunks {
                let config = config.clone().with_chunk_rows(rows);
                let what = format!("{what} {r:?} {dtype:?} chunk {rows:?}");
                let fused = run(p, dtype, &chunked(&config, r));
                assert_agree(&fused, &want, rtol, atol, &format!("{what} fused"));
                let composed = with_composed(|| run(p, dtype, &chunked(&config, r)));
                assert_agree(&composed, &want, rtol, atol, &format!("{what} composed"));
            }
        }
    }
}

/// The options, alone and together, over `v` classes (class weights drawn from `seed`).
fn every_option(v: usize, seed: u64) -> [LinearCrossEntropyLossConfig; 6] {
    let weight = Some(uniform(v, seed, 0.2, 2.0));
    [
        LinearCrossEntropyLossConfig::new(),
        LinearCrossEntropyLossConfig::new()
            .with_weight(weight.clone())
            .with_ignore_index(3),
        LinearCrossEntropyLossConfig::new()
            .with_label_smoothing(0.2)
            .with_weight(weight.clone()),
        LinearCrossEntropyLossConfig::new().with_softcap(Some(2.5)),
        LinearCrossEntropyLossConfig::new()
            .with_z_loss(0.02)
            .with_ignore_index(-100),
        LinearCrossEntropyLossConfig::new()
            .with_weight(weight)
            .with_ignore_index(3)
            .with_label_smoothing(0.1)
            .with_softcap(Some(4.0))
            .with_z_loss(0.005),
    ]
}

#[test]
fn chunked_equals_unfused_for_every_option() {
    let (n, h, v) = (23, 5, 17);
    let configs = every_option(v, 40);
    for (k, config) in configs.iter().enumerate() {
        for bias in [false, true] {
            let p = Problem::new(n, h, v, bias, config.ignore_index, |i| i % 4 == 1, 10 + k as u64);
            // 5 and 7 do not divide 23 (and leave a last chunk of 3 and 2 rows); 1 row per
            // chunk; one chunk of everything; the default.
            agree(
                &p,
                config,
                &[Some(5), Some(7), Some(1), Some(100), None],
                &format!("config {k} bias {bias}"),
            );
        }
    }
}

#[test]
fn many_blocks_of_classes_agree() {
    // The fused backward sweeps the classes in blocks of 256, dealt to tasks in runs and
    // summed in task order: 1100 classes are five blocks, the last one short, and 9 hidden
    // units do not divide any block's rows.
    let config = LinearCrossEntropyLossConfig::new()
        .with_label_smoothing(0.05)
        .with_z_loss(1e-3)
        .with_ignore_index(0);
    let p = Problem::new(37, 9, 1100, true, 0, |i| i % 6 == 0, 30);
    agree(&p, &config, &[Some(10), Some(64)], "1100 classes");
}

#[test]
fn logits_held_in_the_classifier_gradient_agree() {
    // With the classifier's gradient asked for, the fused path's first chunk holds its
    // logits in that gradient, class j's in the first columns of its row, until their
    // gradient replaces them; up to H rows, so that a batch of no more counted rows than
    // hidden units is that chunk alone. Fewer rows than columns (ignored ones between them),
    // as many, more rows than columns with enough of them ignored, and more counted rows
    // than columns (the first H held, the rest in chunks of a buffer); 1100 classes are five
    // blocks of the sweep, dealt to tasks; a `chunk_rows` of 3 holds 3 rows, then buffers.
    let v = 1100;
    let configs = every_option(v, 41);
    /// A batch of `n` rows of `h` hidden units, `ignored` picking its ignored rows.
    struct Batch {
        n: usize,
        h: usize,
        ignored: fn(usize) -> bool,
    }
    let batches = [
        Batch {
            n: 9,
            h: 12,
            ignored: |i| i % 4 == 1,
        },
        Batch {
            n: 12,
            h: 12,
            ignored: |_| false,
        },
        Batch {
            n: 16,
            h: 8,
            ignored: |i| i % 2 == 0,
        },
        Batch {
            n: 20,
            h: 6,
            ignored: |i| i % 5 == 1,
        },
    ];
    for (k, config) in configs.iter().enumerate() {
        for (s, &Batch { n, h, ignored }) in batches.iter().enumerate() {
            for bias in [false, true] {
                let p = Problem::new(n, h, v, bias, config.ignore_index, ignored, 90 + k as u64);
                let what = format!("config {k} batch {s} bias {bias}");
                agree(&p, config, &[None, Some(n), Some(3)], &what);
                // On one thread the sweep's two tasks take runs of three and two blocks
                // (on more, a run can be one block, which hides an offset within a run).
                let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
                one_thread.install(|| agree(&p, config, &[None], &format!("{what} one thread")));
            }
        }
    }
}

#[test]
fn fully_ignored_chunks_and_batches() {
    let config = LinearCrossEntropyLossConfig::new()
        .with_z_loss(0.01)
        .with_softcap(Some(3.0));
    // Rows 4..12 ignored: with 4 rows per chunk, chunks 1 and 2 of the batch are fully
    // ignored (the fused path drops ignored rows before chunking; the composed one does not).
    let p = Problem::new(16, 3, 9, true, -100, |i| (4..12).contains(&i), 50);
    agree(&p, &config, &[Some(4), Some(3)], "ignored chunks");
    // Every target ignored: a NaN mean with zero gradients, a zero sum.
    let p = Problem::new(6, 3, 9, true, -100, |_| true, 51);
    for composed in [false, true] {
        for r in REDUCTIONS {
            let f = chunked(&config, r);
            let out = if composed {
                with_composed(|| run(&p, DType::F64, &f))
            } else {
                run(&p, DType::F64, &f)
            };
            match r {
                Some(Reduction::Mean) => assert!(out.value[0].is_nan(), "{composed} {r:?}: {:?}", out.value),
                _ => assert!(out.value.iter().all(|&l| l == 0.0), "{composed} {r:?}: {:?}", out.value),
            }
            assert!(
                out.grads.iter().flatten().all(|&g| g == 0.0),
                "{composed} {r:?}: {:?}",
                out.grads
            );
        }
    }
}

#[test]
fn an_empty_batch_has_pytorchs_results_and_zero_gradients() {
    let p = Problem::new(0, 4, 5, true, -100, |_| false, 60);
    for composed in [false, true] {
        for r in REDUCTIONS {
            let f = chunked(&LinearCrossEntropyLossConfig::new().with_softcap(Some(2.0)), r);
            let out = if composed {
                with_composed(|| run(&p, DType::F64, &f))
            } else {
                run(&p, DType::F64, &f)
            };
            match r {
                None => assert!(out.value.is_empty()),
                Some(Reduction::Mean) => assert!(out.value[0].is_nan()),
                Some(Reduction::Sum) => assert_eq!(out.value, [0.0]),
            }
            assert_eq!(out.grads.iter().map(Vec::len).collect::<Vec<_>>(), [0, 20, 5]);
            assert!(out.grads.iter().flatten().all(|&g| g == 0.0), "{r:?}");
        }
    }
}

#[test]
fn only_the_tracked_operands_get_gradients() {
    let p = Problem::new(9, 4, 6, true, -100, |i| i == 2, 70);
    let config = LinearCrossEntropyLossConfig::new().with_chunk_rows(Some(4));
    let loss = config.init(&device()).unwrap();
    let reference = unfused(&config, Some(Reduction::Mean));
    let x = || f64s(&p.input, [p.n, p.h]);
    let b = || Some(f64s(p.bias.as_ref().unwrap(), [p.v]));
    let t = || ints(&p.target, [p.n]);
    let classifier_grad = |f: &dyn Fn(Tensor<2>) -> Tensor<1>| {
        let w = f64s(&p.classifier, [p.v, p.h]).require_grad();
        read(w.grad(&f(w.clone()).backward()).unwrap())
    };
    let want = with_composed(|| classifier_grad(&|w| reference(x(), w, b(), t())));
    for composed in [false, true] {
        let input = x();
        let got = classifier_grad(&|w| {
            let run = || loss.forward(input.clone(), w.clone(), b(), t()).unwrap();
            if composed { with_composed(run) } else { run() }
        });
        assert_close(
            &got,
            &want,
            1e-9,
            1e-12,
            &format!("classifier gradient (composed: {composed})"),
        );
    }
}

#[test]
fn gradients_match_finite_differences() {
    let p = Problem::new(5, 3, 4, true, 1, |i| i == 3, 80);
    let config = LinearCrossEntropyLossConfig::new()
        .with_weight(Some(vec![0.5, 1.5, 1.0, 2.0]))
        .with_ignore_index(1)
        .with_label_smoothing(0.1)
        .with_softcap(Some(2.0))
        .with_z_loss(0.05)
        .with_chunk_rows(Some(2));
    for composed in [false, true] {
        for r in REDUCTIONS {
            let f = chunked(&config, r);
            let value = |q: &Problem| {
                let b = q.bias.as_ref().map(|b| f64s(b, [q.v]));
                let out = f(
                    f64s(&q.input, [q.n, q.h]),
                    f64s(&q.classifier, [q.v, q.h]),
                    b,
                    ints(&q.target, [q.n]),
                );
                let upstream = f64s(&uniform(out.dims()[0], 77, -2.0, 2.0), out.dims());
                scalar(out.mul(upstream).sum())
            };
            let got = if composed {
                with_composed(|| run(&p, DType::F64, &f))
            } else {
                run(&p, DType::F64, &f)
            };
            let fields: [fn(&mut Problem) -> &mut Vec<f64>; 3] =
                [|q| &mut q.input, |q| &mut q.classifier, |q| q.bias.as_mut().unwrap()];
            for (k, field) in fields.iter().enumerate() {
                let mut q = Problem {
                    bias: p.bias.clone(),
                    input: p.input.clone(),
                    classifier: p.classifier.clone(),
                    target: p.target.clone(),
                    ..p
                };
                let numeric: Vec<f64> = (0..field(&mut q).len())
                    .map(|i| {
                        let h = 1e-6;
                        field(&mut q)[i] += h;
                        let plus = value(&q);
                        field(&mut q)[i] -= 2.0 * h;
                        let minus = value(&q);
                        field(&mut q)[i] += h;
                        (plus - minus) / (2.0 * h)
                    })
                    .collect();
                assert_close(
                    &got.grads[k],
                    &numeric,
                    1e-6,
                    1e-8,
                    &format!("operand {k} {r:?} composed {composed}"),
                );
            }
        }
    }
}

#[test]
fn bad_input_is_refused_with_pytorchs_messages() {
    let loss = LinearCrossEntropyLossConfig::new().init(&device()).unwrap();
    let (x, w) = (f64s(&[0.0; 12], [3, 4]), f64s(&[0.0; 20], [5, 4]));
    let t = ints(&[0, 1, 2], [3]);
    let err = loss
        .forward(x.clone(), f64s(&[0.0; 15], [5, 3]), None, t.clone())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mm: mat1 and mat2 shapes cannot be multiplied (3x4 and 3x5)"
    );
    let err = loss
        .forward(x.clone(), w.clone(), Some(f64s(&[0.0; 4], [4])), t.clone())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The expanded size of the tensor (5) must match the existing size (4) at non-singleton dimension 1.  Target sizes: [3, 5].  Tensor sizes: [4]"
    );
    let err = loss
        .forward(x.clone(), w.clone(), None, ints(&[0, 1], [2]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Expected input batch_size (3) to match target batch_size (2)."
    );
    let err = loss
        .forward(x.clone(), w.clone(), None, ints(&[0, 5, 1], [3]))
        .unwrap_err();
    assert_eq!(err, LossError::TargetOutOfBounds { target: 5, classes: 5 });
    let weighted = LinearCrossEntropyLossConfig::new()
        .with_weight(Some(vec![1.0; 4]))
        .init(&device())
        .unwrap();
    assert!(weighted.forward(x, w, None, t).is_err());
    assert!(
        LinearCrossEntropyLossConfig::new()
            .with_chunk_rows(Some(0))
            .init(&device())
            .is_err()
    );
    assert!(
        LinearCrossEntropyLossConfig::new()
            .with_softcap(Some(-1.0))
            .init(&device())
            .is_err()
    );
    assert!(
        LinearCrossEntropyLossConfig::new()
            .with_label_smoothing(-0.1)
            .init(&device())
            .is_err()
    );
}

#[test]
fn the_head_trains_its_own_parameters() {
    let device = device();
    let config =
        LinearCrossEntropyHeadConfig::new(4, 7).with_loss(LinearCrossEntropyLossConfig::new().with_z_loss(1e-3));
    let head = config.init(&device).unwrap();
    assert_eq!(head.classifier.val().dims(), [7, 4]);
    assert_eq!(head.bias.as_ref().unwrap().val().dims(), [7]);
    // Kaiming-uniform with gain 1/sqrt(3): U(-1/sqrt(H), 1/sqrt(H)), as nn.Linear's.
    assert!(read(head.classifier.val()).iter().all(|w| w.abs() <= 0.5));
    let x = float(&uniform(12, 90, -1.0, 1.0), [3, 4], head.classifier.val().dtype());
    let t = ints(&[0, 6, 3], [3]);
    let loss = head.forward(x.clone(), t.clone()).unwrap();
    let direct = head
        .loss
        .forward(
            x.clone(),
            head.classifier.val(),
            head.bias.as_ref().map(|b| b.val()),
            t.clone(),
        )
        .unwrap();
    assert_eq!(read(loss.clone()), read(direct));
    let grads = loss.backward();
    assert!(head.classifier.val().grad(&grads).is_some() && head.bias.as_ref().unwrap().val().grad(&grads).is_some());
    assert_eq!(head.logits(x).dims(), [3, 7]);
    assert_eq!(head.num_params(), 7 * 4 + 7);
    let no_bias = LinearCrossEntropyHeadConfig::new(4, 7)
        .with_bias(false)
        .init(&device)
        .unwrap();
    assert!(no_bias.bias.is_none());
}
