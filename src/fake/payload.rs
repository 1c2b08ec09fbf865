//! Chat payloads in the shapes retake.tv emits (generation 1 and 2), as the fake sends them,
//! and the two history item shapes a stored payload is served in (`documented_item`,
//! `flat_item`). Field names follow RETAKE_API.md; parsing them is `event`'s job, not this one's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::event::{Normalized, normalize};

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
        "timestamp": epoch_millis(SystemTime::now()).to_string(),
    })
}

/// The generation-1 shape with every author field chosen by the caller.
pub(super) fn v1_payload(id: &str, fusername: &str, fid: Value, wallet: &str, text: &str) -> Value {
    json!({
        "_id": id,
        "type": "message",
        "text": text,
        "timestamp": rfc3339(SystemTime::now()),
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
    let timestamp = rfc3339(at_millis(instant_ms(fields.get("timestamp"), stored_at)));
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

/// The instant `ms` milliseconds after the epoch (the epoch itself for a negative `ms`).
fn at_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(super) fn epoch_millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC); written by hand to keep chrono out of the tree.
pub(super) fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        let at = |ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // The two example timestamps in RETAKE_API.md are the same instant.
        assert_eq!(at(1_738_419_600_000), "2025-02-01T14:20:00.000Z");
        assert_eq!(at(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(at(4_107_542_399_000), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn history_items_keep_the_instant_the_extras_and_survive_junk() {
        let stored = UNIX_EPOCH + Duration::from_millis(1_738_419_600_000);
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
