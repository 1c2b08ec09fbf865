//! The durable queue of messages for the agent: `queue.jsonl`, one JSON object per line.
//!
//! Every operation holds an exclusive lock on `queue.lock`, so the listener appending and
//! the agent's `queue take` / `queue ack` can run at the same moment without losing or
//! double-handing an item. Appends write a whole batch and fsync once; rewrites (take, ack,
//! overflow) write a temp file, fsync and rename, so a kill at any instant leaves either the
//! old file or the new one. Lines that do not parse are kept verbatim, never dropped.

use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::ChatEvent;

/// One message waiting for the agent. `id`, `author`, `text` and `ts` are what the seed's
/// agent loop reads; the rest is extra context and lease bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// The message id (unique; lets the agent drop a repeat).
    #[serde(default)]
    pub id: String,
    /// Who wrote it.
    #[serde(default)]
    pub author: String,
    /// What they wrote.
    #[serde(default)]
    pub text: String,
    /// When they wrote it, epoch ms.
    #[serde(default)]
    pub ts: i64,
    /// `message`, `tip` or `trade`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// The author's platform id, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author_id: String,
    /// The author's wallet, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wallet: String,
    /// Tip or trade amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// When it was queued, epoch ms.
    #[serde(default)]
    pub queued_at: i64,
    /// While taken by the agent: when the lease ends (epoch ms) and the item is handed out again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leased_until: Option<i64>,
    /// How many times the item has been taken (more than 1: a repeat the agent may drop).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn default_kind() -> String {
    "message".to_string()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl QueueItem {
    /// The queue line for a viewer event.
    pub fn from_event(event: &ChatEvent, queued_at: i64) -> Self {
        Self {
            id: event.id.clone(),
            author: event.author.clone(),
            text: event.text.clone(),
            ts: event.ts,
            kind: event.kind.clone(),
            author_id: event.author_id.clone(),
            wallet: event.wallet.clone(),
            amount: event.amount,
            queued_at,
            leased_until: None,
            attempts: 0,
        }
    }

    /// Waiting to be taken at `now_ms`: never leased, or its lease ran out.
    pub fn is_pending(&self, now_ms: i64) -> bool {
        self.leased_until.is_none_or(|until| until <= now_ms)
    }
}

/// Why a queue operation failed; names the file and the action.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {cause}")]
pub struct QueueError {
    action: &'static str,
    path: PathBuf,
    // Part of the message, so not a separate `source` (the chain would print it twice).
    cause: std::io::Error,
}

/// One line of the file: an item, or text we could not read, kept as it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A queue item.
    Item(QueueItem),
    /// A line that is not a queue item, preserved on every rewrite.
    Unreadable {
        /// The line as it is in the file.
        text: String,
        /// Why it is not an item.
        why: String,
        /// Its line number when read (1-based).
        line: usize,
    },
}

/// Counts for health and `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Items waiting to be taken.
    pub pending: usize,
    /// Items taken and not yet acknowledged, lease still running.
    pub leased: usize,
    /// `ts` of the oldest pending item (epoch ms).
    pub oldest_pending: Option<i64>,
    /// When the longest-waiting pending item was queued (epoch ms).
    pub oldest_queued: Option<i64>,
    /// Lines that are not queue items.
    pub unreadable: usize,
}

/// The queue file, its lock and its archive.
#[derive(Debug, Clone)]
pub struct Queue {
    path: PathBuf,
    lock_path: PathBuf,
    archive_path: PathBuf,
}

impl Queue {
    /// The queue at `path` (`queue.jsonl`), locked through `queue.lock` beside it; items
    /// pushed out by the size bound go to `queue.archive.jsonl`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Self {
            lock_path: path.with_file_name("queue.lock"),
            archive_path: path.with_file_name("queue.archive.jsonl"),
            path,
        }
    }

    /// The queue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive file.
    pub fn archive_path(&self) -> &Path {
        &self.archive_path
    }

    fn err(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
        move |cause| QueueError {
            action,
            path: self.path.clone(),
            cause,
        }
    }

    /// Hold the queue's exclusive lock while `f` runs. Blocks: call from a blocking context.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T, QueueError>) -> Result<T, QueueError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(self.err("create the directory of"))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(self.err("open the lock file of"))?;
        // Released when `lock` is closed, also if this process is killed.
        lock.lock().map_err(self.err("lock"))?;
        f()
    }

    /// Make the file safe to append to after a crash: if the last line was torn (no final
    /// newline), end it, so it stays one unreadable line (kept, reported) instead of
    /// corrupting the next item. Returns true when it repaired something. Never truncates.
    pub fn repair(&self) -> Result<bool, QueueError> {
        self.locked(|| {
            let mut file = match OpenOptions::new().read(true).append(true).open(&self.path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(self.err("open")(e)),
            };
            let len = file.metadata().map_err(self.err("inspect"))?.len();
            if len == 0 {
                return Ok(false);
            }
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map_err(self.err("read"))?;
            if last[0] == b'\n' {
                return Ok(false);
            }
            file.write_all(b"\n")
                .and_then(|()| file.sync_data())
                .map_err(self.err("repair"))?;
            Ok(true)
        })
    }

    /// Append `items` as one batch and fsync before returning.
    pub fn append(&self, items: &[QueueItem]) -> Result<(), QueueError> {
        if items.is_empty() {
            return Ok(());
        }
        let buf = encode(items.iter());
        self.locked(|| {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(self.err("open"))?;
            file.write_all(&buf).map_err(self.err("append to"))?;
            file.sync_data().map_err(self.err("fsync"))
        })
    }

    /// Every line of the file, in order (empty when the file does not exist).
    pub fn read(&self) -> Result<Vec<Line>, QueueError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.err("read")(e)),
        };
        Ok(parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Every readable item in file order, with a note per unreadable line naming file and line.
    pub fn read_all(&self) -> Result<(Vec<QueueItem>, Vec<String>), QueueError> {
        let mut items = Vec::new();
        let mut problems = Vec::new();
        for line in self.read()? {
            match line {
                Line::Item(item) => items.push(item),
                Line::Unreadable { why, line, .. } => problems.push(format!(
                    "{}:{line}: not a queue item ({why}); left in place",
                    self.path.display(),
                )),
            }
        }
        Ok((items, problems))
    }

    /// Counts of pending and leased items at `now_ms`.
    pub fn stats(&self, now_ms: i64) -> Result<QueueStats, QueueError> {
        let mut stats = QueueStats::default();
        for line in self.read()? {
            match line {
                Line::Item(item) if item.is_pending(now_ms) => {
                    stats.pending += 1;
                    let queued = if item.queued_at > 0 {
                        item.queued_at
                    } else {
                        item.ts
                    };
                    stats.oldest_pending =
                        Some(stats.oldest_pending.map_or(item.ts, |t| t.min(item.ts)));
                    stats.oldest_queued =
                        Some(stats.oldest_queued.map_or(queued, |t| t.min(queued)));
                }
                Line::Item(_) => stats.leased += 1,
                Line::Unreadable { .. } => stats.unreadable += 1,
            }
        }
        Ok(stats)
    }

    /// Claim up to `max` pending items for `lease_ms`: they are not handed out again until the
    /// lease ends, unless acknowledged first. Returns them in queue order.
    pub fn take(
        &self,
        max: usize,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<QueueItem>, QueueError> {
        self.locked(|| {
            let mut lines = self.read()?;
            let mut taken = Vec::new();
            for line in &mut lines {
                if taken.len() >= max {
                    break;
                }
                if let Line::Item(item) = line
                    && item.is_pending(now_ms)
                {
                    item.leased_until = Some(now_ms + lease_ms);
                    item.attempts += 1;
                    taken.push(item.clone());
                }
            }
            if !taken.is_empty() {
                self.rewrite(&lines)?;
            }
            Ok(taken)
        })
    }

    /// Remove the items with these ids. Returns the ids that were not in the queue (already
    /// acknowledged, or never there): acknowledging twice is harmless.
    pub fn ack(&self, ids: &[String]) -> Result<Vec<String>, QueueError> {
        self.locked(|| {
            let lines = self.read()?;
            let before = lines.len();
            let mut found = vec![false; ids.len()];
            let kept: Vec<Line> = lines
                .into_iter()
                .filter(|line| match line {
                    Line::Item(item) => match ids.iter().position(|id| *id == item.id) {
                        Some(i) => {
                            found[i] = true;
                            false
                        }
                        None => true,
                    },
                    Line::Unreadable { .. } => true,
                })
                .collect();
            if kept.len() != before {
                self.rewrite(&kept)?;
            }
            Ok(ids
                .iter()
                .zip(found)
                .filter(|(_, found)| !found)
                .map(|(id, _)| id.clone())
                .collect())
        })
    }

    /// Keep at most `max_items` items: move the oldest beyond that to the archive (appended
    /// and fsynced first, so a crash in between duplicates rather than loses). Returns how
    /// many were moved and how many items remain.
    pub fn enforce_limit(&self, max_items: usize) -> Result<(usize, usize), QueueError> {
        self.locked(|| {
            let lines = self.read()?;
            let items = lines.iter().filter(|l| matches!(l, Line::Item(_))).count();
            if items <= max_items {
                return Ok((0, items));
            }
            let mut excess = items - max_items;
            let mut moved = Vec::with_capacity(excess);
            let kept: Vec<Line> = lines
                .into_iter()
                .filter(|line| match line {
                    Line::Item(item) if excess > 0 => {
                        excess -= 1;
                        moved.push(item.clone());
                        false
                    }
                    _ => true,
                })
                .collect();
            let mut archive = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.archive_path)
                .map_err(self.err("open the archive of"))?;
            archive
                .write_all(&encode(moved.iter()))
                .and_then(|()| archive.sync_data())
                .map_err(self.err("archive items of"))?;
            self.rewrite(&kept)?;
            Ok((moved.len(), max_items))
        })
    }

    /// Replace the file with `lines`: temp file, fsync, rename, fsync the directory.
    fn rewrite(&self, lines: &[Line]) -> Result<(), QueueError> {
        let tmp = self.path.with_file_name("queue.jsonl.tmp");
        let mut buf = Vec::new();
        for line in lines {
            match line {
                Line::Item(item) => buf.extend_from_slice(&encode(std::iter::once(item))),
                Line::Unreadable { text, .. } => {
                    buf.extend_from_slice(text.as_bytes());
                    buf.push(b'\n');
                }
            }
        }
        let mut file = File::create(&tmp).map_err(self.err("create a temp file for"))?;
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(self.err("write a temp file for"))?;
        std::fs::rename(&tmp, &self.path).map_err(self.err("replace"))?;
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = File::open(dir)
        {
            // Makes the rename itself durable; not all platforms allow it, hence no error.
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Items as JSON lines.
fn encode<'a>(items: impl Iterator<Item = &'a QueueItem>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    for item in items {
        // A struct of strings and numbers always serializes.
        if serde_json::to_writer(&mut buf, item).is_ok() {
            buf.push(b'\n');
        }
    }
    buf
}

/// Parse queue text into lines. Blank lines (the seed's `echo "" >` leaves one) are dropped;
/// anything else that is not an item is kept as [`Line::Unreadable`].
pub fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(
            |(index, line)| match serde_json::from_str::<QueueItem>(line) {
                Ok(mut item) => {
                    if item.id.is_empty() {
                        item.id = legacy_id(&item);
                    }
                    Line::Item(item)
                }
                Err(e) => Line::Unreadable {
                    text: line.to_string(),
                    why: e.to_string(),
                    line: index + 1,
                },
            },
        )
        .collect()
}

/// Items written by the seed listener carry no id: derive one from their content, so it stays
/// the same however the file is rewritten around it.
fn legacy_id(item: &QueueItem) -> String {
    let mut hasher = DefaultHasher::new();
    (&item.author, &item.text, item.ts).hash(&mut hasher);
    format!("legacy-{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str) -> QueueItem {
        QueueItem {
            id: id.into(),
            author: "a".into(),
            text: "t".into(),
            ts: 1,
            kind: "message".into(),
            author_id: String::new(),
            wallet: String::new(),
            amount: None,
            queued_at: 1,
            leased_until: None,
            attempts: 0,
        }
    }

    #[test]
    fn seed_lines_and_garbage_are_kept() {
        let lines = parse("{\"author\":\"a\",\"text\":\"why?\",\"ts\":5}\n\n{broken\n[1]\n");
        assert_eq!(lines.len(), 3);
        let Line::Item(first) = &lines[0] else {
            panic!("first line is an item")
        };
        assert!(first.id.starts_with("legacy-"));
        assert_eq!(first.kind, "message");
        assert!(matches!(&lines[1], Line::Unreadable { text, line: 3, .. } if text == "{broken"));
    }

    /// Property: any text parses without panicking; every whole item line is recognised,
    /// every other non-blank line is kept verbatim.
    #[test]
    fn fuzz_parse_keeps_every_line() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e11);
        let good = String::from_utf8(encode(std::iter::once(&item("x")))).expect("utf8");
        let good = good.trim_end();
        for _ in 0..3_000 {
            let mut text = String::new();
            let mut expected_items = 0;
            let mut expected_other = 0;
            for _ in 0..rng.gen_range(0..12) {
                let line: String = match rng.gen_range(0..4) {
                    0 => {
                        expected_items += 1;
                        good.to_string()
                    }
                    1 => good[..rng.gen_range(1..good.len())].to_string(),
                    2 => (0..rng.gen_range(1..30))
                        .map(|_| char::from_u32(rng.gen_range(0x20..0x3000)).unwrap_or('?'))
                        .collect(),
                    _ => String::new(),
                };
                if !line.trim().is_empty() && !line.starts_with(good) && line != good {
                    expected_other += 1;
                }
                text.push_str(&line);
                text.push('\n');
            }
            let lines = parse(&text);
            let items = lines.iter().filter(|l| matches!(l, Line::Item(_))).count();
            // A random line can happen to be valid JSON for an item ({} is one): at least the
            // whole ones are items, and nothing non-blank disappears.
            assert!(items >= expected_items, "{text:?}");
            assert_eq!(lines.len(), expected_items + expected_other, "{text:?}");
        }
    }

    #[test]
    fn take_lease_ack_cycle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = Queue::new(dir.path().join("queue.jsonl"));
        queue
            .append(&[item("a"), item("b"), item("c")])
            .expect("append");
        let taken = queue.take(2, 1000, 10).expect("take");
        assert_eq!(
            taken.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(taken[0].attempts, 1);
        // Leased items are not handed out again while the lease runs...
        let next = queue.take(5, 1000, 20).expect("take");
        assert_eq!(
            next.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["c"]
        );
        assert!(queue.take(5, 1000, 30).expect("take").is_empty());
        // ...but come back when it ends, unless acknowledged.
        assert_eq!(
            queue.ack(&["a".into(), "zzz".into()]).expect("ack"),
            ["zzz"]
        );
        let again = queue.take(5, 1000, 2000).expect("take");
        assert_eq!(
            again.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(again[0].attempts, 2);
        let stats = queue.stats(2001).expect("stats");
        assert_eq!((stats.pending, stats.leased), (0, 2));
    }

    #[test]
    fn overflow_moves_the_oldest_to_the_archive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = Queue::new(dir.path().join("queue.jsonl"));
        queue
            .append(&[item("a"), item("b"), item("c")])
            .expect("append");
        assert_eq!(queue.enforce_limit(2).expect("limit"), (1, 2));
        assert_eq!(queue.enforce_limit(2).expect("limit"), (0, 2));
        let (items, _) = queue.read_all().expect("read");
        assert_eq!(
            items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        let archived = std::fs::read_to_string(queue.archive_path()).expect("archive");
        assert!(archived.contains("\"id\":\"a\""));
    }

    #[test]
    fn unreadable_lines_survive_rewrites_and_torn_tails_are_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = Queue::new(dir.path().join("queue.jsonl"));
        queue.append(&[item("a")]).expect("append");
        let mut file = OpenOptions::new()
            .append(true)
            .open(queue.path())
            .expect("open");
        file.write_all(b"{\"id\":\"torn\",\"auth").expect("write");
        assert!(queue.repair().expect("repair"));
        assert!(!queue.repair().expect("repair again"));
        queue.append(&[item("b")]).expect("append");
        queue.ack(&["a".into()]).expect("ack");
        let (items, problems) = queue.read_all().expect("read");
        assert_eq!(
            items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].ends_with("left in place"), "{}", problems[0]);
        assert!(
            std::fs::read_to_string(queue.path())
                .expect("read")
                .contains("{\"id\":\"torn\",\"auth\n")
        );
    }
}
