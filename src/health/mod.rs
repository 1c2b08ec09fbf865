//! What the listener is doing, for people and watchdogs: counters, connection state, the
//! script's last load, the last wake.
//!
//! Every stage holds an `Arc<Health>` and reports into it; the writer ([`run`]) writes its
//! [`Snapshot`] to `health.json` every interval and soon after each state change. Nothing
//! here ever holds the access token. [`verdict`] judges a snapshot healthy or not, for
//! `retake-chat status` (through [`Report`]) and `/healthz` alike. Depends on leaf modules
//! only: the stages call in, never the other way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

use crate::time::now_ms;

mod counters;
mod report;
mod snapshot;
mod verdict;
mod writer;
pub use counters::{Cause, Counter, Counters, Disconnects};
pub use report::Report;
pub use snapshot::{Feed, QueueStats, ScriptState, Snapshot, Status, StatusWord, WakeState};
pub use verdict::{Process, Verdict, judge, verdict};
pub use writer::run;

#[derive(Debug)]
struct State {
    status: Status,
    reconnects: u64,
    last_message: Option<i64>,
    last_error: Option<String>,
    script: ScriptState,
    wake: WakeState,
    queue: QueueStats,
    write_interval_ms: u64,
    metrics_addr: Option<String>,
    queue_error: Option<String>,
    feed: Feed,
    history_error: Option<String>,
    unknown_events: BTreeMap<String, u64>,
}

/// Shared health of the running listener.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    started_at: i64,
    /// When health.json was last written successfully, epoch ms (0: not yet).
    written_at: AtomicI64,
    /// The counters, incremented directly by the stages.
    pub counters: Counters,
    /// Connections lost, by cause.
    pub disconnects: Disconnects,
    state: Mutex<State>,
    changed: Notify,
}

/// Most distinct unknown event names counted by name.
pub const MAX_UNKNOWN_NAMES: usize = 16;

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Fresh health, status `starting`.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            started_at: now_ms(),
            written_at: AtomicI64::new(0),
            counters: Counters::default(),
            disconnects: Disconnects::default(),
            state: Mutex::new(State {
                status: Status::Starting,
                reconnects: 0,
                last_message: None,
                last_error: None,
                script: ScriptState::default(),
                wake: WakeState::default(),
                queue: QueueStats::default(),
                write_interval_ms: snapshot::DEFAULT_WRITE_INTERVAL_MS,
                metrics_addr: None,
                queue_error: None,
                feed: Feed::None,
                history_error: None,
                unknown_events: BTreeMap::new(),
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        // A poisoned lock only means a panic elsewhere while holding it; the data is plain.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut state);
        drop(state);
        self.changed.notify_one();
    }

    /// The connection changed state.
    pub fn set_status(&self, status: Status) {
        self.update(|s| s.status = status);
    }

    /// An established connection was lost for `cause`; `error` says so to a human.
    pub fn connection_lost(&self, cause: Cause, error: impl Into<String>) {
        self.disconnects.inc(cause);
        let error = error.into();
        self.update(|s| {
            s.status = Status::Disconnected;
            s.last_error = Some(error);
        });
    }

    /// A reconnection attempt is starting.
    pub fn reconnecting(&self) {
        self.update(|s| s.reconnects += 1);
    }

    /// Something went wrong that a human should see (never include the token).
    pub fn set_error(&self, error: impl Into<String>) {
        let error = error.into();
        self.update(|s| s.last_error = Some(error));
    }

    /// A viewer message arrived (not written at once: it is not a state change).
    pub fn message_seen(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_message = Some(now_ms());
    }

    /// A script version is now running.
    pub fn script_loaded(&self, path: &str, loaded_at: i64) {
        let path = path.to_string();
        self.update(|s| {
            s.script = ScriptState {
                path,
                loaded_at: Some(loaded_at),
                error: None,
            }
        });
    }

    /// A load or reload failed; the previous script (if any) keeps running.
    pub fn script_failed(&self, error: impl Into<String>) {
        let error = error.into();
        self.update(|s| s.script.error = Some(error));
    }

    /// A wake finished.
    pub fn wake_done(&self, at: i64, result: Result<(), String>) {
        self.update(|s| {
            s.wake = WakeState {
                at: Some(at),
                ok: Some(result.is_ok()),
                error: result.err(),
            }
        });
    }

    /// The queue's numbers changed (not written at once: not a state change).
    pub fn set_queue(&self, stats: QueueStats) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.queue = stats;
    }

    /// The queue could not be written (`Some(why)`), or has been again (`None`). Only a
    /// change is a state change: a retry failing the same way rewrites nothing.
    pub fn set_queue_error(&self, error: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.queue_error != error {
            state.queue_error = error;
            drop(state);
            self.changed.notify_one();
        }
    }

    /// Messages now come from `feed`.
    pub fn set_feed(&self, feed: Feed) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.feed != feed {
            state.feed = feed;
            drop(state);
            self.changed.notify_one();
        }
    }

    /// The history could not be read (`Some(why)`), or has been again (`None`).
    pub fn set_history_error(&self, error: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.history_error != error {
            state.history_error = error;
            drop(state);
            self.changed.notify_one();
        }
    }

    /// An event called `name` came that nobody here handles (not a state change: counted).
    pub fn unknown_event(&self, name: &str) {
        self.counters.unknown_events.inc();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let names = &mut state.unknown_events;
        let key = if names.contains_key(name) || names.len() < MAX_UNKNOWN_NAMES {
            name
        } else {
            "(other)"
        };
        *names.entry(key.to_string()).or_default() += 1;
    }

    /// The HTTP endpoint is listening on `addr` (written to health.json so tools can find it).
    pub fn set_metrics_addr(&self, addr: SocketAddr) {
        self.update(|s| s.metrics_addr = Some(addr.to_string()));
    }

    /// When health.json was last written successfully, epoch ms; `None` before the first write.
    pub fn written_at(&self) -> Option<i64> {
        Some(self.written_at.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// The current connection status.
    pub fn status(&self) -> Status {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).status
    }

    /// The current state, as health.json will hold it.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Snapshot {
            status: StatusWord::Known(state.status),
            last_message: state.last_message,
            reconnects: state.reconnects,
            disconnects: self.disconnects.clone(),
            uptime: self.started.elapsed().as_millis() as u64,
            pid: Some(std::process::id()),
            updated_at: Some(now_ms()),
            started_at: self.started_at,
            last_error: state.last_error.clone(),
            script: state.script.clone(),
            wake: state.wake.clone(),
            queue: state.queue,
            counters: self.counters.clone(),
            write_interval_ms: state.write_interval_ms,
            metrics_addr: state.metrics_addr.clone(),
            queue_error: state.queue_error.clone(),
            source: Some(state.feed),
            history_error: state.history_error.clone(),
            unknown_event_names: state.unknown_events.clone(),
        }
    }

    /// Serialize the current state as health.json's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.snapshot()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_json_keeps_its_fields_in_order_and_reads_back_byte_for_byte() {
        let health = Health::new();
        health.set_status(Status::Connected);
        health.connection_lost(Cause::Kicked, "chat connection lost: kicked");
        health.script_loaded("a.rhai", 5);
        health.wake_done(7, Err("exit 1".into()));
        health.unknown_event("mystery");
        health.counters.queued.add(2);
        let text = health.to_json();
        let snapshot: Snapshot = serde_json::from_str(&text).expect("reads back");
        let again = serde_json::to_string_pretty(&snapshot).expect("serialize");
        assert_eq!(again, text);
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("  \"")?.split_once('"'))
            .map(|(key, _)| key)
            .collect();
        assert_eq!(
            keys,
            [
                "status",
                "lastMessage",
                "reconnects",
                "disconnects",
                "uptime",
                "pid",
                "updatedAt",
                "startedAt",
                "lastError",
                "script",
                "wake",
                "queue",
                "counters",
                "writeIntervalMs",
                "metricsAddr",
                "queueError",
                "source",
                "historyError",
                "unknownEventNames"
            ]
        );
        assert!(text.contains("\"status\": \"disconnected\""), "{text}");
        assert!(text.contains("\"kicked\": 1"), "{text}");
    }
}
