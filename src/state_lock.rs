//! One listener per state directory. `run` (and the sandbox, for its own directory) holds an
//! exclusive lock on `listener.lock` for its whole life, with its pid written inside, so a
//! second listener started on the same directory (a service plus a manual start) refuses to
//! start instead of answering every message twice.
//!
//! The lock is the operating system's (`File::try_lock`: `flock` on Unix): it goes with the
//! process however that ends, so a crash leaves nothing to clean up and the file is never
//! deleted. Readers (`queue`, `reply`, `status`) never take it; `status` only asks who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::StateDir;

/// How long a start waits for the lock: `status` holds it for microseconds when it asks who
/// the holder is; a real second listener keeps it.
const WAIT: Duration = Duration::from_secs(1);

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another listener holds it.
    #[error(
        "another retake-chat listener{} is already running with the state directory {}; stop it, or give this one its own --state-dir",
        pid.map_or(String::new(), |pid| format!(" (pid {pid})")),
        dir.display()
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// The holder's pid, when its file could be read.
        pid: Option<u32>,
    },
    /// The file could not be opened, locked or written.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The lock file.
        path: PathBuf,
        /// Why it failed.
        cause: std::io::Error,
    },
}

/// Who holds a state directory's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// There is no lock file: no listener of this version has run here.
    NoFile,
    /// Nobody: no listener is running with this directory.
    Free,
    /// A running listener, with its pid when readable.
    Running(Option<u32>),
}

impl StateLock {
    /// Take the lock of `dir` (which must exist) and write our pid into it, waiting up to a
    /// second for a `status` that is looking at it.
    pub async fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(StateDir::LISTENER_LOCK);
        let io = |action| {
            let path = path.clone();
            move |cause| LockError::Io {
                action,
                path,
                cause,
            }
        };
        // Not truncated on open: until we hold the lock, the pid inside is the holder's.
        let mut file = crate::files::private(&mut OpenOptions::new())
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open the lock file"))?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::Held {
                        dir: dir.to_path_buf(),
                        pid: read_pid(&mut file),
                    });
                }
                Err(TryLockError::Error(cause)) => return Err(io("lock")(cause)),
            }
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .map_err(io("write our pid into"))?;
        Ok(Self { _file: file })
    }
}

/// Who holds the lock of `dir` now.
pub fn holder(dir: &Path) -> std::io::Result<Holder> {
    let mut file = match File::open(dir.join(StateDir::LISTENER_LOCK)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Holder::NoFile),
        Err(e) => return Err(e),
    };
    // A shared lock is granted unless a listener holds the exclusive one; it is released
    // when `file` closes, a moment later.
    match file.try_lock_shared() {
        Ok(()) => Ok(Holder::Free),
        Err(TryLockError::WouldBlock) => Ok(Holder::Running(read_pid(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The pid written in the lock file, if it holds one.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Paused: the second start's one-second wait for the lock passes at once.
    #[tokio::test(start_paused = true)]
    async fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(holder(dir.path()).expect("readable"), Holder::NoFile);
        let first = StateLock::acquire(dir.path())
            .await
            .expect("first takes it");
        let pid = Some(std::process::id());
        assert_eq!(holder(dir.path()).expect("readable"), Holder::Running(pid));
        let second = StateLock::acquire(dir.path()).await.expect_err("refused");
        assert_eq!(
            second.to_string(),
            format!(
                "another retake-chat listener (pid {}) is already running with the state directory {}; stop it, or give this one its own --state-dir",
                std::process::id(),
                dir.path().display()
            )
        );
        drop(first);
        assert_eq!(holder(dir.path()).expect("readable"), Holder::Free);
        let _again = StateLock::acquire(dir.path()).await.expect("free again");
    }
}
