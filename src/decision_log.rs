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

use tokio::sync::mpsc;

use crate::config::DecisionsConfig;
use crate::health::Health;
use crate::outcome::{Outcome, Outcomes};
use crate::rotating::{Feed, Rotation};

/// The record of one decision, which the log writes as one line (it is the decision
/// [`Outcome`] too, so it lives with the outcomes).
pub use crate::outcome::Record;
pub use crate::rotating::{rotate_files, rotated};

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
        crate::outcome::tests::sample()
    }
}
