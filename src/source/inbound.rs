//! What the socket's events become for the personality stage: a chat `message`, a follow,
//! another live-room event, or an unknown event to count (the answers to our own joins are
//! nothing). Runs in the socket's callback: it only looks at the name and moves the payload.
//! A chat message is tagged with the socket's room when the socket hears one other room only.

use std::sync::Arc;

use rust_socketio::{Event, Payload};
use serde_json::Value;
use tokio::time::Instant;

use crate::decider::Inbound;

/// What an event is for the personality stage: chat, a live-room event, or unknown; `None`
/// for the answers to our own joins.
pub(super) fn of(event: &Event, payload: Payload, room: &Option<Arc<str>>) -> Option<Inbound> {
    let name = match event {
        Event::Message => {
            let (raw, at) = (first_value(payload), Instant::now());
            return Some(Inbound::Message(raw, at, room.clone()));
        }
        Event::Custom(name) => name.as_str(),
        _ => return None,
    };
    if name == "user_followed" {
        return Some(Inbound::Follow(first_value(payload), Instant::now()));
    }
    if let Some(kind) = crate::live::Kind::of_event(name) {
        return Some(Inbound::Live(kind, first_value(payload), Instant::now()));
    }
    if crate::live::EXPECTED_EVENTS.contains(&name) {
        return None;
    }
    let name: String = name.chars().take(64).collect();
    Some(Inbound::Unknown(name, first_value(payload)))
}

/// The first argument of an event; anything else is passed on as `null` (and counted malformed).
fn first_value(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.swap_remove(0),
        #[allow(deprecated)]
        Payload::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Kind;
    use serde_json::json;

    fn of_named(name: &str, payload: Value) -> Option<Inbound> {
        of(&Event::from(name), Payload::Text(vec![payload]), &None)
    }

    #[test]
    fn events_are_told_apart_by_name() {
        assert!(
            matches!(of_named("message", json!({"text": "gm"})), Some(Inbound::Message(v, _, None)) if v["text"] == "gm")
        );
        assert!(matches!(
            of_named("user_followed", json!(1)),
            Some(Inbound::Follow(..))
        ));
        for (name, kind) in [
            ("tip_received", Kind::Tip),
            ("newtrade", Kind::Trade),
            ("session_started", Kind::Started),
            ("pinned", Kind::Pinned),
        ] {
            assert!(
                matches!(of_named(name, json!({})), Some(Inbound::Live(k, ..)) if k == kind),
                "{name}"
            );
        }
        assert!(of_named("joinedRoom", json!({"roomId": "r"})).is_none());
        assert!(of(&Event::Connect, Payload::Text(vec![]), &None).is_none());
        let long = "x".repeat(500);
        match of_named(&long, Value::Null) {
            Some(Inbound::Unknown(name, Value::Null)) => assert_eq!(name.len(), 64),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(of(&Event::from("rawtrade"), Payload::Text(vec![]), &None), Some(Inbound::Unknown(n, Value::Null)) if n == "rawtrade")
        );
    }
}
