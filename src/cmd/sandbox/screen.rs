//! The sandbox's screen: what the bot said in chat, what it queued or ignored, reloads and
//! errors, each printed once as it appears in the fake, the decision log or health. Viewers,
//! scripts and the server wrote that text, so it is shown escaped, never obeyed.

use std::path::PathBuf;

use serde_json::Value;

use crate::fake::FakeRetake;
use crate::health::Health;
use crate::visible;

/// What has been printed so far, to print only what is new.
pub(super) struct Screen {
    decisions: PathBuf,
    decisions_read: usize,
    sent: usize,
    script: Value,
    last_error: Value,
    /// Replies not sent: over the budget, or the same text within 30 s.
    held_back: (u64, u64),
    /// Texts the outbound guard kept from the chat.
    blocked: u64,
    /// Lines printed so far: the sandbox waits for this to stop moving before it leaves.
    pub(super) printed: u64,
}

impl Screen {
    pub(super) fn new(decisions: PathBuf) -> Self {
        Self {
            decisions,
            decisions_read: 0,
            sent: 0,
            script: Value::Null,
            last_error: Value::Null,
            held_back: (0, 0),
            blocked: 0,
            printed: 0,
        }
    }

    /// One outcome; what viewers, scripts and the server wrote is escaped where it is put
    /// in, so nobody but us starts a line, and here again, so nothing acts on the terminal.
    fn print(&mut self, line: String) {
        println!("{}", visible::escape_lines(&line));
        self.printed += 1;
    }

    /// Print what happened since the last call.
    pub(super) fn update(&mut self, fake: &FakeRetake, health: &Health) {
        let sent = fake.sent();
        for request in sent.iter().skip(self.sent) {
            let text = request.body["message"].as_str().unwrap_or_default();
            self.print(format!("bot: {}", visible::escape(text)));
        }
        self.sent = sent.len();
        self.decisions_tail();
        let counters = &health.counters;
        let held_back = (
            counters.rate_limited.get(),
            counters.repeats_suppressed.get(),
        );
        if held_back.0 > self.held_back.0 {
            self.print("bot stayed quiet: over the send budget ([send] per_30s, burst)".into());
        }
        if held_back.1 > self.held_back.1 {
            self.print("bot stayed quiet: it said the same within the last 30 s".into());
        }
        self.held_back = held_back;
        let blocked = counters.blocked.get();
        if blocked > self.blocked {
            self.print(
                "bot stayed quiet: the outbound guard blocked it (a secret, or a [send] block match)"
                    .into(),
            );
        }
        self.blocked = blocked;
        let snapshot: Value = serde_json::from_str(&health.to_json()).unwrap_or_default();
        let script = &snapshot["script"];
        if self.script != Value::Null && script["loadedAt"] != self.script["loadedAt"] {
            self.print(format!(
                "reloaded {}",
                script["path"].as_str().unwrap_or_default()
            ));
        }
        if script["error"] != self.script["error"] && !script["error"].is_null() {
            self.print(format!(
                "script error: {}",
                script["error"].as_str().unwrap_or_default()
            ));
        }
        self.script = script.clone();
        let error = &snapshot["lastError"];
        if *error != self.last_error && !error.is_null() {
            self.print(format!("error: {}", error.as_str().unwrap_or_default()));
        }
        self.last_error = error.clone();
    }

    /// Decisions that said nothing in chat by themselves: queued and ignored messages.
    fn decisions_tail(&mut self) {
        let Ok(text) = std::fs::read_to_string(&self.decisions) else {
            return;
        };
        // Only whole lines: the writer may be mid-line.
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let new: Vec<Value> = text[self.decisions_read.min(complete)..complete]
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        self.decisions_read = complete;
        for record in new {
            let author = visible::escape(record["author"].as_str().unwrap_or_default());
            let who = match record["kind"].as_str() {
                Some("message") | None => author.into_owned(),
                Some(kind) => format!("{author} ({})", visible::escape(kind)),
            };
            let mut what = visible::escape(record["message"].as_str().unwrap_or_default());
            if record["late"] == true {
                what = format!("{what} (late: caught up from the history)").into();
            }
            let line = match record["decision"].as_str() {
                Some("ack" | "queue") => {
                    let why = record["error"]
                        .as_str()
                        .filter(|e| !e.starts_with("late:"))
                        .map(|e| format!(" (the script failed: {})", visible::escape(e)))
                        .unwrap_or_default();
                    format!("queued for the agent, who would be woken: {who}: {what}{why}")
                }
                Some("ignore") => {
                    let why = record["error"]
                        .as_str()
                        .filter(|e| e.starts_with("late:"))
                        .map(|_| " (too late for an instant reply)")
                        .unwrap_or_default();
                    format!("ignored: {who}: {what}{why}")
                }
                _ => continue,
            };
            self.print(line);
        }
    }
}
