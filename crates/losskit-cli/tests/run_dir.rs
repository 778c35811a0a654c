//! `losskit train`'s run directory: one run at a time, default names that cannot collide,
//! a user's files never overwritten unasked, a read-only directory refused before training,
//! and nothing left behind by a run that wrote nothing.

mod common;

use std::path::Path;

use common::cli::{fails_with, losskit, losskit_in, spawn, succeeds, text, wait_for, weights};
use common::mnist::synthetic;
use common::scratch::scratch;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = dir
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_second_run_on_a_directory_in_use_is_refused_naming_the_holder() {
    let out = scratch("in-use");
    let o = out.to_str().unwrap();
    let mut first = spawn(&["train", "--epochs", "5", "--out", o]);
    wait_for(&out.join(".lock"));
    let holder = format!("is in use by losskit process {}", first.id());
    let stderr = fails_with(&["train", "--epochs", "1", "--out", o, "--overwrite"], &holder);
    assert!(stderr.contains(o), "{stderr}");
    wait_for(&out.join("checkpoint.bin"));
    fails_with(&["train", "--resume", o], &holder);
    assert!(first.wait().unwrap().success());
    // The first run's directory is its own, whole; the lock went with it.
    assert_eq!(
        entries(&out),
        [
            "checkpoint.bin",
            "checkpoint.prev.bin",
            "epochs.csv",
            "loss.png",
            "metrics.csv",
            "summary.json"
        ]
    );
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["config"]["epochs"], 5);
}

#[test]
fn a_killed_runs_lock_is_taken_over() {
    let out = scratch("stale-lock");
    let o = out.to_str().unwrap();
    let mut child = spawn(&["train", "--epochs", "3", "--out", o]);
    wait_for(&out.join("checkpoint.bin"));
    let pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.join(".lock").exists(), "a SIGKILL leaves the lock behind");
    let resumed = succeeds(&["train", "--resume", o]);
    let stderr = text(&resumed.stderr);
    assert!(
        stderr.contains(&format!(
            "was locked by process {pid}, which is no longer running; took the lock over"
        )),
        "{stderr}"
    );
    assert!(!out.join(".lock").exists());
}

#[test]
fn default_run_directories_started_together_do_not_collide() {
    let cwd = scratch("default-names");
    // Runs one after another (most start in the same second as the one before), then three at once.
    for seed in ["1", "2", "3"] {
        let run = losskit_in(&cwd, &["train", "--epochs", "1", "--seed", seed]);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let threads: Vec<_> = ["11", "12", "13"]
        .map(|seed| {
            let cwd = cwd.to_path_buf();
            std::thread::spawn(move || losskit_in(&cwd, &["train", "--epochs", "1", "--seed", seed]))
        })
        .into_iter()
        .collect();
    for thread in threads {
        let run = thread.join().unwrap();
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    let runs = entries(&cwd.join("runs"));
    assert_eq!(runs.len(), 6, "{runs:?}");
    let mut seeds: Vec<u64> = runs
        .iter()
        .map(|r| {
            let summary: serde_json::Value =
                serde_json::from_slice(&std::fs::read(cwd.join("runs").join(r).join("summary.json")).unwrap()).unwrap();
            summary["config"]["seed"].as_u64().unwrap()
        })
        .collect();
    seeds.sort();
    assert_eq!(seeds, [1, 2, 3, 11, 12, 13], "one run per directory");
}

#[test]
fn a_non_empty_out_is_refused_unless_overwrite() {
    let out = scratch("non-empty");
    let o = out.to_str().unwrap();
    succeeds(&["train", "--epochs", "1", "--out", o]);
    let before = weights(&out);
    let stderr = fails_with(
        &["train", "--epochs", "1", "--seed", "7", "--out", o],
        "is not empty (it holds checkpoint.bin, epochs.csv, loss.png, metrics.csv and 1 more); --overwrite replaces the run in it",
    );
    assert!(stderr.contains(&format!("--resume {o} continues it")), "{stderr}");
    assert_eq!(weights(&out), before, "the finished run was touched");
    // `--out .` in a directory of one's own files: refused, and with --overwrite those stay.
    let own = scratch("own-files");
    std::fs::write(own.join("notes.txt"), "mine").unwrap();
    let refused = losskit_in(&own, &["train", "--epochs", "1", "--out", "."]);
    assert!(
        text(&refused.stderr).contains("run directory . is not empty (it holds notes.txt)"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(entries(&own), ["notes.txt"]);
    succeeds(&["train", "--epochs", "1", "--seed", "7", "--out", o, "--overwrite"]);
    assert_ne!(weights(&out), before);
    assert!(
        !out.join("checkpoint.prev.bin").exists(),
        "the old run's checkpoint survived"
    );
    let replaced = losskit_in(&own, &["train", "--epochs", "1", "--out", ".", "--overwrite"]);
    assert!(replaced.status.success(), "{}", text(&replaced.stderr));
    assert_eq!(std::fs::read_to_string(own.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn a_read_only_out_fails_before_training() {
    // root writes to a mode-0555 directory anyway; /sys refuses even root.
    let scratch_dir = scratch("read-only");
    let mut permissions = std::fs::metadata(&*scratch_dir).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o555);
    std::fs::set_permissions(&*scratch_dir, permissions.clone()).unwrap();
    let writable = std::fs::write(scratch_dir.join("probe"), "").is_ok();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    let read_only = if writable { Path::new("/sys") } else { &*scratch_dir };
    if !read_only.is_dir() {
        eprintln!("no read-only directory to test with");
        return;
    }
    let r = read_only.to_str().unwrap();
    let run = losskit(&["train", "--epochs", "1", "--out", r, "--overwrite"]);
    let stderr = text(&run.stderr);
    if !writable {
        std::fs::set_permissions(&*scratch_dir, permissions).unwrap();
    }
    assert!(!run.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("cannot write to run directory {r}")),
        "{stderr}"
    );
    assert_eq!(text(&run.stdout), "", "it trained first");
}

#[test]
fn a_run_that_stops_before_writing_leaves_no_directory_it_created() {
    let data = scratch("nan-data");
    synthetic(&data, 200);
    let d = data.to_str().unwrap();
    let parent = scratch("nan-parent");
    let out = parent.join("a/b/run");
    fails_with(
        &["train", "--data", d, "--lr", "1e30", "--out", out.to_str().unwrap()],
        "no epoch finished, so there is no checkpoint",
    );
    assert_eq!(
        entries(&parent),
        Vec::<String>::new(),
        "created directories left behind"
    );
    // The default runs/<timestamp> too, and a directory the user made stays.
    let cwd = scratch("nan-cwd");
    let run = losskit_in(&cwd, &["train", "--data", d, "--lr", "1e30"]);
    assert!(text(&run.stderr).contains("loss became"), "{}", text(&run.stderr));
    assert_eq!(entries(&cwd), Vec::<String>::new());
    let theirs = scratch("nan-theirs");
    fails_with(
        &["train", "--data", d, "--lr", "1e30", "--out", theirs.to_str().unwrap()],
        "loss became",
    );
    assert!(theirs.is_dir() && entries(&theirs).is_empty());
}
