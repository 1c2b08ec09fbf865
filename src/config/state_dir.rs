//! The state directory and every file in it, by name: the one place a state file's name is
//! spelled. What each file holds, and who writes it, is its owner's (named beside each).
//!
//! A [`StateDir`] is a path (it derefs to [`Path`]); making the directory, and keeping it
//! private, is `files.rs`'s.

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A state directory: where the listener, `queue`, `reply`, `status`, `mcp` and the sandbox
/// find the files they share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir(PathBuf);

impl StateDir {
    /// `queue.jsonl`: the agent's queue (`act::queue`).
    pub const QUEUE: &str = "queue.jsonl";
    /// `queue.leases.jsonl`: who took which queue item, until when (`act::queue`).
    pub const QUEUE_LEASES: &str = "queue.leases.jsonl";
    /// `queue.lock`: taken around every queue operation (`act::queue`).
    pub const QUEUE_LOCK: &str = "queue.lock";
    /// `queue.archive.jsonl`: what a full queue could not take (`act::queue`).
    pub const QUEUE_ARCHIVE: &str = "queue.archive.jsonl";
    /// `health.json`: the listener's counters and state (`health`).
    pub const HEALTH: &str = "health.json";
    /// `memory.json`: what scripts `remember` (`script::memory_file`).
    pub const MEMORY: &str = "memory.json";
    /// `handled.jsonl`: the newest message ids handled, so a restart catches up from where it
    /// stopped and answers nothing twice (`catchup::handled`).
    pub const HANDLED: &str = "handled.jsonl";
    /// `decisions.jsonl`: one line per decided event (`decisions`).
    pub const DECISIONS: &str = "decisions.jsonl";
    /// `transcript.jsonl`: the chat as the listener saw it (`transcript`).
    pub const TRANSCRIPT: &str = "transcript.jsonl";
    /// `rooms.json`: other streamers' names resolved to ids (`rooms`).
    pub const ROOMS: &str = "rooms.json";
    /// `listener.lock`: one listener per state directory (`state_lock`).
    pub const LISTENER_LOCK: &str = "listener.lock";

    /// The state directory at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// [`Self::QUEUE`] in it.
    pub fn queue(&self) -> PathBuf {
        self.0.join(Self::QUEUE)
    }

    /// [`Self::QUEUE_LEASES`] in it.
    pub fn queue_leases(&self) -> PathBuf {
        self.0.join(Self::QUEUE_LEASES)
    }

    /// [`Self::QUEUE_LOCK`] in it.
    pub fn queue_lock(&self) -> PathBuf {
        self.0.join(Self::QUEUE_LOCK)
    }

    /// [`Self::QUEUE_ARCHIVE`] in it (rotated ones are numbered `queue.archive.1.jsonl`, …).
    pub fn queue_archive(&self) -> PathBuf {
        self.0.join(Self::QUEUE_ARCHIVE)
    }

    /// [`Self::HEALTH`] in it.
    pub fn health(&self) -> PathBuf {
        self.0.join(Self::HEALTH)
    }

    /// [`Self::MEMORY`] in it.
    pub fn memory(&self) -> PathBuf {
        self.0.join(Self::MEMORY)
    }

    /// [`Self::HANDLED`] in it.
    pub fn handled(&self) -> PathBuf {
        self.0.join(Self::HANDLED)
    }

    /// [`Self::DECISIONS`] in it.
    pub fn decisions(&self) -> PathBuf {
        self.0.join(Self::DECISIONS)
    }

    /// [`Self::TRANSCRIPT`] in it.
    pub fn transcript(&self) -> PathBuf {
        self.0.join(Self::TRANSCRIPT)
    }

    /// [`Self::ROOMS`] in it.
    pub fn rooms(&self) -> PathBuf {
        self.0.join(Self::ROOMS)
    }

    /// [`Self::LISTENER_LOCK`] in it.
    pub fn listener_lock(&self) -> PathBuf {
        self.0.join(Self::LISTENER_LOCK)
    }
}

impl From<PathBuf> for StateDir {
    fn from(dir: PathBuf) -> Self {
        Self(dir)
    }
}

impl From<&Path> for StateDir {
    fn from(dir: &Path) -> Self {
        Self(dir.to_path_buf())
    }
}

impl From<StateDir> for PathBuf {
    fn from(dir: StateDir) -> Self {
        dir.0
    }
}

impl Deref for StateDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for StateDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<OsStr> for StateDir {
    fn as_ref(&self) -> &OsStr {
        self.0.as_os_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_named_in_the_directory() {
        let state = StateDir::new("/s");
        assert_eq!(state.queue(), Path::new("/s/queue.jsonl"));
        assert_eq!(state.queue_lock(), Path::new("/s/queue.lock"));
        assert_eq!(state.health(), Path::new("/s/health.json"));
        assert_eq!(state.listener_lock(), Path::new("/s/listener.lock"));
        assert_eq!(state.join("x"), Path::new("/s/x"), "a path too");
    }
}
