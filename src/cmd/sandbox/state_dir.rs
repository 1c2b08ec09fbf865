//! Where the sandbox keeps its state: a fresh private directory in `$TMPDIR` (removed when it
//! ends), or `--state-dir DIR` (kept), but never a directory a listener is using, nor the
//! live listener's own: the agent there would answer the sandbox's made-up viewers live.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::TempDir;

use crate::config::{self, Env};
use crate::state_lock::{self, Holder, LockError};

/// A random name, created exclusively and 0700: no other user can predict it, plant links in
/// it or read what is typed.
pub(super) fn temp() -> anyhow::Result<TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("retake-chat-sandbox-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    builder
        .tempdir()
        .context("cannot create the sandbox's state directory")
}

/// `--state-dir DIR`: refused when it is the live listener's (the default, `RETAKE_STATE_DIR`
/// or the config file's) or a listener is running with it; else created (0700) if missing, and
/// absolute, so the second terminal finds it from anywhere.
pub(super) fn kept(dir: &Path, env: &Env) -> anyhow::Result<PathBuf> {
    // As `queue` and `status` find it (environment, config file), and the default.
    let live = [
        config::resolve_state_dir(&config::Overrides::default(), env)
            .ok()
            .map(PathBuf::from),
        config::default_state_dir().ok(),
    ];
    if live.iter().flatten().any(|live| same(dir, live)) {
        anyhow::bail!(
            "{} is the live listener's state directory: the sandbox would put its made-up viewers in that queue; give it a directory of its own",
            dir.display()
        );
    }
    crate::files::prepare_state_dir(dir)?;
    // Before the sandbox writes its catch-up baseline there; the listener takes the lock.
    if let Holder::Running(pid) = state_lock::holder(dir)
        .with_context(|| format!("cannot read the lock of {}", dir.display()))?
    {
        return Err(LockError::Held {
            dir: dir.to_path_buf(),
            pid,
        }
        .into());
    }
    std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))
}

/// Whether `a` and `b` name one directory (by what they resolve to, when both exist).
fn same(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}
