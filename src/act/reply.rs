//! The reply stage: every outgoing chat message, in order, past the outbound guard, each
//! within its deadline, under the send budget, never the same text twice within 30 s, and
//! counted by what the server saw: sent, dropped before it reached the chat, or unknown (no
//! answer came).
//!
//! The HTTP side (one POST, retries, what an error means) is [`sender`]; the budget and the
//! cleaning and splitting of texts are [`super::budget`]. Each text's fate is also published
//! as an [`crate::outcome::Outcome`].

pub mod agent;
mod poster;

pub use poster::{ChatPoster, SendError, describe};

use std::sync::Arc;

use tokio::time::Instant;

use super::budget::{RecentTexts, SendBudget};
use crate::config::SendConfig;
use crate::health::{Counter, Counters, Health};
use crate::outcome::{self, Held, Outcomes};
use crate::transcript::Transcript;

/// What a message is, for counting and for the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An instant reply decided by the personality.
    Reply,
    /// An acknowledgement of a queued message.
    Ack,
    /// A line the script said on its own (a timer, `on_start`): it draws on its own share
    /// of the budget, so viewers are never starved; counted with the replies.
    Timer,
}

/// A message waiting to be sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The text to post.
    pub text: String,
    /// Reply, acknowledgement or timer line.
    pub purpose: Purpose,
    /// Dropped rather than sent after this.
    pub deadline: Instant,
    /// The viewer message it answers, for logs.
    pub in_reply_to: String,
    /// The room it goes to: another streamer's id (`--room`), or empty for the own room.
    pub room: String,
}

/// How one message ended, as the server saw it.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// The server said 2xx.
    Sent,
    /// It never reached the chat: the deadline passed, the server refused or redirected it.
    Dropped,
    /// A request went out and no answer came: it may be in the chat.
    Unknown,
}

/// The counter for `outcome` of a message of `purpose`; drops also count in `sendDropped`.
fn count(counters: &Counters, purpose: Purpose, outcome: Outcome) {
    let ack = purpose == Purpose::Ack;
    let counter: &Counter = match (outcome, ack) {
        (Outcome::Sent, false) => &counters.replies_sent,
        (Outcome::Sent, true) => &counters.acks_sent,
        (Outcome::Dropped, false) => &counters.replies_dropped,
        (Outcome::Dropped, true) => &counters.acks_dropped,
        (Outcome::Unknown, false) => &counters.replies_unknown,
        (Outcome::Unknown, true) => &counters.acks_unknown,
    };
    counter.inc();
    if let Outcome::Dropped = outcome {
        counters.send_dropped.inc();
    }
}

/// True the first time the platform refuses (4xx) a message for another streamer's room
/// `room`: a wrong `--room` is said once, naming it, not once per message.
fn first_refusal(
    refused: &mut std::collections::HashSet<String>,
    room: &str,
    error: &SendError,
) -> bool {
    matches!(
        error,
        SendError::Status {
            status: 400..=499,
            ..
        }
    ) && !room.is_empty()
        && refused.insert(room.to_string())
}

/// Send everything from `rx` in order, none that the sender's guard blocks (counted
/// `blocked`: a blocked acknowledgement leaves its message queued), each within its deadline,
/// under the send budget (`per_30s`/`burst`, 0 = unlimited, timer lines within
/// `timer_share_percent` of it), never the same text twice within 30 s, until every sender is
/// gone. What the platform accepted goes into `transcript`; every text's fate to `outcomes`.
pub async fn run(
    mut rx: super::outbox::OutboxRx,
    sender: ChatPoster,
    limits: &SendConfig,
    health: Arc<Health>,
    transcript: Transcript,
    outcomes: Outcomes,
) {
    let mut stage = Stage {
        budget: SendBudget::new(limits),
        recent: RecentTexts::default(),
        refused_rooms: std::collections::HashSet::new(),
        sender,
        limits,
        health,
        transcript,
        outcomes,
    };
    while let Some(out) = rx.recv().await {
        // The whole text, then each part: a secret cut in two by the split is still found.
        let Some(parts) = stage.parts(&out) else {
            continue;
        };
        for text in parts {
            if !stage.held_back(&out, &text) {
                stage.post(&out, &text).await;
            }
        }
    }
}

/// The reply stage's state between texts.
struct Stage<'a> {
    budget: SendBudget,
    recent: RecentTexts,
    /// Other streamers' rooms the platform has refused a message for (said once each).
    refused_rooms: std::collections::HashSet<String>,
    sender: ChatPoster,
    limits: &'a SendConfig,
    health: Arc<Health>,
    transcript: Transcript,
    outcomes: Outcomes,
}

impl Stage<'_> {
    /// The parts `out` is sent in, or `None` when the guard blocks it.
    fn parts(&self, out: &Outgoing) -> Option<Vec<String>> {
        let id = &out.in_reply_to;
        match self.sender.guard().parts(&out.text) {
            Ok(parts) => Some(parts),
            Err(blocked) => {
                self.health.counters.blocked.inc();
                self.outcomes.held(Held::Blocked, id, &out.room, "");
                match out.purpose {
                    Purpose::Ack => {
                        tracing::warn!(%id, "acknowledgement not sent: it {blocked}; the message stays queued for the agent")
                    }
                    Purpose::Reply => tracing::warn!(%id, "reply not sent: it {blocked}"),
                    Purpose::Timer => tracing::warn!(%id, "timer line not sent: it {blocked}"),
                }
                None
            }
        }
    }

    /// True when `text` is not sent: its deadline passed, it was said within 30 s, or the
    /// send budget has no room for it (each counted and published); else it is recorded as
    /// said.
    fn held_back(&mut self, out: &Outgoing, text: &str) -> bool {
        let (id, counters, now) = (&out.in_reply_to, &self.health.counters, Instant::now());
        if now >= out.deadline {
            count(counters, out.purpose, Outcome::Dropped);
            self.outcomes.held(Held::Dropped, id, &out.room, text);
            tracing::warn!(%id, "reply dropped: its deadline passed before it could be sent");
            return true;
        }
        if self.recent.contains(&out.room, text, now) {
            counters.repeats_suppressed.inc();
            self.outcomes.held(Held::Repeat, id, &out.room, text);
            tracing::debug!(%id, "not sending {text:?} again within 30 s");
            return true;
        }
        let timer = out.purpose == Purpose::Timer;
        if !self.budget.try_take(timer, now) {
            counters.rate_limited.inc();
            self.outcomes.held(Held::Budget, id, &out.room, text);
            if timer {
                tracing::info!(%id, "timer line dropped: over the timers' share of the send budget ([send] timer_share_percent = {})", self.limits.timer_share_percent);
            } else {
                tracing::info!(%id, "reply dropped: over the send budget ([send] per_30s = {})", self.limits.per_30s);
            }
            return true;
        }
        self.recent.record(&out.room, text, now);
        false
    }

    /// Post `text` and count, log and publish what came of it.
    async fn post(&mut self, out: &Outgoing, text: &str) {
        let (id, counters) = (&out.in_reply_to, &self.health.counters);
        let sent = self
            .sender
            .deliver(&out.room, text, out.deadline, &self.health);
        match sent.await {
            Ok(()) => {
                tracing::debug!(%id, "sent {text:?}");
                count(counters, out.purpose, Outcome::Sent);
                self.transcript.said(&out.room, text);
                self.outcomes
                    .publish(|| outcome::Outcome::Sent(outcome::Text::new(id, &out.room, text)));
            }
            Err(error) if error.is_unknown() => {
                count(counters, out.purpose, Outcome::Unknown);
                self.health.set_error(format!("send: {error}"));
                self.outcomes.publish(|| {
                    outcome::Outcome::Unconfirmed(outcome::Text::new(id, &out.room, text))
                });
                tracing::warn!(%id, "reply not confirmed, and not sent again: {error}");
            }
            Err(error) => {
                count(counters, out.purpose, Outcome::Dropped);
                self.health.set_error(format!("send: {error}"));
                self.outcomes.held(Held::Dropped, id, &out.room, text);
                tracing::warn!(%id, "reply dropped: {error}");
                if first_refusal(&mut self.refused_rooms, &out.room, &error) {
                    tracing::error!(room = %out.room, "the platform refuses messages for room {} ({error}): check --room / rooms (said once per room)", out.room);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_room_is_said_once() {
        let mut refused = std::collections::HashSet::new();
        let status = |status| SendError::Status {
            status,
            retry_after: None,
        };
        assert!(first_refusal(&mut refused, "rival", &status(404)));
        assert!(!first_refusal(&mut refused, "rival", &status(403)), "once");
        assert!(first_refusal(&mut refused, "other", &status(400)));
        assert!(
            !first_refusal(&mut refused, "", &status(404)),
            "the own room has its own errors"
        );
        assert!(
            !first_refusal(&mut refused, "third", &status(500)),
            "not a refusal"
        );
    }
}
