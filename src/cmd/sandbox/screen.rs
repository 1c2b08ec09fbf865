//! The sandbox's screen: what the bot (and the agent, through `retake-chat reply`) said in
//! chat, what it queued or ignored, why it stayed quiet, reloads and errors, each printed once
//! and in the order the messages came. What the listener did comes from its outcomes (a
//! broadcast, [`crate::outcome`]); what reached the chat from the fake, which also hears the
//! agent's replies (another process); the last error from health. Viewers, scripts and the
//! server wrote that text, so it is shown escaped, never obeyed.
//!
//! A decided reply or acknowledgement waits here until its fate is seen (sent, or held back,
//! `fate.rs`); a message's own line (queued, ignored) is printed after its texts' fates, and
//! no later message's line before it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::broadcast::{self, error::TryRecvError};

use super::fate::{Fate, about, held_line};
use crate::act::guard::Guard;
use crate::decision_log::Record;
use crate::fake::FakeRetake;
use crate::health::Health;
use crate::outcome::{Held, Outcome};
use crate::visible;

/// How long a fate may come before a decision it could belong to, and a decision wait for
/// its fate, before each is shown on its own.
const MATCH_WITHIN: Duration = Duration::from_secs(3);
/// How long a script error in health waits for the decision line that shows it too.
const ERROR_WAIT: Duration = Duration::from_millis(500);

/// A decided message whose line waits for its texts' fates (and for the messages before it).
struct Waiting {
    /// The message's id: the fates of its texts name it.
    id: String,
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
    /// What the listener does, subscribed to before it started.
    outcomes: broadcast::Receiver<Outcome>,
    /// Decisions taken in so far (and outcomes lost by falling behind, which may have been).
    pub(super) records: u64,
    /// Requests of the fake's shown so far.
    sent: usize,
    waiting: VecDeque<Waiting>,
    /// Fates seen before their decision was read.
    early: VecDeque<(Fate, Instant)>,
    /// The sender's own guard: a text becomes the same parts here as there.
    guard: Guard,
    /// The `Authorization` the agent's `retake-chat reply` sends: its texts are marked.
    agent_auth: String,
    /// Reloads and reload errors seen, printed after this update's decision lines.
    script_lines: Vec<String>,
    /// The reload error last shown, until a good reload: the same one again is not news.
    load_error: Option<String>,
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
    /// A screen showing `outcomes` (and nothing of a kept state directory's earlier runs).
    pub(super) fn new(
        outcomes: broadcast::Receiver<Outcome>,
        guard: Guard,
        agent_auth: String,
    ) -> Self {
        Self {
            outcomes,
            records: 0,
            sent: 0,
            waiting: VecDeque::new(),
            early: VecDeque::new(),
            guard,
            agent_auth,
            script_lines: Vec::new(),
            load_error: None,
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
        self.take_outcomes(fake);
        self.show_sent(fake);
        self.pump();
        for line in std::mem::take(&mut self.script_lines) {
            self.print(line);
        }
        self.errors(health);
    }

    /// Every outcome published since the last call, in order. One lost by falling behind is
    /// said, and counted as shown: the sandbox never waits for what it cannot see.
    fn take_outcomes(&mut self, fake: &FakeRetake) {
        loop {
            match self.outcomes.try_recv() {
                Ok(outcome) => self.outcome(outcome, fake),
                Err(TryRecvError::Lagged(lost)) => {
                    self.records += lost;
                    eprintln!(
                        "(the sandbox fell behind the listener: {lost} outcomes are not shown)"
                    );
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return,
            }
        }
    }

    /// One outcome: a decision waits for its texts' fates, a fate finds its decision, a
    /// reload is said after this update's decision lines.
    fn outcome(&mut self, outcome: Outcome, fake: &FakeRetake) {
        match outcome {
            Outcome::Decided(record) => {
                self.records += 1;
                self.decided(&record);
            }
            // The fake has it by now: its line first, so a later text's fate comes after it.
            Outcome::Sent(text) | Outcome::Unconfirmed(text) => {
                self.show_sent(fake);
                self.fate(Fate::Sent(text));
            }
            Outcome::Held(held, text) => self.fate(Fate::Held(held, text)),
            Outcome::Reloaded { path } => {
                self.load_error = None;
                self.script_lines.push(format!("reloaded {path}"));
            }
            Outcome::ReloadFailed { error } => {
                if self.load_error.as_deref() != Some(error.as_str()) {
                    self.script_lines.push(format!("script error: {error}"));
                    self.load_error = Some(error);
                }
            }
        }
    }

    /// What the fake received since the last call: the bot's texts and the agent's.
    fn show_sent(&mut self, fake: &FakeRetake) {
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
        }
        self.sent = sent.len();
    }

    /// One decision: queued and ignored messages get a line; replies and acknowledgements
    /// wait for their fates.
    fn decided(&mut self, record: &Record) {
        let author = visible::escape(&record.author);
        let who = match record.kind.as_str() {
            "message" => author.into_owned(),
            kind => format!("{author} ({})", visible::escape(kind)),
        };
        let message = record.message.as_str();
        let mut what = visible::escape(message);
        if record.late {
            what = format!("{what} (late: caught up from the history)").into();
        }
        let error = record.error.as_deref();
        let decision = record.decision;
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
        let parts = match (decision, record.text.as_deref()) {
            ("reply" | "ack", Some(text)) => match self.guard.parts(text) {
                Ok(parts) => parts.into(),
                // Blocked: one fate for the whole text.
                Err(_) => VecDeque::from([String::new()]),
            },
            _ => VecDeque::new(),
        };
        let mut waiting = Waiting {
            id: record.id.clone(),
            about: about(decision, &who, message),
            parts,
            then,
            since: Instant::now(),
        };
        // Fates that came first, in order; a send that is not this text's was someone else's
        // (a timer's line) and is already shown.
        while let (Some(part), Some((fate, _))) = (waiting.parts.front(), self.early.front()) {
            match fate {
                Fate::Sent(sent) if sent.text != *part => {}
                Fate::Sent(_) => {
                    waiting.parts.pop_front();
                }
                Fate::Held(held, _) => {
                    let line = held_line(*held, Some((part, &waiting.about)));
                    self.print(line);
                    waiting.parts.pop_front();
                }
            }
            self.early.pop_front();
        }
        self.waiting.push_back(waiting);
    }

    /// A text sent or held back: it belongs to the decision on the message it answers, or
    /// else to the oldest waiting decision it can be.
    fn fate(&mut self, fate: Fate) {
        let could = |w: &Waiting| match &fate {
            Fate::Sent(sent) => w.parts.front() == Some(&sent.text),
            Fate::Held(..) => !w.parts.is_empty(),
        };
        let answers = fate.text().in_reply_to.as_str();
        let found = (self.waiting.iter())
            .position(|w| w.id == answers && could(w))
            .or_else(|| self.waiting.iter().position(could));
        let Some(i) = found else {
            self.early.push_back((fate, Instant::now()));
            return;
        };
        let waiting = &mut self.waiting[i];
        let part = waiting.parts.pop_front().unwrap_or_default();
        if let Fate::Held(held, _) = fate {
            if held == Held::Blocked {
                waiting.parts.clear();
            }
            let line = held_line(held, Some((&part, &waiting.about)));
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
            if let Fate::Held(held, _) = fate {
                let line = held_line(*held, None);
                self.print(line);
            }
            self.early.pop_front();
        }
    }

    /// The listener's last error, once (health's: errors of every stage go there).
    fn errors(&mut self, health: &Health) {
        let snapshot: Value = serde_json::from_str(&health.to_json()).unwrap_or_default();
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
