//! Files written whole or not at all. Every file a command leaves is written here: into a
//! temporary file beside the target, synced to disk, then renamed over it, so a kill or a
//! full disk at any moment leaves either the old file or the new one, never a mix.

use std::error::Error;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What went wrong while producing a file's contents.
pub type Cause = Box<dyn Error + Send + Sync>;

/// A file that could not be written; the target keeps its old contents, if it had any.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    /// The file that was to be written.
    pub path: PathBuf,
    /// Why it could not be.
    #[source]
    pub source: Cause,
}

/// Reads all of `path`, or `Ok(None)` if it holds more than `limit` bytes: a file that
/// cannot be what it claims is refused before its size is allocated. The size is checked
/// before reading and again while reading (some files report none).
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    if file.metadata()?.len() > limit {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |tmp| {
        File::create(tmp)?.write_all(bytes)?;
        Ok(())
    })
}

/// Has `write` create the file at a temporary path beside `path`, then syncs and renames it
/// over `path` and syncs the directory, so that the rename itself survives a crash. The
/// temporary path keeps `path`'s extension, for writers that choose a format by it (the
/// PNG encoder does). On any error the temporary file is removed.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<(), Cause>) -> Result<(), WriteError> {
    let tmp = temporary_path(path);
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_parent(path)?;
        Ok(())
    });
    result.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        WriteError {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// `dir/.name.tmp-PID.ext` for `dir/name.ext`: hidden, and distinct per process.
fn temporary_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(Default::default, |s| s.to_string_lossy());
    let name = match path.extension() {
        Some(ext) => format!(".{stem}.tmp-{}.{}", std::process::id(), ext.to_string_lossy()),
        None => format!(".{stem}.tmp-{}", std::process::id()),
    };
    path.with_file_name(name)
}

/// Whether `name` is one of [`write_atomic_with`]'s temporary files (left behind only by a
/// process that was killed while writing).
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name
            .split_once(".tmp-")
            .is_some_and(|(_, rest)| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Makes a rename in `path`'s directory durable.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = dir
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_nothing_else() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("summary.json");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir), ["summary.json"]);
    }

    #[test]
    fn reads_up_to_a_limit() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("data");
        std::fs::write(&path, [7; 10]).unwrap();
        assert_eq!(read_limited(&path, 10).unwrap(), Some(vec![7; 10]));
        assert_eq!(read_limited(&path, 9).unwrap(), None);
        // A sparse file of a terabyte is refused without reading it.
        std::fs::File::create(&path).unwrap().set_len(1 << 40).unwrap();
        assert_eq!(read_limited(&path, 1 << 30).unwrap(), None);
    }

    #[test]
    fn temporary_names_are_recognised() {
        for path in ["run/checkpoint.bin", "run/metrics.csv", "loss.png", "run/LICENSE"] {
            let tmp = temporary_path(Path::new(path));
            assert!(
                is_temporary(&tmp.file_name().unwrap().to_string_lossy()),
                "{}",
                tmp.display()
            );
        }
        for name in ["checkpoint.bin", ".hidden", "notes.tmp-1.txt", ".x.tmp-y"] {
            assert!(!is_temporary(name), "{name}");
        }
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_removes_the_temporary() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let path = dir.join("loss.png");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |tmp| {
            assert!(tmp.extension().is_some_and(|e| e == "png"), "{}", tmp.display());
            std::fs::write(tmp, b"half")?;
            Err("the encoder failed".into())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot write {}: the encoder failed", path.display())
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir), ["loss.png"]);
    }
}
