//! The decision log: one JSON line per decided event in `decisions.jsonl`, so a streamer can
//! see afterwards why the bot said what it said (which message, which script version, what came
//! out, how long it took).
//!
//! The personality thread only hands a [`Record`] to a bounded channel ([`DecisionLog::record`]
//! never blocks, and drops and counts when the writer falls behind); [`run`] writes batches from
//! a blocking worker and rotates by size ([`crate::rotating`], which the transcript shares).
//! Every record is also published as an [`Outcome::Decided`], whether the file is written or
//! not ([`DecisionLog::publishing`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::DecisionsConfig;
use crate::event::ChatEvent;
use crate::health::Health;
use crate::outcome::{Outcome, Outcomes};
use crate::rotating::{Feed, Rotation};
use crate::script::Decision;

pub use crate::rotating::{rotate_files, rotated};

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

/// The personality's end of the log; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    feed: Feed<Record>,
    /// Print each record on stdout instead ([`DecisionLog::printing`]).
    print: bool,
    /// Where each record is published too.
    outcomes: Outcomes,
}

impl DecisionLog {
    /// A log whose records go to the returned receiver (give it to [`run`]).
    pub fn channel(health: Arc<Health>) -> (Self, mpsc::Receiver<Record>) {
        let (feed, rx) = Feed::channel(health, |counters| &counters.decisions_dropped);
        let log = Self {
            feed,
            print: false,
            outcomes: Outcomes::off(),
        };
        (log, rx)
    }

    /// A log that records nothing (`[decisions] max_bytes = 0`).
    pub fn disabled(_health: Arc<Health>) -> Self {
        Self {
            feed: Feed::disabled(),
            print: false,
            outcomes: Outcomes::off(),
        }
    }

    /// A log that prints each record as its [`Record::line`] on stdout and writes no file:
    /// `run --dry-run`, where the decisions are the whole output. Printing may block the
    /// personality thread on a stalled reader; a dry run has nothing else to keep up with.
    pub fn printing() -> Self {
        Self {
            feed: Feed::disabled(),
            print: true,
            outcomes: Outcomes::off(),
        }
    }

    /// This log, publishing each record on `outcomes` as well (also when it writes no file).
    pub fn publishing(self, outcomes: Outcomes) -> Self {
        Self { outcomes, ..self }
    }

    /// Hand one record to the writer; when it is too far behind, drop it and count it. The
    /// record is only built when the log is on or someone listens for outcomes: it copies the
    /// message, per event.
    pub fn record(&self, make: impl FnOnce() -> Record) {
        if !self.outcomes.wanted() {
            return self.write(make);
        }
        let record = Arc::new(make());
        self.outcomes
            .publish(|| Outcome::Decided(Arc::clone(&record)));
        self.write(|| Arc::unwrap_or_clone(record));
    }

    fn write(&self, make: impl FnOnce() -> Record) {
        if self.print {
            println!("{}", make().line());
        } else {
            self.feed.send(make);
        }
    }
}

/// Write records as they come, in batches, until every [`DecisionLog`] is dropped.
pub async fn run(rx: mpsc::Receiver<Record>, path: PathBuf, config: DecisionsConfig) {
    let rotation = Rotation {
        max_bytes: config.max_bytes,
        keep: config.keep,
    };
    crate::rotating::run(rx, path, rotation).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_line_with_the_documented_fields() {
        let record = Record {
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
        };
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
    fn every_record_is_published_also_when_no_file_is_written() {
        let outcomes = Outcomes::broadcast();
        let mut rx = outcomes.subscribe();
        let health = Arc::new(Health::new());
        let (written, mut records_rx) = DecisionLog::channel(health.clone());
        let logs = [
            written.publishing(outcomes.clone()),
            DecisionLog::disabled(health).publishing(outcomes.clone()),
        ];
        for (i, log) in logs.iter().enumerate() {
            log.record(|| Record {
                id: format!("m{i}"),
                ..record()
            });
            let Ok(Outcome::Decided(published)) = rx.try_recv() else {
                panic!("record {i} published");
            };
            assert_eq!(published.id, format!("m{i}"));
        }
        assert_eq!(records_rx.try_recv().expect("written").id, "m0");
        assert!(records_rx.try_recv().is_err(), "only the first log writes");
    }

    fn record() -> Record {
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
}
