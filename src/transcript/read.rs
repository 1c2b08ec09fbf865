//! Reading the transcript back: the lines before queued items (their context) and the newest
//! lines (the history). Only the tail is read, from the end in chunks, going on into the
//! newest rotated file when the current one holds too few lines. Lines are in the order the
//! listener saw and sent them. A bad line is skipped; a missing or unreadable file has none.

use std::ops::ControlFlow;
use std::path::Path;

use super::tail::{CHUNK, read_back};
use super::{Line, path};
use crate::rotating::rotated;

/// How far our clock (the bot's lines) and the platform's (the viewers') may disagree. A bot
/// line older than an item's time by more than this was written before the item was, so the
/// item is not further back: the search for it ends there.
const CLOCK_SLACK_MS: i64 = 5 * 60 * 1000;

/// The `n` lines said before the message `id` (said at `ts`), oldest first: its context.
/// Reads `transcript.jsonl` (and its newest rotated file when needed) in `state_dir`; a
/// missing or unreadable transcript is no context, never an error.
pub fn context(state_dir: &Path, id: &str, ts: i64, n: usize) -> Vec<Line> {
    contexts(state_dir, &[(id, ts)], n)
        .pop()
        .unwrap_or_default()
}

/// [`context`] for several items (`(id, ts)` each) in one read of the file, in their order.
/// An item whose line is not in the transcript gets the `n` last lines said at or before its
/// `ts`.
pub fn contexts(state_dir: &Path, items: &[(&str, i64)], n: usize) -> Vec<Vec<Line>> {
    search(state_dir, items, n, CHUNK).0
}

/// Up to `limit` of the newest lines said before `before` (epoch ms; `None`: no bound),
/// oldest first.
pub fn recent(state_dir: &Path, limit: usize, before: Option<i64>) -> Vec<Line> {
    let mut lines = Vec::new();
    if limit == 0 {
        return lines;
    }
    let bound = before.unwrap_or(i64::MAX);
    scan(state_dir, CHUNK, |text| {
        if let Some(line) = parse(text)
            && line.ts < bound
        {
            lines.push(line);
            if lines.len() >= limit {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    lines.reverse();
    lines
}

/// One item's search, as the lines go by newest first.
struct Search<'a> {
    id: &'a str,
    /// `"id":"<id>"` as the line has it: most lines are ruled out without parsing them.
    needle: String,
    ts: i64,
    /// Its line has gone by: the next lines are its context (those said in its room).
    found: bool,
    /// The room its line was said in (empty: the own room), once found.
    room: String,
    /// A bot line from well before `ts` has gone by: the item's line is not further back.
    passed: bool,
    done: bool,
    /// Newest first: the lines after its own, once found.
    before: Vec<Line>,
    /// Newest first: the last lines said at or before `ts`, for an item not in the file.
    fallback: Vec<Line>,
}

impl<'a> Search<'a> {
    fn new(id: &'a str, ts: i64) -> Self {
        Self {
            id,
            needle: format!("\"id\":{}", serde_json::to_string(id).unwrap_or_default()),
            ts,
            found: false,
            room: String::new(),
            passed: false,
            done: false,
            before: Vec::new(),
            fallback: Vec::new(),
        }
    }

    /// Take in the next older line (`text`, parsed on demand by `line`).
    fn see(&mut self, text: &str, line: &mut Lazy, n: usize) {
        if self.found {
            if let Some(line) = line.get(text)
                && line.room == self.room
            {
                self.before.push(line.clone());
            }
            self.done = self.before.len() >= n;
            return;
        }
        if !self.id.is_empty()
            && text.contains(&self.needle)
            && let Some(own) = line.get(text).filter(|l| l.id == self.id && !l.bot)
        {
            self.found = true;
            self.room = own.room.clone();
            return;
        }
        if self.fallback.len() < n
            && let Some(line) = line.get(text)
            && line.ts <= self.ts
        {
            self.fallback.push(line.clone());
        }
        if !self.passed
            && text.contains("\"bot\":true")
            && line
                .get(text)
                .is_some_and(|l| l.bot && l.ts < self.ts.saturating_sub(CLOCK_SLACK_MS))
        {
            self.passed = true;
        }
        self.done = self.passed && self.fallback.len() >= n;
    }

    /// The context, oldest first.
    fn into_context(self) -> Vec<Line> {
        let mut lines = if self.found {
            self.before
        } else {
            self.fallback
        };
        lines.reverse();
        lines
    }
}

/// A line parsed at most once, however many searches look at it.
#[derive(Default)]
struct Lazy(Option<Option<Line>>);

impl Lazy {
    fn get(&mut self, text: &str) -> Option<&Line> {
        self.0.get_or_insert_with(|| parse(text)).as_ref()
    }
}

/// The contexts, and how many bytes were read to find them.
pub(super) fn search(
    state_dir: &Path,
    items: &[(&str, i64)],
    n: usize,
    chunk: usize,
) -> (Vec<Vec<Line>>, u64) {
    if n == 0 || items.is_empty() {
        return (vec![Vec::new(); items.len()], 0);
    }
    let mut searches: Vec<Search> = items.iter().map(|&(id, ts)| Search::new(id, ts)).collect();
    let read = scan(state_dir, chunk, |text| {
        let mut line = Lazy::default();
        for search in searches.iter_mut().filter(|s| !s.done) {
            search.see(text, &mut line, n);
        }
        if searches.iter().all(|s| s.done) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    (
        searches.into_iter().map(Search::into_context).collect(),
        read,
    )
}

/// Hand every line of the transcript to `visit`, newest first: `transcript.jsonl`, then
/// `transcript.1.jsonl`. Returns the bytes read.
fn scan(state_dir: &Path, chunk: usize, mut visit: impl FnMut(&str) -> ControlFlow<()>) -> u64 {
    let current = path(state_dir);
    let mut read = 0;
    for file in [rotated(&current, 1), current].into_iter().rev() {
        let mut stopped = false;
        let result = read_back(&file, chunk, |raw| match std::str::from_utf8(raw) {
            Ok(text) => {
                let flow = visit(text);
                stopped = flow.is_break();
                flow
            }
            Err(_) => ControlFlow::Continue(()),
        });
        match result {
            Ok(bytes) => read += bytes,
            // No context is better than no answer: the agent still gets its items.
            Err(e) => tracing::debug!("cannot read {}: {e}", file.display()),
        }
        if stopped {
            break;
        }
    }
    read
}

fn parse(text: &str) -> Option<Line> {
    serde_json::from_str(text).ok()
}
