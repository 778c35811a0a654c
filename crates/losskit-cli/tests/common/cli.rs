//! Running the `losskit` binary and reading what a run left.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// `losskit ARGS`, to its end.
pub fn losskit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(args)
        .output()
        .expect("losskit runs")
}

/// `losskit ARGS` in the working directory `cwd`, to its end.
pub fn losskit_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("losskit runs")
}

/// `losskit ARGS` started in the background, its output discarded.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_losskit"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("losskit starts")
}

/// Waits (a few seconds at most) until `path` exists.
pub fn wait_for(path: &Path) {
    let start = std::time::Instant::now();
    while !path.exists() {
        assert!(start.elapsed().as_secs() < 60, "{} never appeared", path.display());
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The fingerprint of a run's final weights, from its summary.json.
pub fn weights(run: &Path) -> String {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    summary["weights_fingerprint"].as_str().unwrap().to_string()
}

/// Asserts that `losskit ARGS` succeeds.
pub fn succeeds(args: &[&str]) -> Output {
    let run = losskit(args);
    assert!(run.status.success(), "{args:?}: {}", text(&run.stderr));
    run
}

/// Asserts that `losskit ARGS` fails with one line on stderr, no panic, holding `needle`.
pub fn fails_with(args: &[&str], needle: &str) -> String {
    let run = losskit(args);
    assert!(!run.status.success(), "{args:?} succeeded");
    let stderr = text(&run.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}
