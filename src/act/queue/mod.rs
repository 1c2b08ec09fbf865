//! The durable queue of messages for the agent: `queue.jsonl`, one JSON object per line, so
//! `cat` still shows what waits.
//!
//! Every change holds an exclusive lock on `queue.lock` (reads a shared one), waited for at
//! most `[queue] lock_timeout_secs`, so the listener appending and any number of `queue take`
//! / `queue ack` can run at once. The listener only ever appends, and an append that fails
//! is cut back before it is retried (`file`). `take` and `ack` record what they did in
//! `queue.leases.jsonl` (`leases`) instead of rewriting the queue, which is compacted once
//! its answered lines are half of it (`take`). Messages over the `max_items` bound go to the
//! size-capped `queue.archive.jsonl` (`archive`, decided by the listener's `writer`). Lines
//! that do not parse are kept verbatim.
//!
//! The line format and the locked-file protocol change for different reasons and live apart:
//! what one line holds and how it is encoded and parsed is `item`'s (pure, no files); this
//! file owns the protocol (the locks, `repair`, `append`), `file` the safe file operations
//! under it, `take` and `view` the reads and rewrites that follow it.

mod archive;
mod file;
mod item;
mod leases;
mod take;
#[cfg(test)]
mod tests;
mod view;
mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{QueueConfig, StateDir};
// The counts are health's to report (`Queue::stats` computes them).
use crate::health::QueueStats;
use file::Mode;
pub use item::{Line, QueueItem, parse};
pub use writer::{Writer, Written};

/// Why a queue operation failed: one sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Reading or writing a file failed; a full disk says so first.
    #[error("{}cannot {action} {}: {cause}", disk_full_prefix(cause), path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it failed (part of the message, so not a `source`: it would print twice).
        cause: std::io::Error,
        /// A failed append could not be cut back: part of it may still be in the file.
        may_remain: bool,
    },
    /// One of the queue's files is a FIFO, a device, a directory...
    #[error("{} is {kind}, not a regular file; refusing to use it for the queue", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a FIFO").
        kind: &'static str,
    },
    /// Another process held the lock for longer than the wait allowed.
    #[error(
        "timed out after {}s waiting for the queue lock {}{}",
        waited.as_secs_f64(),
        path.display(),
        holder.map_or(String::new(), |pid| format!(" (held by pid {pid})"))
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// Who held it, when known and still running.
        holder: Option<u32>,
    },
}

impl QueueError {
    /// After a failed append: part of what was being written may be in the file, so a retry
    /// must not write it again blindly (see [`Queue::append_missing`]).
    pub fn may_remain(&self) -> bool {
        matches!(
            self,
            Self::Io {
                may_remain: true,
                ..
            }
        )
    }
}

/// `"disk full: "` for ENOSPC, EFBIG and EDQUOT, else nothing.
fn disk_full_prefix(cause: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    match cause.kind() {
        StorageFull | FileTooLarge | QuotaExceeded => "disk full: ",
        _ => "",
    }
}

/// The queue file, its lock, its ledger and its archive.
#[derive(Debug, Clone)]
pub struct Queue {
    path: PathBuf,
    lock_path: PathBuf,
    leases_path: PathBuf,
    archive_path: PathBuf,
    lock_timeout: Duration,
    archive_max_bytes: u64,
    archive_keep: usize,
}

impl Queue {
    /// The queue at `path` (`queue.jsonl`) with the default settings: locked through
    /// `queue.lock` beside it, leases in `queue.leases.jsonl`, overflow in
    /// `queue.archive.jsonl`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_config(path, &QueueConfig::default())
    }

    /// The queue at `path` with the `[queue]` settings.
    pub fn with_config(path: impl Into<PathBuf>, config: &QueueConfig) -> Self {
        let path = path.into();
        // Its companions are beside it, by their state-directory names.
        let dir = StateDir::new(file::parent(&path));
        Self {
            lock_path: dir.queue_lock(),
            leases_path: dir.queue_leases(),
            archive_path: dir.queue_archive(),
            lock_timeout: config.lock_timeout,
            archive_max_bytes: config.archive_max_bytes,
            archive_keep: config.archive_keep,
            path,
        }
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive file (the newest; rotated ones are numbered `queue.archive.1.jsonl`, …).
    pub fn archive_path(&self) -> &Path {
        &self.archive_path
    }

    /// Run `f` holding the exclusive lock (creating the directory first). Blocks: call it
    /// from a blocking context.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, QueueError>) -> Result<T, QueueError> {
        let dir = file::parent(&self.path);
        std::fs::create_dir_all(dir).map_err(file::io("create the directory of", &self.path))?;
        let _lock = file::lock(&self.lock_path, true, self.lock_timeout)?;
        f()
    }

    /// Run `f` holding the shared lock: no change is half-done while it reads.
    fn shared<T>(&self, f: impl FnOnce() -> Result<T, QueueError>) -> Result<T, QueueError> {
        let _lock = file::lock(&self.lock_path, false, self.lock_timeout)?;
        f()
    }

    /// Make the files safe to use after a crash, at the listener's start: remove temp files
    /// a rewrite left behind, cut the NUL bytes a lost write can leave at the end, and end a
    /// torn last line, so it stays one unreadable line (kept, reported) instead of gluing
    /// onto the next item. Returns true when it mended the queue file. Never drops an item.
    pub fn repair(&self) -> Result<bool, QueueError> {
        self.locked(|| {
            let dir = file::parent(&self.path);
            for stale in file::stale_temp_files(dir, &[StateDir::QUEUE, StateDir::QUEUE_LEASES]) {
                match std::fs::remove_file(&stale) {
                    Ok(()) => tracing::info!("removed {}, left by a crash", stale.display()),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", stale.display()),
                }
            }
            let Some(mut queue) = file::open(&self.path, Mode::Write)? else {
                return Ok(false);
            };
            let len = queue
                .metadata()
                .map_err(file::io("inspect", &self.path))?
                .len();
            // NULs at the end are not ours (JSON never holds them): blocks the size reached
            // and the data did not. Only the last 64 KiB are looked at.
            let from = len.saturating_sub(64 * 1024);
            let tail = file::read_at(&mut queue, from, len - from, &self.path)?;
            let kept = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            let end = from + kept as u64;
            let mut mended = false;
            if end < len {
                queue
                    .set_len(end)
                    .and_then(|()| queue.sync_data())
                    .map_err(file::io("cut the NUL bytes off", &self.path))?;
                mended = true;
            }
            if end > 0 && file::last_byte(&mut queue, end, &self.path)? != Some(b'\n') {
                file::append_at(&mut queue, end, b"\n", &self.path)?;
                mended = true;
            }
            Ok(mended)
        })
    }

    /// Append `items` as one batch and fsync before returning. A failure leaves the file as
    /// it was (or says it may not have: [`QueueError::may_remain`]).
    pub fn append(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        if items.is_empty() {
            return Ok(());
        }
        self.locked(|| self.append_locked(items.iter()))
    }

    /// [`append`](Self::append) for a retry after a failure that may have left part of the
    /// batch in the file: items already there whole are not written again. Reads the whole
    /// file; returns how many were appended.
    pub fn append_missing(&self, items: &[QueueItem]) -> Result<usize, QueueError> {
        self.locked(|| {
            let present = match file::open(&self.path, Mode::Read)? {
                Some(mut queue) => file::read_from(&mut queue, 0, &self.path)?,
                None => Vec::new(),
            };
            let ids: std::collections::HashSet<String> = item::lines_at(&present, 0)
                .filter(|(_, bytes, len)| bytes.len() as u64 + 1 == *len)
                .filter_map(|(_, bytes, _)| match item::parse_line(bytes, 0) {
                    Some(Line::Item(item)) => Some(item.id),
                    _ => None,
                })
                .collect();
            let missing: Vec<&QueueItem> = items.iter().filter(|i| !ids.contains(&i.id)).collect();
            self.append_locked(missing.iter().copied())?;
            Ok(missing.len())
        })
    }

    fn append_locked<'a>(
        &self,
        items: impl IntoIterator<Item = &'a QueueItem>,
    ) -> Result<(), QueueError> {
        let mut buf = Vec::new();
        let mut queue = file::open(&self.path, Mode::Create)?
            .ok_or_else(|| file::io("open", &self.path)(std::io::ErrorKind::NotFound.into()))?;
        let len = queue
            .metadata()
            .map_err(file::io("inspect", &self.path))?
            .len();
        // A torn last line (a crash, or a cut that failed) gets its own line, never ours.
        if !matches!(
            file::last_byte(&mut queue, len, &self.path)?,
            None | Some(b'\n')
        ) {
            buf.push(b'\n');
        }
        let start = buf.len();
        buf.extend(item::encode(items));
        if buf.len() == start {
            return Ok(());
        }
        file::append_at(&mut queue, len, &buf, &self.path)
    }

    /// How many items are in the queue (waiting or leased): what the `max_items` bound
    /// counts. Reads what takes have not read yet.
    pub fn count(&self) -> Result<usize, QueueError> {
        self.shared(|| {
            let Some(mut queue) = file::open(&self.path, Mode::Read)? else {
                return Ok(0);
            };
            let len = queue
                .metadata()
                .map_err(file::io("inspect", &self.path))?
                .len();
            let ledger = leases::Ledger::load(&self.leases_path, leases::identity(&queue), len)?;
            let state = &ledger.leases;
            let mut lines = file::Lines::from(&mut queue, state.scan, &self.path)?;
            let mut ahead = 0;
            while let Some(file::RawLine { at, bytes, .. }) = lines.next_line()? {
                if !item::is_blank(bytes) && !state.acked.contains_key(&at) {
                    ahead += 1;
                }
            }
            Ok(state.leased.len() + ahead)
        })
    }

    /// Write `items` to the archive, rotating it at its size cap (`[queue]
    /// archive_max_bytes`, `archive_keep` files kept); with a cap of 0 they are not kept.
    pub fn archive(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        if items.is_empty() || self.archive_max_bytes == 0 {
            return Ok(());
        }
        self.locked(|| {
            archive::write(
                &self.archive_path,
                items,
                self.archive_max_bytes,
                self.archive_keep,
            )
        })
    }
}
