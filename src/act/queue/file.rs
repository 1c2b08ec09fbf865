//! The file operations the queue is built from, each safe on a shared host and a full disk:
//! opening regular files only (a FIFO or a device in the queue's place is refused, never
//! waited on), a lock wait with a deadline, appends that leave no partial bytes behind, and
//! whole-file replacement through a private temp file that no planted symlink can redirect.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::QueueError;

/// How a queue file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Read only; a missing file is `None`.
    Read,
    /// Read and write; a missing file is `None`.
    Write,
    /// Read and write, created (owner-only) when missing.
    Create,
}

/// A closure turning an I/O error into a [`QueueError`] about `path`.
pub(super) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> QueueError {
    let path = path.to_path_buf();
    move |cause| QueueError::Io {
        action,
        path,
        cause,
        may_remain: false,
    }
}

/// Open `path` if it is a regular file (following symlinks). Anything else is refused with
/// [`QueueError::NotRegular`]: reading a FIFO would wait for a writer forever, a device
/// would read forever.
pub(super) fn open(path: &Path, mode: Mode) -> Result<Option<File>, QueueError> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return Err(not_regular(path, &meta)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && mode != Mode::Create => {
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("inspect", path)(e)),
    }
    let mut options = OpenOptions::new();
    options.read(true);
    if mode != Mode::Read {
        options.write(true);
    }
    if mode == Mode::Create {
        options.create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Should it have become a FIFO since we looked, the open still returns at once (and
        // the check below refuses it); on a regular file the flag changes nothing.
        options.custom_flags(libc::O_NONBLOCK).mode(0o600);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && mode != Mode::Create => {
            return Ok(None);
        }
        Err(e) => return Err(io("open", path)(e)),
    };
    let meta = file.metadata().map_err(io("inspect", path))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(Some(file))
}

fn not_regular(path: &Path, meta: &std::fs::Metadata) -> QueueError {
    let kind = meta.file_type();
    #[cfg(unix)]
    let special = {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            Some("a FIFO")
        } else if kind.is_socket() {
            Some("a socket")
        } else if kind.is_char_device() {
            Some("a character device")
        } else if kind.is_block_device() {
            Some("a block device")
        } else {
            None
        }
    };
    #[cfg(not(unix))]
    let special = None;
    let kind = special.unwrap_or(if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    });
    QueueError::NotRegular {
        path: path.to_path_buf(),
        kind,
    }
}

/// Take the lock on `path`, exclusive (creating the file) or shared, waiting at most
/// `timeout`; released when the returned file is closed, also if the process dies. The
/// exclusive holder writes its pid inside, so whoever times out can say who holds it. A
/// reader never creates the file (it could leave one its owner cannot open): without one,
/// or where it cannot open it, it reads unlocked (`None`).
pub(super) fn lock(
    path: &Path,
    exclusive: bool,
    timeout: Duration,
) -> Result<Option<File>, QueueError> {
    let opened = if exclusive {
        open(path, Mode::Create)
    } else {
        match open(path, Mode::Read) {
            Err(QueueError::Io { .. }) => Ok(None),
            other => other,
        }
    };
    let Some(mut file) = opened? else {
        return Ok(None);
    };
    let started = Instant::now();
    // Short at first (the lock is held for milliseconds), never long enough to matter.
    let mut pause = Duration::from_millis(1);
    loop {
        let tried = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match tried {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < timeout => {
                std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(QueueError::LockTimeout {
                    path: path.to_path_buf(),
                    waited: timeout,
                    holder: holder(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", path)(e)),
        }
    }
    if exclusive {
        // Best effort: on a full disk even these few bytes may not fit, and nothing needs them.
        let pid = format!("{}\n", std::process::id());
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()));
    }
    Ok(Some(file))
}

/// The pid in a lock file, if that process still runs (Linux: `/proc/<pid>` exists).
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    let pid: u32 = text.trim().parse().ok()?;
    let proc = Path::new("/proc");
    let gone = proc.join("self").exists() && !proc.join(pid.to_string()).exists();
    (!gone).then_some(pid)
}

/// Write `buf` at `len`, the file's length (the caller holds the lock, so nobody else
/// writes), and fsync. On any failure the file is cut back to `len` and fsynced again, so a
/// retry starts from the same bytes and nothing half-written stays behind; if even that
/// fails, the error says so ([`QueueError::may_remain`]).
pub(super) fn append_at(
    file: &mut File,
    len: u64,
    buf: &[u8],
    path: &Path,
) -> Result<(), QueueError> {
    let written = file
        .seek(SeekFrom::Start(len))
        .and_then(|_| file.write_all(buf))
        .map_err(|e| ("append to", e))
        .and_then(|()| file.sync_data().map_err(|e| ("fsync", e)));
    let Err((action, cause)) = written else {
        return Ok(());
    };
    let cut = file.set_len(len).and_then(|()| file.sync_data()).is_ok();
    Err(QueueError::Io {
        action,
        path: path.to_path_buf(),
        cause,
        may_remain: !cut,
    })
}

/// The last byte of a file of length `len` (`None` when empty).
pub(super) fn last_byte(file: &mut File, len: u64, path: &Path) -> Result<Option<u8>, QueueError> {
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(io("read", path))?;
    Ok(Some(last[0]))
}

/// `len` bytes at `at`.
pub(super) fn read_at(
    file: &mut File,
    at: u64,
    len: u64,
    path: &Path,
) -> Result<Vec<u8>, QueueError> {
    let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(&mut buf))
        .map_err(io("read", path))?;
    Ok(buf)
}

/// Everything from `at` to the end.
pub(super) fn read_from(file: &mut File, at: u64, path: &Path) -> Result<Vec<u8>, QueueError> {
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_to_end(&mut buf))
        .map_err(io("read", path))?;
    Ok(buf)
}

/// Lines from offset `at` on, read as they are needed (a take stops after a few).
pub(super) struct Lines<'a> {
    reader: BufReader<&'a mut File>,
    at: u64,
    buf: Vec<u8>,
    path: &'a Path,
}

impl<'a> Lines<'a> {
    /// Lines of `file` from `at`.
    pub(super) fn from(file: &'a mut File, at: u64, path: &'a Path) -> Result<Self, QueueError> {
        file.seek(SeekFrom::Start(at)).map_err(io("read", path))?;
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, file),
            at,
            buf: Vec::new(),
            path,
        })
    }

    /// The next line, or `None` at the end.
    pub(super) fn next_line(&mut self) -> Result<Option<RawLine<'_>>, QueueError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(io("read", self.path))?;
        if n == 0 {
            return Ok(None);
        }
        let at = self.at;
        self.at += n as u64;
        let whole = self.buf.last() == Some(&b'\n');
        let bytes = if whole {
            &self.buf[..n - 1]
        } else {
            &self.buf[..]
        };
        Ok(Some(RawLine {
            at,
            bytes,
            len: n as u64,
            whole,
        }))
    }
}

/// One line as [`Lines`] reads it.
pub(super) struct RawLine<'a> {
    /// Its offset in the file.
    pub at: u64,
    /// Its bytes, newline excluded.
    pub bytes: &'a [u8],
    /// Its length in the file, newline included.
    pub len: u64,
    /// Whether it ends in a newline (an unfinished last line does not).
    pub whole: bool,
}

/// Replace `path` with `bytes` through [`crate::files::write_replacing`] (a private temp
/// file, fsynced, renamed, the directory fsynced): a crash at any point leaves the old file
/// or the new one.
pub(super) fn replace(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    crate::files::write_replacing(path, bytes).map_err(|e| io(e.step, path)(e.cause))
}

/// The directory `path` is in (`.` for a bare name).
pub(super) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Temp files of [`replace`] for the files in `names` that a crash left behind in `dir`,
/// and the fixed-name temp file older versions used. Call with the lock held: then no
/// rewrite is under way and every one of them is stale.
pub(super) fn stale_temp_files(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|file| {
            names.iter().any(|name| {
                *file == format!("{name}.tmp")
                    || (file.starts_with(&format!(".{name}.")) && file.ends_with(".tmp"))
            })
        })
        .map(|file| dir.join(file))
        .collect()
}
