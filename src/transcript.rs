//! The chat as the listener saw it: every viewer message (answered by the bot or handed to
//! the agent) and every message the bot sent, with authors and times, in `transcript.jsonl`
//! in the state dir. `context` gives the lines before a queued item (what the agent needs to
//! answer it in the conversation), `recent` the transcript for `chat_history`.
//!
//! Written like the decision log ([`crate::rotating`]): the personality thread and the reply
//! stage hand [`Line`]s to a [`Transcript`], a task writes and rotates the file, and
//! `retake-chat reply` appends its own lines with [`append_said`]. Reads live in [`read`].

mod read;
mod tail;
#[cfg(test)]
mod tests;

pub use read::{context, contexts, recent};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::{Config, TranscriptConfig};
use crate::event::ChatEvent;
use crate::health::Health;
use crate::rotating::{Feed, Rotation};
use crate::time::now_ms;

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
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
    /// A viewer's `tip`, `trade` or `follow` (whose text may be empty); left out for messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The tip or trade amount, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// Another streamer's room it was said in (`--room`); left out for the own room.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub room: String,
}

impl Line {
    /// What a viewer said.
    pub fn heard(event: &ChatEvent) -> Self {
        Self {
            ts: event.ts,
            author: event.author.clone(),
            text: event.text.clone(),
            id: event.id.clone(),
            bot: false,
            kind: match event.kind.as_str() {
                "message" => String::new(),
                other => other.to_string(),
            },
            amount: event.amount,
            room: event.room_id().to_string(),
        }
    }

    /// What the bot, named `author`, posted just now in `room` (empty: the own room).
    pub fn said(author: &str, room: &str, text: &str) -> Self {
        Self {
            ts: now_ms(),
            author: author.to_string(),
            text: text.to_string(),
            room: room.to_string(),
            bot: true,
            ..Self::default()
        }
    }
}

/// `transcript.jsonl` in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(crate::config::StateDir::TRANSCRIPT)
}

/// The listener's end of the transcript: cheap to clone, never blocks (a line the writer has
/// no room for is dropped and counted as `transcriptDropped`).
#[derive(Debug, Clone)]
pub struct Transcript {
    feed: Feed<Line>,
    /// The agent's name: the author of the bot's lines.
    bot: Arc<str>,
}

impl Transcript {
    /// A transcript whose lines go to the returned receiver (give it to [`run`]); the bot's
    /// lines are signed `bot`.
    pub fn channel(health: Arc<Health>, bot: &str) -> (Self, mpsc::Receiver<Line>) {
        let (feed, rx) = Feed::channel(health, |counters| &counters.transcript_dropped);
        (
            Self {
                feed,
                bot: bot.into(),
            },
            rx,
        )
    }

    /// A transcript that records nothing (`[transcript] max_bytes = 0`).
    pub fn disabled() -> Self {
        Self {
            feed: Feed::disabled(),
            bot: "".into(),
        }
    }

    /// A viewer's message the listener handled, whatever it decided.
    pub fn heard(&self, event: &ChatEvent) {
        self.feed.send(|| Line::heard(event));
    }

    /// A text the platform accepted (2xx) from the bot, posted in `room` (empty: the own).
    pub fn said(&self, room: &str, text: &str) {
        self.feed.send(|| Line::said(&self.bot, room, text));
    }
}

/// Write lines as they come, rotating by `[transcript]` size, until every [`Transcript`] is
/// dropped.
pub async fn run(rx: mpsc::Receiver<Line>, path: PathBuf, config: TranscriptConfig) {
    let rotation = Rotation {
        max_bytes: config.max_bytes,
        keep: config.keep,
    };
    crate::rotating::run(rx, path, rotation).await;
}

/// Add what the agent posted from another process (`retake-chat reply`) to the listener's
/// transcript: one `write` on the `O_APPEND` file, so the listener's lines and ours never
/// mix. Nothing is written when the transcript is off or the state directory does not exist
/// (no listener has run there); rotation is the listener's.
pub fn append_said(config: &Config, room: &str, texts: &[String]) -> anyhow::Result<()> {
    if config.transcript.max_bytes == 0 || texts.is_empty() || !config.state_dir.is_dir() {
        return Ok(());
    }
    crate::files::check_state_dir(&config.state_dir)?;
    let path = config.state_dir.transcript();
    let mut bytes = Vec::new();
    let size = std::fs::metadata(&path).map_or(0, |meta| meta.len());
    // A line the listener left torn (killed mid-write) would swallow ours.
    if size > 0 && !crate::rotating::ends_with_newline(&path, size).unwrap_or(true) {
        bytes.push(b'\n');
    }
    for text in texts {
        let line = Line::said(&config.creds.agent_name, room, text);
        serde_json::to_writer(&mut bytes, &line)?;
        bytes.push(b'\n');
    }
    let context = || format!("cannot append to {}", path.display());
    let mut file =
        crate::files::open_append(&path).map_err(|e| anyhow::anyhow!("{}: {e}", context()))?;
    file.write_all(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", context()))
}
