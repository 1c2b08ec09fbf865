//! The decision log: one JSON line per decided event in `decisions.jsonl`, so a streamer can
//! see afterwards why the bot said what it said (which message, which script version, what came
//! out, how long it took).
//!
//! The personality thread only hands a [`Record`] to a bounded channel ([`DecisionLog::record`]
//! never blocks, and drops and counts when the writer falls behind); [`run`] writes batches from
//! a blocking worker and rotates by size. No fsync: losing the last lines in a crash is fine.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::DecisionsConfig;
use crate::event::ChatEvent;
use crate::health::Health;
use crate::script::Decision;

/// Records waiting for the writer before new ones are dropped.
const CAPACITY: usize = 4096;
/// Most records written with one `write`.
const MAX_BATCH: usize = 512;

/// One decided event, as one line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// When the decision was made, epoch ms.
    pub ts: i64,
    /// The message id.
    pub id: String,
    /// The viewer's display name.
    pub author: String,
    /// `message`, `tip` or `trade`.
    pub kind: String,
    /// What the viewer wrote.
    pub message: String,
    /// `reply`, `ack`, `queue` or `ignore`.
    pub decision: &'static str,
    /// The reply or acknowledgement text, for `reply` and `ack`.
    pub text: Option<String>,
    /// Why the decision is not the personality's own: it failed (the message was queued),
    /// it was not asked (a flood), or its reply came too late (a late message).
    pub error: Option<String>,
    /// Read from the chat history after the socket missed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// The personality's version (a hash of its source).
    pub script_version: String,
    /// How long the personality took, microseconds.
    pub micros: u64,
}

impl Record {
    /// The record of `decision` on `event`, made by script `version` in `took`.
    pub fn new(
        event: &ChatEvent,
        decision: &Decision,
        version: &str,
        took: Duration,
        error: Option<String>,
    ) -> Self {
        let (name, text) = match decision {
            Decision::Reply(text) => ("reply", Some(text.clone())),
            Decision::Ack(text) => ("ack", Some(text.clone())),
            Decision::Queue => ("queue", None),
            Decision::Ignore => ("ignore", None),
        };
        Self {
            ts: crate::health::now_ms(),
            id: event.id.clone(),
            author: event.author.clone(),
            kind: event.kind.clone(),
            message: event.text.clone(),
            decision: name,
            text,
            error,
            late: event.late,
            script_version: version.to_string(),
            micros: took.as_micros().try_into().unwrap_or(u64::MAX),
        }
    }
}

/// The personality's end of the log; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    tx: Option<mpsc::Sender<Record>>,
    health: Arc<Health>,
}

impl DecisionLog {
    /// A log whose records go to the returned receiver (give it to [`run`]).
    pub fn channel(health: Arc<Health>) -> (Self, mpsc::Receiver<Record>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        (
            Self {
                tx: Some(tx),
                health,
            },
            rx,
        )
    }

    /// A log that records nothing (`[decisions] max_bytes = 0`).
    pub fn disabled(health: Arc<Health>) -> Self {
        Self { tx: None, health }
    }

    /// Hand one record to the writer; when it is too far behind, drop it and count it. The
    /// record is only built when the log is on: it copies the message, per event.
    pub fn record(&self, make: impl FnOnce() -> Record) {
        if let Some(tx) = &self.tx
            && let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(make())
        {
            self.health.counters.decisions_dropped.inc();
        }
    }
}

/// Write records as they come, in batches, until every [`DecisionLog`] is dropped.
pub async fn run(mut rx: mpsc::Receiver<Record>, path: PathBuf, config: DecisionsConfig) {
    let mut writer = Writer::new(path, config);
    let mut failing = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
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

/// `decisions.jsonl` and its rotated predecessors.
#[derive(Debug)]
struct Writer {
    path: PathBuf,
    config: DecisionsConfig,
    file: Option<File>,
    size: u64,
}

impl Writer {
    fn new(path: PathBuf, config: DecisionsConfig) -> Self {
        Self {
            path,
            config,
            file: None,
            size: 0,
        }
    }

    /// Append `batch`, rotating first whenever the next line would pass `max_bytes`. A line
    /// longer than `max_bytes` gets a file of its own.
    fn write(&mut self, batch: &[Record]) -> std::io::Result<()> {
        let mut pending = Vec::new();
        for record in batch {
            let mut line = serde_json::to_vec(record)?;
            line.push(b'\n');
            if self.file.is_none() {
                self.open()?;
            }
            let after = self.size + (pending.len() + line.len()) as u64;
            if after > self.config.max_bytes && self.size + pending.len() as u64 > 0 {
                self.flush(&mut pending)?;
                self.rotate()?;
            }
            pending.extend_from_slice(&line);
        }
        self.flush(&mut pending)
    }

    fn open(&mut self) -> std::io::Result<()> {
        let file = crate::files::open_append(&self.path)?;
        self.size = file.metadata()?.len();
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

    /// `decisions.jsonl` → `decisions.1.jsonl` → … → `decisions.<keep>.jsonl` (dropped next time).
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        rotate_files(&self.path, self.config.keep)?;
        self.open()
    }
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

    fn record(id: &str) -> Record {
        Record {
            ts: 1,
            id: id.into(),
            author: "alice".into(),
            kind: "message".into(),
            message: "gm".into(),
            decision: "reply",
            text: Some("gm alice".into()),
            error: None,
            late: false,
            script_version: "0123456789abcdef".into(),
            micros: 12,
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_at_most_keep_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("decisions.jsonl");
        let line_len = serde_json::to_vec(&record("m00")).expect("json").len() as u64 + 1;
        let config = DecisionsConfig {
            max_bytes: line_len * 2,
            keep: 2,
        };
        let mut writer = Writer::new(path.clone(), config);
        let batch: Vec<Record> = (0..9).map(|i| record(&format!("m{i:02}"))).collect();
        writer.write(&batch[..4]).expect("write");
        writer.write(&batch[4..]).expect("write");
        let ids = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).expect("json")["id"].to_string()
                })
                .collect()
        };
        assert_eq!(ids(&path), ["\"m08\""]);
        assert_eq!(ids(&rotated(&path, 1)), ["\"m06\"", "\"m07\""]);
        assert_eq!(ids(&rotated(&path, 2)), ["\"m04\"", "\"m05\""]);
        assert!(!rotated(&path, 3).exists());
    }

    #[test]
    fn rotated_names_keep_the_extension() {
        let path = Path::new("/state/decisions.jsonl");
        assert_eq!(rotated(path, 2), Path::new("/state/decisions.2.jsonl"));
    }
}
