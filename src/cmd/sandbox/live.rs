//! The sandbox's live-room commands: `/tip` (both copies, as the platform sends a tip),
//! `/live`, `/trade` and `/pin`, each the payload the fake emits and the room it goes to.
//! Stamping them (id, time, streamer) and emitting is `sandbox.rs`'s job.

use serde_json::Value;

use crate::fake;

/// The sandbox streamer's live session: its chat payloads name it, so the listener joins its
/// room, where `/pin` sends.
pub(super) const SESSION: &str = "sandbox-session";
/// The sandbox agent's token, whose room `/trade` sends to.
pub(super) const TOKEN_ADDRESS: &str = "SandboxTokenAddress";
/// Its ticker.
pub(super) const TICKER: &str = "SBX";

/// The commands' lines of `/help`.
pub(super) const HELP: &str = "\
  /tip AMOUNT      tip the stream (and /tip AMOUNT text to add a message): like the platform,
                   it comes twice (a chat message and tip_received), and is handled once
  /live [TITLE]    the stream goes live (session_started)
  /trade buy|sell USD
                   someone trades the agent's token (newtrade)
  /pin TEXT        a message is pinned (pinned, in the live session's room)";

/// One event to emit: the room, the Socket.IO event name and the payload.
pub(super) type Emit = (String, &'static str, Value);

/// What a live-room command line asks for.
pub(super) enum Line {
    /// Emit these, in order.
    Emit(Vec<Emit>),
    /// Emit this pin once the listener is in the session's room.
    Pin(Emit),
}

/// `/tip`, `/live`, `/trade` or `/pin` with the rest of its line, in `room`; `None` for
/// another command, `Err(usage)` when the line is not right.
pub(super) fn command(word: &str, rest: &str, room: &str) -> Option<Result<Line, String>> {
    let rest = rest.trim();
    let live_room = format!("live_{room}");
    Some(match word {
        "/tip" => {
            let (amount, text) = rest.split_once(' ').unwrap_or((rest, ""));
            match amount.parse::<f64>() {
                Ok(amount) if amount.is_finite() && amount >= 0.0 => {
                    let tx = format!("0xsandbox{}", uuid::Uuid::new_v4().simple());
                    let chat = fake::chat_tip(room, "viewer", amount, &tx, text.trim());
                    let live = fake::tip_received("viewer", amount, &tx);
                    Ok(Line::Emit(vec![
                        (room.to_string(), "message", chat),
                        (live_room, "tip_received", live),
                    ]))
                }
                _ => Err("usage: /tip AMOUNT [text]".to_string()),
            }
        }
        "/live" => {
            let title = if rest.is_empty() { "Live now" } else { rest };
            let started = fake::session_started(room, SESSION, title);
            Ok(Line::Emit(vec![(live_room, "session_started", started)]))
        }
        "/trade" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
            [action @ ("buy" | "sell"), usd] => match usd.trim_start_matches('$').parse::<f64>() {
                Ok(usd) if usd.is_finite() && usd >= 0.0 => {
                    let trade = fake::newtrade(TOKEN_ADDRESS, action, usd, TICKER);
                    let to = format!("trades_{TOKEN_ADDRESS}");
                    Ok(Line::Emit(vec![(to, "newtrade", trade)]))
                }
                _ => Err("usage: /trade buy|sell USD".to_string()),
            },
            _ => Err("usage: /trade buy|sell USD".to_string()),
        },
        "/pin" if rest.is_empty() => Err("usage: /pin TEXT".to_string()),
        "/pin" => Ok(Line::Pin((
            fake::session_room(room, SESSION),
            "pinned",
            fake::pinned("viewer", rest),
        ))),
        _ => return None,
    })
}
