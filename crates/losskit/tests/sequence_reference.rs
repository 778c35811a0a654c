//! The sequence losses' per-sample values and unscaled gradients against PyTorch's
//! `F.ctc_loss` and torchaudio's `rnnt_loss` on edge cases (fixtures written by
//! `tools/golden/sequence_reference.py`), on the fused and the composed path.

mod common;

use burn::tensor::DType;
use common::assert_close;
use common::sequence::{CtcInputs, Labels, RnntInputs, Run, both_paths};
use losskit::{CtcLossConfig, RnntLossConfig};
use serde_json::Value;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Value = serde_json::from_str(&text).unwrap();
    all["cases"].as_array().unwrap().clone()
}

/// A number, with the protocol's strings for the non-finite ones.
fn num(v: &Value) -> f64 {
    match v.as_str() {
        Some("nan") => f64::NAN,
        Some("inf") => f64::INFINITY,
        Some("-inf") => f64::NEG_INFINITY,
        _ => v.as_f64().unwrap(),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(num).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn dims<const D: usize>(v: &Value) -> [usize; D] {
    let d: Vec<usize> = ints(v).into_iter().map(|x| x as usize).collect();
    d.try_into().unwrap()
}

/// Holds a run to a case's `(loss, grad)` fields.
fn agrees(what: &str, got: &Run, case: &Value, fields: [&str; 2], rtol: f64, atol: f64) {
    assert_close(
        &got.loss,
        &floats(&case[fields[0]]),
        rtol,
        atol,
        &format!("{what} {}", fields[0]),
    );
    assert_close(
        &got.grad,
        &floats(&case[fields[1]]),
        rtol,
        atol,
        &format!("{what} {}", fields[1]),
    );
}

#[test]
fn ctc_matches_pytorch_on_edge_cases() {
    let cases = fixture("sequence_ctc_torch.json");
    assert_eq!(cases.len(), 16);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let labels = ints(&case["targets"]);
        let labels = match case["layout"].as_str().unwrap() {
            "padded" => Labels::Padded {
                labels: &labels,
                width: case["max_len"].as_u64().unwrap() as usize,
            },
            _ => Labels::Concatenated(&labels),
        };
        let (input_lengths, target_lengths) = (ints(&case["input_lengths"]), ints(&case["target_lengths"]));
        let inputs = CtcInputs {
            labels,
            input_lengths: &input_lengths,
            target_lengths: &target_lengths,
        };
        let loss = CtcLossConfig::new()
            .with_blank(case["blank"].as_i64().unwrap())
            .with_zero_infinity(case["zero_infinity"].as_bool().unwrap())
            .init();
        let x = floats(&case["log_probs"]);
        let shape = dims::<3>(&case["shape"]);
        let runs = |dtype| both_paths(&x, shape, dtype, |lp| inputs.per_sample(&loss, lp)).map(Result::unwrap);
        let [fused, composed] = runs(DType::F64);
        if case["dtype"] == "f64" {
            agrees(&format!("{name} fused"), &fused, case, ["nll", "grad"], 1e-10, 1e-12);
            agrees(
                &format!("{name} composed"),
                &composed,
                case,
                ["nll", "grad"],
                1e-9,
                1e-11,
            );
            continue;
        }
        // An f32 case also has PyTorch's f64 answer on the same values. The fused kernel's
        // f32 run differs from it by the rounding of its output alone; PyTorch's f32
        // recursion, and the composed path's, are further off (1.6e-4 relative on the
        // 60-frame case's gradient).
        agrees(
            &format!("{name} fused f64"),
            &fused,
            case,
            ["nll64", "grad64"],
            1e-10,
            1e-12,
        );
        agrees(
            &format!("{name} composed f64"),
            &composed,
            case,
            ["nll64", "grad64"],
            1e-9,
            1e-11,
        );
        let [fused, composed] = runs(DType::F32);
        agrees(
            &format!("{name} fused f32"),
            &fused,
            case,
            ["nll64", "grad64"],
            1e-7,
            1e-7,
        );
        agrees(
            &format!("{name} composed f32"),
            &composed,
            case,
            ["nll64", "grad64"],
            1e-4,
            2e-5,
        );
        agrees(
            &format!("{name} fused vs PyTorch f32"),
            &fused,
            case,
            ["nll", "grad"],
            1e-3,
            5e-5,
        );
    }
}

#[test]
fn rnnt_matches_torchaudio_on_edge_cases() {
    let cases = fixture("sequence_rnnt_torchaudio.json");
    assert_eq!(cases.len(), 16);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let [n, t, u, v] = dims::<4>(&case["shape"]);
        let targets = ints(&case["targets"]);
        let (logit_lengths, target_lengths) = (ints(&case["logit_lengths"]), ints(&case["target_lengths"]));
        let inputs = RnntInputs {
            targets: &targets,
            max_target: u,
            logit_lengths: &logit_lengths,
            target_lengths: &target_lengths,
        };
        let loss = RnntLossConfig::new()
            .with_blank(case["blank"].as_i64().unwrap())
            .with_clamp(num(&case["clamp"]))
            .with_fused_log_softmax(case["fused_log_softmax"].as_bool().unwrap())
            .init();
        // The logits are f32 values (torchaudio's type) in either dtype.
        let x = floats(&case["logits"]);
        let runs = |dtype| {
            both_paths(&x, [n, t, u + 1, v], dtype, |logits| inputs.per_sample(&loss, logits)).map(Result::unwrap)
        };
        let [fused, composed] = runs(DType::F32);
        if case.get("nll64").is_none() {
            // Labels equal to the blank: torchaudio's formula, not a derivative.
            agrees(&format!("{name} fused"), &fused, case, ["nll", "grad"], 1e-5, 5e-5);
            agrees(
                &format!("{name} composed"),
                &composed,
                case,
                ["nll", "grad"],
                1e-5,
                5e-5,
            );
            continue;
        }
        // The f64 reference is autograd through the recursion written in torch ops: the f64
        // runs match it to rounding, the fused f32 run to the rounding of its output.
        // torchaudio computes in f32 throughout: its gradients lose up to 2e-5 absolutely
        // where two exponentials near 1 cancel (the large-logits case).
        agrees(
            &format!("{name} fused f32"),
            &fused,
            case,
            ["nll64", "grad64"],
            1e-7,
            1e-7,
        );
        agrees(
            &format!("{name} composed f32"),
            &composed,
            case,
            ["nll64", "grad64"],
            1e-4,
            1e-5,
        );
        agrees(
            &format!("{name} fused vs torchaudio"),
            &fused,
            case,
            ["nll", "grad"],
            1e-5,
            5e-5,
        );
        let [fused, composed] = runs(DType::F64);
        agrees(
            &format!("{name} fused f64"),
            &fused,
            case,
            ["nll64", "grad64"],
            1e-10,
            1e-12,
        );
        agrees(
            &format!("{name} composed f64"),
            &composed,
            case,
            ["nll64", "grad64"],
            1e-9,
            1e-11,
        );
    }
}
