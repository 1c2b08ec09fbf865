//! The chat as the listener saw it: every viewer message (answered by the bot or handed to
//! the agent) and every message the bot sent, with authors and times, in `transcript.jsonl`
//! in the state dir. `context` gives the lines before a queued item (what the agent needs to
//! answer it in the conversation), `recent` the transcript for `chat_history`.
//!
//! STUB (the interface other work codes against): the writer, rotation and real reads are
//! being built on branch issue13-transcript. Until then every read returns nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// When it was said, epoch ms (the platform's time for viewers, ours for the bot).
    pub ts: i64,
    /// Who said it: the viewer's display name, or the agent's name for the bot's own lines.
    pub author: String,
    /// What was said.
    pub text: String,
    /// The message id for viewers' lines; empty for the bot's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// True for what the bot (the listener or the agent through `reply`) sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
}

/// The `n` lines said before the message `id` (said at `ts`), oldest first: its context.
/// Reads `transcript.jsonl` (and its newest rotated file when needed) in `state_dir`; a
/// missing or unreadable transcript is no context, never an error.
pub fn context(state_dir: &Path, id: &str, ts: i64, n: usize) -> Vec<Line> {
    let _ = (state_dir, id, ts, n);
    Vec::new()
}

/// Up to `limit` of the newest lines said before `before` (epoch ms; `None`: now), oldest
/// first.
pub fn recent(state_dir: &Path, limit: usize, before: Option<i64>) -> Vec<Line> {
    let _ = (state_dir, limit, before);
    Vec::new()
}
