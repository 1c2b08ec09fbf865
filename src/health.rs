//! What the listener is doing, for people and watchdogs: counters, connection state, the
//! script's last load, the last wake.
//!
//! Every stage holds an `Arc<Health>` and reports into it; [`run`] writes a [`Snapshot`] to
//! `health.json` atomically (temp file + rename) every interval and soon after each state
//! change. Nothing here ever holds the access token. [`verdict`] judges a snapshot healthy or
//! not, for `retake-chat status` and `/healthz` alike.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use crate::act::queue::QueueStats;
use crate::source::liveness::Cause;

mod report;
mod verdict;
pub use report::Report;
pub use verdict::{Process, Verdict, judge, queue_stats, verdict};

pub use crate::time::now_ms;

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Serialize for Counter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

/// Every counter the listener keeps; names are part of health.json.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Raw `message` payloads received from the socket.
    pub events_in: Counter,
    /// Viewer messages handed to the personality.
    pub messages_in: Counter,
    /// Instant replies delivered.
    pub replies_sent: Counter,
    /// Acknowledgements delivered.
    pub acks_sent: Counter,
    /// Messages written to the queue for the agent.
    pub queued: Counter,
    /// Messages the personality chose to ignore.
    pub ignored: Counter,
    /// Moderation events (jail, delete, …) skipped.
    pub moderation: Counter,
    /// The agent's own messages echoed back, skipped.
    pub own: Counter,
    /// Messages whose id was seen recently (server repeats), skipped.
    pub duplicates: Counter,
    /// Payloads of a shape we do not understand, skipped.
    pub malformed: Counter,
    /// Socket.IO events nobody here handles (by name in health.json's `unknownEventNames`).
    pub unknown_events: Counter,
    /// Tips dropped as the second copy of one already handled (a tip comes both as a chat
    /// `message` of type `tip` and as `tip_received`).
    pub tip_duplicates: Counter,
    /// Personality calls that failed, overran a budget or returned nonsense.
    pub script_errors: Counter,
    /// HTTP send attempts that failed (each retry counts).
    pub send_errors: Counter,
    /// Replies and acknowledgements that never reached the chat: deadline passed, refused
    /// or redirected by the server (`replies_dropped` + `acks_dropped`).
    pub send_dropped: Counter,
    /// Replies not sent because the send budget was spent.
    pub rate_limited: Counter,
    /// Replies not sent because the same text went out within 30 s.
    pub repeats_suppressed: Counter,
    /// Replies, acknowledgements and timer lines not sent because the outbound guard blocked
    /// them: a secret in them, or a `[send] block` match.
    pub blocked: Counter,
    /// Messages kept out of the full queue (`[queue] max_items`), written to its archive.
    pub archived: Counter,
    /// Queue writes that failed (the batch is kept in memory and retried).
    pub queue_errors: Counter,
    /// Wake commands started.
    pub wakes: Counter,
    /// Wake commands that failed or timed out.
    pub wake_failures: Counter,
    /// Decision-log records dropped because the writer fell behind.
    pub decisions_dropped: Counter,
    /// Instant replies and acknowledgements dropped, oldest first, because more were waiting
    /// to be posted than `[backlog] instant_texts`.
    pub shed: Counter,
    /// Viewer messages queued for the agent without asking the personality, because more were
    /// waiting for it than `[backlog] personality`.
    pub unscripted: Counter,
    /// Replies and timer lines that never reached the chat: their deadline passed, or the
    /// server refused or redirected them (also in `send_dropped`).
    pub replies_dropped: Counter,
    /// Replies and timer lines whose request got no answer in time: they may be in the chat,
    /// and are never posted again.
    pub replies_unknown: Counter,
    /// Acknowledgements that never reached the chat (also in `send_dropped`).
    pub acks_dropped: Counter,
    /// Acknowledgements whose request got no answer in time: they may be in the chat.
    pub acks_unknown: Counter,
    /// Script log lines (`print`, `log`, `debug`) dropped over the log budget.
    pub script_log_suppressed: Counter,
    /// Messages missed while the socket could not hear, caught up from the chat history.
    pub caught_up: Counter,
    /// Messages read by polling the history while the socket was out of reach.
    pub polled: Counter,
    /// History pages read (catch-ups and polls).
    pub history_reads: Counter,
    /// History reads that failed (network, 401, 5xx, a body that is not a page).
    pub history_errors: Counter,
    /// History items skipped because they were not a message we understand.
    pub history_skipped: Counter,
    /// Transcript lines dropped because its writer fell behind.
    pub transcript_dropped: Counter,
}

/// Established connections lost, by cause (health.json's `disconnects`).
#[derive(Debug, Default)]
pub struct Disconnects([Counter; Cause::ALL.len()]);

impl Disconnects {
    /// How many connections were lost for `cause`.
    pub fn get(&self, cause: Cause) -> u64 {
        self.0[cause as usize].get()
    }

    fn inc(&self, cause: Cause) {
        self.0[cause as usize].inc();
    }
}

impl Serialize for Disconnects {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(Cause::ALL.len()))?;
        for cause in Cause::ALL {
            map.serialize_entry(cause.name(), &self.get(cause))?;
        }
        map.end()
    }
}

/// Connection state as the seed's health file spelled it, plus our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not yet connected.
    Starting,
    /// Connected and joined to the room.
    Connected,
    /// Between connection attempts.
    Disconnected,
    /// Shut down cleanly.
    Stopped,
}

/// Where viewer messages are coming from right now (health.json's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Feed {
    /// Nowhere: the socket is out of reach and the history is not polled (yet).
    #[serde(rename = "none")]
    None,
    /// The socket, live.
    #[serde(rename = "socket")]
    Socket,
    /// The socket, live, while what was missed is read from the history.
    #[serde(rename = "catching up")]
    CatchingUp,
    /// The history, polled, while the socket is out of reach.
    #[serde(rename = "polling")]
    Polling,
}

/// The personality as last loaded.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptState {
    /// The script's path, or `<embedded>`.
    pub path: String,
    /// When the running version was loaded, epoch ms.
    pub loaded_at: Option<i64>,
    /// The last load or reload error (cleared by a good reload).
    pub error: Option<String>,
}

/// The last wake of the agent.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WakeState {
    /// When it started, epoch ms.
    pub at: Option<i64>,
    /// Whether it succeeded.
    pub ok: Option<bool>,
    /// Why it failed.
    pub error: Option<String>,
}

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

/// What health.json holds. The first four fields are the seed listener's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot<'a> {
    /// `starting`, `connected`, `disconnected` or `stopped`.
    pub status: Status,
    /// When the last viewer message arrived, epoch ms.
    pub last_message: Option<i64>,
    /// Connection attempts after the first.
    pub reconnects: u64,
    /// Established connections lost, by cause: `serverClosed`, `kicked`, `pingTimeout`,
    /// `transportError`.
    pub disconnects: &'a Disconnects,
    /// Milliseconds since start.
    pub uptime: u64,
    /// The listener's process id.
    pub pid: u32,
    /// When this snapshot was written, epoch ms.
    pub updated_at: i64,
    /// When the listener started, epoch ms.
    pub started_at: i64,
    /// The last connection or send error worth a human's attention.
    pub last_error: Option<String>,
    /// The personality.
    pub script: ScriptState,
    /// The last wake.
    pub wake: WakeState,
    /// The queue as last looked at.
    pub queue: QueueStats,
    /// Every counter.
    pub counters: &'a Counters,
    /// How often this file is rewritten, ms: older than three of these means the writer is stuck.
    pub write_interval_ms: u64,
    /// Where `/healthz` and `/metrics` are served, when they are.
    pub metrics_addr: Option<String>,
    /// Why the queue cannot be written right now (`"disk full: …"`); `None` once a write
    /// succeeds. While set, the listener is unhealthy.
    pub queue_error: Option<String>,
    /// Where messages come from: `socket`, `catching up`, `polling` or `none`.
    pub source: Feed,
    /// Why the chat history cannot be read right now; `None` once a read succeeds.
    pub history_error: Option<String>,
    /// Events nobody here handles, by name (the first [`MAX_UNKNOWN_NAMES`]; the rest
    /// under `(other)`).
    pub unknown_event_names: BTreeMap<String, u64>,
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
                write_interval_ms: verdict::DEFAULT_WRITE_INTERVAL_MS,
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

    /// Serialize the current state as health.json's JSON.
    pub fn to_json(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let snapshot = Snapshot {
            status: state.status,
            last_message: state.last_message,
            reconnects: state.reconnects,
            disconnects: &self.disconnects,
            uptime: self.started.elapsed().as_millis() as u64,
            pid: std::process::id(),
            updated_at: now_ms(),
            started_at: self.started_at,
            last_error: state.last_error.clone(),
            script: state.script.clone(),
            wake: state.wake.clone(),
            queue: state.queue,
            counters: &self.counters,
            write_interval_ms: state.write_interval_ms,
            metrics_addr: state.metrics_addr.clone(),
            queue_error: state.queue_error.clone(),
            source: state.feed,
            history_error: state.history_error.clone(),
            unknown_event_names: state.unknown_events.clone(),
        };
        serde_json::to_string_pretty(&snapshot).unwrap_or_default()
    }

    /// Write health.json atomically ([`crate::files::write_replacing`]).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::files::write_replacing(path, self.to_json().as_bytes())?;
        self.written_at.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }
}

/// Write health.json every `interval` and shortly after each change until shutdown, then once more.
pub async fn run(
    health: std::sync::Arc<Health>,
    path: PathBuf,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // Changes come in bursts (connect + join + first message); a short pause folds them into one write.
    const SETTLE: Duration = Duration::from_millis(50);
    let mut failing = false;
    {
        let mut state = health.state.lock().unwrap_or_else(|e| e.into_inner());
        state.write_interval_ms = interval.as_millis().try_into().unwrap_or(u64::MAX);
    }
    loop {
        let result = {
            let (health, path) = (health.clone(), path.clone());
            tokio::task::spawn_blocking(move || health.write(&path)).await
        };
        match result {
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!("cannot write {}: {e}", path.display());
            }
            Ok(Ok(())) => failing = false,
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = health.changed.notified() => tokio::time::sleep(SETTLE).await,
            _ = shutdown.changed() => {}
        }
        // The daemon writes the last one (`stopped`) once every stage has finished.
        if *shutdown.borrow() {
            return;
        }
    }
}
