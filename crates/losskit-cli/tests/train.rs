//! `losskit train` end to end: the tutorial's lines, files, determinism, resume, and errors.

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::{fails_with, losskit, text, weights};
use common::mnist::{idx, synthetic};
use common::scratch::scratch;

#[test]
fn prints_the_tutorials_lines_and_writes_the_run() {
    let out = scratch("lines");
    let run = losskit(&["train", "--epochs", "2", "--out", out.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("Epoch [")).count(), 2, "{stdout}");
    for (epoch, line) in [(1, lines[0]), (2, lines[1])] {
        let prefix = format!("Epoch [{epoch}/2], Step [100/125], Loss: ");
        let loss = line.strip_prefix(&prefix).unwrap_or_else(|| panic!("{line}"));
        assert!(loss.len() == 6 && loss.parse::<f64>().unwrap() > 0.0, "{line}");
    }
    assert_eq!(lines[2], "Finished Training");
    let accuracy: f64 = lines[3].strip_prefix("Test accuracy: ").unwrap()[..6].parse().unwrap();
    assert!(lines[3].ends_with("/2000)"), "{}", lines[3]);
    assert!(accuracy > 0.85, "{accuracy}");
    // PyTorch's MNIST example's line for the final network.
    let correct = lines[3].rsplit_once('(').unwrap().1.trim_end_matches(')');
    assert!(
        lines[4].starts_with("Test set: Average loss: ") && lines[4].contains(&format!(", Accuracy: {correct} (")),
        "{}",
        lines[4]
    );
    for file in [
        "metrics.csv",
        "epochs.csv",
        "summary.json",
        "loss.png",
        "checkpoint.bin",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(
        !out.read_dir()
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("tmp"))
    );
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("step,epoch,loss,lr"));
    assert_eq!(csv.lines().count(), 1 + 2 * 125);
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["test_accuracy"].as_f64().unwrap(),
        accuracy.max(summary["test_accuracy"].as_f64().unwrap())
    );
    assert_eq!(summary["confusion_matrix"].as_array().unwrap().len(), 10);
    // One row per epoch, the last one the final network's.
    let epochs = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    assert_eq!(
        epochs.lines().next(),
        Some("epoch,step,train_loss,test_loss,test_accuracy,correct,test_examples")
    );
    assert_eq!(epochs.lines().count(), 1 + 2);
    assert_eq!(summary["epochs"].as_array().unwrap().len(), 2);
    assert_eq!(summary["epochs"][1]["step"], 250);
    assert_eq!(summary["epochs"][1]["test_accuracy"], summary["test_accuracy"]);
    assert_eq!(summary["config"]["lr"], 0.01);
    assert_eq!(&std::fs::read(out.join("loss.png")).unwrap()[1..4], b"PNG");
}

#[test]
fn the_same_seed_gives_the_same_numbers() {
    let (a, b, c) = (scratch("seed-a"), scratch("seed-b"), scratch("seed-c"));
    for (dir, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let run = losskit(&["train", "--epochs", "1", "--seed", seed, "--out", dir.to_str().unwrap()]);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let csv = |d: &Path| std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    assert_eq!(csv(&a), csv(&b));
    assert_eq!(weights(&a), weights(&b));
    assert_ne!(csv(&a), csv(&c));
    assert_ne!(weights(&a), weights(&c));
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let whole = scratch("resume-whole");
    let run = losskit(&["train", "--epochs", "3", "--out", whole.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));

    // Kill a run as soon as its first checkpoint exists, somewhere in epoch 2.
    let killed = scratch("resume-killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["train", "--epochs", "3", "--out", killed.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !killed.join("checkpoint.bin").exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let resumed = losskit(&["train", "--resume", killed.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    let stdout = text(&resumed.stdout);
    assert!(
        stdout.starts_with("Resuming ") && !stdout.contains("after epoch 3"),
        "{stdout}"
    );
    assert_eq!(weights(&killed), weights(&whole));
    let csv = |d: &Path| std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    assert_eq!(csv(&killed), csv(&whole));
}

#[test]
fn gradient_accumulation_and_other_losses_train() {
    for (name, extra) in [
        ("accumulate", &["--accumulate", "4", "--lr", "0.04"][..]),
        ("focal", &["--loss", "focal", "--gamma", "2"][..]),
        ("smoothing", &["--label-smoothing", "0.1"][..]),
        ("nll", &["--loss", "nll"][..]),
        ("sigmoid", &["--loss", "sigmoid-focal", "--lr", "0.1"][..]),
        ("bce", &["--loss", "bce-with-logits", "--lr", "0.1"][..]),
    ] {
        let out = scratch(name);
        let mut args = vec!["train", "--epochs", "1", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = losskit(&args);
        assert!(run.status.success(), "{name}: {}", text(&run.stderr));
        let stdout = text(&run.stdout);
        let accuracy: f64 = stdout.lines().find_map(|l| l.strip_prefix("Test accuracy: ")).unwrap()[..6]
            .parse()
            .unwrap();
        assert!(accuracy > 0.7, "{name}: {accuracy}");
    }
}

#[test]
fn bad_data_is_one_readable_line() {
    let dir = scratch("bad-data");
    let d = dir.to_str().unwrap();
    let out = scratch("bad-data-out");
    let o = out.to_str().unwrap();
    fails_with(
        &["train", "--data", &format!("{d}/nowhere"), "--out", o],
        "does not exist",
    );
    fails_with(&["train", "--data", d, "--out", o], "has no train-images-idx3-ubyte");
    std::fs::write(dir.join("a-file"), b"not a directory").unwrap();
    fails_with(
        &["train", "--data", &format!("{d}/a-file"), "--out", o],
        "a-file is not a directory",
    );
    std::fs::remove_file(dir.join("a-file")).unwrap();
    synthetic(&dir, 40);
    let images = dir.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();
    std::fs::write(&images, &good[..good.len() - 100]).unwrap();
    fails_with(&["train", "--data", d, "--out", o], "truncated data");
    let mut wrong = good.clone();
    wrong[2] = 0x0d;
    std::fs::write(&images, &wrong).unwrap();
    fails_with(&["train", "--data", d, "--out", o], "wrong magic number");
    std::fs::write(&images, &good).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx(&[39], &[1; 39])).unwrap();
    fails_with(&["train", "--data", d, "--out", o], "has 40 images but");
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx(&[40], &[12; 40])).unwrap();
    fails_with(
        &["train", "--data", d, "--out", o],
        "label 12 of example 0 is outside 0-9",
    );
    std::fs::write(dir.join("train-labels-idx1-ubyte"), b"\x1f\x8b\x08\x00garbage").unwrap();
    fails_with(&["train", "--data", d, "--out", o], "train-labels-idx1-ubyte");
    fails_with(
        &["train", "--batch-size", "0", "--out", o],
        "--batch-size must be at least 1",
    );
    fails_with(&["train", "--resume", o], "cannot resume");
}

#[test]
fn an_empty_split_is_refused_before_training() {
    for (split, file) in [("train", "train-images-idx3-ubyte"), ("t10k", "t10k-images-idx3-ubyte")] {
        let dir = scratch("empty-split");
        synthetic(&dir, 40);
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), idx(&[0, 28, 28], &[])).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), idx(&[0], &[])).unwrap();
        let out = scratch("empty-split-out");
        let run = losskit(&["train", "--data", dir.to_str().unwrap(), "--out", out.to_str().unwrap()]);
        let stderr = text(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains(&format!("{file} holds no images")),
            "{split}: {stderr}"
        );
        assert_eq!(text(&run.stdout), "", "{split}: trained anyway");
        assert_eq!(out.read_dir().unwrap().count(), 0, "{split}: files written");
    }
}

#[test]
fn a_diverging_loss_stops_naming_the_step() {
    let dir = scratch("nan-data");
    synthetic(&dir, 200);
    let out = scratch("nan-out");
    fails_with(
        &[
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--lr",
            "1e30",
            "--out",
            out.to_str().unwrap(),
        ],
        "loss became",
    );
    let stderr = text(
        &losskit(&[
            "train",
            "--data",
            dir.to_str().unwrap(),
            "--lr",
            "1e30",
            "--out",
            out.to_str().unwrap(),
        ])
        .stderr,
    );
    assert!(stderr.contains("at epoch 1, step "), "{stderr}");
    assert!(!out.join("checkpoint.bin").exists());
}

#[test]
fn trains_on_any_mnist_format_directory() {
    let dir = scratch("synthetic");
    synthetic(&dir, 300);
    let out = scratch("synthetic-out");
    let run = losskit(&[
        "train",
        "--data",
        dir.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("Test accuracy: 1.0000 (300/300)"),
        "{}",
        text(&run.stdout)
    );
}

/// Kills a run `kills` times at pseudo-random moments (mid-step, mid-checkpoint write),
/// resuming after each; every checkpoint left behind must load, resumes never go back an
/// epoch, and the run must end with the weights of an uninterrupted one.
fn survive_kills(name: &str, kills: usize, seed: u64) {
    let whole = scratch(&format!("{name}-whole"));
    let run = losskit(&["train", "--epochs", "4", "--out", whole.to_str().unwrap()]);
    assert!(run.status.success(), "{}", text(&run.stderr));

    let dir = scratch(name);
    let d = dir.to_str().unwrap();
    let mut state = seed;
    let mut last_epoch = 0;
    for k in 0..kills {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = std::time::Duration::from_micros(200_000 + (state >> 33) % 900_000);
        let args: Vec<&str> = if dir.join("checkpoint.bin").exists() {
            vec!["train", "--resume", d]
        } else {
            vec!["train", "--epochs", "4", "--out", d]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_losskit"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL: no chance to clean up
        let out = child.wait_with_output().unwrap();
        let stdout = text(&out.stdout);
        if let Some(epoch) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("Resuming "))
            .and_then(|l| l.rsplit(' ').next())
        {
            let epoch: usize = epoch.parse().unwrap();
            assert!(
                epoch >= last_epoch,
                "kill {k}: resumed from epoch {epoch} after {last_epoch}"
            );
            last_epoch = epoch;
        }
        if dir.join("checkpoint.bin").exists() {
            // Whatever the moment of the kill, the checkpoint is whole: a resume verifies it,
            // then refuses to shrink the run.
            let check = losskit(&["train", "--resume", d, "--epochs", "0"]);
            let stderr = text(&check.stderr);
            assert!(
                stderr.contains("--epochs 0 is fewer than the checkpoint's epochs done"),
                "kill {k}: {stderr}"
            );
        }
    }
    let args: Vec<&str> = if dir.join("checkpoint.bin").exists() {
        vec!["train", "--resume", d]
    } else {
        vec!["train", "--epochs", "4", "--out", d]
    };
    let finish = losskit(&args);
    assert!(finish.status.success(), "{}", text(&finish.stderr));
    assert_eq!(
        weights(&dir),
        weights(&whole),
        "the resumed run ends with other weights"
    );
}

#[test]
fn runs_survive_a_few_kills() {
    survive_kills("kills-short", 3, 11);
}

#[test]
#[ignore = "long: 20 kills; .ci/run includes it"]
fn runs_survive_many_kills() {
    survive_kills("kills-long", 20, 29);
}

#[test]
fn a_closed_stdout_ends_the_run_in_one_line_and_keeps_the_checkpoint() {
    use std::io::BufRead;
    let out = scratch("closed-stdout");
    let o = out.to_str().unwrap();
    // `losskit train | head -1`: the reader goes away after the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["train", "--epochs", "3", "--out", o])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let run = child.wait_with_output().unwrap();
    let stderr = text(&run.stderr);
    assert!(first.starts_with("Epoch [1/3]"), "{first}");
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("losskit: cannot write to standard output: Broken pipe"),
        "{stderr}"
    );
    // It stopped at a later line, with the checkpoint of a finished epoch intact.
    let resumed = losskit(&["train", "--resume", o]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
}

#[test]
fn a_full_stdout_ends_the_run_in_one_line() {
    let out = scratch("full-stdout");
    let run = Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(["train", "--epochs", "1", "--out", out.to_str().unwrap()])
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "losskit: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn scratch_directories_are_removed_when_a_test_fails() {
    let mut path = None;
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let dir = scratch("failing");
        std::fs::write(dir.join("checkpoint.bin"), b"x").unwrap();
        path = Some(dir.to_path_buf());
        panic!("the test fails");
    }));
    assert!(failed.is_err());
    let path = path.unwrap();
    assert!(path.starts_with(std::env::temp_dir()), "{}", path.display());
    assert!(!path.exists(), "{} was left behind", path.display());
}

#[test]
fn a_data_file_too_large_to_be_idx_is_refused_unread() {
    let dir = scratch("huge-data");
    synthetic(&dir, 40);
    // Sparse: a terabyte on paper, nothing on disk.
    let images = std::fs::File::create(dir.join("train-images-idx3-ubyte")).unwrap();
    images.set_len(1 << 40).unwrap();
    let out = scratch("huge-data-out");
    fails_with(
        &["train", "--data", dir.to_str().unwrap(), "--out", out.to_str().unwrap()],
        "train-images-idx3-ubyte is larger than",
    );
}
