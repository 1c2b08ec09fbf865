//! What happened, as it happens: the listener publishes an [`Outcome`] for each decision (the
//! decision log's [`Record`]), each text the reply stage sent or held back, and each reload of
//! the personality, on a broadcast channel ([`Outcomes`]). The sandbox's screen and the
//! in-process tests subscribe to it instead of re-reading `decisions.jsonl` and health.
//!
//! It leaves the files to others: the decision log, health.json and the queue stay the
//! binary's interface for everyone outside the process. The [`Record`] of a decision is here
//! because it is an outcome; the decision log writes it as its line.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::event::ChatEvent;
use crate::script::Decision;

/// Outcomes a subscriber may fall behind by before it loses the oldest.
const CAPACITY: usize = 4096;

/// One decided event, as one line of `decisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// When the decision was made, epoch ms.
    pub ts: i64,
    /// The message id.
    pub id: String,
    /// The viewer's display name.
    pub author: String,
    /// `message`, `tip` or `trade`.
    pub kind: String,
    /// What the viewer wrote.
    pub message: String,
    /// `reply`, `ack`, `queue` or `ignore`.
    pub decision: &'static str,
    /// The reply or acknowledgement text, for `reply` and `ack`.
    pub text: Option<String>,
    /// Why the decision is not the personality's own: it failed (the message was queued),
    /// it was not asked (a flood), or its reply came too late (a late message).
    pub error: Option<String>,
    /// Read from the chat history after the socket missed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// The personality's version (a hash of its source).
    pub script_version: String,
    /// How long the personality took, microseconds.
    pub micros: u64,
}

impl Record {
    /// The record of `decision` on `event`, made by script `version` in `took`.
    pub fn new(
        event: &ChatEvent,
        decision: &Decision,
        version: &str,
        took: Duration,
        error: Option<String>,
    ) -> Self {
        Self {
            ts: crate::time::now_ms(),
            id: event.id.clone(),
            author: event.author.clone(),
            kind: event.kind.clone(),
            message: event.text.clone(),
            decision: decision.kind(),
            text: decision.text().map(str::to_string),
            error,
            late: event.late,
            script_version: version.to_string(),
            micros: took.as_micros().try_into().unwrap_or(u64::MAX),
        }
    }
}

impl Record {
    /// The record as one line for a person: `alice: gm  →  reply "gm alice!"`, with why the
    /// decision is not the personality's own in parentheses and `[late]` for a message read
    /// from the history. What `run --dry-run` prints.
    pub fn line(&self) -> String {
        let said = self
            .text
            .as_deref()
            .map(|text| format!(" {}", crate::script::quote(text)))
            .unwrap_or_default();
        let why = self
            .error
            .as_deref()
            .map(|why| format!(" ({why})"))
            .unwrap_or_default();
        let late = if self.late { " [late]" } else { "" };
        let line = format!(
            "{}: {}  →  {}{said}{why}{late}",
            self.author, self.message, self.decision
        );
        // Viewers write the message: it is shown, never obeyed by the terminal.
        crate::visible::escape(&line).into_owned()
    }
}

/// One thing that happened to an event, or to the personality.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An event was decided: by the personality, or for it (it failed, was not asked, or its
    /// reply came too late); exactly what the decision log writes, also when the log is off
    /// and in dry runs.
    Decided(Arc<Record>),
    /// The platform accepted a text (one part of a reply that was split).
    Sent(Text),
    /// A request went out and no answer came: the text may be in the chat; it is not sent
    /// again.
    Unconfirmed(Text),
    /// A text was not sent.
    Held(Held, Text),
    /// A new version of the personality compiled and is deciding now.
    Reloaded {
        /// The script's path.
        path: String,
    },
    /// A reload failed; the last good version keeps deciding.
    ReloadFailed {
        /// The one-line error, `path:line:col: message`.
        error: String,
    },
}

/// A text of the reply stage, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// The id of the viewer message it answers (empty for a timer's line).
    pub in_reply_to: String,
    /// The room it was for: another streamer's id, or empty for the own room.
    pub room: String,
    /// The text; empty when the outbound guard blocked it, which holds a secret that no
    /// subscriber should be able to print.
    pub text: String,
}

/// Why a text was not sent; each is counted in health too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// The same text went out within 30 s (`repeatsSuppressed`).
    Repeat,
    /// The send budget was spent (`rateLimited`).
    Budget,
    /// The outbound guard blocked it (`blocked`).
    Blocked,
    /// Its deadline passed, or the server refused it (`repliesDropped`, `acksDropped`).
    Dropped,
    /// Too many instant texts were waiting (`shed`).
    Shed,
}

/// The sending end: cheap to clone, and publishing never blocks and never fails. A subscriber
/// that falls more than a few thousand outcomes behind loses the oldest (its next `recv` says
/// `Lagged(n)`); the listener never waits for it.
#[derive(Debug, Clone)]
pub struct Outcomes(Option<broadcast::Sender<Outcome>>);

impl Outcomes {
    /// A broadcast others can [`subscribe`](Self::subscribe) to.
    pub fn broadcast() -> Self {
        Self(Some(broadcast::channel(CAPACITY).0))
    }

    /// No broadcast at all (the binary's listener): publishing costs nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// Every outcome published from now on. Subscribing to [`Outcomes::off`] gives a
    /// receiver that is closed already.
    pub fn subscribe(&self) -> broadcast::Receiver<Outcome> {
        match &self.0 {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Whether anyone is listening: an outcome is only built then (it copies texts).
    pub fn wanted(&self) -> bool {
        self.0.as_ref().is_some_and(|tx| tx.receiver_count() > 0)
    }

    /// Publish the outcome `make` builds, when anyone is listening.
    pub fn publish(&self, make: impl FnOnce() -> Outcome) {
        if let Some(tx) = &self.0
            && tx.receiver_count() > 0
        {
            // Err only when the last receiver went in between: nobody to tell.
            let _ = tx.send(make());
        }
    }

    /// [`Outcome::Held`] for a text of the reply stage.
    pub fn held(&self, why: Held, in_reply_to: &str, room: &str, text: &str) {
        self.publish(|| {
            let text = if why == Held::Blocked { "" } else { text };
            Outcome::Held(why, Text::new(in_reply_to, room, text))
        });
    }
}

impl Default for Outcomes {
    /// [`Outcomes::off`]: a listener tells nobody unless asked to.
    fn default() -> Self {
        Self::off()
    }
}

impl Text {
    /// The text `text` for `room`, answering `in_reply_to`.
    pub fn new(in_reply_to: &str, room: &str, text: &str) -> Self {
        Self {
            in_reply_to: in_reply_to.to_string(),
            room: room.to_string(),
            text: text.to_string(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field set, for the tests here and the decision log's.
    pub(crate) fn sample() -> Record {
        Record {
            ts: 1,
            id: "c_91".into(),
            author: "alice".into(),
            kind: "message".into(),
            message: "gm".into(),
            decision: "reply",
            text: Some("gm alice".into()),
            error: None,
            late: false,
            script_version: "0123456789abcdef".into(),
            micros: 12,
        }
    }

    #[test]
    fn a_record_is_one_line_with_the_documented_fields() {
        let record = sample();
        assert_eq!(
            serde_json::to_string(&record).expect("json"),
            r#"{"ts":1,"id":"c_91","author":"alice","kind":"message","message":"gm","decision":"reply","text":"gm alice","error":null,"script_version":"0123456789abcdef","micros":12}"#
        );
        assert_eq!(record.line(), "alice: gm  →  reply \"gm alice\"");
        let late = Record {
            decision: "ignore",
            text: None,
            error: Some("late".into()),
            late: true,
            message: "hi\u{1b}[2J".into(),
            ..record
        };
        assert_eq!(late.line(), "alice: hi\\u{1b}[2J  →  ignore (late) [late]");
    }

    #[test]
    fn outcomes_reach_every_subscriber_and_nobody_listening_costs_nothing() {
        let outcomes = Outcomes::broadcast();
        assert!(!outcomes.wanted());
        outcomes.publish(|| unreachable!("built with nobody listening"));
        let (mut a, mut b) = (outcomes.subscribe(), outcomes.subscribe());
        assert!(outcomes.wanted());
        outcomes.held(Held::Budget, "m1", "", "gm");
        for rx in [&mut a, &mut b] {
            let Ok(Outcome::Held(Held::Budget, text)) = rx.try_recv() else {
                panic!("the held text");
            };
            assert_eq!(text, Text::new("m1", "", "gm"));
        }
        outcomes.held(Held::Blocked, "m2", "", "my secret");
        let Ok(Outcome::Held(Held::Blocked, text)) = a.try_recv() else {
            panic!("the blocked text");
        };
        assert_eq!(text.text, "", "a blocked text is never carried");
        let off = Outcomes::off();
        off.publish(|| unreachable!("off"));
        assert!(matches!(
            off.subscribe().try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }

    #[test]
    fn a_lagging_subscriber_loses_the_oldest_and_is_told() {
        let outcomes = Outcomes::broadcast();
        let mut rx = outcomes.subscribe();
        for i in 0..CAPACITY + 3 {
            outcomes.held(Held::Shed, &i.to_string(), "", "x");
        }
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(3))
        ));
        let Ok(Outcome::Held(_, text)) = rx.try_recv() else {
            panic!("the oldest kept");
        };
        assert_eq!(text.in_reply_to, "3");
    }
}
