//! A lock file that marks a run directory as in use by one process, so that a second run
//! on the same directory is refused instead of mixing its files with the first one's.
//!
//! The file holds the holder's pid, its wall-clock start and (on Linux) its start time in
//! clock ticks after boot, which tells a live holder from a killed one whose pid was reused.
//! It is created complete (written to a temporary file, then hard-linked into place, which
//! fails if a lock exists) and removed when the [`Lock`] is dropped, on success, error or
//! panic. A `SIGKILL` leaves it behind: the next run finds its holder gone and takes it over.

use std::fs;
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::fs::read_limited;
use super::time::{now_secs, utc_text};

/// The lock file's name inside a run directory.
pub const LOCK_FILE: &str = ".lock";
/// Longer lock files than this are not one of ours.
const MAX_LOCK_TEXT: u64 = 4096;

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// When it took the lock, in seconds since the Unix epoch.
    pub since: u64,
    /// Its start in clock ticks after boot (`/proc/PID/stat`), where known.
    pub process_start: Option<u64>,
}

/// A lock that could not be taken.
#[derive(Debug, Error)]
pub enum LockError {
    /// Another live process holds it.
    #[error(
        "{} is in use by losskit process {} (running since {}); wait for it to end, or delete {} if that process is not a losskit run",
        dir.display(), holder.pid, utc_text(holder.since), dir.join(LOCK_FILE).display()
    )]
    InUse {
        /// The run directory.
        dir: PathBuf,
        /// The holder.
        holder: Holder,
    },
    /// A lock file that does not say who holds it.
    #[error("{} is locked by {}, which names no process; delete it if no losskit run uses the directory", dir.display(), dir.join(LOCK_FILE).display())]
    Garbled {
        /// The run directory.
        dir: PathBuf,
    },
    /// The directory does not take new files: not writable, a read-only file system.
    #[error("cannot write to run directory {}: {source}", dir.display())]
    NotWritable {
        /// The run directory.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    /// The holder of a stale lock that this one replaced.
    pub took_over: Option<Holder>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Holder {
    fn me() -> Self {
        let since = now_secs();
        let pid = std::process::id();
        Self {
            pid,
            since,
            process_start: proc_stat(pid).map(|s| s.start),
        }
    }

    fn to_text(&self) -> String {
        let mut text = format!("pid {}\nsince {}\n", self.pid, self.since);
        if let Some(start) = self.process_start {
            text += &format!("process-start {start}\n");
        }
        text
    }

    fn parse(text: &str) -> Option<Self> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
                .map(str::trim)
        };
        Some(Self {
            pid: field("pid")?.parse().ok()?,
            since: field("since")?.parse().ok()?,
            process_start: match field("process-start") {
                Some(v) => Some(v.parse().ok()?),
                None => None,
            },
        })
    }

    /// Whether the holder is certainly gone: no such process, a zombie, or another process
    /// under a reused pid. Without `/proc` nothing is certain, and the lock is respected.
    fn is_gone(&self) -> bool {
        if proc_stat(std::process::id()).is_none() {
            return false;
        }
        match proc_stat(self.pid) {
            None => true,
            Some(stat) => matches!(stat.state, 'Z' | 'X') || self.process_start.is_some_and(|s| s != stat.start),
        }
    }
}

/// What `/proc/PID/stat` says of a process.
struct ProcStat {
    state: char,
    start: u64,
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 22, the start time: 19 fields after the state (field 3).
    let start = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start })
}

/// Creates `path` holding `text`, failing with `AlreadyExists` if it exists.
fn create(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_file_name(format!("{LOCK_FILE}.{}.tmp", std::process::id()));
    fs::write(&tmp, text)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            // A file system without hard links: create it in place (a reader may briefly
            // see it empty, and treats it as held).
            let mut file = fs::OpenOptions::new().write(true).create_new(true).open(path)?;
            file.write_all(text.as_bytes())
        }
        linked => linked,
    }
}

/// Moves the stale lock `path` (holding `stale`) out of the way. `false` when another
/// process got there first: what was moved aside is then put back.
fn remove_stale(path: &Path, stale: &str) -> io::Result<bool> {
    let aside = path.with_file_name(format!("{LOCK_FILE}.{}.stale", std::process::id()));
    match fs::rename(path, &aside) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        result => result?,
    }
    let moved = read_limited(&aside, MAX_LOCK_TEXT)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if moved != stale {
        // A live process's new lock: back into place, unless yet another one is there.
        let _ = fs::hard_link(&aside, path);
    }
    let _ = fs::remove_file(&aside);
    Ok(moved == stale)
}

impl Lock {
    /// Takes the lock of `dir`, taking over a stale one.
    pub fn acquire(dir: &Path) -> Result<Lock, LockError> {
        let path = dir.join(LOCK_FILE);
        let text = Holder::me().to_text();
        let not_writable = |source| LockError::NotWritable {
            dir: dir.to_path_buf(),
            source,
        };
        let mut took_over = None;
        loop {
            match create(&path, &text) {
                Ok(()) => return Ok(Lock { path, took_over }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(not_writable(e)),
            }
            let existing = match read_limited(&path, MAX_LOCK_TEXT) {
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                existing => existing.map_err(not_writable)?,
            };
            let existing = String::from_utf8(existing.unwrap_or_default()).unwrap_or_default();
            let holder = Holder::parse(&existing).ok_or_else(|| LockError::Garbled { dir: dir.to_path_buf() })?;
            if !holder.is_gone() {
                return Err(LockError::InUse {
                    dir: dir.to_path_buf(),
                    holder,
                });
            }
            if remove_stale(&path, &existing).map_err(not_writable)? {
                took_over = Some(holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        assert!(first.took_over.is_none());
        let err = Lock::acquire(dir.path()).unwrap_err();
        assert!(
            matches!(&err, LockError::InUse { holder, .. } if holder.pid == std::process::id()),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("is in use by losskit process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(!dir.path().join(LOCK_FILE).exists());
        let again = Lock::acquire(dir.path()).unwrap();
        drop(again);
        assert_eq!(dir.path().read_dir().unwrap().count(), 0, "temporary files left");
    }

    #[test]
    fn a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        // A killed holder, and a live pid that now belongs to another process.
        let dead = Holder {
            pid: dead_pid(),
            since: 1,
            process_start: None,
        };
        let mut reused = Holder::me();
        reused.process_start = reused.process_start.map(|s| s + 1);
        for stale in [dead, reused] {
            fs::write(&path, stale.to_text()).unwrap();
            let lock = Lock::acquire(dir.path()).unwrap();
            assert_eq!(lock.took_over, Some(stale));
            let now = Holder::parse(&fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(now.pid, std::process::id());
        }
    }

    #[test]
    fn a_garbled_lock_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), "").unwrap();
        assert!(matches!(Lock::acquire(dir.path()), Err(LockError::Garbled { .. })));
        assert!(dir.path().join(LOCK_FILE).exists());
    }

    #[test]
    fn the_lock_text_round_trips() {
        let holder = Holder {
            pid: 42,
            since: 1_700_000_000,
            process_start: Some(123),
        };
        assert_eq!(Holder::parse(&holder.to_text()), Some(holder.clone()));
        let without = Holder {
            process_start: None,
            ..holder
        };
        assert_eq!(Holder::parse(&without.to_text()), Some(without));
        assert_eq!(Holder::parse("pid x\nsince 1\n"), None);
    }
}
