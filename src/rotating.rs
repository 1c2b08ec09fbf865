//! A JSON-lines file written off the hot path and rotated by size: the decision log and the
//! transcript. The producer's end ([`Feed`]) only hands a record to a bounded channel (it
//! never blocks; when the writer falls behind the record is dropped and counted); [`run`]
//! writes batches from a blocking worker, each with one `write` on an `O_APPEND` file, so
//! other processes appending whole lines to the same file never tear ours or theirs.
//! No fsync: losing the last lines in a crash is fine for these files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::health::{Counter, Counters, Health};

/// Records waiting for the writer before new ones are dropped.
const CAPACITY: usize = 4096;
/// Most records written with one `write`.
const MAX_BATCH: usize = 512;

/// How big the file may grow, and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file grows past this many bytes (a longer line gets a file of its own).
    pub max_bytes: u64,
    /// Rotated files kept (`<stem>.1.<ext>` is the newest).
    pub keep: usize,
}

/// The producers' end of a log: cheap to clone, never blocks.
#[derive(Debug)]
pub struct Feed<T> {
    /// `None`: the log is off.
    inner: Option<Inner<T>>,
}

#[derive(Debug)]
struct Inner<T> {
    tx: mpsc::Sender<T>,
    health: Arc<Health>,
    dropped: fn(&Counters) -> &Counter,
}

impl<T> Clone for Feed<T> {
    fn clone(&self) -> Self {
        let inner = self.inner.as_ref().map(|inner| Inner {
            tx: inner.tx.clone(),
            health: inner.health.clone(),
            dropped: inner.dropped,
        });
        Self { inner }
    }
}

impl<T> Feed<T> {
    /// A feed whose records go to the returned receiver (give it to [`run`]); records dropped
    /// because the writer fell behind are counted in the counter `dropped` picks.
    pub fn channel(
        health: Arc<Health>,
        dropped: fn(&Counters) -> &Counter,
    ) -> (Self, mpsc::Receiver<T>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let inner = Inner {
            tx,
            health,
            dropped,
        };
        (Self { inner: Some(inner) }, rx)
    }

    /// A feed that records nothing (the log is off).
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Hand one record to the writer; when it is too far behind, drop it and count it. The
    /// record is only built when the log is on: it copies the message, per event.
    pub fn send(&self, make: impl FnOnce() -> T) {
        if let Some(inner) = &self.inner
            && let Err(mpsc::error::TrySendError::Full(_)) = inner.tx.try_send(make())
        {
            (inner.dropped)(&inner.health.counters).inc();
        }
    }
}

/// Write records as they come, in batches, until every [`Feed`] is dropped.
pub async fn run<T: Serialize + Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    path: PathBuf,
    rotation: Rotation,
) {
    let mut writer = Writer::new(path, rotation);
    let mut failing = false;
    loop {
        let mut batch = Vec::new();
        if !crate::batch::recv(&mut rx, &mut batch, MAX_BATCH).await {
            return;
        }
        let done = tokio::task::spawn_blocking(move || {
            let result = writer.write(&batch);
            (writer, result)
        })
        .await;
        let Ok((back, result)) = done else { return };
        writer = back;
        match result {
            // One warning per run of failures: a full disk must not flood the log.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!("cannot write {}: {e}", writer.path.display());
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
    }
}

/// The file and its rotated predecessors.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    rotation: Rotation,
    file: Option<File>,
    size: u64,
}

impl Writer {
    pub(crate) fn new(path: PathBuf, rotation: Rotation) -> Self {
        Self {
            path,
            rotation,
            file: None,
            size: 0,
        }
    }

    /// Append `batch`, rotating first whenever the next line would pass `max_bytes`. A line
    /// longer than `max_bytes` gets a file of its own.
    pub(crate) fn write<T: Serialize>(&mut self, batch: &[T]) -> std::io::Result<()> {
        self.follow_the_path()?;
        let mut pending = Vec::new();
        for record in batch {
            let mut line = serde_json::to_vec(record)?;
            line.push(b'\n');
            let after = self.size + (pending.len() + line.len()) as u64;
            if after > self.rotation.max_bytes && self.size + pending.len() as u64 > 0 {
                self.flush(&mut pending)?;
                self.rotate()?;
            }
            pending.extend_from_slice(&line);
        }
        self.flush(&mut pending)
    }

    /// Others append to the file too (`retake-chat reply`), and a person may move or delete
    /// it: take its size from the path, and reopen when the path is another file now.
    fn follow_the_path(&mut self) -> std::io::Result<()> {
        if let Some(file) = &self.file {
            match (std::fs::metadata(&self.path), file.metadata()) {
                (Ok(path), Ok(open)) if same_file(&path, &open) => {
                    self.size = path.len();
                    return Ok(());
                }
                _ => self.file = None,
            }
        }
        self.open()
    }

    fn open(&mut self) -> std::io::Result<()> {
        let mut file = crate::files::open_append(&self.path)?;
        self.size = file.metadata()?.len();
        // A line cut short by a crash would swallow the next one: end it first.
        if self.size > 0 && !ends_with_newline(&self.path, self.size)? {
            file.write_all(b"\n")?;
            self.size += 1;
        }
        self.file = Some(file);
        Ok(())
    }

    fn flush(&mut self, pending: &mut Vec<u8>) -> std::io::Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.open()?;
        }
        let file = self.file.as_mut().ok_or(std::io::ErrorKind::NotFound)?;
        if let Err(e) = file.write_all(pending) {
            // Reopen next time: the file may have been moved or the disk filled.
            self.file = None;
            pending.clear();
            return Err(e);
        }
        self.size += pending.len() as u64;
        pending.clear();
        Ok(())
    }

    /// `log.jsonl` → `log.1.jsonl` → … → `log.<keep>.jsonl` (dropped next time).
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        rotate_files(&self.path, self.rotation.keep)?;
        self.open()
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    true
}

/// Whether the file at `path`, `size` bytes long, ends with a newline.
pub(crate) fn ends_with_newline(path: &Path, size: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(size - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Shift `path` to `<stem>.1.<ext>`, `.1` to `.2`, … keeping at most `keep` rotated files (the
/// oldest is overwritten; with 0, `path` is removed). The queue's archive rotates the same way.
pub fn rotate_files(path: &Path, keep: usize) -> std::io::Result<()> {
    for n in (1..keep).rev() {
        rename_if_exists(&rotated(path, n), &rotated(path, n + 1))?;
    }
    if keep > 0 {
        rename_if_exists(path, &rotated(path, 1))?;
    } else if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(e);
    }
    Ok(())
}

/// `decisions.jsonl` numbered `n`: `decisions.<n>.jsonl`.
pub fn rotated(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path.extension().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.{n}.{ext}"))
}

fn rename_if_exists(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Record {
        id: String,
    }

    fn ids(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].to_string())
            .collect()
    }

    #[test]
    fn rotates_by_size_and_keeps_at_most_keep_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.jsonl");
        let record = |i: usize| Record {
            id: format!("m{i:02}"),
        };
        let line_len = serde_json::to_vec(&record(0)).expect("json").len() as u64 + 1;
        let rotation = Rotation {
            max_bytes: line_len * 2,
            keep: 2,
        };
        let mut writer = Writer::new(path.clone(), rotation);
        let batch: Vec<Record> = (0..9).map(record).collect();
        writer.write(&batch[..4]).expect("write");
        writer.write(&batch[4..]).expect("write");
        assert_eq!(ids(&path), ["\"m08\""]);
        assert_eq!(ids(&rotated(&path, 1)), ["\"m06\"", "\"m07\""]);
        assert_eq!(ids(&rotated(&path, 2)), ["\"m04\"", "\"m05\""]);
        assert!(!rotated(&path, 3).exists());
    }

    /// Lines another process appended count toward the size; a torn last line is ended
    /// before ours; a file moved away is replaced by a new one at the path.
    #[test]
    fn follows_other_writers_torn_lines_and_a_moved_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, "{\"id\":\"torn").expect("seed");
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 1,
        };
        let mut writer = Writer::new(path.clone(), rotation);
        writer.write(&[Record { id: "a".into() }]).expect("write");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"id\":\"torn\n{\"id\":\"a\"}\n"
        );
        // Another process fills the file almost to the limit: the next line rotates it.
        let other = "x".repeat(980);
        let mut file = crate::files::open_append(&path).expect("open");
        file.write_all(format!("{{\"id\":\"{other}\"}}\n").as_bytes())
            .expect("append");
        writer.write(&[Record { id: "b".into() }]).expect("write");
        assert_eq!(ids(&path), ["\"b\""]);
        std::fs::rename(&path, dir.path().join("moved.jsonl")).expect("move");
        writer.write(&[Record { id: "c".into() }]).expect("write");
        assert_eq!(ids(&path), ["\"c\""]);
    }

    #[test]
    fn rotated_names_keep_the_extension() {
        let path = Path::new("/state/decisions.jsonl");
        assert_eq!(rotated(path, 2), Path::new("/state/decisions.2.jsonl"));
    }
}
