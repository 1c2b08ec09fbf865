//! What the listener counts: one table of counters, from which come the [`Counters`] struct
//! (its fields and their docs, health.json's `counters`) and `/metrics`' HELP texts
//! ([`Counters::each`]), so the two cannot drift apart; and the connections lost by
//! [`Cause`] ([`Disconnects`], health.json's `disconnects`).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

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

impl Clone for Counter {
    /// A counter holding this one's count as of now.
    fn clone(&self) -> Self {
        Self(AtomicU64::new(self.get()))
    }
}

impl Serialize for Counter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.get())
    }
}

impl<'de> Deserialize<'de> for Counter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(|n| Self(AtomicU64::new(n)))
    }
}

/// Declares [`Counters`] from the table below: each row is a field (snake_case; camelCase in
/// health.json, `retake_chat_<name>_total` in `/metrics`) and one sentence that is both its
/// doc comment and its `/metrics` HELP text.
macro_rules! counters {
    ($($name:ident: $help:literal,)*) => {
        /// Every counter the listener keeps; names are part of health.json and `/metrics`.
        #[derive(Debug, Default, Clone, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase", default)]
        pub struct Counters {
            $(#[doc = $help] pub $name: Counter,)*
        }

        impl Counters {
            /// Every counter as (name in `/metrics`, HELP text, count now), in health.json's
            /// order.
            pub fn each(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> {
                [$((stringify!($name), $help, self.$name.get()),)*].into_iter()
            }
        }
    };
}

counters! {
    events_in: "Raw `message` payloads received from the socket.",
    messages_in: "Viewer messages handed to the personality.",
    replies_sent: "Instant replies delivered.",
    acks_sent: "Acknowledgements delivered.",
    queued: "Messages written to the queue for the agent.",
    ignored: "Messages the personality chose to ignore.",
    moderation: "Moderation events (jail, delete, …) skipped.",
    own: "The agent's own messages echoed back, skipped.",
    duplicates: "Messages whose id was seen recently (server repeats), skipped.",
    malformed: "Payloads of a shape we do not understand, skipped.",
    unknown_events: "Socket.IO events nobody here handles (by name in health.json's \
        `unknownEventNames`).",
    tip_duplicates: "Tips dropped as the second copy of one already handled (a tip comes both \
        as a chat `message` of type `tip` and as `tip_received`).",
    script_errors: "Personality calls that failed, overran a budget or returned nonsense.",
    send_errors: "HTTP send attempts that failed (each retry counts).",
    send_dropped: "Replies and acknowledgements that never reached the chat: deadline passed, \
        refused or redirected by the server (`replies_dropped` + `acks_dropped`).",
    rate_limited: "Replies not sent because the send budget was spent.",
    repeats_suppressed: "Replies not sent because the same text went out within 30 s.",
    blocked: "Replies, acknowledgements and timer lines not sent because the outbound guard \
        blocked them: a secret in them, or a `[send] block` match.",
    archived: "Messages kept out of the full queue (`[queue] max_items`), written to its \
        archive.",
    queue_errors: "Queue writes that failed (the batch is kept in memory and retried).",
    wakes: "Wake commands started.",
    wake_failures: "Wake commands that failed or timed out.",
    decisions_dropped: "Decision-log records dropped because the writer fell behind.",
    shed: "Instant replies and acknowledgements dropped, oldest first, because more were \
        waiting to be posted than `[backlog] instant_texts`.",
    unscripted: "Viewer messages queued for the agent without asking the personality, because \
        more were waiting for it than `[backlog] personality`.",
    replies_dropped: "Replies and timer lines that never reached the chat: their deadline \
        passed, or the server refused or redirected them (also in `send_dropped`).",
    replies_unknown: "Replies and timer lines whose request got no answer in time: they may be \
        in the chat, and are never posted again.",
    acks_dropped: "Acknowledgements that never reached the chat (also in `send_dropped`).",
    acks_unknown: "Acknowledgements whose request got no answer in time: they may be in the \
        chat.",
    script_log_suppressed: "Script log lines (`print`, `log`, `debug`) dropped over the log \
        budget.",
    caught_up: "Messages missed while the socket could not hear, caught up from the chat \
        history.",
    polled: "Messages read by polling the history while the socket was out of reach.",
    history_reads: "History pages read (catch-ups and polls).",
    history_errors: "History reads that failed (network, 401, 5xx, a body that is not a page).",
    history_skipped: "History items skipped because they were not a message we understand.",
    transcript_dropped: "Transcript lines dropped because its writer fell behind.",
}

/// Why an established connection was lost, as health counts it (`source::liveness::Loss`
/// says it in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The server (or something between) closed the connection.
    ServerClosed,
    /// The server disconnected our Socket.IO namespace.
    Kicked,
    /// Nothing arrived, not even a ping, past the server's deadline.
    PingTimeout,
    /// The transport failed: a reset, a read or write error, a protocol error.
    TransportError,
}

impl Cause {
    /// Every cause, in the order health.json lists them.
    pub const ALL: [Cause; 4] = [
        Cause::ServerClosed,
        Cause::Kicked,
        Cause::PingTimeout,
        Cause::TransportError,
    ];

    /// The name in health.json (`serverClosed`) and, snake-cased, in `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            Cause::ServerClosed => "serverClosed",
            Cause::Kicked => "kicked",
            Cause::PingTimeout => "pingTimeout",
            Cause::TransportError => "transportError",
        }
    }

    /// The name in `/metrics`' `cause` label (`server_closed`).
    pub fn label(self) -> &'static str {
        match self {
            Cause::ServerClosed => "server_closed",
            Cause::Kicked => "kicked",
            Cause::PingTimeout => "ping_timeout",
            Cause::TransportError => "transport_error",
        }
    }
}

/// Established connections lost, by cause (health.json's `disconnects`, `/metrics`'
/// `retake_chat_disconnects_total`, whose HELP is [`Disconnects::HELP`]).
#[derive(Debug, Default, Clone)]
pub struct Disconnects([Counter; Cause::ALL.len()]);

impl Disconnects {
    /// `/metrics`' HELP text.
    pub const HELP: &str = "Established chat connections lost, by cause.";

    /// How many connections were lost for `cause`.
    pub fn get(&self, cause: Cause) -> u64 {
        self.0[cause as usize].get()
    }

    pub(super) fn inc(&self, cause: Cause) {
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

impl<'de> Deserialize<'de> for Disconnects {
    /// The causes this version knows, zero where missing; other names are left out.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let counts = std::collections::BTreeMap::<String, u64>::deserialize(d)?;
        let disconnects = Self::default();
        for cause in Cause::ALL {
            let n = counts.get(cause.name()).copied().unwrap_or(0);
            disconnects.0[cause as usize].add(n);
        }
        Ok(disconnects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_has_a_one_line_help_and_its_json_name() {
        let counters = Counters::default();
        counters.messages_in.add(3);
        let json = serde_json::to_value(&counters).expect("serialize");
        let fields = json.as_object().expect("an object");
        assert_eq!(fields.len(), counters.each().count());
        for (name, help, value) in counters.each() {
            assert!(!help.contains(['\n', '\\']), "{name}: {help}");
            assert!(help.ends_with('.'), "{name}: {help}");
            let camel = name
                .split('_')
                .enumerate()
                .map(|(i, w)| match i {
                    0 => w.to_string(),
                    _ => w[..1].to_uppercase() + &w[1..],
                })
                .collect::<String>();
            assert_eq!(fields[&camel], value, "{name}");
        }
        assert_eq!(fields["messagesIn"], 3);
    }

    #[test]
    fn disconnects_round_trip_in_their_order() {
        let lost = Disconnects::default();
        lost.inc(Cause::PingTimeout);
        let text = serde_json::to_string(&lost).expect("serialize");
        assert_eq!(
            text,
            r#"{"serverClosed":0,"kicked":0,"pingTimeout":1,"transportError":0}"#
        );
        let back: Disconnects = serde_json::from_str(r#"{"pingTimeout":1,"new":4}"#).expect("read");
        assert_eq!(serde_json::to_string(&back).expect("serialize"), text);
        for cause in Cause::ALL {
            let snake: String = cause
                .name()
                .chars()
                .flat_map(|c| match c.is_ascii_uppercase() {
                    true => vec!['_', c.to_ascii_lowercase()],
                    false => vec![c],
                })
                .collect();
            assert_eq!(cause.label(), snake);
        }
    }
}
