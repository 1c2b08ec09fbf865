//! `memory.json`: loading it (trimmed to the limits, however large it is) and the text a save
//! writes, atomically.
//!
//! The format is `{"version": 1, "global": {...}, "authors": [{"author": ..., "memory":
//! {...}}, ...]}`, oldest author first. The file is read as a stream, one author at a time, so
//! a file from before the limits (tens of megabytes) loads in bounded memory, keeping the
//! newest authors. When to save is decided in `saver.rs`.

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::memory::{Bucket, Memory};

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

impl Memory {
    /// Memory kept in `path`: loaded now (missing means empty) and saved back by the runtime.
    /// Entries over the limits are dropped and the authors written to longest ago forgotten,
    /// with a warning naming the file, which the next save rewrites trimmed. Only a file that
    /// cannot be read or is not memory at all is an error.
    pub fn open(path: PathBuf) -> Result<Self, MemoryError> {
        let mut memory = Self::default();
        let read = |error| MemoryError::Read {
            path: path.clone(),
            error,
        };
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => {
                return Err(read(std::io::Error::other("not a regular file")));
            }
            Ok(_) => {
                let file = std::fs::File::open(&path).map_err(read)?;
                let mut dropped = 0;
                let mut json = serde_json::Deserializer::from_reader(BufReader::new(file));
                Load {
                    memory: &mut memory,
                    dropped: &mut dropped,
                }
                .deserialize(&mut json)
                .and_then(|()| json.end())
                .map_err(|e| MemoryError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                if dropped > 0 || memory.evicted > 0 {
                    tracing::warn!(file = %path.display(), dropped_entries = dropped,
                        forgotten_authors = memory.evicted,
                        "script memory was over its limits; trimmed, and saved trimmed at the next save");
                    memory.file = Some(path);
                    return Ok(memory);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(read(error)),
        }
        memory.dirty = false;
        memory.file = Some(path);
        Ok(memory)
    }

    /// The file's new content when there are unsaved changes; marks them saved. `None` for
    /// in-process memory. Values are already JSON text, so this only joins them.
    pub(super) fn snapshot(&mut self) -> Option<(PathBuf, String)> {
        if !self.is_dirty() {
            return None;
        }
        let path = self.file.clone()?;
        let mut out = String::with_capacity(self.global_len() + self.authors_bytes() + 64);
        out.push_str(&format!("{{\"version\":{FORMAT},\"global\":"));
        write_bucket(&mut out, &self.global);
        out.push_str(",\"authors\":[");
        for (i, (author, bucket)) in self.authors.oldest_first().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"author\":");
            write_string(&mut out, author);
            out.push_str(",\"memory\":");
            write_bucket(&mut out, bucket);
            out.push('}');
        }
        out.push_str("]}");
        self.dirty = false;
        Some((path, out))
    }

    fn global_len(&self) -> usize {
        self.global
            .values
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum()
    }
}

fn write_bucket(out: &mut String, bucket: &Bucket) {
    out.push('{');
    for (i, (key, text)) in bucket.values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        out.push_str(text);
    }
    out.push('}');
}

fn write_string(out: &mut String, s: &str) {
    // Serialising a string cannot fail; an empty string keeps the JSON valid regardless.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// Write `text` to `path` atomically and durably ([`crate::files::write_replacing`]).
pub(super) fn write_atomic(path: &Path, text: &str) -> Result<(), MemoryError> {
    crate::files::write_replacing(path, text.as_bytes()).map_err(|e| MemoryError::Write {
        path: path.to_path_buf(),
        error: e.into(),
    })
}

/// Streams the top-level object into `memory`, counting entries the limits refused.
struct Load<'a> {
    memory: &'a mut Memory,
    dropped: &'a mut usize,
}

#[derive(Deserialize)]
struct AuthorOnDisk {
    author: String,
    memory: serde_json::Map<String, Value>,
}

impl<'de> DeserializeSeed<'de> for Load<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Load<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with version, global and authors")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        let mut version = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "version" => {
                    let v: u32 = map.next_value()?;
                    if v > FORMAT {
                        return Err(A::Error::custom(format!(
                            "format {v} is newer than this retake-chat's {FORMAT}"
                        )));
                    }
                    version = Some(v);
                }
                "global" => {
                    let global: serde_json::Map<String, Value> = map.next_value()?;
                    for (key, value) in global {
                        *self.dropped += usize::from(self.memory.remember(&key, value).is_err());
                    }
                }
                "authors" => map.next_value_seed(Authors {
                    memory: &mut *self.memory,
                    dropped: &mut *self.dropped,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        version
            .map(drop)
            .ok_or_else(|| A::Error::missing_field("version"))
    }
}

/// Streams the `authors` array, oldest first, so the memory's own limits keep the newest.
struct Authors<'a> {
    memory: &'a mut Memory,
    dropped: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Authors<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Authors<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of {author, memory}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(author) = seq.next_element::<AuthorOnDisk>()? {
            for (key, value) in author.memory {
                let kept = self.memory.remember_for(&author.author, &key, value);
                *self.dropped += usize::from(kept.is_err());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("memory.json");
        let mut m = Memory::open(path.clone()).expect("missing is empty");
        assert!(m.snapshot().is_none(), "nothing to save");
        m.remember("streak", json!(3)).expect("fits");
        m.remember("quote \"x\"", json!("a\nb")).expect("fits");
        m.remember_for("alice", "tips", json!({"total": 2.5}))
            .expect("fits");
        m.remember_for("bo \u{1F600}", "n", json!([1, 2]))
            .expect("fits");
        let (to, text) = m.snapshot().expect("dirty");
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            parsed,
            json!({"version": 1, "global": {"quote \"x\"": "a\nb", "streak": 3},
                   "authors": [{"author": "alice", "memory": {"tips": {"total": 2.5}}},
                               {"author": "bo \u{1F600}", "memory": {"n": [1, 2]}}]})
        );
        write_atomic(&to, &text).expect("writes");
        assert!(m.snapshot().is_none(), "saved");
        let back = Memory::open(path.clone()).expect("loads");
        assert_eq!(back.recall("streak"), Some(json!(3)));
        assert_eq!(
            back.recall_for("alice", "tips"),
            Some(json!({"total": 2.5}))
        );
        assert!(
            !back.is_dirty(),
            "a file within the limits is not rewritten"
        );
        std::fs::write(&path, "{nope").expect("write");
        let err = Memory::open(path.clone()).expect_err("malformed");
        assert!(
            err.to_string()
                .starts_with(&format!("script memory {} is not valid: ", path.display())),
            "{err}"
        );
        std::fs::write(&path, r#"{"version": 9, "global": {}, "authors": []}"#).expect("write");
        let err = Memory::open(path.clone()).expect_err("newer");
        assert!(
            err.to_string()
                .contains("format 9 is newer than this retake-chat's 1"),
            "{err}"
        );
        let err = Memory::open(dir.path().to_path_buf()).expect_err("a directory");
        assert!(err.to_string().ends_with("not a regular file"), "{err}");
    }

    #[test]
    fn an_oversized_file_is_trimmed_not_refused() {
        // What a version without the limits could leave: 30,000 authors with long names.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("memory.json");
        let authors: Vec<Value> = (0..30_000)
            .map(|i| json!({"author": format!("{i:0>120}"), "memory": {"visits": i}}))
            .collect();
        let big =
            json!({"version": 1, "global": {"k": "x".repeat(5_000), "ok": 1}, "authors": authors});
        std::fs::write(&path, big.to_string()).expect("write");
        let mut m = Memory::open(path.clone()).expect("trimmed, not refused");
        assert_eq!(m.recall("k"), None, "over the value limit");
        assert_eq!(m.recall("ok"), Some(json!(1)));
        assert_eq!(
            m.recall_for(&format!("{:0>120}", 29_999), "visits"),
            Some(json!(29_999))
        );
        assert_eq!(
            m.recall_for(&format!("{:0>120}", 0), "visits"),
            None,
            "oldest forgotten"
        );
        assert!(m.authors_bytes() <= super::super::memory::MAX_AUTHORS_BYTES);
        let (to, text) = m.snapshot().expect("the trimmed memory is saved");
        write_atomic(&to, &text).expect("writes");
        let size = std::fs::metadata(&path).expect("saved").len();
        assert!(size < 1_200_000, "{size} bytes");
    }
}
