//! The live-room payloads (`tip_received`, `newtrade`, `session_started`, `pinned`) as
//! [`ChatEvent`]s. retake.tv documents none of them but `newtrade`'s four fields, so each
//! field is looked for under the names the platform's other payloads use, and a payload is
//! taken only when what its hook needs is there with the right type: anything else is
//! [`Normalized::Malformed`], never a panic. Pure, like `event`.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

use super::Kind;
use crate::event::{
    ChatEvent, Details, MAX_FIELD_CHARS, MAX_TEXT_CHARS, Normalized, Via, cap_chars, string_field,
    synthetic_id, timestamp,
};

type Object = Map<String, Value>;

/// Turn one live-room payload of `kind` into a [`Normalized`]; `now_ms` stands in for a
/// missing timestamp.
pub fn normalize(kind: Kind, raw: &Value, now_ms: i64) -> Normalized {
    let Some(obj) = raw.as_object() else {
        return Normalized::Malformed(match kind {
            Kind::Tip => "tip_received payload is not an object",
            Kind::Trade => "newtrade payload is not an object",
            Kind::Started => "session_started payload is not an object",
            Kind::Pinned => "pinned payload is not an object",
        });
    };
    let parsed = match kind {
        Kind::Tip => tip(obj),
        Kind::Trade => trade(obj),
        Kind::Started => started(obj),
        Kind::Pinned => pinned(obj),
    };
    let mut event = match parsed {
        Ok(event) => event,
        Err(why) => return Normalized::Malformed(why),
    };
    event.ts = ["timestamp", "created_at", "started_at"]
        .iter()
        .find_map(|key| timestamp(obj.get(*key)))
        .unwrap_or(now_ms);
    let has_timestamp = obj.contains_key("timestamp") || obj.contains_key("created_at");
    event.id = id(&event, has_timestamp);
    Normalized::Chat(event)
}

/// The payloads carry no id: a digest of everything read, so a repeat shares it but two tips
/// of one viewer in the same millisecond (with different hashes or amounts) do not. Without
/// a timestamp, a fresh one (see `event::synthetic_id`).
fn id(event: &ChatEvent, has_timestamp: bool) -> String {
    if !has_timestamp {
        return synthetic_id(event, false);
    }
    let mut hasher = DefaultHasher::new();
    (
        event.via.name(),
        &event.author_id,
        &event.author,
        event.ts,
        &event.text,
    )
        .hash(&mut hasher);
    event.amount.map(f64::to_bits).hash(&mut hasher);
    if let Some(d) = &event.details {
        (&d.tx_hash, d.usd.map(f64::to_bits), &d.action, &d.address).hash(&mut hasher);
        (&d.session_id, d.pinned).hash(&mut hasher);
    }
    format!("live-{:016x}", hasher.finish())
}

/// `tip_received`: who tipped (`sender_username`, `sender_user_id`, … or a nested
/// `sender`/`user`), how much (`amount`, required), `tx_hash` and the tip's `text`/`message`.
fn tip(obj: &Object) -> Result<ChatEvent, &'static str> {
    let data = nested(obj, "tip_data");
    let amount = number(obj, &["amount", "tip_amount"])
        .transpose()
        .or_else(|| data.and_then(|d| number(d, &["amount"]).transpose()))
        .ok_or("tip_received has no amount")?
        .map_err(|()| "tip_received amount is not a number")?;
    let mut event = ChatEvent {
        kind: "tip".to_string(),
        via: Via::TipReceived,
        amount: Some(amount),
        text: match obj.get("message") {
            Some(Value::String(s)) if !obj.contains_key("text") => cap(s, MAX_TEXT_CHARS),
            _ => text(obj, &["text"], MAX_TEXT_CHARS)
                .map_err(|()| "tip_received text is not a string")?,
        },
        details: Some(Box::new(Details {
            tx_hash: first_id(obj, &["tx_hash", "txHash", "signature"])
                .or_else(|| data.and_then(|d| first_id(d, &["tx_hash"])))
                .unwrap_or_default(),
            ..Details::default()
        })),
        ..ChatEvent::default()
    };
    sender(obj, &mut event).map_err(|()| "tip_received sender name is not a string")?;
    Ok(event)
}

/// `newtrade`: `action` (`buy` or `sell`, required), `usdAmount` (required), `tokenTicker`,
/// `address`; the trader, when it says, from the usual sender fields.
fn trade(obj: &Object) -> Result<ChatEvent, &'static str> {
    let action = match obj.get("action") {
        None | Some(Value::Null) => return Err("newtrade has no action"),
        Some(Value::String(a)) if a.eq_ignore_ascii_case("buy") => "buy",
        Some(Value::String(a)) if a.eq_ignore_ascii_case("sell") => "sell",
        Some(_) => return Err("newtrade action is not buy or sell"),
    };
    let usd = number(obj, &["usdAmount", "usd_amount"])
        .map_err(|()| "newtrade usdAmount is not a number")?
        .ok_or("newtrade has no usdAmount")?;
    let bad_text = |()| "newtrade tokenTicker or address is not a string";
    let mut event = ChatEvent {
        kind: "trade".to_string(),
        via: Via::NewTrade,
        amount: Some(usd),
        details: Some(Box::new(Details {
            usd: Some(usd),
            action: action.to_string(),
            ticker: text(obj, &["tokenTicker", "token_ticker"], MAX_FIELD_CHARS)
                .map_err(bad_text)?,
            address: text(obj, &["address"], MAX_FIELD_CHARS).map_err(bad_text)?,
            tx_hash: first_id(obj, &["tx_hash", "txHash", "signature"]).unwrap_or_default(),
            ..Details::default()
        })),
        ..ChatEvent::default()
    };
    sender(obj, &mut event).map_err(|()| "newtrade trader name is not a string")?;
    Ok(event)
}

/// `session_started`: the session's id and title, at the top level or in a nested `session`;
/// the author is the streamer's name when the payload has one.
fn started(obj: &Object) -> Result<ChatEvent, &'static str> {
    let inner = nested(obj, "session");
    let bad = |()| "session_started title or name is not a string";
    let title = match text(
        obj,
        &["title", "session_title", "stream_title"],
        MAX_TEXT_CHARS,
    )
    .map_err(bad)?
    {
        t if t.is_empty() => match inner {
            Some(s) => text(s, &["title"], MAX_TEXT_CHARS).map_err(bad)?,
            None => t,
        },
        t => t,
    };
    let session_id = first_id(obj, &["session_id", "sessionId"])
        .or_else(|| inner.and_then(|s| first_id(s, &["id", "session_id"])))
        .unwrap_or_default();
    Ok(ChatEvent {
        kind: "live".to_string(),
        via: Via::SessionStarted,
        author: text(obj, &["streamer_username", "username"], MAX_FIELD_CHARS).map_err(bad)?,
        author_id: first_id(obj, &["streamer_id", "user_id"]).unwrap_or_default(),
        // The title is the text: what a script would show or match on.
        text: title,
        details: Some(Box::new(Details {
            session_id,
            ..Details::default()
        })),
        ..ChatEvent::default()
    })
}

/// `pinned`: the message pinned (nested as `message`, `pinned_message` or `chat`, or the
/// payload itself), its text and author, and whether it was pinned or unpinned (`pinned`,
/// `is_pinned`, or `action`/`type` `unpin`; pinned when nothing says). Needs a text, unless
/// it is an unpin.
fn pinned(obj: &Object) -> Result<ChatEvent, &'static str> {
    let message = ["message", "pinned_message", "chat"]
        .iter()
        .find_map(|key| nested(obj, key))
        .unwrap_or(obj);
    let flag = ["pinned", "is_pinned", "isPinned"]
        .iter()
        .find_map(|key| match obj.get(*key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_bool().ok_or("pinned flag is not true or false")),
        })
        .transpose()?;
    let unpin = ["action", "type"].iter().any(|key| {
        obj.get(*key)
            .and_then(Value::as_str)
            .is_some_and(|a| a.eq_ignore_ascii_case("unpin") || a.eq_ignore_ascii_case("unpinned"))
    });
    let is_pinned = flag.unwrap_or(!unpin);
    let text = match obj.get("message") {
        Some(Value::String(s)) => cap(s, MAX_TEXT_CHARS),
        _ => {
            text(message, &["text"], MAX_TEXT_CHARS).map_err(|()| "pinned text is not a string")?
        }
    };
    if text.trim().is_empty() && is_pinned {
        return Err("pinned has no text");
    }
    let mut event = ChatEvent {
        kind: "pinned".to_string(),
        via: Via::Pinned,
        text,
        details: Some(Box::new(Details {
            pinned: Some(is_pinned),
            ..Details::default()
        })),
        ..ChatEvent::default()
    };
    sender(message, &mut event).map_err(|()| "pinned author name is not a string")?;
    if event.author == "anon"
        && let Some(name) = nested(message, "author").and_then(|a| a.get("fusername"))
    {
        event.author = string_field(Some(name), MAX_FIELD_CHARS);
    }
    Ok(event)
}

/// The sender's name, id and wallet from the usual flat fields, else a nested `sender`,
/// `user` or `tipper` object; `anon` when nothing names them. `Err` when a name is there but
/// not a string.
fn sender(obj: &Object, event: &mut ChatEvent) -> Result<(), ()> {
    const NAMES: [&str; 5] = [
        "sender_username",
        "username",
        "tipper_username",
        "trader_username",
        "sender_display_name",
    ];
    const IDS: [&str; 4] = ["sender_user_id", "sender_id", "user_id", "tipper_id"];
    const WALLETS: [&str; 4] = [
        "sender_wallet_address",
        "wallet_address",
        "walletAddress",
        "trader",
    ];
    event.author = text(obj, &NAMES, MAX_FIELD_CHARS)?;
    event.author_id = first_id(obj, &IDS).unwrap_or_default();
    event.wallet = text(obj, &WALLETS, MAX_FIELD_CHARS)?;
    if let Some(inner) = ["sender", "user", "tipper"]
        .iter()
        .find_map(|key| nested(obj, key))
    {
        if event.author.is_empty() {
            event.author = text(inner, &["username", "name"], MAX_FIELD_CHARS)?;
        }
        if event.author_id.is_empty() {
            event.author_id = first_id(inner, &["id", "user_id"]).unwrap_or_default();
        }
    }
    if event.author.is_empty() {
        event.author = match event.wallet.get(..8) {
            Some(prefix) => prefix.to_string(),
            None => "anon".to_string(),
        };
    }
    Ok(())
}

/// The object under `key`, if it is one.
fn nested<'a>(obj: &'a Object, key: &str) -> Option<&'a Object> {
    obj.get(key).and_then(Value::as_object)
}

/// The first of `keys` present and not `null`, as text (capped at `max` characters): `""`
/// when none is; `Err` when it is not a string.
fn text(obj: &Object, keys: &[&str], max: usize) -> Result<String, ()> {
    match keys
        .iter()
        .find_map(|k| obj.get(*k).filter(|v| !v.is_null()))
    {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(cap(s, max)),
        Some(_) => Err(()),
    }
}

/// The first of `keys` that is a non-empty string or a number, as text: ids come both ways.
fn first_id(obj: &Object, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match obj.get(*k) {
        Some(v @ (Value::String(_) | Value::Number(_))) => {
            Some(string_field(Some(v), MAX_FIELD_CHARS)).filter(|s| !s.trim().is_empty())
        }
        _ => None,
    })
}

/// The first of `keys` present and not `null` as a finite, non-negative number (a JSON
/// number or a numeric string): `Ok(None)` when none is there, `Err` when it is not one.
fn number(obj: &Object, keys: &[&str]) -> Result<Option<f64>, ()> {
    let Some(value) = keys
        .iter()
        .find_map(|k| obj.get(*k).filter(|v| !v.is_null()))
    else {
        return Ok(None);
    };
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(()),
    }
}

fn cap(text: &str, max: usize) -> String {
    cap_chars(text.to_string(), max)
}
