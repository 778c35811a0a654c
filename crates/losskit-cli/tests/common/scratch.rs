//! Scratch directories that remove themselves when the test ends, passed or failed.

use std::ops::Deref;
use std::path::Path;

/// A fresh directory under the system's temporary directory, removed on drop (a failing
/// test unwinds, so its directories go too).
pub struct Scratch(tempfile::TempDir);

/// A fresh scratch directory whose name starts with `losskit-test-NAME-`.
pub fn scratch(name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("losskit-test-{name}-"))
        .tempdir()
        .expect("a scratch directory");
    Scratch(dir)
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}
