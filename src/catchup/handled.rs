//! Which messages were already handled, across the socket, the history and restarts: the one
//! place that says "this id gets its decision now" exactly once.
//!
//! The ids live in memory (the newest few thousand) and in `handled.jsonl` in the state dir,
//! one `{"id", "ts"}` line per handled message, appended with one `write` each: it survives a
//! SIGKILL (the page cache outlives the process) at the cost of a system call, not an fsync.
//! The file is synced once a second by the daemon's tick and rewritten, atomically, to the
//! newest [`KEPT_ON_DISK`] lines when it has grown to twice that; those lines are read back
//! from the file itself, so memory holds no string per id (a flood's would pin heap pages).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::event::{ChatEvent, Seen};

/// How many recent ids are remembered in memory to drop repeats (server repeats after a
/// reconnect, history copies of what the socket delivered).
const KEPT_IN_MEMORY: usize = 4096;
/// How many of the newest handled ids the file keeps when it is rewritten.
pub const KEPT_ON_DISK: usize = 1024;
/// A file larger than this is not ours to trust: the listener starts as if fresh.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// One handled message: its id (empty for a time-only baseline) and when it was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The message id, as [`ChatEvent::id`].
    pub id: String,
    /// When it was said, epoch ms.
    pub ts: i64,
}

impl Mark {
    /// The mark of `event`.
    pub fn of(event: &ChatEvent) -> Self {
        Self {
            id: event.id.clone(),
            ts: event.ts,
        }
    }
}

/// The handled ids, shared by the personality thread (which records them) and the catch-up
/// task (which asks what is already handled).
#[derive(Debug)]
pub struct Handled {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    seen: Seen,
    /// The mark with the latest `ts` ever handled (the cursor).
    newest: Option<Mark>,
    file: Option<Disk>,
}

#[derive(Debug)]
struct Disk {
    path: PathBuf,
    append: File,
    lines: usize,
    /// Appended since the last sync.
    dirty: bool,
    /// A write failed and was reported; quiet until one succeeds again.
    failing: bool,
}

/// What [`Handled::open`] found wrong in the file; the listener starts anyway.
#[derive(Debug, Default)]
pub struct OpenReport {
    /// Lines that were not a handled mark (a torn last line after a power cut, an edit).
    pub bad_lines: Vec<usize>,
    /// Why the file was not read at all (too large, not a regular file, not text).
    pub unreadable: Option<String>,
}

impl Handled {
    /// Nothing handled yet, nothing kept on disk (tests, `try`, the benchmark).
    pub fn in_memory() -> Self {
        Self {
            inner: Mutex::new(Inner {
                seen: Seen::new(KEPT_IN_MEMORY),
                newest: None,
                file: None,
            }),
        }
    }

    /// Load `path` (missing: a fresh start) and keep appending to it.
    pub fn open(path: &Path) -> std::io::Result<(Self, OpenReport)> {
        let mut report = OpenReport::default();
        let text = match crate::files::read_small(path, MAX_FILE_BYTES) {
            Ok((text, _)) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                report.unreadable = Some(e.to_string());
                String::new()
            }
        };
        let handled = Self::in_memory();
        let mut lines = 0;
        {
            let mut inner = handled.lock();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                lines += 1;
                match serde_json::from_str::<Mark>(line) {
                    Ok(mark) => inner.remember(mark),
                    Err(_) => report.bad_lines.push(n + 1),
                }
            }
            if report.unreadable.is_some() {
                // Replace what cannot be read rather than append to it.
                crate::files::write_replacing(path, b"")?;
            }
            inner.file = Some(Disk {
                path: path.to_path_buf(),
                append: crate::files::open_append(path)?,
                lines,
                dirty: false,
                failing: false,
            });
        }
        Ok((handled, report))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section is a few pushes and a write: a panic cannot leave it half done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record `event` as handled now; false when it already was (drop it). Written to the
    /// file before returning, so a crash after the decision cannot make it new again.
    pub fn first_time(&self, event: &ChatEvent) -> bool {
        let mut inner = self.lock();
        if inner.seen.contains(&event.id) {
            return false;
        }
        let mark = Mark::of(event);
        inner.append(&mark);
        inner.remember(mark);
        true
    }

    /// Record where to catch up from when nothing was handled there: a fresh start's
    /// baseline, a time-only mark (empty id) that no message can match.
    pub fn baseline(&self, mark: Mark) {
        let mut inner = self.lock();
        inner.append(&mark);
        inner.remember(mark);
    }

    /// Whether the message with `id` was handled (among the newest remembered).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().seen.contains(id)
    }

    /// The newest message handled so far: where a catch-up reads back to. `None` on a fresh
    /// state dir.
    pub fn newest(&self) -> Option<Mark> {
        self.lock().newest.clone()
    }

    /// Sync what was appended since the last call (once a second is cheap), and rewrite the
    /// file to its newest lines when it has grown to twice that.
    pub fn sync(&self) {
        let mut inner = self.lock();
        let Inner { newest, file, .. } = &mut *inner;
        let Some(disk) = file else { return };
        if disk.lines >= 2 * KEPT_ON_DISK {
            disk.rewrite(newest.as_ref());
        } else if disk.dirty {
            if let Err(e) = disk.append.sync_data() {
                tracing::warn!("cannot sync {}: {e}", disk.path.display());
            }
            disk.dirty = false;
        }
    }
}

impl Inner {
    fn remember(&mut self, mark: Mark) {
        if !mark.id.is_empty() {
            self.seen.insert(&mark.id);
        }
        if self
            .newest
            .as_ref()
            .is_none_or(|newest| mark.ts >= newest.ts)
        {
            self.newest = Some(mark);
        }
    }

    fn append(&mut self, mark: &Mark) {
        let Some(disk) = &mut self.file else { return };
        let mut line = serde_json::to_string(mark).unwrap_or_default();
        line.push('\n');
        match disk.append.write_all(line.as_bytes()) {
            Ok(()) => {
                disk.lines += 1;
                disk.dirty = true;
                disk.failing = false;
            }
            Err(e) if !disk.failing => {
                disk.failing = true;
                tracing::warn!(
                    "cannot write {}: {e}; messages handled now may be handled again after a restart",
                    disk.path.display()
                );
            }
            Err(_) => {}
        }
    }
}

impl Disk {
    /// Replace the file with its newest [`KEPT_ON_DISK`] marks (after the newest of all, so
    /// the cursor is kept even when it was handled long ago), synced, and append to the new one.
    fn rewrite(&mut self, newest: Option<&Mark>) {
        let text = match crate::files::read_small(&self.path, MAX_FILE_BYTES) {
            Ok((text, _)) => text,
            Err(e) => {
                tracing::warn!("cannot read {} to rewrite it: {e}", self.path.display());
                return;
            }
        };
        // The last lines that are marks, oldest first: only those are parsed.
        let mut recent: Vec<Mark> = text
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str(line).ok())
            .take(KEPT_ON_DISK)
            .collect();
        recent.reverse();
        let mut text = String::new();
        let older_newest = newest.filter(|n| !recent.contains(n));
        for mark in older_newest.into_iter().chain(&recent) {
            text.push_str(&serde_json::to_string(mark).unwrap_or_default());
            text.push('\n');
        }
        let reopened = crate::files::write_replacing(&self.path, text.as_bytes())
            .map_err(std::io::Error::from)
            .and_then(|()| crate::files::open_append(&self.path));
        match reopened {
            Ok(file) => {
                self.append = file;
                self.lines = recent.len() + usize::from(older_newest.is_some());
                self.dirty = false;
            }
            Err(e) => tracing::warn!("cannot rewrite {}: {e}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ts: i64) -> ChatEvent {
        ChatEvent {
            id: id.into(),
            ts,
            ..ChatEvent::default()
        }
    }

    #[test]
    fn an_id_is_handled_once_and_the_newest_is_by_time() {
        let handled = Handled::in_memory();
        assert!(handled.first_time(&event("a", 20)));
        assert!(!handled.first_time(&event("a", 20)));
        assert!(handled.first_time(&event("b", 10)));
        assert_eq!(handled.newest().map(|m| m.id), Some("a".into()));
        assert!(handled.contains("b") && !handled.contains("c"));
    }

    #[test]
    fn a_restart_remembers_what_was_handled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("handled.jsonl");
        let (handled, _) = Handled::open(&path).expect("open");
        assert_eq!(handled.newest(), None);
        handled.first_time(&event("a", 1));
        handled.first_time(&event("b", 2));
        drop(handled);
        let (again, report) = Handled::open(&path).expect("reopen");
        assert!(report.bad_lines.is_empty());
        assert!(!again.first_time(&event("a", 1)));
        assert_eq!(
            again.newest(),
            Some(Mark {
                id: "b".into(),
                ts: 2
            })
        );
    }

    #[test]
    fn bad_lines_are_named_and_the_rest_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("handled.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"a\",\"ts\":5}\nnot json\n{\"id\":\"b\",\"ts\"",
        )
        .expect("write");
        let (handled, report) = Handled::open(&path).expect("open");
        assert_eq!(report.bad_lines, vec![2, 3]);
        assert!(handled.contains("a"));
        assert_eq!(handled.newest().map(|m| m.ts), Some(5));
    }

    #[test]
    fn the_file_is_rewritten_to_its_newest_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("handled.jsonl");
        let (handled, _) = Handled::open(&path).expect("open");
        for n in 0..(2 * KEPT_ON_DISK as i64 + 10) {
            handled.first_time(&event(&format!("m{n}"), n));
        }
        handled.sync();
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert_eq!(lines, KEPT_ON_DISK);
        let (again, _) = Handled::open(&path).expect("reopen");
        assert!(again.contains(&format!("m{}", 2 * KEPT_ON_DISK + 9)));
        assert!(!again.contains("m0"));
    }

    #[test]
    fn a_flood_leaves_no_string_per_id() {
        // 200,000 messages through the in-memory part: what stays is the dedupe's tables of
        // hashes and the newest mark (74 kB), not also a copy of the last 1,024 ids (115 kB).
        let handled = Handled::in_memory();
        let before = crate::script::held_bytes();
        for n in 0..200_000 {
            handled.first_time(&event(&format!("f-{n}"), n));
        }
        let held = crate::script::held_bytes() - before;
        assert!(held <= 90_000, "{held} bytes held");
    }

    #[test]
    fn an_unreadable_file_starts_fresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("handled.jsonl");
        std::fs::write(&path, [0xff, 0xfe, b'\n']).expect("write");
        let (handled, report) = Handled::open(&path).expect("open");
        assert!(report.unreadable.is_some());
        assert_eq!(handled.newest(), None);
        handled.first_time(&event("a", 1));
        assert!(
            std::fs::read_to_string(&path)
                .expect("utf-8 now")
                .contains("\"a\"")
        );
    }
}
