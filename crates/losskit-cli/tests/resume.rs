//! `losskit train --resume`: a run continues as it was configured, on the data it started
//! with, from a checkpoint that verifies; anything else is refused by name.

mod common;

use common::cli::{fails_with, losskit, losskit_in, succeeds, text, weights};
use common::mnist::synthetic;
use common::scratch::scratch;

#[test]
fn options_that_differ_from_the_checkpoint_are_refused_naming_both_values() {
    let out = scratch("conflicts");
    let o = out.to_str().unwrap();
    succeeds(&["train", "--epochs", "1", "--out", o]);
    let before = weights(&out);
    for (args, message) in [
        (&["--lr", "0.1"][..], "--lr 0.1 conflicts with the checkpoint's lr 0.01"),
        (
            &["--batch-size", "32"][..],
            "--batch-size 32 conflicts with the checkpoint's batch size 64",
        ),
        (
            &["--loss", "nll"][..],
            "--loss nll conflicts with the checkpoint's loss cross-entropy",
        ),
        (&["--seed", "7"][..], "--seed 7 conflicts with the checkpoint's seed 42"),
        (
            &["--momentum", "0"][..],
            "--momentum 0 conflicts with the checkpoint's momentum 0.9",
        ),
        (
            &["--data", "/"][..],
            "--data / conflicts with the checkpoint's data (the embedded digits)",
        ),
        (
            &["--epochs", "0"][..],
            "--epochs 0 is fewer than the checkpoint's epochs done, 1",
        ),
    ] {
        let stderr = fails_with(&[&["train", "--resume", o][..], args].concat(), message);
        assert!(
            stderr.contains("only --epochs and --log-every may change") || args[0] == "--epochs",
            "{stderr}"
        );
    }
    let clap = losskit(&["train", "--resume", o, "--out", o]);
    assert!(
        text(&clap.stderr).contains("'--resume <RESUME>' cannot be used with '--out <OUT>'"),
        "{}",
        text(&clap.stderr)
    );
    assert_eq!(weights(&out), before, "a refused resume touched the run");
    // The options a resume may change, and options given at their checkpoint's values.
    let resumed = succeeds(&[
        "train",
        "--resume",
        o,
        "--epochs",
        "2",
        "--log-every",
        "50",
        "--lr",
        "0.01",
        "--seed",
        "42",
    ]);
    let stdout = text(&resumed.stdout);
    assert!(
        stdout.starts_with("Resuming ") && stdout.contains("Epoch [2/2], Step [50/125]"),
        "{stdout}"
    );
    let whole = scratch("conflicts-whole");
    succeeds(&["train", "--epochs", "2", "--out", whole.to_str().unwrap()]);
    assert_eq!(weights(&out), weights(&whole));
}

#[test]
fn the_data_is_found_from_anywhere_and_a_change_is_refused_by_file() {
    let root = scratch("data-identity");
    let data = root.join("digits");
    std::fs::create_dir(&data).unwrap();
    synthetic(&data, 200);
    let out = root.join("run");
    // A relative --data, and a resume from another working directory.
    let run = losskit_in(&root, &["train", "--data", "digits", "--epochs", "1", "--out", "run"]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let o = out.to_str().unwrap();
    let elsewhere = scratch("data-identity-cwd");
    let resumed = losskit_in(&elsewhere, &["train", "--resume", o, "--epochs", "2"]);
    assert!(resumed.status.success(), "{}", text(&resumed.stderr));
    // The same directory by another path is the same data.
    succeeds(&[
        "train",
        "--resume",
        o,
        "--epochs",
        "2",
        "--data",
        &format!("{}/../digits", out.display()),
    ]);
    let images = data.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&images).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&images, &bytes).unwrap();
    let canonical = data.canonicalize().unwrap().join("train-images-idx3-ubyte");
    fails_with(
        &["train", "--resume", o, "--epochs", "3"],
        &format!("data file {} changed since the checkpoint", canonical.display()),
    );
}

#[test]
fn a_corrupt_checkpoint_is_refused_by_name_and_the_previous_one_is_kept() {
    let out = scratch("corrupt");
    let o = out.to_str().unwrap();
    succeeds(&["train", "--epochs", "2", "--out", o]);
    let latest = out.join("checkpoint.bin");
    let good = std::fs::read(&latest).unwrap();
    // One flipped bit in the weights.
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    std::fs::write(&latest, &flipped).unwrap();
    let stderr = fails_with(
        &["train", "--resume", o, "--epochs", "3"],
        &format!("checkpoint {} is corrupt: checksum mismatch", latest.display()),
    );
    let previous = out.join("checkpoint.prev.bin");
    assert!(
        stderr.contains(&format!(
            "the previous checkpoint {} (after epoch 1) is intact",
            previous.display()
        )),
        "{stderr}"
    );
    std::fs::write(&latest, &good[..good.len() - 10]).unwrap();
    fails_with(&["train", "--resume", o, "--epochs", "3"], "is corrupt: ");
    std::fs::write(&latest, b"LOSSKITCKPT1 the first format").unwrap();
    fails_with(
        &["train", "--resume", o, "--epochs", "3"],
        "has format version 1, which this losskit does not read",
    );
    // Resuming from the previous one replays epoch 2 exactly.
    std::fs::copy(&previous, &latest).unwrap();
    let resumed = succeeds(&["train", "--resume", o, "--epochs", "3"]);
    assert!(
        text(&resumed.stdout).starts_with(&format!("Resuming {o} after epoch 1")),
        "{}",
        text(&resumed.stdout)
    );
    let whole = scratch("corrupt-whole");
    succeeds(&["train", "--epochs", "3", "--out", whole.to_str().unwrap()]);
    assert_eq!(weights(&out), weights(&whole));
}

#[test]
fn negative_numbers_parse_and_are_refused_by_their_rule() {
    let out = scratch("negative");
    let o = out.to_str().unwrap();
    for (args, message) in [
        (&["--lr", "-1"][..], "--lr must be a finite number > 0, got -1"),
        (&["--lr", "inf"][..], "--lr must be a finite number > 0, got inf"),
        (&["--momentum", "-0.5"][..], "--momentum must be in [0, 1), got -0.5"),
        (
            &["--weight-decay", "-1e-4"][..],
            "--weight-decay must be a finite number >= 0, got -0.0001",
        ),
        (
            &["--loss", "focal", "--alpha", "-1"][..],
            "--alpha must be a finite number > 0 for --loss focal, got -1",
        ),
        (
            &["--loss", "focal", "--gamma", "-2"][..],
            "--gamma must be a finite number >= 0, got -2",
        ),
        (
            &["--loss", "sigmoid-focal", "--alpha", "-0.25"][..],
            "--alpha must be in [0, 1] for --loss sigmoid-focal, got -0.25",
        ),
        (
            &["--loss", "sigmoid-focal", "--alpha", "1.5"][..],
            "--alpha must be in [0, 1] for --loss sigmoid-focal, got 1.5",
        ),
        (
            &["--alpha", "0.5"][..],
            "--alpha applies to --loss focal and sigmoid-focal only, not to cross-entropy",
        ),
        (
            &["--loss", "nll", "--label-smoothing", "0.1"][..],
            "--label-smoothing applies to --loss cross-entropy only, not to nll",
        ),
    ] {
        fails_with(&[&["train", "--out", o][..], args].concat(), message);
    }
    let epochs = losskit(&["train", "--epochs", "-1", "--out", o]);
    assert!(
        text(&epochs.stderr).contains("invalid value '-1' for '--epochs <EPOCHS>'"),
        "{}",
        text(&epochs.stderr)
    );
    assert_eq!(out.read_dir().unwrap().count(), 0);
}

#[test]
fn a_checkpoint_too_large_to_be_one_is_refused_unread() {
    let out = scratch("huge-checkpoint");
    let o = out.to_str().unwrap();
    succeeds(&["train", "--epochs", "1", "--out", o]);
    let latest = out.join("checkpoint.bin");
    std::fs::File::options()
        .write(true)
        .open(&latest)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    fails_with(
        &["train", "--resume", o],
        "is larger than 1073741824 bytes, more than any checkpoint",
    );
}
