//! The sandbox's screen: what the bot (and the agent, through `retake-chat reply`) said in
//! chat, what it queued or ignored, why it stayed quiet, reloads and errors, each printed once
//! as it appears in the fake, the decision log or health, and in the order the messages came.
//! Viewers, scripts and the server wrote that text, so it is shown escaped, never obeyed.
//!
//! A decided reply or acknowledgement waits here until its fate is seen (sent, or held back
//! by a counter of the reply stage, `fate.rs`); a message's own line (queued, ignored) is
//! printed after its texts' fates, and no later message's line before it.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fate::{Fate, HELD, Held, about};
use crate::act::guard::Guard;
use crate::fake::FakeRetake;
use crate::health::Health;
use crate::visible;

/// How long a fate may come before the decision it belongs to is read (the decision log is
/// written a moment after the decision), and a decision wait for its fate, before each is
/// shown on its own.
const MATCH_WITHIN: Duration = Duration::from_secs(3);
/// How long a script error in health waits for the decision line that shows it too.
const ERROR_WAIT: Duration = Duration::from_millis(500);

/// A decided message whose line waits for its texts' fates (and for the messages before it).
struct Waiting {
    /// `the reply to viewer: gm`, for the lines that say why a text was not sent.
    about: String,
    /// The chat messages its text becomes, not yet seen sent or held back.
    parts: VecDeque<String>,
    /// Its own line, printed once the parts are done.
    then: Option<String>,
    since: Instant,
}

/// What has been printed so far, to print only what is new.
pub(super) struct Screen {
    decisions: PathBuf,
    decisions_read: usize,
    /// Decision records read so far.
    pub(super) records: u64,
    sent: usize,
    /// The counters behind each reason a text was not sent, as last seen.
    held: [u64; HELD.len()],
    waiting: VecDeque<Waiting>,
    /// Fates seen before their decision was read.
    early: VecDeque<(Fate, Instant)>,
    /// The sender's own guard: a text becomes the same parts here as there.
    guard: Guard,
    /// The `Authorization` the agent's `retake-chat reply` sends: its texts are marked.
    agent_auth: String,
    script: Value,
    last_error: Value,
    /// A script error from health, until its decision line shows it (or [`ERROR_WAIT`]).
    unshown_error: Option<(String, Instant)>,
    /// The last script failure a decision line showed.
    shown_failure: Option<String>,
    /// The sandbox dropped the socket itself (`/late`), and said so: not an error to show.
    dropping: bool,
    /// Lines printed so far: the sandbox waits for this to stop moving before it leaves.
    pub(super) printed: u64,
}

impl Screen {
    pub(super) fn new(decisions: PathBuf, guard: Guard, agent_auth: String) -> Self {
        // A kept state directory holds earlier runs' decisions: shown then, not again.
        let earlier = std::fs::metadata(&decisions).map_or(0, |m| m.len());
        Self {
            decisions_read: usize::try_from(earlier).unwrap_or(usize::MAX),
            decisions,
            records: 0,
            sent: 0,
            held: [0; HELD.len()],
            waiting: VecDeque::new(),
            early: VecDeque::new(),
            guard,
            agent_auth,
            script: Value::Null,
            last_error: Value::Null,
            unshown_error: None,
            shown_failure: None,
            dropping: false,
            printed: 0,
        }
    }

    /// One outcome; what viewers, scripts and the server wrote is escaped where it is put
    /// in, so nobody but us starts a line, and here again, so nothing acts on the terminal.
    fn print(&mut self, line: String) {
        println!("{}", visible::escape_lines(&line));
        self.printed += 1;
    }

    /// The sandbox is about to drop the listener's socket (`/late`): the lost connection that
    /// health reports next is that, not news.
    pub(super) fn dropping(&mut self) {
        self.dropping = true;
    }

    /// Whether every decision seen is shown, and so is every fate of its texts.
    pub(super) fn settled(&self) -> bool {
        self.waiting.is_empty() && self.early.iter().all(|(f, _)| matches!(f, Fate::Sent(_)))
    }

    /// Print what happened since the last call.
    pub(super) fn update(&mut self, fake: &FakeRetake, health: &Health) {
        self.decisions_tail();
        let sent = fake.sent();
        for request in sent.iter().skip(self.sent) {
            let text = request.body["message"].as_str().unwrap_or_default();
            if request.authorization.as_deref() == Some(self.agent_auth.as_str()) {
                self.print(format!(
                    "bot (the agent's reply): {}",
                    visible::escape(text)
                ));
                continue;
            }
            match request.body["destination_user_id"].as_str() {
                Some(super::RIVAL_ID) => self.print(format!(
                    "bot (in {}): {}",
                    super::RIVAL,
                    visible::escape(text)
                )),
                _ => self.print(format!("bot: {}", visible::escape(text))),
            }
            self.fate(Fate::Sent(text.to_string()));
        }
        self.sent = sent.len();
        for (i, held) in HELD.into_iter().enumerate() {
            let count = held.count(&health.counters);
            for _ in self.held[i]..count {
                self.fate(Fate::Held(held));
            }
            self.held[i] = count;
        }
        self.pump();
        self.script_and_errors(health);
    }

    /// Decisions: queued and ignored messages get a line; replies and acknowledgements wait
    /// for their fates.
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
            self.records += 1;
            self.decided(&record);
        }
    }

    /// One decision record.
    fn decided(&mut self, record: &Value) {
        let author = visible::escape(record["author"].as_str().unwrap_or_default());
        let who = match record["kind"].as_str() {
            Some("message") | None => author.into_owned(),
            Some(kind) => format!("{author} ({})", visible::escape(kind)),
        };
        let message = record["message"].as_str().unwrap_or_default();
        let mut what = visible::escape(message);
        if record["late"] == true {
            what = format!("{what} (late: caught up from the history)").into();
        }
        let error = record["error"].as_str();
        let decision = record["decision"].as_str().unwrap_or_default();
        let then = match decision {
            "ack" | "queue" => {
                let why = error
                    .filter(|e| !e.starts_with("late:"))
                    .map(|e| format!(" (the script failed: {})", visible::escape(e)))
                    .unwrap_or_default();
                if let Some(e) = error {
                    self.shown_failure = Some(e.to_string());
                }
                Some(format!(
                    "queued for the agent, who would be woken: {who}: {what}{why}"
                ))
            }
            "ignore" => {
                let why = error
                    .filter(|e| e.starts_with("late:"))
                    .map(|_| " (too late for an instant reply)")
                    .unwrap_or_default();
                Some(format!("ignored: {who}: {what}{why}"))
            }
            _ => None,
        };
        let parts = match (decision, record["text"].as_str()) {
            ("reply" | "ack", Some(text)) => match self.guard.parts(text) {
                Ok(parts) => parts.into(),
                // Blocked: one fate for the whole text.
                Err(_) => VecDeque::from([String::new()]),
            },
            _ => VecDeque::new(),
        };
        let mut waiting = Waiting {
            about: about(decision, &who, message),
            parts,
            then,
            since: Instant::now(),
        };
        // Fates that came first, in order; a send that is not this text's was someone else's
        // (a timer's line) and is already shown.
        while let (Some(part), Some((fate, _))) = (waiting.parts.front(), self.early.front()) {
            match fate {
                Fate::Sent(text) if text != part => {}
                Fate::Sent(_) => {
                    waiting.parts.pop_front();
                }
                Fate::Held(held) => {
                    let line = held.line(Some((part, &waiting.about)));
                    self.print(line);
                    waiting.parts.pop_front();
                }
            }
            self.early.pop_front();
        }
        self.waiting.push_back(waiting);
    }

    /// A text sent or held back: it belongs to the oldest waiting decision it can be.
    fn fate(&mut self, fate: Fate) {
        let found = self.waiting.iter().position(|w| match &fate {
            Fate::Sent(text) => w.parts.front() == Some(text),
            Fate::Held(_) => !w.parts.is_empty(),
        });
        let Some(i) = found else {
            self.early.push_back((fate, Instant::now()));
            return;
        };
        let waiting = &mut self.waiting[i];
        let part = waiting.parts.pop_front().unwrap_or_default();
        if let Fate::Held(held) = fate {
            if held == Held::Blocked {
                waiting.parts.clear();
            }
            let line = held.line(Some((&part, &waiting.about)));
            self.print(line);
        }
    }

    /// Print the lines of the decisions that are done, oldest first; give up on fates that
    /// never matched.
    fn pump(&mut self) {
        while let Some(front) = self.waiting.front() {
            if !front.parts.is_empty() && front.since.elapsed() < MATCH_WITHIN {
                break;
            }
            if let Some(line) = self.waiting.pop_front().and_then(|w| w.then) {
                self.print(line);
            }
        }
        while let Some((fate, at)) = self.early.front() {
            if at.elapsed() < MATCH_WITHIN {
                break;
            }
            if let Fate::Held(held) = fate {
                let line = held.line(None);
                self.print(line);
            }
            self.early.pop_front();
        }
    }

    /// Reloads, the script's load errors and the last error, each once.
    fn script_and_errors(&mut self, health: &Health) {
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
        if *error != self.last_error
            && let Some(text) = error.as_str()
        {
            self.unshown_error = Some((text.to_string(), Instant::now()));
        }
        self.last_error = error.clone();
        // A message's script failure is on its decision line already: said once, not twice.
        if let Some((text, at)) = self.unshown_error.take() {
            let shown = text
                .strip_prefix("script: ")
                .is_some_and(|e| self.shown_failure.as_deref() == Some(e));
            let ours = self.dropping && text.starts_with("chat connection lost");
            if shown || ours {
                self.dropping &= !ours;
                return;
            }
            if text.starts_with("script: ") && at.elapsed() < ERROR_WAIT {
                self.unshown_error = Some((text, at));
            } else {
                self.print(format!("error: {text}"));
            }
        }
    }
}
