//! A run's directory, held by one process for the run: created without colliding with
//! another run's, locked, refused when it holds someone's files, and removed again if the
//! run created it and leaves it empty.

use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::fs::is_temporary;
use super::lock::{LOCK_FILE, Lock, LockError};

/// Why a directory cannot hold a run.
#[derive(Debug, Error)]
pub enum RunDirError {
    /// A directory that cannot be created.
    #[error("cannot create run directory {}: {source}", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A path that exists and is no directory.
    #[error("run directory {} exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// A directory to resume that does not exist.
    #[error("cannot resume {}: no such directory", .0.display())]
    Missing(PathBuf),
    /// A directory that holds files, for a new run.
    #[error(
        "run directory {} is not empty (it holds {entries}); --overwrite replaces the run in it, --resume {} continues it",
        path.display(), path.display()
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// Some of its entries.
        entries: String,
    },
    /// A directory that cannot be listed or cleared of temporary files.
    #[error("cannot prepare run directory {}: {source}", path.display())]
    Prepare {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A previous run's file that `--overwrite` cannot remove (nothing was removed).
    #[error("cannot remove {} of the previous run: {source} (the run is left as it was)", path.display())]
    Remove {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Default names taken all the way.
    #[error("no free name for a run directory {}-N", .0.display())]
    NoFreeName(PathBuf),
    /// The directory is in use, or not writable.
    #[error(transparent)]
    Lock(#[from] LockError),
}

/// A directory held for a run.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// The directories this run created, outermost first.
    created: Vec<PathBuf>,
    lock: Option<Lock>,
}

/// What to do with a directory that already holds files.
#[derive(Debug, Clone, Copy)]
pub enum Existing<'a> {
    /// Refuse it.
    Refuse,
    /// Delete these files of a previous run (other files stay) and use it.
    Replace(&'a [&'a str]),
}

/// Creates `path` and any missing parents; returns the directories it created, outermost first.
fn create_missing(path: &Path) -> io::Result<Vec<PathBuf>> {
    let missing: Vec<&Path> = path
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && !p.exists())
        .collect();
    let mut created: Vec<PathBuf> = Vec::new();
    for dir in missing.into_iter().rev() {
        match fs::create_dir(dir) {
            Ok(()) => created.push(dir.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => {
                // A path too long to create whole once left 2,048 empty folders behind.
                for made in created.iter().rev() {
                    let _ = fs::remove_dir(made);
                }
                return Err(e);
            }
        }
    }
    Ok(created)
}

/// The entries of `dir` that are not the lock's or temporary files left by a killed process.
fn entries(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with(LOCK_FILE) && !is_temporary(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Removes the previous run's `files` from `dir`, all or none: each is first renamed to a
/// temporary name, and if one cannot be (an immutable file, say) those already renamed get
/// their names back, so that a refused `--overwrite` leaves the old run whole.
fn replace(dir: &Path, files: &[&str]) -> Result<(), RunDirError> {
    let staged = |file: &str| dir.join(format!(".{file}.tmp-{}", std::process::id()));
    for (k, file) in files.iter().enumerate() {
        if let Err(source) = fs::rename(dir.join(file), staged(file)) {
            for back in &files[..k] {
                let _ = fs::rename(staged(back), dir.join(back));
            }
            return Err(RunDirError::Remove {
                path: dir.join(file),
                source,
            });
        }
    }
    for file in files {
        fs::remove_file(staged(file)).map_err(|source| RunDirError::Remove {
            path: staged(file),
            source,
        })?;
    }
    Ok(())
}

/// Deletes the temporary files in `dir` (a killed process's half-written files, the names
/// of a checkpoint's interrupted rotation): called with the directory locked, when no other
/// process can be writing them.
fn remove_temporaries(dir: &Path) -> Result<(), RunDirError> {
    let remove = || -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if is_temporary(&entry.file_name().to_string_lossy()) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    };
    remove().map_err(|source| RunDirError::Prepare {
        path: dir.to_path_buf(),
        source,
    })
}

impl RunDir {
    /// The path of the directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock this run holds.
    pub fn lock(&self) -> &Lock {
        self.lock.as_ref().expect("held until drop")
    }

    fn locked(path: PathBuf, created: Vec<PathBuf>) -> Result<Self, RunDirError> {
        // Until the lock is held, dropping `dir` removes what was created.
        let mut dir = RunDir {
            path,
            created,
            lock: None,
        };
        dir.lock = Some(Lock::acquire(&dir.path)?);
        Ok(dir)
    }

    /// A new directory `<parent>/<stamp>`, or `<stamp>-2`, `<stamp>-3`, ... if that is taken
    /// (two runs started in the same second): `create_dir` fails on an existing name, so two
    /// processes never get the same one.
    pub fn create_unique(parent: &Path, stamp: &str) -> Result<Self, RunDirError> {
        let created = create_missing(parent).map_err(|source| RunDirError::Create {
            path: parent.to_path_buf(),
            source,
        })?;
        for k in 1..=1000 {
            let name = if k == 1 {
                stamp.to_string()
            } else {
                format!("{stamp}-{k}")
            };
            let path = parent.join(name);
            match fs::create_dir(&path) {
                Ok(()) => {
                    let created = created.into_iter().chain([path.clone()]).collect();
                    return Self::locked(path, created);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(source) => return Err(RunDirError::Create { path, source }),
            }
        }
        Err(RunDirError::NoFreeName(parent.join(stamp)))
    }

    /// `path` for a new run: created if missing, and checked to hold no files (or the files
    /// of a previous run are deleted, with [`Existing::Replace`]) once it is locked.
    pub fn for_new_run(path: &Path, existing: Existing<'_>) -> Result<Self, RunDirError> {
        if path.exists() && !path.is_dir() {
            return Err(RunDirError::NotADirectory(path.to_path_buf()));
        }
        let created = create_missing(path).map_err(|source| RunDirError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = Self::locked(path.to_path_buf(), created)?;
        let prepare = |source| RunDirError::Prepare {
            path: path.to_path_buf(),
            source,
        };
        let names = entries(path).map_err(prepare)?;
        match existing {
            _ if names.is_empty() => {}
            Existing::Refuse => {
                let mut shown = names.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
                if names.len() > 4 {
                    shown += &format!(" and {} more", names.len() - 4);
                }
                return Err(RunDirError::NotEmpty {
                    path: path.to_path_buf(),
                    entries: shown,
                });
            }
            Existing::Replace(files) => {
                let previous: Vec<&str> = files.iter().copied().filter(|f| names.iter().any(|n| n == f)).collect();
                replace(path, &previous)?;
            }
        }
        remove_temporaries(path)?;
        Ok(dir)
    }

    /// The existing directory `path` of a run to resume.
    pub fn for_resume(path: &Path) -> Result<Self, RunDirError> {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let dir = Self::locked(path.to_path_buf(), Vec::new())?;
                remove_temporaries(path)?;
                Ok(dir)
            }
            Ok(_) => Err(RunDirError::NotADirectory(path.to_path_buf())),
            Err(_) => Err(RunDirError::Missing(path.to_path_buf())),
        }
    }
}

impl Drop for RunDir {
    /// Releases the lock, then removes the directories this run created if they are empty
    /// (a run that stopped before writing anything); a directory that holds anything stays.
    fn drop(&mut self) {
        drop(self.lock.take());
        for dir in self.created.iter().rev() {
            if fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_that_cannot_remove_every_file_removes_none() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        fs::write(dir.join("a.csv"), "a").unwrap();
        // `b` cannot be staged: its temporary name is a directory that is not empty.
        fs::create_dir_all(dir.join(format!(".b.tmp-{}", std::process::id())).join("x")).unwrap();
        fs::write(dir.join("b"), "b").unwrap();
        let err = replace(dir, &["a.csv", "b"]).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot remove {} of the previous run",
                dir.join("b").display()
            )),
            "{err}"
        );
        assert_eq!(fs::read_to_string(dir.join("a.csv")).unwrap(), "a");
        assert_eq!(fs::read_to_string(dir.join("b")).unwrap(), "b");
        assert!(!dir.join(format!(".a.csv.tmp-{}", std::process::id())).exists());
        fs::remove_dir_all(dir.join(format!(".b.tmp-{}", std::process::id()))).unwrap();
        replace(dir, &["a.csv", "b"]).unwrap();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 0);
    }

    #[test]
    fn a_resumed_or_replaced_run_loses_a_killed_processs_temporary_files() {
        let scratch = tempfile::tempdir().unwrap();
        let run = scratch.path().join("run");
        fs::create_dir(&run).unwrap();
        for name in [
            ".checkpoint.tmp-13777.bin",
            ".checkpoint.prev.tmp-13780.bin",
            "metrics.csv",
        ] {
            fs::write(run.join(name), "x").unwrap();
        }
        drop(RunDir::for_resume(&run).unwrap());
        assert_eq!(entries(&run).unwrap(), ["metrics.csv"]);
        assert_eq!(fs::read_dir(&run).unwrap().count(), 1);
        fs::write(run.join(".metrics.csv.tmp-99"), "x").unwrap();
        drop(RunDir::for_new_run(&run, Existing::Replace(&["metrics.csv"])).unwrap());
        assert_eq!(fs::read_dir(&run).unwrap().count(), 0);
    }

    #[test]
    fn a_path_that_cannot_be_created_whole_leaves_nothing() {
        let scratch = tempfile::tempdir().unwrap();
        // Past PATH_MAX (4096) after some hundreds of levels.
        let deep = (0..2100).fold(scratch.path().to_path_buf(), |p, _| p.join("d"));
        let err = RunDir::for_new_run(&deep, Existing::Refuse).unwrap_err();
        assert!(err.to_string().starts_with("cannot create run directory"), "{err}");
        assert_eq!(fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[test]
    fn default_names_never_collide() {
        let scratch = tempfile::tempdir().unwrap();
        let runs = scratch.path().join("runs");
        let a = RunDir::create_unique(&runs, "20250101-000000").unwrap();
        let b = RunDir::create_unique(&runs, "20250101-000000").unwrap();
        let c = RunDir::create_unique(&runs, "20250101-000000").unwrap();
        let names: Vec<_> = [&a, &b, &c]
            .map(|d| d.path().file_name().unwrap().to_string_lossy().into_owned())
            .into();
        assert_eq!(names, ["20250101-000000", "20250101-000000-2", "20250101-000000-3"]);
        fs::write(b.path().join("summary.json"), "{}").unwrap();
        drop((a, b, c));
        // The empty ones are removed, with nothing else; the one with a file stays.
        assert_eq!(entries(&runs).unwrap(), ["20250101-000000-2"]);
    }

    #[test]
    fn a_run_that_writes_nothing_leaves_nothing_it_created() {
        let scratch = tempfile::tempdir().unwrap();
        let deep = scratch.path().join("a/b/run");
        let dir = RunDir::for_new_run(&deep, Existing::Refuse).unwrap();
        assert!(deep.join(LOCK_FILE).exists());
        drop(dir);
        assert!(!scratch.path().join("a").exists());
        // A directory the user made is theirs: it stays, empty.
        let theirs = scratch.path().join("theirs");
        fs::create_dir(&theirs).unwrap();
        drop(RunDir::for_new_run(&theirs, Existing::Refuse).unwrap());
        assert!(theirs.is_dir());
        assert_eq!(entries(&theirs).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_directory_with_files_is_refused_or_its_run_replaced() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        for name in ["summary.json", "notes.txt", ".lock.77.tmp", ".checkpoint.tmp-77.bin"] {
            fs::write(dir.join(name), "x").unwrap();
        }
        let err = RunDir::for_new_run(dir, Existing::Refuse).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not empty (it holds notes.txt, summary.json)"),
            "{err}"
        );
        assert!(!dir.join(LOCK_FILE).exists(), "the refused run kept its lock");
        let run = RunDir::for_new_run(dir, Existing::Replace(&["summary.json", "checkpoint.bin"])).unwrap();
        assert_eq!(entries(run.path()).unwrap(), ["notes.txt"]);
        fs::write(dir.join("file"), "x").unwrap();
        assert!(matches!(
            RunDir::for_new_run(&dir.join("file"), Existing::Refuse),
            Err(RunDirError::NotADirectory(_))
        ));
        assert!(matches!(
            RunDir::for_resume(&dir.join("missing")),
            Err(RunDirError::Missing(_))
        ));
    }
}
