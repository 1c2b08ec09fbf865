//! The viewer the user plays in the sandbox: each typed line becomes a [`Command`] (chat,
//! `/as`, `/follow`, `/late`, `/in`, `/quiet`, `/help`, `/quit`, and the live-room commands of
//! `live.rs`), its events stamped with fresh ids. Emitting them and showing what happens is
//! `sandbox.rs`'s and `screen.rs`'s job.

use serde_json::{Value, json};

use super::{BOT, RIVAL, RIVAL_ID, ROOM, live};
use crate::event::{Normalized, normalize, normalize_follow};
use crate::time::now_ms;

/// How far before the newest message heard a catch-up still looks (`catchup.rs`'s slack),
/// less a second, so a `/late` line allowed here is always read back.
const CATCHUP_SLACK_MS: i64 = 4_000;

/// Said once for each refused line: the Up arrow arrives as `ESC [ A`, Ctrl-V and the like as
/// other control characters, and none of that is something a viewer says.
pub(super) const NOT_CHAT: &str =
    "ignored: arrow keys and control characters are not chat (nothing was said)";

/// What one typed line asks for.
pub(super) enum Command {
    /// Emit these events, in order.
    Say(Vec<live::Emit>),
    /// Emit this pin, once the listener is in the session's room.
    Pin(live::Emit),
    /// Said while the listener could not hear: into the history only, then a dropped socket.
    Late(Value),
    /// Take the room as quiet now (`on_quiet`).
    Quiet,
    Help,
    Quit,
    Nothing,
    /// A line that is not chat: a mistyped command (its usage), or control characters.
    Bad(String),
}

/// The viewer the user plays, how many events they caused, and whether one of them named
/// the live session (a chat line or `/live`).
pub(super) struct Viewer {
    /// Events stamped so far.
    pub(super) said: u64,
    /// Whether a chat line or `/live` named the live session (so its room is joined).
    pub(super) named_session: bool,
    /// This run's part of every id: a kept `--state-dir` remembers the ids of earlier runs,
    /// and a repeated one would be dropped as the platform repeating itself.
    run: i64,
    /// The time of the newest chat message said (epoch ms): catching up reads the history
    /// back to the newest message the listener heard, so a `/late` line must be after it.
    newest: i64,
}

impl Viewer {
    pub(super) fn new() -> Self {
        Self {
            said: 0,
            named_session: false,
            run: now_ms(),
            newest: 0,
        }
    }

    pub(super) fn command(&mut self, line: &str) -> Command {
        if line.chars().any(char::is_control) {
            return Command::Bad(NOT_CHAT.into());
        }
        let line = line.trim();
        let (author, text) = match line.split_once(' ').unwrap_or((line, "")) {
            ("", _) => return Command::Nothing,
            ("/help", _) => return Command::Help,
            ("/quit", _) => return Command::Quit,
            ("/quiet", _) => return Command::Quiet,
            ("/as", rest) => match rest.trim().split_once(' ') {
                Some((name, text)) if !text.trim().is_empty() => (name, text.trim()),
                _ => return Command::Bad(usage("usage: /as NAME text")),
            },
            (word @ ("/tip" | "/live" | "/trade" | "/pin"), rest) => {
                return match live::command(word, rest, ROOM) {
                    Some(Ok(live::Line::Emit(events))) => Command::Say(
                        events
                            .into_iter()
                            .map(|(room, name, payload)| self.stamp(&room, name, payload))
                            .collect(),
                    ),
                    Some(Ok(live::Line::Pin((room, name, payload)))) => {
                        Command::Pin(self.stamp(&room, name, payload))
                    }
                    Some(Err(text)) => Command::Bad(usage(&text)),
                    None => Command::Nothing,
                };
            }
            ("/follow", name) => {
                let name = if name.trim().is_empty() {
                    "viewer"
                } else {
                    name.trim()
                };
                return self.event(
                    &format!("live_{ROOM}"),
                    "user_followed",
                    json!({
                        "follower_username": name, "follower_id": name,
                    }),
                );
            }
            ("/late", rest) => return self.late(rest),
            ("/in", rest) => {
                return match rest.trim().split_once(' ') {
                    Some((RIVAL | RIVAL_ID, text)) if !text.trim().is_empty() => {
                        let payload = json!({
                            "type": "message", "sender_username": "viewer",
                            "sender_user_id": "viewer", "text": text.trim(),
                        });
                        let (room, name, mut payload) = self.stamp(RIVAL_ID, "message", payload);
                        payload["streamer_id"] = json!(RIVAL_ID);
                        payload.as_object_mut().map(|p| p.remove("session_id"));
                        Command::Say(vec![(room, name, payload)])
                    }
                    _ => Command::Bad(usage("usage: /in rival text")),
                };
            }
            (word, _) if word.starts_with('/') => {
                return Command::Bad(usage(&format!("unknown command {word}")));
            }
            _ => ("viewer", line),
        };
        self.event(ROOM, "message", json!({
            "type": "message", "sender_username": author, "sender_user_id": author, "text": text,
        }))
    }

    /// `/late AGE text`: said AGE ago, into the history only.
    fn late(&mut self, rest: &str) -> Command {
        let (age, text) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        let age = crate::cli::parse_age(age).ok().filter(|secs| *secs <= 600);
        let (Some(age), false) = (age, text.trim().is_empty()) else {
            return Command::Bad(usage(
                "usage: /late AGE text (AGE like 90s or 5m, at most 10m: older messages are never caught up)",
            ));
        };
        let said = now_ms().saturating_sub(i64::try_from(age * 1000).unwrap_or(i64::MAX));
        // What the catch-up still reads back to (the newest message heard, less its slack).
        let reach = self.newest - CATCHUP_SLACK_MS;
        if said < reach {
            let most = (now_ms() - reach) / 1000;
            return Command::Bad(format!(
                "not said: the listener has heard a message since then, and catching up reads the history back only to the newest one it heard; /late can reach {most}s back now"
            ));
        }
        let newest = self.newest;
        let (_, _, mut payload) = self.stamp(
            ROOM,
            "message",
            json!({
                "type": "message", "sender_username": "viewer", "sender_user_id": "viewer",
                "text": text.trim(),
            }),
        );
        payload["timestamp"] = json!(said.to_string());
        self.newest = newest.max(said);
        Command::Late(payload)
    }

    /// An event with a fresh id and the current time.
    fn event(&mut self, room: &str, name: &'static str, payload: Value) -> Command {
        Command::Say(vec![self.stamp(room, name, payload)])
    }

    /// `payload` with a fresh id, the current time and the streamer (and, for chat, the live
    /// session, as the platform's v2 messages name it), counted as said.
    fn stamp(&mut self, room: &str, name: &'static str, mut payload: Value) -> live::Emit {
        self.said += 1;
        payload["id"] = json!(format!("sandbox-{}-{}", self.run, self.said));
        let now = now_ms();
        payload["timestamp"] = json!(now.to_string());
        payload["streamer_id"] = json!(ROOM);
        if name == "message" {
            payload["session_id"] = json!(live::SESSION);
            self.newest = self.newest.max(now);
        }
        self.named_session |= matches!(name, "message" | "session_started");
        (room.to_string(), name, payload)
    }
}

/// A usage line, pointing to `/help`.
fn usage(text: &str) -> String {
    format!("{text} (/help lists the commands)")
}

/// How many of `events` the listener decides: all but what it takes for the bot's own (an
/// `/as` with the bot's name or the streamer's id), which it drops without a decision.
pub(super) fn decided(events: &[live::Emit]) -> u64 {
    let own = |(_, name, payload): &&live::Emit| {
        let normalized = match *name {
            "message" => normalize(payload, now_ms()),
            "user_followed" => normalize_follow(payload, now_ms()),
            _ => return false,
        };
        matches!(normalized, Normalized::Chat(e) if e.is_own(BOT, ROOM))
    };
    events.iter().filter(|e| !own(e)).count() as u64
}
