//! v2's live-room events, between the socket and the personality: `tip_received`,
//! `session_started` (in `live_<id>`, with `user_followed`, which `event` parses), `newtrade`
//! (in `trades_<token_address>`) and `pinned` (in `<streamer_id>/<session_id>`).
//!
//! `parse` turns their payloads into events; [`Live`] is the personality thread's state for
//! them: which kinds were seen (the first of each is logged with its keys, never its values),
//! the live-room events' own repeat check, the tip pairing (`tips`), and the live session,
//! learned from the payloads, whose room the source joins. Deciding is left to `decider`.

mod parse;
mod tips;

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

pub use parse::normalize;
pub use tips::{Tips, WINDOW as TIP_WINDOW};

use crate::config::Credentials;
use crate::event::{ChatEvent, Normalized, Seen};

/// A live-room event the source forwards (`user_followed` has its own `Inbound::Follow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `tip_received`.
    Tip,
    /// `newtrade`.
    Trade,
    /// `session_started`.
    Started,
    /// `pinned`.
    Pinned,
}

impl Kind {
    /// The kind a Socket.IO event name stands for, if it is one of ours.
    pub fn of_event(name: &str) -> Option<Self> {
        match name {
            "tip_received" => Some(Kind::Tip),
            "newtrade" => Some(Kind::Trade),
            "session_started" => Some(Kind::Started),
            "pinned" => Some(Kind::Pinned),
            _ => None,
        }
    }

    /// The Socket.IO event name.
    pub fn event_name(self) -> &'static str {
        match self {
            Kind::Tip => "tip_received",
            Kind::Trade => "newtrade",
            Kind::Started => "session_started",
            Kind::Pinned => "pinned",
        }
    }
}

/// Events the platform sends that are not for the personality and not unknown either: the
/// answers to our own `joinRoom` and `leaveRoom`.
pub const EXPECTED_EVENTS: [&str; 2] = ["joinedRoom", "leftRoom"];

/// The room the agent's own token's trades come in, when the credentials name a token.
pub fn token_room(creds: &Credentials) -> Option<String> {
    let address = creds.token_address.trim();
    (!address.is_empty()).then(|| format!("trades_{address}"))
}

/// Most distinct event names whose first payload is logged; the rest are only counted.
const MAX_NAMES_LOGGED: usize = 32;
/// Most keys a payload's first-seen log line lists.
const MAX_KEYS_LOGGED: usize = 40;
/// Live-room event ids remembered for the repeat check.
const SEEN_IDS: usize = 1024;
/// Longest session id taken for a room name.
const MAX_SESSION_CHARS: usize = 128;

/// The personality thread's live-room state. Behind a lock only because the decider's
/// methods take `&self`; one thread uses it.
#[derive(Debug)]
pub struct Live {
    inner: Mutex<Inner>,
    /// The credentials' `token_ticker`, for a trade whose payload names none.
    ticker: String,
}

#[derive(Debug)]
struct Inner {
    /// Event names whose first payload was logged.
    logged: HashSet<String>,
    seen: Seen,
    tips: Tips,
    session: Option<SessionRoom>,
}

/// The live session's room: where `pinned` comes, joined by the source through `tx`.
#[derive(Debug)]
struct SessionRoom {
    streamer: String,
    current: String,
    tx: watch::Sender<Vec<String>>,
}

impl Live {
    /// State for the agent of `creds`; `session_tx`, when given (v2), is told the room of
    /// each live session learned (`<userDbId>/<session_id>`).
    pub fn new(creds: &Credentials, session_tx: Option<watch::Sender<Vec<String>>>) -> Self {
        let streamer = &creds.user_db_id;
        Self {
            ticker: creds.token_ticker.clone(),
            inner: Mutex::new(Inner {
                logged: HashSet::new(),
                seen: Seen::new(SEEN_IDS),
                tips: Tips::default(),
                session: session_tx.map(|tx| SessionRoom {
                    streamer: streamer.to_string(),
                    current: String::new(),
                    tx,
                }),
            }),
        }
    }

    /// One live-room payload of `kind`: its first of a kind logged, a session learned from
    /// `session_started`, parsed, and a trade without a ticker given the agent's own.
    pub fn normalize(&self, kind: Kind, raw: &Value, now_ms: i64) -> Normalized {
        self.first_of(kind.event_name(), raw);
        if kind == Kind::Started {
            self.learn_session(raw);
        }
        let mut normalized = normalize(kind, raw, now_ms);
        if let Normalized::Chat(event) = &mut normalized
            && let Some(details) = event.details.as_mut()
            && kind == Kind::Trade
            && details.ticker.is_empty()
        {
            details.ticker.clone_from(&self.ticker);
        }
        normalized
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first payload of each event `name` is logged at debug with its keys (nested
    /// objects' keys one level down, as `outer.inner`), never its values: the payloads are
    /// undocumented, and this is how their shape is learned.
    pub fn first_of(&self, name: &str, raw: &Value) {
        let mut inner = self.lock();
        if inner.logged.len() >= MAX_NAMES_LOGGED || !inner.logged.insert(name.to_string()) {
            return;
        }
        drop(inner);
        tracing::debug!(event = name, keys = ?keys(raw), "first {name} payload");
    }

    /// A live-room event's id is new (the platform does not repeat them, but a reconnect
    /// could). They are never in the chat history, so they stay out of its cursor.
    pub fn first_time(&self, event: &ChatEvent) -> bool {
        self.lock().seen.insert(&event.id)
    }

    /// The tip `event`, arrived at `at`, is the first copy of its tip (see `tips`).
    pub fn first_copy(&self, event: &ChatEvent, at: Instant) -> bool {
        self.lock().tips.first_copy(event, at)
    }

    /// A v2 chat payload or `session_started` names the live session (`session_id`): from
    /// then on its room is joined. Another streamer's payload (`streamer_id`) is not ours.
    pub fn learn_session(&self, raw: &Value) {
        let mut inner = self.lock();
        let Some(room) = inner.session.as_mut() else {
            return;
        };
        let streamer = raw.get("streamer_id").and_then(Value::as_str);
        if streamer.is_some_and(|s| s != room.streamer) {
            return;
        }
        let session = raw
            .get("session_id")
            .or_else(|| raw.get("session").and_then(|s| s.get("id")))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let usable = !session.is_empty()
            && session.chars().count() <= MAX_SESSION_CHARS
            && !session
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/');
        if !usable || session == room.current {
            return;
        }
        room.current = session.to_string();
        let name = format!("{}/{session}", room.streamer);
        tracing::info!(room = %name, "joining the live session's room (pins come there)");
        room.tx.send_replace(vec![name]);
    }
}

/// A payload's keys, for the first-seen log line: sorted, nested objects one level down.
fn keys(raw: &Value) -> Vec<String> {
    let Some(obj) = raw.as_object() else {
        return vec![format!("(not an object: {})", type_name(raw))];
    };
    let mut out = Vec::new();
    for (key, value) in obj {
        match value.as_object() {
            Some(inner) if !inner.is_empty() => {
                out.extend(inner.keys().map(|k| format!("{}.{}", cut(key), cut(k))));
            }
            _ => out.push(cut(key)),
        }
        if out.len() >= MAX_KEYS_LOGGED {
            out.truncate(MAX_KEYS_LOGGED);
            out.push("…".to_string());
            break;
        }
    }
    out
}

fn cut(key: &str) -> String {
    key.chars().take(40).collect()
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
