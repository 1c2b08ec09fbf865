//! Files on a shared host: the state directory made 0700 and refused when another user owns
//! it or can write to it; state files created 0600; a file replaced through a fresh temp
//! file created exclusively (a symlink planted at a predictable name is never followed),
//! with one durability rule for all (fsync the file, rename, fsync the directory);
//! small files read only when regular and capped, so a FIFO or a device is a sentence.
//! What goes into the files is each stage's business.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why a state directory cannot be used; each message names it and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// It could not be created or looked at.
    #[error("cannot {action} the state directory {}: {cause}", dir.display())]
    Io {
        /// "create", "inspect"
        action: &'static str,
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        cause: io::Error,
    },
    /// Something else is at its path.
    #[error("state directory {} is not a directory", dir.display())]
    NotDir {
        /// The path.
        dir: PathBuf,
    },
    /// Another user owns it, and could replace its files with links at any time.
    #[error("state directory {} belongs to another user (uid {owner}); use a directory of your own", dir.display())]
    NotOurs {
        /// The directory.
        dir: PathBuf,
        /// Its owner's uid.
        owner: u32,
    },
    /// Others may create files (or links) in it.
    #[error("state directory {} is writable by other users (mode {mode:o}); run: chmod 700 {}", dir.display(), dir.display())]
    Open {
        /// The directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Create `dir` (and missing parents) readable by us only, or check the one that exists.
pub fn prepare_state_dir(dir: &Path) -> Result<(), DirError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|cause| DirError::Io {
        action: "create",
        dir: dir.to_path_buf(),
        cause,
    })?;
    check_state_dir(dir)
}

/// Refuse a state directory that another user owns or that others can write to: they could
/// put links where our files go. A directory that does not exist yet is fine.
pub fn check_state_dir(dir: &Path) -> Result<(), DirError> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => {
            return Err(DirError::Io {
                action: "inspect",
                dir: dir.to_path_buf(),
                cause,
            });
        }
    };
    if !meta.is_dir() {
        return Err(DirError::NotDir {
            dir: dir.to_path_buf(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let us = unsafe { libc::geteuid() };
        if meta.uid() != us {
            return Err(DirError::NotOurs {
                dir: dir.to_path_buf(),
                owner: meta.uid(),
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(DirError::Open {
                dir: dir.to_path_buf(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// Make `options` create its file readable and writable by us only (0600).
pub fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

/// Open `path` for appending, created 0600 when missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    private(OpenOptions::new().create(true).append(true)).open(path)
}

/// Replace `path` with `bytes` atomically and durably, the one rule for every file the
/// program replaces (health.json, memory.json, the queue's rewrites, rooms.json, …): a new
/// temp file beside it (0600, a random name, created exclusively: never through a link),
/// written, fsynced, renamed over `path`, then the directory fsynced. A crash at any point
/// leaves the old file or the whole new one, never an empty or torn one. The fsyncs cost
/// health.json one every write interval (seconds apart, on the blocking pool): cheap for
/// one rule nobody has to think about.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<(), ReplaceError> {
    let dir = parent(path);
    let failed = |step| move |cause| ReplaceError { step, cause };
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .map_err(failed("create a temp file for"))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(failed("write a temp file for"))?;
    tmp.persist(path).map_err(|e| failed("replace")(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Why [`write_replacing`] failed: the step and its I/O error. Shown as the I/O error alone
/// (the caller names the file); `step` is for callers that say what was being done.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct ReplaceError {
    /// `create a temp file for`, `write a temp file for` or `replace` (then the path).
    pub step: &'static str,
    /// The I/O error, kind and OS code intact (a full disk is still told apart).
    pub cause: io::Error,
}

impl From<ReplaceError> for io::Error {
    fn from(e: ReplaceError) -> Self {
        e.cause
    }
}

/// Make renames in `dir` durable; not every platform can open a directory, hence no error.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

/// The directory `path` is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

const TEMP_SUFFIX: &str = ".tmp";

/// `.health.json.` for `health.json`: hidden, and recognisable as ours to clean up.
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.")
}

/// Remove the temp files of [`write_replacing`] for `paths` that a killed process left
/// behind. Only while nobody else writes those files (the listener, holding its lock).
pub fn remove_stale_temps(paths: &[PathBuf]) {
    for path in paths {
        let (Some(dir), prefix) = (path.parent(), temp_prefix(path)) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX);
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The text of a small regular file and its metadata. A FIFO, a device or a directory is an
/// error at once (opened without waiting for a writer); a file over `cap` bytes is an error
/// without reading past the cap.
pub fn read_small(path: &Path, cap: u64) -> io::Result<(String, Metadata)> {
    let mut options = OpenOptions::new();
    options.read(true);
    // Opening a FIFO waits for a writer unless told not to; reads of a regular file ignore it.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let what = kind(&meta);
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {}", size(cap)),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))?;
    Ok((text, meta))
}

/// "a FIFO", "a character device", … for what is not a regular file.
fn kind(meta: &Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// `64 KiB`, `1 MiB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b % 1024 == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn replacing_never_writes_through_a_link_and_leaves_a_private_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").expect("write");
        let path = dir.path().join("health.json");
        // Every name a temp file of ours could have had before: links to the victim.
        for name in ["health.json.tmp", ".health.json.tmp"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).expect("symlink");
        }
        write_replacing(&path, b"{}").expect("write");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{}");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn stale_temps_of_ours_go_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            ".health.json.a1b2c3.tmp",
            ".queue.jsonl.x.tmp",
            "health.json",
        ] {
            std::fs::write(dir.path().join(name), "").expect("write");
        }
        remove_stale_temps(&[
            dir.path().join("health.json"),
            dir.path().join("memory.json"),
        ]);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".queue.jsonl.x.tmp", "health.json"]);
    }

    #[test]
    fn state_dirs_are_made_private_and_open_ones_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("a").join("state");
        prepare_state_dir(&state).expect("prepare");
        assert_eq!(mode(&state), 0o700);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o770)).expect("chmod");
        let error = prepare_state_dir(&state).expect_err("group-writable");
        let shown = state.display();
        assert_eq!(
            error.to_string(),
            format!(
                "state directory {shown} is writable by other users (mode 770); run: chmod 700 {shown}"
            )
        );
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        check_state_dir(&state).expect("readable by others is allowed");
        check_state_dir(&dir.path().join("missing")).expect("missing is allowed");
    }

    #[test]
    fn small_reads_refuse_what_is_not_a_small_regular_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big");
        std::fs::write(&big, [b' '; 2049]).expect("write");
        let err = |path: &Path| read_small(path, 2048).expect_err("refused").to_string();
        assert_eq!(err(&big), "it is larger than 2 KiB");
        assert_eq!(err(dir.path()), "it is a directory, not a regular file");
        assert_eq!(
            err(Path::new("/dev/null")),
            "it is a character device, not a regular file"
        );
        std::fs::write(&big, "{}").expect("write");
        assert_eq!(read_small(&big, 2048).expect("read").0, "{}");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
    }
}
