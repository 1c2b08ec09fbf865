//! What health.json holds, typed: the [`Snapshot`] the listener writes (its bytes are a
//! contract: the agent, `status` and outside checks read them) and that `status`, `/healthz`
//! and `/metrics` judge. Read back leniently: a field missing or of another type (an older
//! or newer listener, a hand edit) reads as unknown or zero, never fails the whole file.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Counters, Disconnects};

/// The write interval a snapshot without `writeIntervalMs` is judged by (the default).
pub(super) const DEFAULT_WRITE_INTERVAL_MS: u64 = 5000;

/// What health.json holds. The first four fields are the seed listener's.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Snapshot {
    /// `starting`, `connected`, `disconnected` or `stopped`.
    #[serde(deserialize_with = "lenient")]
    pub status: StatusWord,
    /// When the last viewer message arrived, epoch ms.
    #[serde(deserialize_with = "lenient")]
    pub last_message: Option<i64>,
    /// Connection attempts after the first.
    #[serde(deserialize_with = "lenient")]
    pub reconnects: u64,
    /// Established connections lost, by cause: `serverClosed`, `kicked`, `pingTimeout`,
    /// `transportError`.
    #[serde(deserialize_with = "lenient")]
    pub disconnects: Disconnects,
    /// Milliseconds since start.
    #[serde(deserialize_with = "lenient")]
    pub uptime: u64,
    /// The listener's process id (always written; `None` only in a file without one).
    #[serde(deserialize_with = "lenient")]
    pub pid: Option<u32>,
    /// When this snapshot was written, epoch ms (always written; `None` only in a file
    /// without one).
    #[serde(deserialize_with = "lenient")]
    pub updated_at: Option<i64>,
    /// When the listener started, epoch ms.
    #[serde(deserialize_with = "lenient")]
    pub started_at: i64,
    /// The last connection or send error worth a human's attention.
    #[serde(deserialize_with = "lenient")]
    pub last_error: Option<String>,
    /// The personality.
    #[serde(deserialize_with = "lenient")]
    pub script: ScriptState,
    /// The last wake.
    #[serde(deserialize_with = "lenient")]
    pub wake: WakeState,
    /// The queue as last looked at.
    #[serde(deserialize_with = "lenient")]
    pub queue: QueueStats,
    /// Every counter.
    #[serde(deserialize_with = "lenient")]
    pub counters: Counters,
    /// How often this file is rewritten, ms: older than three of these means the writer is stuck.
    #[serde(deserialize_with = "lenient")]
    pub write_interval_ms: u64,
    /// Where `/healthz` and `/metrics` are served, when they are.
    #[serde(deserialize_with = "lenient")]
    pub metrics_addr: Option<String>,
    /// Why the queue cannot be written right now (`"disk full: …"`); `None` once a write
    /// succeeds. While set, the listener is unhealthy.
    #[serde(deserialize_with = "lenient")]
    pub queue_error: Option<String>,
    /// Where messages come from: `socket`, `catching up`, `polling` or `none` (always
    /// written; `None` only in a file from before catch-up, whose messages came from the socket).
    #[serde(deserialize_with = "lenient")]
    pub source: Option<Feed>,
    /// Why the chat history cannot be read right now; `None` once a read succeeds.
    #[serde(deserialize_with = "lenient")]
    pub history_error: Option<String>,
    /// Events nobody here handles, by name (the first [`MAX_UNKNOWN_NAMES`]; the rest
    /// under `(other)`).
    ///
    /// [`MAX_UNKNOWN_NAMES`]: super::MAX_UNKNOWN_NAMES
    #[serde(deserialize_with = "lenient")]
    pub unknown_event_names: BTreeMap<String, u64>,
}

impl Default for Snapshot {
    /// What a file with nothing in it reads as.
    fn default() -> Self {
        Self {
            status: StatusWord::Missing,
            last_message: None,
            reconnects: 0,
            disconnects: Disconnects::default(),
            uptime: 0,
            pid: None,
            updated_at: None,
            started_at: 0,
            last_error: None,
            script: ScriptState::default(),
            wake: WakeState::default(),
            queue: QueueStats::default(),
            counters: Counters::default(),
            write_interval_ms: DEFAULT_WRITE_INTERVAL_MS,
            metrics_addr: None,
            queue_error: None,
            source: None,
            history_error: None,
            unknown_event_names: BTreeMap::new(),
        }
    }
}

/// A field as `T`, or `T`'s default when it holds something else: one odd field costs that
/// field, not the whole snapshot.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(T::deserialize(value).unwrap_or_default())
}

/// Connection state as the seed's health file spelled it, plus our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// health.json's `status` as read back: a [`Status`] (always, in a file we wrote), another
/// word (a newer listener's), or nothing. Written as the word itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusWord {
    /// One this version knows.
    Known(Status),
    /// A word this version does not know.
    Other(String),
    /// No status at all (or not a string).
    #[default]
    Missing,
}

impl Status {
    /// The word in health.json: `starting`, `connected`, `disconnected`, `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Starting => "starting",
            Status::Connected => "connected",
            Status::Disconnected => "disconnected",
            Status::Stopped => "stopped",
        }
    }
}

impl StatusWord {
    /// The status when it is one this version knows.
    pub fn known(&self) -> Option<Status> {
        match self {
            Self::Known(status) => Some(*status),
            _ => None,
        }
    }

    /// The word as written; `None` when there is none.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Known(status) => Some(status.name()),
            Self::Other(word) => Some(word),
            Self::Missing => None,
        }
    }
}

/// Where viewer messages are coming from right now (health.json's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScriptState {
    /// The script's path, or `<embedded>`.
    pub path: String,
    /// When the running version was loaded, epoch ms.
    pub loaded_at: Option<i64>,
    /// The last load or reload error (cleared by a good reload).
    pub error: Option<String>,
}

/// The last wake of the agent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WakeState {
    /// When it started, epoch ms.
    pub at: Option<i64>,
    /// Whether it succeeded.
    pub ok: Option<bool>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The queue's counts, as the queue reports them to health (health.json's `queue`) and to
/// `status` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueueStats {
    /// Items waiting to be taken.
    pub pending: usize,
    /// Items taken and not yet acknowledged, lease still running.
    pub leased: usize,
    /// `ts` of the oldest pending item (epoch ms).
    pub oldest_pending: Option<i64>,
    /// When the longest-waiting pending item was queued (epoch ms).
    pub oldest_queued: Option<i64>,
    /// Lines that are not queue items.
    pub unreadable: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_fields_read_as_unknown_and_the_rest_survives() {
        let read = |v: serde_json::Value| serde_json::from_value::<Snapshot>(v).expect("read");
        let s = read(json!({"status": "paused", "pid": "x", "uptime": 5, "source": "socket"}));
        assert_eq!(s.status, StatusWord::Other("paused".into()));
        assert_eq!((s.pid, s.uptime, s.source), (None, 5, Some(Feed::Socket)));
        assert_eq!(s.write_interval_ms, DEFAULT_WRITE_INTERVAL_MS);
        assert_eq!(read(json!({"status": 3})).status, StatusWord::Missing);
        assert_eq!(read(json!({})).status, StatusWord::Missing);
        let s = read(json!({"status": "connected", "queue": {"pending": 2}}));
        assert_eq!(s.status.known(), Some(Status::Connected));
        assert_eq!(s.queue.pending, 2);
        for status in [
            Status::Starting,
            Status::Connected,
            Status::Disconnected,
            Status::Stopped,
        ] {
            assert_eq!(serde_json::to_value(status).expect("json"), status.name());
        }
    }
}
