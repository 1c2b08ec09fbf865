//! What a personality remembers: global and per-author key/value memory, bounded, optionally
//! kept in a JSON file that is written atomically.
//!
//! Values are stored as JSON, so only what JSON can hold is remembered (strings, numbers,
//! booleans, arrays and maps). The script-facing functions are in `helpers.rs`; when to save
//! is decided by the [`Runtime`](super::Runtime).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Largest value, in bytes of JSON.
pub const MAX_VALUE_BYTES: usize = 4 * 1024;
/// All global memory together (keys and JSON values), in bytes.
pub const MAX_GLOBAL_BYTES: usize = 64 * 1024;
/// One author's memory, in bytes.
pub const MAX_AUTHOR_BYTES: usize = 4 * 1024;
/// All authors' memory together; past it the authors written to longest ago are forgotten.
pub const MAX_AUTHORS_BYTES: usize = 1024 * 1024;
/// Write a changed memory to its file at most this often (and when asked to).
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(5);
/// The file format's version.
const FORMAT: u32 = 1;

/// Why the memory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// Reading failed (other than the file not existing, which is empty memory).
    #[error("cannot read script memory {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not memory this version understands.
    #[error("script memory {} is not valid: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing failed.
    #[error("cannot write script memory {}: {error}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

#[derive(Debug, Default)]
struct Bucket {
    values: BTreeMap<String, (Value, usize)>,
    bytes: usize,
}

impl Bucket {
    /// Store (or, for `null`, remove) `key`, keeping the total under `max` bytes.
    fn put(&mut self, key: &str, value: Value, max: usize, what: &str) -> Result<isize, String> {
        let old = self.values.get(key).map_or(0, |(_, n)| *n);
        if value.is_null() {
            self.values.remove(key);
            self.bytes -= old;
            return Ok(-(old as isize));
        }
        let size = key.len() + json_len(&value)?;
        if self.bytes - old + size > max {
            return Err(format!(
                "{what} memory is full ({} KiB); forget something first",
                max / 1024
            ));
        }
        self.values.insert(key.to_string(), (value, size));
        self.bytes = self.bytes - old + size;
        Ok(size as isize - old as isize)
    }
}

/// Global and per-author memory; see the module docs.
#[derive(Debug, Default)]
pub struct Memory {
    global: Bucket,
    authors: HashMap<String, (Bucket, u64)>,
    /// Authors by when they were last written to, oldest first (the value of `authors.1`).
    order: BTreeMap<u64, String>,
    authors_bytes: usize,
    seq: u64,
    file: Option<PathBuf>,
    dirty: bool,
    last_saved: Option<Instant>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    global: serde_json::Map<String, Value>,
    /// Oldest first, so loading restores the forgetting order.
    authors: Vec<AuthorOnDisk>,
}

#[derive(Serialize, Deserialize)]
struct AuthorOnDisk {
    author: String,
    memory: serde_json::Map<String, Value>,
}

impl Memory {
    /// Memory kept in `path`: loaded now (missing means empty), saved back by [`Self::snapshot`].
    pub fn open(path: PathBuf) -> Result<Self, MemoryError> {
        let mut memory = Self::default();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let parse = |message: String| MemoryError::Parse {
                    path: path.clone(),
                    message,
                };
                let disk: OnDisk = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
                if disk.version > FORMAT {
                    return Err(parse(format!(
                        "format {} is newer than this retake-chat's {FORMAT}",
                        disk.version
                    )));
                }
                let mut dropped = 0;
                for (key, value) in disk.global {
                    dropped += usize::from(memory.remember(&key, value).is_err());
                }
                for author in disk.authors {
                    for (key, value) in author.memory {
                        dropped +=
                            usize::from(memory.remember_for(&author.author, &key, value).is_err());
                    }
                }
                if dropped > 0 {
                    tracing::warn!(file = %path.display(), dropped, "script memory entries over the limits were dropped");
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(MemoryError::Read { path, error }),
        }
        memory.dirty = false;
        memory.file = Some(path);
        Ok(memory)
    }

    /// The global value of `key`, if any.
    pub fn recall(&self, key: &str) -> Option<&Value> {
        self.global.values.get(key).map(|(v, _)| v)
    }

    /// `author`'s value of `key`, if any.
    pub fn recall_for(&self, author: &str, key: &str) -> Option<&Value> {
        let (bucket, _) = self.authors.get(author)?;
        bucket.values.get(key).map(|(v, _)| v)
    }

    /// Set the global `key` (`null` forgets it). Fails when the key, the value or the global
    /// memory would be over its limit.
    pub fn remember(&mut self, key: &str, value: Value) -> Result<(), String> {
        check_key(key)?;
        self.global.put(key, value, MAX_GLOBAL_BYTES, "global")?;
        self.dirty = true;
        Ok(())
    }

    /// Set `author`'s `key` (`null` forgets it). Fails when the key, the value or this author's
    /// memory would be over its limit; other authors are forgotten, oldest first, to make room.
    pub fn remember_for(&mut self, author: &str, key: &str, value: Value) -> Result<(), String> {
        check_key(key)?;
        if author.len() > MAX_KEY_BYTES {
            return Err(format!("author names are at most {MAX_KEY_BYTES} bytes"));
        }
        self.seq += 1;
        let seq = self.seq;
        let (bucket, last) = self.authors.entry(author.to_string()).or_default();
        let grew = bucket.put(key, value, MAX_AUTHOR_BYTES, "this author's")?;
        let empty = bucket.values.is_empty();
        self.order.remove(last);
        *last = seq;
        self.authors_bytes = self.authors_bytes.saturating_add_signed(grew);
        if empty {
            self.authors.remove(author);
        } else {
            self.order.insert(seq, author.to_string());
        }
        while self.authors_bytes > MAX_AUTHORS_BYTES {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((bucket, _)) = self.authors.remove(&oldest) {
                self.authors_bytes -= bucket.bytes;
            }
        }
        self.dirty = true;
        Ok(())
    }

    /// The file's new content when there are unsaved changes and saving is due (`force`, or
    /// [`SAVE_EVERY`] since the last save); marks them saved. `None` for in-process memory.
    pub(super) fn snapshot(&mut self, force: bool) -> Option<(PathBuf, String)> {
        let path = self.file.clone()?;
        let due = force || self.last_saved.is_none_or(|at| at.elapsed() >= SAVE_EVERY);
        if !self.dirty || !due {
            return None;
        }
        let global = self
            .global
            .values
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        let authors = self
            .order
            .values()
            .filter_map(|author| {
                let (bucket, _) = self.authors.get(author)?;
                let memory = bucket
                    .values
                    .iter()
                    .map(|(k, (v, _))| (k.clone(), v.clone()))
                    .collect();
                Some(AuthorOnDisk {
                    author: author.clone(),
                    memory,
                })
            })
            .collect();
        let disk = OnDisk {
            version: FORMAT,
            global,
            authors,
        };
        let text = serde_json::to_string(&disk).ok()?;
        self.dirty = false;
        self.last_saved = Some(Instant::now());
        Some((path, text))
    }

    /// Mark the memory changed again, after a failed write.
    pub(super) fn unsaved(&mut self) {
        self.dirty = true;
    }
}

/// Write `text` to `path` atomically: a temp file beside it, synced, renamed over it.
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<(), MemoryError> {
    let err = |error| MemoryError::Write {
        path: path.to_path_buf(),
        error,
    };
    crate::files::write_replacing(path, text.as_bytes(), true).map_err(err)
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "memory keys are 1 to {MAX_KEY_BYTES} bytes, got {}",
            key.len()
        ));
    }
    Ok(())
}

fn json_len(value: &Value) -> Result<usize, String> {
    let len = serde_json::to_string(value)
        .map_err(|e| e.to_string())?
        .len();
    if len > MAX_VALUE_BYTES {
        return Err(format!(
            "a remembered value is at most {MAX_VALUE_BYTES} bytes of JSON, this one is {len}"
        ));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn remember_recall_forget() {
        let mut m = Memory::default();
        m.remember("k", json!(1)).expect("fits");
        m.remember_for("alice", "seen", json!(["gm"]))
            .expect("fits");
        assert_eq!(m.recall("k"), Some(&json!(1)));
        assert_eq!(m.recall_for("alice", "seen"), Some(&json!(["gm"])));
        assert_eq!(m.recall_for("bob", "seen"), None);
        m.remember("k", Value::Null).expect("forgets");
        m.remember_for("alice", "seen", Value::Null)
            .expect("forgets");
        assert_eq!(m.recall("k"), None);
        assert!(m.authors.is_empty() && m.order.is_empty());
        assert_eq!((m.global.bytes, m.authors_bytes), (0, 0));
    }

    #[test]
    fn limits_hold() {
        let mut m = Memory::default();
        let big = "x".repeat(MAX_VALUE_BYTES);
        assert!(m.remember("k", json!(big)).is_err());
        assert!(
            m.remember(&"k".repeat(MAX_KEY_BYTES + 1), json!(1))
                .is_err()
        );
        let chunk = "x".repeat(3_000);
        let mut stored = 0;
        for i in 0..100 {
            if m.remember(&format!("k{i}"), json!(chunk)).is_ok() {
                stored += 1;
            }
        }
        assert!(
            stored > 10 && m.global.bytes <= MAX_GLOBAL_BYTES,
            "{stored}"
        );
        assert!(m.remember_for("a", "1", json!(chunk)).is_ok());
        assert!(m.remember_for("a", "2", json!(chunk)).is_err());
    }

    #[test]
    fn oldest_authors_are_forgotten_first() {
        let mut m = Memory::default();
        let chunk = "x".repeat(3_000);
        for i in 0..400 {
            m.remember_for(&format!("a{i}"), "k", json!(chunk))
                .expect("fits");
        }
        assert!(m.authors_bytes <= MAX_AUTHORS_BYTES);
        assert_eq!(m.recall_for("a0", "k"), None);
        assert!(m.recall_for("a399", "k").is_some());
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("memory.json");
        let mut m = Memory::open(path.clone()).expect("missing is empty");
        assert!(m.snapshot(true).is_none(), "nothing to save");
        m.remember("streak", json!(3)).expect("fits");
        m.remember_for("alice", "tips", json!({"total": 2.5}))
            .expect("fits");
        let (to, text) = m.snapshot(true).expect("dirty");
        write_atomic(&to, &text).expect("writes");
        assert!(m.snapshot(true).is_none(), "saved");
        let back = Memory::open(path.clone()).expect("loads");
        assert_eq!(back.recall("streak"), Some(&json!(3)));
        assert_eq!(
            back.recall_for("alice", "tips"),
            Some(&json!({"total": 2.5}))
        );
        std::fs::write(&path, "{nope").expect("write");
        let err = Memory::open(path.clone()).expect_err("malformed");
        assert!(
            err.to_string()
                .starts_with(&format!("script memory {} is not valid: ", path.display())),
            "{err}"
        );
    }
}
