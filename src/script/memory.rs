//! What a personality remembers: global and per-author key/value memory, bounded in bytes and
//! in entries, whatever a script does.
//!
//! Values are kept as their JSON text, so what is counted is what is held, and only what JSON
//! can hold is remembered. Every entry also counts its key and [`ENTRY_OVERHEAD`], every author
//! its name and [`AUTHOR_OVERHEAD`]. Loading and saving the file is in `memory_file.rs`, the
//! background saves in `saver.rs`, the script-facing functions in `helpers.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::lru::Lru;
pub use super::memory_file::MemoryError;

/// Longest key (and author name), in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Largest value, in bytes of JSON.
pub const MAX_VALUE_BYTES: usize = 4 * 1024;
/// What each entry costs on top of its key and value: the bookkeeping that holds it.
pub const ENTRY_OVERHEAD: usize = 32;
/// What each author costs on top of their name and entries.
pub const AUTHOR_OVERHEAD: usize = 64;
/// All global memory together (keys, values, overheads), in bytes.
pub const MAX_GLOBAL_BYTES: usize = 64 * 1024;
/// Most global entries.
pub const MAX_GLOBAL_ENTRIES: usize = 1_000;
/// One author's memory (keys, values, overheads), in bytes.
pub const MAX_AUTHOR_BYTES: usize = 4 * 1024;
/// Most entries of one author.
pub const MAX_AUTHOR_ENTRIES: usize = 64;
/// All authors' memory together, names included; past it the authors written to longest ago
/// are forgotten.
pub const MAX_AUTHORS_BYTES: usize = 1024 * 1024;
/// Most authors remembered; past it the author written to longest ago is forgotten.
pub const MAX_AUTHORS: usize = 10_000;
/// Write a changed memory to its file at most this often (and when asked to).
pub(super) const SAVE_EVERY: Duration = Duration::from_secs(5);

/// One store of entries with its limits.
#[derive(Debug, Default)]
pub(super) struct Bucket {
    /// Key → the value's JSON text.
    pub(super) values: BTreeMap<Box<str>, Box<str>>,
    /// What the entries cost: keys, values and [`ENTRY_OVERHEAD`] each.
    bytes: usize,
}

/// The limits of one [`Bucket`] and what errors call it.
struct Bounds {
    bytes: usize,
    entries: usize,
    what: &'static str,
}

const GLOBAL: Bounds = Bounds {
    bytes: MAX_GLOBAL_BYTES,
    entries: MAX_GLOBAL_ENTRIES,
    what: "global",
};
const AUTHOR: Bounds = Bounds {
    bytes: MAX_AUTHOR_BYTES,
    entries: MAX_AUTHOR_ENTRIES,
    what: "this author's",
};

impl Bucket {
    /// Store (or, for `None`, remove) `key`, within `bounds`; how many bytes it grew by.
    fn put(&mut self, key: &str, text: Option<String>, bounds: &Bounds) -> Result<isize, String> {
        let old = self.values.get(key).map_or(0, |v| cost(key, v));
        let Some(text) = text else {
            self.values.remove(key);
            self.bytes -= old;
            return Ok(-(old as isize));
        };
        let size = cost(key, &text);
        let full = |limit: String| {
            format!(
                "{} memory is full ({limit}); forget something first",
                bounds.what
            )
        };
        if self.bytes - old + size > bounds.bytes {
            return Err(full(format!("{} KiB", bounds.bytes / 1024)));
        }
        if old == 0 && self.values.len() >= bounds.entries {
            return Err(full(format!("{} entries", bounds.entries)));
        }
        self.values.insert(key.into(), text.into());
        self.bytes = self.bytes - old + size;
        Ok(size as isize - old as isize)
    }
}

/// What one entry counts for.
fn cost(key: &str, text: &str) -> usize {
    key.len() + text.len() + ENTRY_OVERHEAD
}

/// What an author counts for besides their entries.
fn author_cost(name: &str) -> usize {
    name.len() + AUTHOR_OVERHEAD
}

/// Global and per-author memory; see the module docs.
#[derive(Debug, Default)]
pub struct Memory {
    pub(super) global: Bucket,
    /// Authors by when they were last written to.
    pub(super) authors: Lru<Arc<str>, Bucket>,
    /// Every author's entries, names and overheads.
    authors_bytes: usize,
    /// Authors forgotten to make room, since this memory was made.
    pub(super) evicted: usize,
    pub(super) file: Option<PathBuf>,
    pub(super) dirty: bool,
}

impl Memory {
    /// The global value of `key`, if any.
    pub fn recall(&self, key: &str) -> Option<Value> {
        parse(self.global.values.get(key)?)
    }

    /// `author`'s value of `key`, if any.
    pub fn recall_for(&self, author: &str, key: &str) -> Option<Value> {
        parse(self.authors.peek(author)?.values.get(key)?)
    }

    /// Set the global `key` (`null` forgets it). Fails when the key, the value or the global
    /// memory would be over its limit.
    pub fn remember(&mut self, key: &str, value: Value) -> Result<(), String> {
        check_key("memory keys", key)?;
        self.global.put(key, text_of(&value)?, &GLOBAL)?;
        self.dirty = true;
        Ok(())
    }

    /// Set `author`'s `key` (`null` forgets it). Fails when the author's name, the key, the
    /// value or this author's memory would be over its limit; other authors are forgotten,
    /// the one written to longest ago first, to make room.
    pub fn remember_for(&mut self, author: &str, key: &str, value: Value) -> Result<(), String> {
        check_key("memory keys", key)?;
        check_key("author names", author)?;
        let text = text_of(&value)?;
        match self.authors.touch(author) {
            Some(bucket) => {
                let grew = bucket.put(key, text, &AUTHOR)?;
                self.authors_bytes = self.authors_bytes.saturating_add_signed(grew);
                if bucket.values.is_empty() {
                    self.authors.remove(author);
                    self.authors_bytes -= author_cost(author);
                }
            }
            // Forgetting what an unknown author never had changes nothing.
            None if text.is_none() => return Ok(()),
            None => {
                let mut bucket = Bucket::default();
                let grew = bucket.put(key, text, &AUTHOR)?;
                while self.authors.len() >= MAX_AUTHORS {
                    self.evict_oldest();
                }
                self.authors.insert(author.into(), bucket);
                self.authors_bytes += author_cost(author) + grew.unsigned_abs();
            }
        }
        // The author just written to is the newest and fits alone, so it is never the one to go.
        while self.authors_bytes > MAX_AUTHORS_BYTES && self.evict_oldest() {}
        self.dirty = true;
        Ok(())
    }

    /// True when there are changes not yet handed to the file.
    pub(super) fn is_dirty(&self) -> bool {
        self.dirty && self.file.is_some()
    }

    /// Mark the memory changed again, after a failed write.
    pub(super) fn unsaved(&mut self) {
        self.dirty = true;
    }

    /// What all authors' memory counts for, in bytes.
    pub(super) fn authors_bytes(&self) -> usize {
        self.authors_bytes
    }

    fn evict_oldest(&mut self) -> bool {
        let Some((name, bucket)) = self.authors.pop_oldest() else {
            return false;
        };
        self.authors_bytes -= author_cost(&name) + bucket.bytes;
        self.evicted += 1;
        true
    }
}

fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// The JSON text `value` is kept as; `None` for `null` (forget).
fn text_of(value: &Value) -> Result<Option<String>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    if text.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "a remembered value is at most {MAX_VALUE_BYTES} bytes of JSON, this one is {}",
            text.len()
        ));
    }
    Ok(Some(text))
}

fn check_key(what: &str, key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "{what} are 1 to {MAX_KEY_BYTES} bytes, got {}",
            key.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_is_remembered_is_recalled_until_forgotten() {
        let mut m = Memory::default();
        m.remember("k", json!(1)).expect("fits");
        m.remember_for("alice", "seen", json!(["gm"]))
            .expect("fits");
        assert_eq!(m.recall("k"), Some(json!(1)));
        assert_eq!(m.recall_for("alice", "seen"), Some(json!(["gm"])));
        assert_eq!(m.recall_for("bob", "seen"), None);
        m.remember("k", Value::Null).expect("forgets");
        m.remember_for("alice", "seen", Value::Null)
            .expect("forgets");
        m.remember_for("nobody", "seen", Value::Null)
            .expect("forgetting nothing");
        assert_eq!(m.recall("k"), None);
        assert_eq!(m.authors.len(), 0);
        assert_eq!((m.global.bytes, m.authors_bytes), (0, 0));
    }

    #[test]
    fn values_keys_and_author_names_past_their_limits_are_refused() {
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
        assert!(m.remember_for("", "1", json!(1)).is_err());
        assert!(
            m.remember_for(&"a".repeat(MAX_KEY_BYTES + 1), "1", json!(1))
                .is_err()
        );
    }

    #[test]
    fn entries_are_capped_and_cost_their_overhead() {
        let mut m = Memory::default();
        for i in 0..MAX_GLOBAL_ENTRIES {
            m.remember(&i.to_string(), json!(1)).expect("fits");
        }
        let err = m.remember("one more", json!(1)).expect_err("full");
        assert_eq!(
            err,
            "global memory is full (1000 entries); forget something first"
        );
        m.remember("0", json!(2))
            .expect("changing one is not adding one");
        let keys: usize = (0..MAX_GLOBAL_ENTRIES).map(|i| i.to_string().len()).sum();
        assert_eq!(
            m.global.bytes,
            keys + MAX_GLOBAL_ENTRIES * (1 + ENTRY_OVERHEAD)
        );
        for i in 0..MAX_AUTHOR_ENTRIES {
            m.remember_for("a", &i.to_string(), json!(1)).expect("fits");
        }
        let err = m.remember_for("a", "x", json!(1)).expect_err("full");
        assert_eq!(
            err,
            "this author's memory is full (64 entries); forget something first"
        );
    }

    #[test]
    fn author_names_count_and_authors_are_capped() {
        // Long names and tiny values: the names are what fills the memory.
        let mut m = Memory::default();
        let name = |i: usize| format!("{i:0>128}");
        for i in 0..50_000 {
            m.remember_for(&name(i), "k", json!(1)).expect("fits");
        }
        let each = author_cost(&name(0)) + cost("k", "1");
        assert_eq!(m.authors.len(), MAX_AUTHORS_BYTES / each);
        assert!(m.authors_bytes <= MAX_AUTHORS_BYTES);
        assert_eq!(m.recall_for(&name(0), "k"), None, "the oldest went first");
        assert!(m.recall_for(&name(49_999), "k").is_some());
        // Short names: the count of authors binds.
        let mut m = Memory::default();
        for i in 0..MAX_AUTHORS + 5 {
            m.remember_for(&i.to_string(), "k", json!(1)).expect("fits");
        }
        assert_eq!(m.authors.len(), MAX_AUTHORS);
        assert_eq!(m.evicted, 5);
        assert_eq!(m.recall_for("4", "k"), None);
        assert!(m.recall_for("5", "k").is_some());
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
        // Writing to an author makes them the newest again.
        let kept = m.authors.oldest_first().next().map(|(k, _)| k.to_string());
        let kept = kept.expect("some author");
        m.remember_for(&kept, "k2", json!(1)).expect("fits");
        m.remember_for("new", "k", json!(chunk)).expect("fits");
        assert!(m.recall_for(&kept, "k").is_some());
    }
}
