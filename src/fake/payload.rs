//! Chat payloads in the shapes retake.tv emits (generation 1 and 2), as the fake sends them,
//! and the two history item shapes a stored payload is served in (`documented_item`,
//! `flat_item`). Field names follow RETAKE_API.md; parsing them is `event`'s job, not this one's.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::event::{Normalized, normalize};
use crate::time::{now_ms, rfc3339};

/// A generation-1 `message` event payload from a viewer called `author`.
///
/// `id` becomes `_id`; the author's `fid` is `author` too and the wallet a fixed `0xviewer`.
/// The timestamp is now, in RFC 3339.
pub fn v1_message(id: &str, author: &str, text: &str) -> Value {
    v1_payload(id, author, json!(author), "0xviewer", text)
}

/// A generation-2 `message` event payload in room `streamer_id`, from `sender_user_id` named
/// `sender_username`. The timestamp is now, as epoch milliseconds in a string.
pub fn v2_message(
    streamer_id: &str,
    sender_user_id: &str,
    sender_username: &str,
    text: &str,
) -> Value {
    json!({
        "type": "message",
        "streamer_id": streamer_id,
        "sender_user_id": sender_user_id,
        "sender_username": sender_username,
        "text": text,
        "timestamp": now_ms().to_string(),
    })
}

/// The generation-1 shape with every author field chosen by the caller.
pub(super) fn v1_payload(id: &str, fusername: &str, fid: Value, wallet: &str, text: &str) -> Value {
    json!({
        "_id": id,
        "type": "message",
        "text": text,
        "timestamp": rfc3339(now_ms()),
        "author": { "fusername": fusername, "fid": fid, "walletAddress": wallet },
    })
}

/// A stored `message` payload served as the documented history item: `{_id, streamId, text,
/// timestamp (RFC 3339), type, author: {walletAddress, fusername, fid, favatar}}`. A payload
/// without a usable `_id` gets `h<seq>`; the timestamp is the same instant, in milliseconds.
pub(super) fn documented_item(
    payload: &Value,
    room: &str,
    seq: u64,
    stored_at: SystemTime,
) -> Value {
    let fields = Fields::of(payload);
    // A negative instant is served as the epoch itself.
    let timestamp = rfc3339(instant_ms(fields.get("timestamp"), stored_at).max(0));
    let mut item = json!({
        "_id": documented_id(payload).map_or_else(|| json!(format!("h{seq}")), Value::clone),
        "streamId": fields.or("streamId", json!(room)),
        "text": fields.get("text"),
        "timestamp": timestamp,
        "type": fields.or("type", json!("message")),
        "author": {
            "walletAddress": fields.sender("walletAddress", "sender_wallet_address"),
            "fusername": fields.sender("fusername", "sender_username"),
            "fid": fields.sender("fid", "sender_user_id"),
            "favatar": fields.sender("favatar", "sender_pfp"),
        },
    });
    fields.copy_extras(&mut item);
    item
}

/// A stored `message` payload served as the flat item v2 clients parse, `chat_event_id` being
/// the sequence number. A v2 payload's sender fields are copied exactly and its timestamp is
/// the same instant (the listener matches a socket message with its history copy by them).
pub(super) fn flat_item(payload: &Value, room: &str, seq: u64, stored_at: SystemTime) -> Value {
    let fields = Fields::of(payload);
    let timestamp = instant_ms(fields.get("timestamp"), stored_at).to_string();
    let mut item = json!({
        "chat_event_id": seq.to_string(),
        "sender_user_id": fields.sender("fid", "sender_user_id"),
        "sender_username": fields.sender("fusername", "sender_username"),
        "sender_display_name": fields.sender("fusername", "sender_display_name"),
        "sender_pfp": fields.sender("favatar", "sender_pfp"),
        "sender_wallet_address": fields.sender("walletAddress", "sender_wallet_address"),
        "streamer_id": fields.or("streamer_id", json!(room)),
        "session_id": fields.get("session_id"),
        "text": fields.get("text"),
        "type": fields.or("type", json!("message")),
        "timestamp": timestamp,
    });
    fields.copy_extras(&mut item);
    item
}

/// The payload's own `_id` when it is a non-empty string or a number.
pub(super) fn documented_id(payload: &Value) -> Option<&Value> {
    payload
        .get("_id")
        .filter(|id| id.is_number() || id.as_str().is_some_and(|s| !s.is_empty()))
}

/// Read access to a payload's fields, v1 (nested `author`) or v2 (flat sender fields).
struct Fields<'a> {
    top: Option<&'a Map<String, Value>>,
    author: Option<&'a Map<String, Value>>,
}

impl<'a> Fields<'a> {
    fn of(payload: &'a Value) -> Self {
        let top = payload.as_object();
        let author = top.and_then(|o| o.get("author")).and_then(Value::as_object);
        Fields { top, author }
    }

    /// A top-level field as emitted, `null` when absent.
    fn get(&self, key: &str) -> Value {
        self.top
            .and_then(|o| o.get(key))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// A top-level field as emitted, `default` when absent.
    fn or(&self, key: &str, default: Value) -> Value {
        self.top
            .and_then(|o| o.get(key))
            .cloned()
            .unwrap_or(default)
    }

    /// A sender field: `author.<v1>` for a v1 payload, `<v2>` at the top for a v2 one.
    fn sender(&self, v1: &str, v2: &str) -> Value {
        match self.author {
            Some(author) => author.get(v1).cloned().unwrap_or(Value::Null),
            None => self.get(v2),
        }
    }

    /// Tip and trade details ride along in either shape.
    fn copy_extras(&self, item: &mut Value) {
        // An `id` the live payload carried stays: the listener names both copies by it.
        for key in ["id", "tip_data", "trade_data"] {
            if let (Some(value), Some(item)) =
                (self.top.and_then(|o| o.get(key)), item.as_object_mut())
            {
                item.insert(key.to_owned(), value.clone());
            }
        }
    }
}

/// Epoch milliseconds of a payload's `timestamp` (RFC 3339, numeric string or number), read by
/// the listener's own normalizer so the fake and the listener agree on every instant; the time
/// the payload was stored when it has none the normalizer understands.
fn instant_ms(timestamp: Value, stored_at: SystemTime) -> i64 {
    let fallback = i64::try_from(epoch_millis(stored_at)).unwrap_or(i64::MAX);
    let probe = json!({ "type": "message", "text": "-", "timestamp": timestamp });
    match normalize(&probe, fallback) {
        Normalized::Chat(event) => event.ts,
        _ => fallback,
    }
}

fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_items_keep_the_instant_the_extras_and_survive_junk() {
        let stored = UNIX_EPOCH + std::time::Duration::from_millis(1_738_419_600_000);
        let v1 = json!({ "_id": 7, "text": "hi", "timestamp": "2025-02-01T15:20:00.5+01:00",
            "author": { "fid": "u1" } });
        let documented = documented_item(&v1, "r", 3, UNIX_EPOCH);
        assert_eq!(documented["_id"], 7);
        assert_eq!(documented["timestamp"], "2025-02-01T14:20:00.500Z");
        assert_eq!(documented["author"]["fusername"], Value::Null);
        assert_eq!(
            flat_item(&v1, "r", 3, UNIX_EPOCH)["timestamp"],
            "1738419600500"
        );

        let tip = json!({ "type": "tip", "text": "", "tip_data": { "amount": "5" },
            "timestamp": 1_738_419_600_000_u64 });
        for item in [
            documented_item(&tip, "r", 4, UNIX_EPOCH),
            flat_item(&tip, "r", 4, UNIX_EPOCH),
        ] {
            assert_eq!(item["type"], "tip");
            assert_eq!(item["tip_data"]["amount"], "5");
        }
        assert_eq!(
            flat_item(&tip, "r", 4, UNIX_EPOCH)["timestamp"],
            "1738419600000"
        );

        // Not an object, or no timestamp: the time it was stored, never a panic.
        for junk in [json!("junk"), json!({ "timestamp": "soon" }), Value::Null] {
            let documented = documented_item(&junk, "r", 9, stored);
            assert_eq!(documented["_id"], "h9");
            assert_eq!(documented["timestamp"], "2025-02-01T14:20:00.000Z");
            assert_eq!(documented["type"], "message");
            let flat = flat_item(&junk, "r", 9, stored);
            assert_eq!(flat["timestamp"], "1738419600000");
            assert_eq!(flat["streamer_id"], "r");
        }
    }

    #[test]
    fn payloads_have_the_documented_fields() {
        let v1 = v1_message("c1", "viewer1", "gm");
        assert_eq!(v1["_id"], "c1");
        assert_eq!(v1["author"]["fusername"], "viewer1");
        assert_eq!(v1["text"], "gm");
        let v2 = v2_message("room", "u9", "viewer9", "hi");
        assert_eq!(v2["streamer_id"], "room");
        assert_eq!(v2["sender_username"], "viewer9");
        let ts: u128 = v2["timestamp"]
            .as_str()
            .expect("string")
            .parse()
            .expect("ms");
        assert!(ts > 1_738_419_600_000);
    }
}
