//! `queue.leases.jsonl`: what `take` and `ack` did since `queue.jsonl` was last compacted, so
//! that neither has to rewrite the queue (their cost follows the items they touch, not the
//! queue's length). One JSON record per line, appended and fsynced: first a `base` naming
//! the queue file it describes (its inode) with everything known then, then `take` and `ack`
//! records. Items are known by their byte offset in the queue file, which only ever grows
//! between compactions. A ledger of another file (the queue was compacted or replaced) is
//! ignored; a torn last record (a crash mid-write) was never confirmed and is dropped.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::QueueError;
use super::file::{self, Mode};

/// Past this size the ledger is rewritten as one `base` record (when that is much smaller).
const REWRITE_AT: u64 = 64 * 1024;

/// A taken item: where it is in the queue file and its lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Lease {
    /// Its offset in queue.jsonl.
    pub at: u64,
    /// Its line's length, newline included.
    pub len: u64,
    /// Its id, to acknowledge it by and to check the ledger still fits the file.
    pub id: String,
    /// When the lease ends, epoch ms (then the item is handed out again).
    pub until: i64,
    /// How many times it has been taken.
    pub attempts: u32,
}

/// A line of queue.jsonl by offset and length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Span {
    /// Its offset.
    pub at: u64,
    /// Its length, newline included.
    pub len: u64,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub(super) enum Record {
    /// Everything known about the queue file `file` (its inode).
    Base {
        file: u64,
        scan: u64,
        dead: u64,
        unreadable: u64,
        leased: Vec<Lease>,
        acked: Vec<Span>,
    },
    /// A take: items leased (or found leased in the file), and how far it read.
    Take {
        scan: u64,
        unreadable: u64,
        leased: Vec<Lease>,
    },
    /// An ack: these lines are answered.
    Ack { acked: Vec<Span> },
}

/// What the ledger says about one queue file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Leases {
    /// The queue file described (its inode).
    pub file: u64,
    /// Bytes of queue.jsonl that takes have read: every item before this offset is in
    /// `leased` or acknowledged.
    pub scan: u64,
    /// Bytes of acknowledged lines (what a compaction would give back).
    pub dead: u64,
    /// Unreadable lines before `scan`.
    pub unreadable: u64,
    /// Items before `scan` not acknowledged, by offset.
    pub leased: BTreeMap<u64, Lease>,
    /// Items at or after `scan` acknowledged without being taken: offset → length.
    pub acked: BTreeMap<u64, u64>,
}

impl Leases {
    /// Nothing known yet about the queue file `file`.
    pub(super) fn new(file: u64) -> Self {
        Self {
            file,
            ..Self::default()
        }
    }

    /// Change the state as `record` says; the same code replays the ledger and records a change.
    pub(super) fn apply(&mut self, record: Record) {
        match record {
            Record::Base {
                file,
                scan,
                dead,
                unreadable,
                leased,
                acked,
            } => {
                *self = Self {
                    file,
                    scan,
                    dead,
                    unreadable,
                    leased: leased.into_iter().map(|l| (l.at, l)).collect(),
                    acked: acked.into_iter().map(|s| (s.at, s.len)).collect(),
                }
            }
            Record::Take {
                scan,
                unreadable,
                leased,
            } => {
                self.leased.extend(leased.into_iter().map(|l| (l.at, l)));
                // Acknowledged lines the take read past need no remembering: before the scan,
                // whatever is not leased is answered (and already counted in `dead`).
                self.acked = self.acked.split_off(&scan);
                self.scan = self.scan.max(scan);
                self.unreadable = unreadable;
            }
            Record::Ack { acked } => {
                for span in acked {
                    // Leased before the scan, or (once only) ahead of it; else already answered.
                    let answered = self.leased.remove(&span.at).is_some()
                        || (span.at >= self.scan && self.acked.insert(span.at, span.len).is_none());
                    if answered {
                        self.dead += span.len;
                    }
                }
            }
        }
    }

    /// The whole state as one record.
    fn base(&self) -> Record {
        Record::Base {
            file: self.file,
            scan: self.scan,
            dead: self.dead,
            unreadable: self.unreadable,
            leased: self.leased.values().cloned().collect(),
            acked: self
                .acked
                .iter()
                .map(|(&at, &len)| Span { at, len })
                .collect(),
        }
    }

    /// Bytes of queue.jsonl still wanted, of `len`: leased lines and what takes have not read
    /// (less what is acknowledged there).
    pub(super) fn live(&self, len: u64) -> u64 {
        let leased: u64 = self.leased.values().map(|l| l.len).sum();
        let ahead: u64 = self.acked.values().sum();
        leased + len.saturating_sub(self.scan).saturating_sub(ahead)
    }
}

/// The ledger as read: the state, and how much of the file is sound.
#[derive(Debug)]
pub(super) struct Ledger {
    /// The state it records.
    pub leases: Leases,
    /// Bytes of sound records; 0 when none applies (then it starts afresh).
    sound: u64,
    /// Its length.
    len: u64,
}

impl Ledger {
    /// Read the ledger at `path` for the queue file `file` of length `queue_len`. A missing
    /// one, one of another file, or one that no longer fits (it reads past the end) is empty.
    pub(super) fn load(path: &Path, file: u64, queue_len: u64) -> Result<Self, QueueError> {
        let empty = |len| Self {
            leases: Leases::new(file),
            sound: 0,
            len,
        };
        let Some(mut handle) = file::open(path, Mode::Read)? else {
            return Ok(empty(0));
        };
        let bytes = file::read_from(&mut handle, 0, path)?;
        let len = bytes.len() as u64;
        let mut leases = Leases::new(file);
        let mut sound = 0;
        for (at, line, size) in super::item::lines_at(&bytes, 0) {
            let record = match serde_json::from_slice::<Record>(line) {
                Ok(record) if line.len() as u64 + 1 == size => record,
                // Torn (a crash mid-append) or damaged: what follows cannot be trusted.
                _ => break,
            };
            let first = at == 0;
            match (&record, first) {
                (Record::Base { file: of, .. }, true) if *of == file => {}
                (_, true) => return Ok(empty(len)),
                (Record::Base { .. }, false) => break,
                _ => {}
            }
            leases.apply(record);
            sound = at + size;
        }
        if sound == 0 || leases.scan > queue_len {
            return Ok(empty(len));
        }
        Ok(Self { leases, sound, len })
    }

    /// Forget what was recorded: it does not fit the queue file (replaced in place).
    pub(super) fn restart(&mut self) {
        self.leases = Leases::new(self.leases.file);
        self.sound = 0;
    }

    /// Apply `record` and make it durable (fsynced) before returning. A ledger that starts
    /// afresh gets a `base` instead; a torn tail is cut off first; a long one is rewritten
    /// as one `base` record.
    pub(super) fn commit(&mut self, path: &Path, record: Record) -> Result<(), QueueError> {
        self.leases.apply(record.clone());
        let entries = (self.leases.leased.len() + self.leases.acked.len()) as u64;
        if self.sound > 0 && self.len > REWRITE_AT && self.len > 8 * (100 * entries + 100) {
            let mut line = to_line(&self.leases.base());
            line.push(b'\n');
            file::replace(path, &line)?;
            self.sound = line.len() as u64;
            self.len = self.sound;
            return Ok(());
        }
        let (start, record) = if self.sound == 0 {
            (0, self.leases.base())
        } else {
            (self.sound, record)
        };
        let mut handle = file::open(path, Mode::Create)?
            .ok_or_else(|| file::io("open", path)(std::io::ErrorKind::NotFound.into()))?;
        let mut line = to_line(&record);
        line.push(b'\n');
        if self.len != start {
            // What lies past `start` is of no use (another file's, or torn): cut it first.
            handle
                .set_len(start)
                .map_err(file::io("cut the stale end of", path))?;
        }
        file::append_at(&mut handle, start, &line, path)?;
        self.sound = start + line.len() as u64;
        self.len = self.sound;
        Ok(())
    }
}

/// Empty the ledger at `path` after a compaction: the queue file it described is gone.
pub(super) fn clear(path: &Path) -> Result<(), QueueError> {
    if let Some(handle) = file::open(path, Mode::Write)? {
        handle
            .set_len(0)
            .and_then(|()| handle.sync_data())
            .map_err(file::io("empty", path))?;
    }
    Ok(())
}

fn to_line(record: &Record) -> Vec<u8> {
    // Numbers and strings only: serializing cannot fail.
    serde_json::to_vec(record).unwrap_or_default()
}

/// The identity of an open queue file: its inode where there is one.
pub(super) fn identity(file: &File) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata().map_or(0, |m| m.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(at: u64, id: &str) -> Lease {
        Lease {
            at,
            len: 10,
            id: id.into(),
            until: 100,
            attempts: 1,
        }
    }

    #[test]
    fn records_replay_to_the_same_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.leases.jsonl");
        let mut ledger = Ledger::load(&path, 7, 100).expect("load");
        assert_eq!(ledger.leases, Leases::new(7));
        let take = Record::Take {
            scan: 30,
            unreadable: 1,
            leased: vec![lease(0, "a"), lease(20, "c")],
        };
        ledger.commit(&path, take).expect("take");
        // An ack of a leased line and of one ahead of the scan; the next take reads past it.
        let acked = vec![Span { at: 0, len: 10 }, Span { at: 40, len: 10 }];
        ledger.commit(&path, Record::Ack { acked }).expect("ack");
        let take = Record::Take {
            scan: 60,
            unreadable: 1,
            leased: vec![lease(50, "f")],
        };
        ledger.commit(&path, take).expect("take");
        let state = ledger.leases.clone();
        assert_eq!(state.dead, 20);
        assert!(state.acked.is_empty());
        assert_eq!(state.leased.keys().copied().collect::<Vec<_>>(), [20, 50]);
        assert_eq!(Ledger::load(&path, 7, 100).expect("load").leases, state);
        // Of another file, or reading past its end: nothing applies.
        assert_eq!(
            Ledger::load(&path, 8, 100).expect("load").leases,
            Leases::new(8)
        );
        assert_eq!(
            Ledger::load(&path, 7, 59).expect("load").leases,
            Leases::new(7)
        );
    }

    #[test]
    fn a_torn_record_is_dropped_and_cut_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("queue.leases.jsonl");
        let mut ledger = Ledger::load(&path, 7, 100).expect("load");
        let take = Record::Take {
            scan: 10,
            unreadable: 0,
            leased: vec![lease(0, "a")],
        };
        ledger.commit(&path, take).expect("take");
        let sound = std::fs::read(&path).expect("read");
        let mut torn = sound.clone();
        torn.extend_from_slice(b"{\"op\":\"ack\",\"acked\":[{\"at\":0,");
        std::fs::write(&path, &torn).expect("tear");
        let mut ledger = Ledger::load(&path, 7, 100).expect("load");
        assert_eq!(ledger.leases.leased.len(), 1, "the torn ack did not count");
        let acked = vec![Span { at: 0, len: 10 }];
        ledger.commit(&path, Record::Ack { acked }).expect("ack");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            Ledger::load(&path, 7, 100)
                .expect("load")
                .leases
                .leased
                .is_empty()
        );
    }
}
