//! Live-room payloads as the fake sends them (the sandbox and the tests emit them into the
//! rooms with [`FakeRetake::emit`](super::FakeRetake::emit)): `tip_received`, `newtrade`,
//! `session_started`, `pinned`, and the chat copy of a tip. retake.tv documents only
//! `newtrade`'s fields; the others use the field names of its chat payloads (RETAKE_API.md),
//! which are among those `live` reads.

use serde_json::{Value, json};

/// The room of `streamer`'s live session `session_id`, where `pinned` comes.
pub fn session_room(streamer: &str, session_id: &str) -> String {
    format!("{streamer}/{session_id}")
}

/// A `tip_received` payload (room `live_<streamer>`): `sender` tipped `amount`, in
/// transaction `tx_hash` (left out when empty).
pub fn tip_received(sender: &str, amount: f64, tx_hash: &str) -> Value {
    let mut payload = json!({
        "sender_username": sender,
        "sender_user_id": sender,
        "amount": amount,
        "timestamp": now(),
    });
    if !tx_hash.is_empty() {
        payload["tx_hash"] = json!(tx_hash);
    }
    payload
}

/// The same tip's chat copy (room `<streamer>`): a v2 `message` of type `tip` with
/// `tip_data`, saying `text`.
pub fn chat_tip(streamer: &str, sender: &str, amount: f64, tx_hash: &str, text: &str) -> Value {
    json!({
        "type": "tip",
        "streamer_id": streamer,
        "sender_user_id": sender,
        "sender_username": sender,
        "text": text,
        "timestamp": now(),
        "tip_data": { "receiver_id": streamer, "amount": amount, "tx_hash": tx_hash },
    })
}

/// A `newtrade` payload (room `trades_<address>`): an `action` (`buy`/`sell`) of the token at
/// `address` worth `usd` dollars.
pub fn newtrade(address: &str, action: &str, usd: f64, ticker: &str) -> Value {
    json!({ "address": address, "action": action, "usdAmount": usd, "tokenTicker": ticker })
}

/// A `session_started` payload (room `live_<streamer>`).
pub fn session_started(streamer: &str, session_id: &str, title: &str) -> Value {
    json!({
        "streamer_id": streamer,
        "session_id": session_id,
        "title": title,
        "timestamp": now(),
    })
}

/// A `pinned` payload (room `<streamer>/<session_id>`): `author`'s message `text` pinned.
pub fn pinned(author: &str, text: &str) -> Value {
    json!({
        "pinned": true,
        "message": { "sender_username": author, "text": text },
        "timestamp": now(),
    })
}

fn now() -> String {
    crate::time::now_ms().to_string()
}
