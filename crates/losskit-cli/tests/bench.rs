//! `losskit bench --json`: one well-formed line per measurement, every op measured on the
//! fused path, the composed path and against its bandwidth bound; the filters, the option
//! checks, and PyTorch's script fed from the binary. (The timings themselves are the
//! benchmark's business, never a test's.)

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use common::scratch::scratch;
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    bench_on_threads(args, None)
}

/// `bench` with `threads` rayon threads, or rayon's default.
fn bench_on_threads(args: &[&str], threads: Option<usize>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_losskit"));
    if let Some(threads) = threads {
        command.env("RAYON_NUM_THREADS", threads.to_string());
    }
    command.arg("bench").args(args).output().expect("losskit runs")
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn quick_bench_reports_every_op_on_every_path() {
    let lines = json_lines(&bench(&["--quick", "--json", "--no-torch", "--repeats", "1"]));
    let mut seen = BTreeSet::new();
    for m in &lines {
        let fields: BTreeSet<&str> = m.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            BTreeSet::from(["op", "shape", "dtype", "impl", "median_ms", "peak_bytes"]),
            "{m}"
        );
        assert!(m["median_ms"].as_f64().is_some_and(|t| t >= 0.0), "{m}");
        seen.insert((
            m["op"].as_str().unwrap().to_string(),
            m["impl"].as_str().unwrap().to_string(),
        ));
    }
    let ops = [
        "cross_entropy",
        "cross_entropy_probs",
        "nll",
        "softmax_focal",
        "softmax",
        "log_softmax",
        "bce_with_logits",
        "sigmoid_focal",
    ];
    for op in ops {
        for implementation in ["losskit", "losskit-composed", "bandwidth-bound"] {
            assert!(
                seen.contains(&(op.to_string(), implementation.to_string())),
                "no {implementation} line for {op}"
            );
        }
    }
    for op in ["ctc", "rnnt"] {
        for implementation in ["losskit", "losskit-composed", "burn"] {
            assert!(
                seen.contains(&(op.to_string(), implementation.to_string())),
                "no {implementation} line for {op}"
            );
        }
    }
    for implementation in ["losskit", "losskit-unfused"] {
        assert!(
            seen.contains(&("linear_cross_entropy".to_string(), implementation.to_string())),
            "no {implementation} line for linear_cross_entropy"
        );
    }
}

#[test]
fn the_linear_cross_entropy_rows_have_peaks_and_plot_against_v() {
    let dir = scratch("linear-plot");
    let png = dir.join("memory.png");
    let shapes = "384x16x500,384x16x4000";
    let args = [
        "--op",
        "linear_cross_entropy",
        "--shape",
        shapes,
        "--json",
        "--no-torch",
        "--repeats",
        "1",
    ];
    // Many threads, as on CI's host: each thread's first matrix product allocates the gemm
    // crate's packing buffer (2 MiB), which no step's peak may hold.
    let lines = json_lines(&bench_on_threads(
        &[&args[..], &["--plot", png.to_str().unwrap()]].concat(),
        Some(16),
    ));
    let rows: Vec<(&str, Vec<u64>, u64)> = lines
        .iter()
        .map(|m| {
            let shape = m["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            (
                m["impl"].as_str().unwrap(),
                shape,
                m["peak_bytes"].as_u64().expect("a peak"),
            )
        })
        .collect();
    let impls: Vec<&str> = rows.iter().map(|r| r.0).collect();
    assert_eq!(impls, ["losskit", "losskit-unfused", "losskit", "losskit-unfused"]);
    // At V = 4000 the unfused path holds at least the (384, 4000) f32 logits (6.1 MB; the
    // fused cross entropy writes their gradient in their place) beyond the gradients of
    // input and classifier (0.28 MB); the chunked one, a chunk of 96 rows (1.5 MB).
    let gradients = (384 * 16 + 4000 * 16) * 4;
    let (fused, unfused) = (rows[2].2 - gradients, rows[3].2 - gradients);
    assert!(unfused >= 384 * 4000 * 4 && fused * 3 < unfused, "{rows:?}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    // The plot takes one N and H.
    let out = bench(&[
        "--op",
        "linear_cross_entropy",
        "--shape",
        "8x4x10,16x4x10",
        "--no-torch",
        "--repeats",
        "1",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--plot draws linear_cross_entropy shapes of one N and H"));
}

#[test]
fn one_op_at_one_shape_is_timed_alone() {
    let lines = json_lines(&bench(&[
        "--op",
        "cross_entropy",
        "--shape",
        "64x10",
        "--json",
        "--no-torch",
        "--repeats",
        "1",
    ]));
    let impls: Vec<&str> = lines.iter().map(|m| m["impl"].as_str().unwrap()).collect();
    assert_eq!(impls, ["losskit", "losskit-composed", "burn", "bandwidth-bound"]);
    for m in &lines {
        assert_eq!(
            (m["op"].as_str(), &m["shape"]),
            (Some("cross_entropy"), &serde_json::json!([64, 10])),
            "{m}"
        );
    }
    // A comma list, and elementwise ops at another rank.
    let lines = json_lines(&bench(&[
        "--op",
        "bce_with_logits,sigmoid_focal",
        "--shape",
        "3x4x5",
        "--json",
        "--no-torch",
        "--repeats",
        "1",
    ]));
    let ops: BTreeSet<&str> = lines.iter().map(|m| m["op"].as_str().unwrap()).collect();
    assert_eq!(ops, BTreeSet::from(["bce_with_logits", "sigmoid_focal"]));
    assert!(lines.iter().all(|m| m["shape"] == serde_json::json!([3, 4, 5])));
}

#[test]
fn bad_filters_and_counts_are_named() {
    let err = |args: &[&str]| {
        let out = bench(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let unknown = err(&["--op", "hinge", "--no-torch"]);
    assert!(
        unknown.contains("invalid value 'hinge' for '--op <OP>'") && unknown.contains("cross_entropy"),
        "{unknown}"
    );
    let malformed = err(&["--shape", "4096x", "--no-torch"]);
    assert!(malformed.contains("'' is not a dimension"), "{malformed}");
    assert_eq!(
        err(&["--op", "softmax", "--shape", "2x3x4", "--no-torch"]),
        "losskit: softmax times (rows, classes) shapes like 4096x1000, not 2x3x4\n"
    );
    assert_eq!(
        err(&["--quick", "--no-torch", "--repeats", "0"]),
        "losskit: --repeats must be from 1 to 10000, got 0\n"
    );
    // A count past what can be kept (it once overflowed a vector's capacity and panicked).
    assert_eq!(
        err(&["--quick", "--no-torch", "--repeats", "18446744073709551615"]),
        "losskit: --repeats must be from 1 to 10000, got 18446744073709551615\n"
    );
    let negative = err(&["--quick", "--no-torch", "--repeats", "-1"]);
    assert!(
        negative.contains("invalid value '-1' for '--repeats <REPEATS>'"),
        "{negative}"
    );
}

#[test]
fn pytorchs_script_is_fed_from_the_binary() {
    // A stand-in python3 that answers only when the script arrives on stdin (`python3 -`),
    // as it must for an installed binary with no source tree beside it.
    let bin = scratch("fake-python");
    let fake = bin.join("python3");
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1\" = -c ] && exit 0\n[ \"$1\" = - ] && grep -q 'def case(op, shape, repeats)' && \
         echo '{\"op\": \"softmax\", \"shape\": [8, 4], \"dtype\": \"f32\", \"impl\": \"pytorch\", \"median_ms\": 1.5, \"peak_bytes\": null}' && exit 0\nexit 3\n",
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&fake).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&fake, permissions).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["bench", "--op", "softmax", "--shape", "8x4", "--json", "--repeats", "1"])
        .env("PATH", path)
        .output()
        .unwrap();
    let lines = json_lines(&out);
    let torch: Vec<&Value> = lines.iter().filter(|m| m["impl"] == "pytorch").collect();
    assert_eq!(torch.len(), 1, "{lines:?}");
    assert_eq!(torch[0]["median_ms"], 1.5);
}

#[test]
fn zero_repeats_is_refused_in_one_line() {
    let out = bench(&["--quick", "--no-torch", "--repeats", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "losskit: --repeats must be from 1 to 10000, got 0\n");
}

#[test]
fn a_full_stdout_is_one_line_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["bench", "--quick", "--json", "--no-torch", "--repeats", "1"])
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .expect("losskit runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "losskit: cannot write to standard output: No space left on device (os error 28)\n"
    );
}
