//! `losskit bench --json`: one well-formed line per measurement, every op measured on the
//! fused path, the composed path and against its bandwidth bound. (The timings themselves
//! are the benchmark's business, never a test's.)

use std::collections::BTreeSet;

use serde_json::Value;

#[test]
fn quick_bench_reports_every_op_on_every_path() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["bench", "--quick", "--json", "--no-torch", "--repeats", "1"])
        .output()
        .expect("losskit runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let mut seen = BTreeSet::new();
    for m in &lines {
        let fields: BTreeSet<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, BTreeSet::from(["op", "shape", "dtype", "impl", "median_ms", "peak_bytes"]), "{m}");
        assert!(m["median_ms"].as_f64().is_some_and(|t| t >= 0.0), "{m}");
        seen.insert((m["op"].as_str().unwrap().to_string(), m["impl"].as_str().unwrap().to_string()));
    }
    let ops = ["cross_entropy", "cross_entropy_probs", "nll", "softmax_focal", "softmax", "log_softmax", "bce_with_logits", "sigmoid_focal"];
    for op in ops {
        for implementation in ["losskit", "losskit-composed", "bandwidth-bound"] {
            assert!(seen.contains(&(op.to_string(), implementation.to_string())), "no {implementation} line for {op}");
        }
    }
}

#[test]
fn zero_repeats_is_refused_in_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["bench", "--quick", "--no-torch", "--repeats", "0"])
        .output()
        .expect("losskit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "losskit: --repeats must be at least 1, got 0\n");
}

#[test]
fn a_full_stdout_is_one_line_not_a_panic() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["bench", "--quick", "--json", "--no-torch", "--repeats", "1"])
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .expect("losskit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "losskit: cannot write to standard output: No space left on device (os error 28)\n");
}
