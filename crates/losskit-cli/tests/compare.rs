//! `losskit compare`: its metrics against scikit-learn's values, and a quick run end to end.

mod common;

use common::mnist::synthetic_classes;
use common::scratch::scratch;
use losskit_cli::compare::{
    average_precision, best_f1, expected_calibration_error, multiclass, precision_recall_f1, roc_auc,
};
use serde_json::Value;

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() < 1e-12, "{what}: got {got}, scikit-learn {want}");
}

#[test]
fn metrics_match_scikit_learn() {
    let reference: Value = serde_json::from_str(include_str!("fixtures/sklearn_metrics.json")).unwrap();
    for case in reference["binary"].as_array().unwrap() {
        let scores: Vec<f64> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let labels: Vec<bool> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect();
        close(
            average_precision(&scores, &labels),
            &case["average_precision"],
            "average precision",
        );
        close(roc_auc(&scores, &labels), &case["roc_auc"], "ROC-AUC");
        let at_half = precision_recall_f1(&scores, &labels, 0.5);
        close(at_half.precision, &case["precision"], "precision");
        close(at_half.recall, &case["recall"], "recall");
        close(at_half.f1, &case["f1"], "F1");
        close(best_f1(&scores, &labels).f1, &case["best_f1"], "best F1");
        close(expected_calibration_error(&scores, &labels, 10), &case["ece"], "ECE");
    }
    for case in reference["multiclass"].as_array().unwrap() {
        let ints = |k: &str| -> Vec<usize> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect()
        };
        let m = multiclass(
            &ints("predicted"),
            &ints("truth"),
            case["classes"].as_u64().unwrap() as usize,
        );
        close(m.accuracy, &case["accuracy"], "accuracy");
        close(m.balanced_accuracy, &case["balanced_accuracy"], "balanced accuracy");
        close(m.macro_f1, &case["macro_f1"], "macro-F1");
    }
}

#[test]
fn quick_comparison_runs_end_to_end() {
    let out = scratch("compare");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["compare", "--quick", "--seeds", "1", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("| bce-with-logits+pos_weight |") && stdout.contains("| softmax-focal(g=2) |"),
        "{stdout}"
    );
    for file in [
        "results.json",
        "results.md",
        "pr_curves.png",
        "reliability.png",
        "per_class_recall.png",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let results: Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let entries = results["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 6 * 2 + 4);
    for e in entries {
        let m = &e["metrics"];
        let keys: &[&str] = if e["task"] == "binary" {
            &["average_precision", "roc_auc", "f1", "ece"]
        } else {
            &["accuracy", "balanced_accuracy", "macro_f1", "ece"]
        };
        for key in keys {
            let v = m[key].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&v), "{} {} {key} = {v}", e["task"], e["loss"]);
        }
    }
}

/// `losskit compare` at its smallest (one seed, one epoch) into `out`.
fn smallest_comparison(out: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"));
    command
        .args(["compare", "--quick", "--seeds", "1", "--epochs", "1", "--out"])
        .arg(out);
    command
}

#[test]
fn a_full_stdout_is_one_line_not_a_panic() {
    let out = scratch("compare-full");
    let run = smallest_comparison(&out)
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "losskit: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn a_set_without_some_class_is_refused_by_name() {
    let data = scratch("compare-five-classes");
    synthetic_classes(&data, 50, 5);
    let out = scratch("compare-five-classes-out");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args([
            "compare",
            "--quick",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        stderr,
        "losskit: the training set has no examples of class 5: the comparison needs every class in both sets\n"
    );
    assert_eq!(out.read_dir().unwrap().count(), 0);
}

#[test]
fn a_folder_that_holds_files_is_not_written_over_unasked() {
    // `compare` once wrote its five files into any --out, replacing the user's.
    let out = scratch("compare-theirs");
    std::fs::write(out.join("results.md"), "my results").unwrap();
    let run = smallest_comparison(&out).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "losskit: {} is not empty (it holds results.md); --overwrite replaces the comparison's files in it\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(out.join("results.md")).unwrap(), "my results");
    assert_eq!(out.read_dir().unwrap().count(), 1);
}
