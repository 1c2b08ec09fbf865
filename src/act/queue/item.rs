//! One line of `queue.jsonl`: a [`QueueItem`] (what the agent reads) or text kept exactly as
//! it was ([`Line::Unreadable`]), and how both are written and read back. Pure: no files.

use std::hash::{DefaultHasher, Hash, Hasher};

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
    /// The chat room it was said in (the streamer's user id); empty in lines written before
    /// rooms were recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub room: String,
    /// The name the room was given by, when it is another streamer's given by name (`--room`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_name: Option<String>,
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
    /// Said while the listener could not hear it, and caught up from the chat history: the
    /// viewer has waited longer than `queued_at - ts` suggests they should.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

fn default_kind() -> String {
    "message".to_string()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl QueueItem {
    /// The queue line for a viewer event; `own_room` is the room it was said in unless the
    /// event names another streamer's.
    pub fn from_event(event: &ChatEvent, own_room: &str, queued_at: i64) -> Self {
        let room = if event.room_id().is_empty() {
            own_room
        } else {
            event.room_id()
        };
        Self {
            room: room.to_string(),
            room_name: event.room.as_ref().and_then(|room| room.name.clone()),
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
            late: event.late,
        }
    }

    /// Waiting to be taken at `now_ms`: never leased, or its lease ran out.
    pub fn is_pending(&self, now_ms: i64) -> bool {
        self.leased_until.is_none_or(|until| until <= now_ms)
    }

    /// When it started waiting: when it was queued, or for lines without that, when it was said.
    pub fn waiting_since(&self) -> i64 {
        if self.queued_at > 0 {
            self.queued_at
        } else {
            self.ts
        }
    }
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

/// Items as JSON lines.
pub(super) fn encode<'a>(items: impl IntoIterator<Item = &'a QueueItem>) -> Vec<u8> {
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
    text.split('\n')
        .enumerate()
        .filter_map(|(index, line)| parse_line(line.as_bytes(), index + 1))
        .collect()
}

/// One line (without its newline), `None` when blank. NUL bytes at either end do not count:
/// JSON never holds them, and a crash can leave a run of them where data did not reach disk.
pub(super) fn parse_line(bytes: &[u8], number: usize) -> Option<Line> {
    let text = String::from_utf8_lossy(bytes);
    let trimmed = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if trimmed.is_empty() {
        return None;
    }
    Some(match serde_json::from_str::<QueueItem>(trimmed) {
        Ok(mut item) => {
            if item.id.is_empty() {
                item.id = legacy_id(&item);
            }
            Line::Item(item)
        }
        Err(e) => Line::Unreadable {
            text: text.trim_end_matches('\r').to_string(),
            why: e.to_string(),
            line: number,
        },
    })
}

/// Whether a line (without its newline) holds nothing.
pub(super) fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0 || b.is_ascii_whitespace())
}

/// The lines of `bytes`, which start at offset `base` of a file: each with its offset, its
/// bytes (newline excluded) and its length in the file (newline included, when there is one).
pub(super) fn lines_at(bytes: &[u8], base: u64) -> impl Iterator<Item = (u64, &[u8], u64)> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let rest = &bytes[at..];
        let (line, len) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], end + 1),
            None => (rest, rest.len()),
        };
        let start = base + at as u64;
        at += len;
        Some((start, line, len as u64))
    })
}

/// Items written by the seed listener carry no id: derive one from their content, so it stays
/// the same however the file is rewritten around it.
fn legacy_id(item: &QueueItem) -> String {
    let mut hasher = DefaultHasher::new();
    (&item.author, &item.text, item.ts).hash(&mut hasher);
    format!("legacy-{:016x}", hasher.finish())
}

/// Whether an id was derived from content ([`legacy_id`]): such an id is in no line's text.
pub(super) fn is_legacy_id(id: &str) -> bool {
    id.starts_with("legacy-")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A small item with this id (for the queue's tests too).
    pub(in crate::act::queue) fn item(id: &str) -> QueueItem {
        QueueItem {
            id: id.into(),
            author: "a".into(),
            text: "t".into(),
            ts: 1,
            kind: "message".into(),
            room: String::new(),
            room_name: None,
            author_id: String::new(),
            wallet: String::new(),
            amount: None,
            queued_at: 1,
            leased_until: None,
            attempts: 0,
            late: false,
        }
    }

    #[test]
    fn seed_lines_and_garbage_are_kept() {
        let lines =
            parse("{\"author\":\"a\",\"text\":\"why?\",\"ts\":5}\n\n{broken\n[1]\n\0\0\0\n");
        assert_eq!(lines.len(), 3);
        let Line::Item(first) = &lines[0] else {
            panic!("first line is an item")
        };
        assert!(first.id.starts_with("legacy-"));
        assert_eq!(first.kind, "message");
        assert!(matches!(&lines[1], Line::Unreadable { text, line: 3, .. } if text == "{broken"));
    }

    #[test]
    fn lines_carry_their_offsets() {
        let lines: Vec<_> = lines_at(b"ab\n\ncd", 10).collect();
        assert_eq!(
            lines,
            [(10, &b"ab"[..], 3), (13, &b""[..], 1), (14, &b"cd"[..], 2)]
        );
    }

    /// Property: any text parses without panicking; every whole item line is recognised,
    /// every other non-blank line is kept verbatim.
    #[test]
    fn fuzz_parse_keeps_every_line() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9e11);
        let good = String::from_utf8(encode([&item("x")])).expect("utf8");
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
}
