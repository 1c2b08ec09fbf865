//! What a chat event is, whichever API generation sent it.
//!
//! `normalize` turns one raw Socket.IO payload (v1 or v2, see RETAKE_API.md) into a
//! [`ChatEvent`], a moderation notice, or a reason to skip it. It is pure and never panics on
//! any JSON; filtering the agent's own messages and duplicate ids is left to the caller
//! ([`ChatEvent::is_own`], [`Seen`]).

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher, RandomState};

use serde_json::Value;

use crate::time::parse_rfc3339_ms;

/// Longest text (in characters) handed to the personality; the rest is cut off.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest author name, id, wallet or message id kept (in characters).
pub const MAX_FIELD_CHARS: usize = 128;

/// One viewer event in the shape the personality and the queue see, whatever the API generation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatEvent {
    /// Message id: v1's `_id`; v2 has none, so a stable digest of sender, timestamp and text.
    pub id: String,
    /// `message`, `tip` or `trade`.
    pub kind: String,
    /// Display name: v1 `author.fusername`, else the start of the wallet, else `anon`.
    pub author: String,
    /// v1 `author.fid`, v2 `sender_user_id`; empty when unknown.
    pub author_id: String,
    /// v1 `author.walletAddress`; empty when unknown.
    pub wallet: String,
    /// The message text as sent (capped at [`MAX_TEXT_CHARS`]).
    pub text: String,
    /// When it was sent, epoch milliseconds (receive time when the payload has none).
    pub ts: i64,
    /// Tip or trade amount, when the payload carries one.
    pub amount: Option<f64>,
    /// Said while the listener could not hear it, and read from the chat history afterwards.
    pub late: bool,
    /// The room it was said in, when that is not the own room: another streamer's (`--room`),
    /// with the name it was given by. `None` for the own room. The normalizer takes v2's
    /// `streamer_id`; the personality stage keeps it only when it names a room the listener
    /// joined (boxed: the own room's messages pay one pointer for it).
    pub room: Option<Box<crate::rooms::Room>>,
    /// The platform event it came as: a chat `message`, or one of the live-room events.
    pub via: Via,
    /// What tips, trades, sessions and pins carry besides the above; `None` for plain chat
    /// (boxed: a chat message pays one pointer for it, not every field).
    pub details: Option<Box<Details>>,
}

/// Which platform event an event arrived as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// A chat `message` (live or read from the history): messages, and tips and trades said
    /// in the chat.
    #[default]
    Chat,
    /// `tip_received` in v2's `live_<id>` room.
    TipReceived,
    /// `user_followed` in v2's `live_<id>` room.
    UserFollowed,
    /// `session_started` in v2's `live_<id>` room.
    SessionStarted,
    /// `newtrade` in v2's `trades_<token_address>` room.
    NewTrade,
    /// `pinned` in v2's `<streamer_id>/<session_id>` room.
    Pinned,
}

impl Via {
    /// The platform's name for the event (`message` for chat), as scripts see it in `ev.event`.
    pub fn name(self) -> &'static str {
        match self {
            Via::Chat => "message",
            Via::TipReceived => "tip_received",
            Via::UserFollowed => "user_followed",
            Via::SessionStarted => "session_started",
            Via::NewTrade => "newtrade",
            Via::Pinned => "pinned",
        }
    }
}

/// The fields of tips, trades, live sessions and pins; empty or `None` when the payload has
/// none. The live-room payloads are undocumented: `live` says which keys are read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    /// The transaction of a tip or trade.
    pub tx_hash: String,
    /// A trade's value in US dollars (`newtrade`'s `usdAmount`).
    pub usd: Option<f64>,
    /// A trade's direction: `buy` or `sell`.
    pub action: String,
    /// The traded token's ticker.
    pub ticker: String,
    /// `newtrade`'s `address`, as the platform sends it.
    pub address: String,
    /// A live session's id (its title is the event's `text`).
    pub session_id: String,
    /// A pin: `true` pinned, `false` unpinned.
    pub pinned: Option<bool>,
}

/// Every `kind` a viewer event can have.
pub const KINDS: [&str; 6] = ["message", "tip", "trade", "follow", "live", "pinned"];

/// Check a `kind` given by hand (a transcript, a script's test case), naming the choices.
pub fn check_kind(kind: &str) -> Result<(), String> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(format!(
            "`kind` must be message, tip, trade, follow, live or pinned, got `{kind}`"
        ))
    }
}

/// What one raw payload turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// A viewer event for the personality.
    Chat(ChatEvent),
    /// A moderation event (`jail`, `unjail`, `delete`, `delete_all`): never chat.
    Moderation(String),
    /// Not something we understand; the reason is for logs and counters.
    Malformed(&'static str),
}

impl ChatEvent {
    /// The text trimmed and lower-cased, the form the shipped personality matches on.
    pub fn lower(&self) -> String {
        self.text.trim().to_lowercase()
    }

    /// The other streamer's room it was said in; empty for the own room.
    pub fn room_id(&self) -> &str {
        self.room.as_ref().map_or("", |room| &room.id)
    }

    /// True when the agent itself sent this (the platform echoes the agent's messages back).
    pub fn is_own(&self, agent_name: &str, user_db_id: &str) -> bool {
        (!agent_name.is_empty() && self.author == agent_name)
            || (!user_db_id.is_empty() && self.author_id == user_db_id)
    }
}

/// Turn one raw `message` payload into a [`Normalized`]. `now_ms` stands in for a missing timestamp.
pub fn normalize(raw: &Value, now_ms: i64) -> Normalized {
    let Some(obj) = raw.as_object() else {
        return Normalized::Malformed("payload is not an object");
    };
    let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
    match kind {
        "jail" | "unjail" | "delete" | "delete_all" => {
            return Normalized::Moderation(kind.to_string());
        }
        "message" | "tip" | "trade" => {}
        _ => return Normalized::Malformed("unknown event type"),
    }
    let text = string_field(obj.get("text"), MAX_TEXT_CHARS);
    let ts = timestamp(obj.get("timestamp")).unwrap_or(now_ms);
    let mut event = ChatEvent {
        kind: kind.to_string(),
        text,
        ts,
        ..ChatEvent::default()
    };
    if let Some(author) = obj.get("author").and_then(Value::as_object) {
        // Generation 1: a nested author object.
        event.wallet = string_field(author.get("walletAddress"), MAX_FIELD_CHARS);
        event.author_id = string_field(author.get("fid"), MAX_FIELD_CHARS);
        event.author = string_field(author.get("fusername"), MAX_FIELD_CHARS);
    } else {
        // Generation 2: flat sender fields.
        event.author_id = string_field(obj.get("sender_user_id"), MAX_FIELD_CHARS);
        event.author = string_field(obj.get("sender_username"), MAX_FIELD_CHARS);
        event.wallet = string_field(obj.get("sender_wallet_address"), MAX_FIELD_CHARS);
    }
    if event.author.is_empty() {
        event.author = match event.wallet.get(..8) {
            Some(prefix) => prefix.to_string(),
            None => "anon".to_string(),
        };
    }
    if event.text.is_empty() && kind == "message" {
        return Normalized::Malformed("message has no text");
    }
    event.amount = amount(obj);
    event.details = chat_details(obj);
    let room = string_field(obj.get("streamer_id"), MAX_FIELD_CHARS);
    event.room = (!room.is_empty()).then(|| Box::new(crate::rooms::Room::id(room)));
    // An empty id (missing, null, "", or not a string or number) would make every such
    // message a "repeat" of the first; give it one of its own instead.
    let id = string_field(obj.get("_id").or_else(|| obj.get("id")), MAX_FIELD_CHARS);
    event.id = if id.trim().is_empty() {
        synthetic_id(&event, obj.contains_key("timestamp"))
    } else {
        id
    };
    Normalized::Chat(event)
}

/// Turn one `user_followed` payload (v2's `live_<id>` room) into a `follow` event. The
/// platform documents no fields for it, so the follower's name is taken from whichever of the
/// usual fields is present.
pub fn normalize_follow(raw: &Value, now_ms: i64) -> Normalized {
    let Some(obj) = raw.as_object() else {
        return Normalized::Malformed("follow payload is not an object");
    };
    let first = |keys: &[&str]| {
        keys.iter()
            .map(|k| string_field(obj.get(*k), MAX_FIELD_CHARS))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    let user = obj.get("user").and_then(Value::as_object);
    let nested = |key: &str| string_field(user.and_then(|u| u.get(key)), MAX_FIELD_CHARS);
    let mut event = ChatEvent {
        kind: "follow".to_string(),
        via: Via::UserFollowed,
        author: first(&[
            "follower_username",
            "sender_username",
            "username",
            "fusername",
        ]),
        author_id: first(&["follower_id", "sender_user_id", "user_id", "userDbId"]),
        wallet: first(&["wallet_address", "walletAddress"]),
        ts: timestamp(obj.get("timestamp")).unwrap_or(now_ms),
        ..ChatEvent::default()
    };
    if event.author.is_empty() {
        event.author = nested("username");
    }
    if event.author_id.is_empty() {
        event.author_id = nested("id");
    }
    if event.author.is_empty() {
        event.author = "anon".to_string();
    }
    event.id = synthetic_id(&event, obj.contains_key("timestamp"));
    Normalized::Chat(event)
}

/// A string field as text: strings as they are, numbers and booleans printed, anything else empty.
pub(crate) fn string_field(value: Option<&Value>, max_chars: usize) -> String {
    let text = match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    };
    cap_chars(text, max_chars)
}

/// Cut `text` to at most `max_chars` characters, on a character boundary.
pub(crate) fn cap_chars(mut text: String, max_chars: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
    }
    text
}

/// Epoch milliseconds from an RFC 3339 string (v1), a numeric string or a number (v2).
pub(crate) fn timestamp(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok().or_else(|| parse_rfc3339_ms(s)),
        _ => None,
    }
}

/// A chat tip's or trade's `tx_hash`, and a trade's direction (`trade_data.type`); `None`
/// when it has neither.
fn chat_details(obj: &serde_json::Map<String, Value>) -> Option<Box<Details>> {
    let data = obj.get("tip_data").or_else(|| obj.get("trade_data"))?;
    let details = Details {
        tx_hash: string_field(data.get("tx_hash"), MAX_FIELD_CHARS),
        action: match data.get("type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("buy") => "buy".to_string(),
            Some(t) if t.eq_ignore_ascii_case("sell") => "sell".to_string(),
            _ => String::new(),
        },
        ..Details::default()
    };
    (details != Details::default()).then(|| Box::new(details))
}

/// Tip amount from `tip_data.amount` or `trade_data.amount`, as a number or numeric string.
fn amount(obj: &serde_json::Map<String, Value>) -> Option<f64> {
    let data = obj.get("tip_data").or_else(|| obj.get("trade_data"))?;
    match data.get("amount")? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// v2 payloads carry no id: derive one that the server's repeats share but distinct messages don't.
/// Without a timestamp two identical lines from one sender could be different messages, so the
/// id is made unique instead (deduplication then cannot apply, but nothing is dropped).
pub(crate) fn synthetic_id(event: &ChatEvent, has_timestamp: bool) -> String {
    if !has_timestamp {
        return format!("gen-{}", uuid::Uuid::new_v4().simple());
    }
    let mut hasher = DefaultHasher::new();
    (
        &event.author_id,
        &event.author,
        event.ts,
        &event.text,
        &event.kind,
    )
        .hash(&mut hasher);
    format!("v2-{:016x}", hasher.finish())
}

/// The most recent message ids, so a message the server repeats (after a reconnect) is answered once.
///
/// Kept as 64-bit hashes (keys random per process), not as strings: a flood leaves no block
/// per id strewn over the heap, which would keep its pages from being given back. A new id is
/// taken for a recent one only on a 64-bit collision, about one message in 4·10^15 with 4,096
/// ids kept, and nobody can aim for one.
#[derive(Debug)]
pub struct Seen {
    order: VecDeque<u64>,
    ids: HashSet<u64>,
    capacity: usize,
    keys: RandomState,
}

impl Seen {
    /// Remember up to `capacity` ids; the oldest is forgotten first.
    pub fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::with_capacity(capacity),
            ids: HashSet::with_capacity(capacity),
            capacity: capacity.max(1),
            keys: RandomState::new(),
        }
    }

    /// Whether `id` is among the recent ones.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(&self.keys.hash_one(id))
    }

    /// Record `id`; false when it was already among the recent ones.
    pub fn insert(&mut self, id: &str) -> bool {
        let id = self.keys.hash_one(id);
        if self.ids.contains(&id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        self.order.push_back(id);
        self.ids.insert(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(raw: Value) -> ChatEvent {
        chat_of(normalize(&raw, 42))
    }

    fn chat_of(normalized: Normalized) -> ChatEvent {
        match normalized {
            Normalized::Chat(event) => event,
            other => panic!("expected chat, got {other:?}"),
        }
    }

    #[test]
    fn v1_message() {
        let e = chat(json!({"_id": "c1", "type": "message", "text": "gm",
            "timestamp": "2025-02-01T14:20:00Z",
            "author": {"fusername": "viewer1", "walletAddress": "0xabcdef1234", "fid": 12345}}));
        assert_eq!(e.id, "c1");
        assert_eq!(e.author, "viewer1");
        assert_eq!(e.author_id, "12345");
        assert_eq!(e.wallet, "0xabcdef1234");
        assert_eq!(e.ts, 1_738_419_600_000);
        assert_eq!(e.kind, "message");
    }

    #[test]
    fn v2_message_gets_a_stable_id() {
        let raw = json!({"type": "message", "session_id": "s", "streamer_id": "st",
            "sender_user_id": "u9", "sender_username": "viewer1", "text": "Hello!",
            "timestamp": "1738419600000"});
        let (a, b) = (chat(raw.clone()), chat(raw));
        assert_eq!(a.ts, 1_738_419_600_000);
        assert_eq!(a.author, "viewer1");
        assert_eq!(a.author_id, "u9");
        assert!(a.id.starts_with("v2-"));
        assert_eq!(a.id, b.id);
        // The room is the payload's; whether it is one the listener joined is decided later.
        assert_eq!(a.room_id(), "st");
        let v1 = chat(json!({"_id": "c1", "text": "gm", "author": {"fusername": "v"}}));
        assert_eq!(v1.room_id(), "", "v1 names no room");
    }

    #[test]
    fn follows_take_the_name_from_any_usual_field() {
        let e = chat_of(normalize_follow(
            &json!({"follower_username": "fan", "timestamp": 5}),
            0,
        ));
        assert_eq!(
            (e.kind.as_str(), e.author.as_str(), e.ts),
            ("follow", "fan", 5)
        );
        let e = chat_of(normalize_follow(
            &json!({"user": {"username": "fan2", "id": "u7"}}),
            9,
        ));
        assert_eq!((e.author.as_str(), e.author_id.as_str()), ("fan2", "u7"));
        assert!(matches!(
            normalize_follow(&json!(7), 0),
            Normalized::Malformed(_)
        ));
    }

    #[test]
    fn tips_carry_amounts() {
        let e = chat(json!({"type": "tip", "text": "", "sender_username": "bob",
            "tip_data": {"amount": "2.5", "receiver_id": "x"}}));
        assert_eq!(e.kind, "tip");
        assert_eq!(e.amount, Some(2.5));
        assert_eq!((e.via, e.details), (Via::Chat, None));
        let e = chat(json!({"type": "tip", "text": "", "sender_username": "bob",
            "tip_data": {"amount": 1, "tx_hash": "0xfeed"}}));
        assert_eq!(e.details.map(|d| d.tx_hash), Some("0xfeed".to_string()));
    }

    #[test]
    fn trades_said_in_chat_carry_their_direction() {
        let e = chat(
            json!({"type": "trade", "text": "", "sender_username": "bob",
            "trade_data": {"amount": 3, "type": "SELL", "tx_hash": 7}}),
        );
        let details = e.details.expect("details");
        assert_eq!(
            (details.action.as_str(), details.tx_hash.as_str()),
            ("sell", "7")
        );
        let e = chat(json!({"type": "trade", "text": "", "trade_data": {"type": ["buy"]}}));
        assert_eq!(e.details, None);
    }

    #[test]
    fn author_falls_back_to_wallet_then_anon() {
        let e = chat(json!({"text": "hi", "author": {"walletAddress": "0x12345678ff"}}));
        assert_eq!(e.author, "0x123456");
        let e = chat(json!({"text": "hi", "author": {"walletAddress": "0x1"}}));
        assert_eq!(e.author, "anon");
        assert_eq!(e.ts, 42);
    }

    #[test]
    fn moderation_is_not_chat() {
        for kind in ["jail", "unjail", "delete", "delete_all"] {
            assert_eq!(
                normalize(&json!({"type": kind, "text": "x"}), 0),
                Normalized::Moderation(kind.to_string())
            );
        }
    }

    #[test]
    fn odd_shapes_never_panic() {
        let big = "x".repeat(3_000_000);
        let cases = [
            json!(null),
            json!(1),
            json!("gm"),
            json!([1, 2]),
            json!({}),
            json!({"text": null}),
            json!({"text": 5, "author": 7}),
            json!({"text": ["a"], "author": {"fusername": {"x": 1}}}),
            json!({"type": 3, "text": "hi"}),
            json!({"type": "weird", "text": "hi"}),
            json!({"text": "hi", "timestamp": "2025-13-99T99:99:99Z"}),
            json!({"text": "hi", "timestamp": "9999-12-31T23:59:59.999999+14:00"}),
            json!({"text": "hi", "timestamp": 1e300}),
            json!({"text": "é", "timestamp": "ééééééééééééééééééééé"}),
            json!({"text": big}),
        ];
        for raw in &cases {
            let _ = normalize(raw, 0);
        }
        let e = chat(json!({"text": "x".repeat(5000), "author": {"fusername": "é".repeat(500)}}));
        assert_eq!(e.text.chars().count(), MAX_TEXT_CHARS);
        assert_eq!(e.author.chars().count(), MAX_FIELD_CHARS);
        assert_eq!(chat(json!({"text": 5})).text, "5");
        assert!(matches!(
            normalize(&json!(null), 0),
            Normalized::Malformed(_)
        ));
        assert!(matches!(
            normalize(&json!({"text": ""}), 0),
            Normalized::Malformed(_)
        ));
    }

    #[test]
    fn own_messages_by_name_or_id() {
        let e = chat(json!({"text": "hi", "author": {"fusername": "Bot", "fid": "u1"}}));
        assert!(e.is_own("Bot", ""));
        assert!(e.is_own("", "u1"));
        assert!(!e.is_own("Other", "u2"));
    }

    /// A random JSON value built from the fields the normalizer looks at, with values of
    /// every type (including the awkward ones), nested a few levels deep.
    fn arbitrary(rng: &mut impl rand::Rng, depth: u32) -> Value {
        const KEYS: [&str; 16] = [
            "_id",
            "id",
            "type",
            "text",
            "timestamp",
            "author",
            "fusername",
            "walletAddress",
            "fid",
            "sender_user_id",
            "sender_username",
            "tip_data",
            "trade_data",
            "amount",
            "sender_wallet_address",
            "x",
        ];
        const STRINGS: [&str; 12] = [
            "",
            "gm",
            "message",
            "tip",
            "jail",
            "2025-02-01T14:20:00Z",
            "1738419600000",
            "9999-99-99T99:99:99+99:99",
            "ééé",
            "0x",
            "-1",
            "1e400",
        ];
        match rng.gen_range(0..if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.r#gen()),
            2 => serde_json::json!(rng.r#gen::<i64>()),
            3 => serde_json::json!(rng.r#gen::<f64>() * 1e18),
            4 => Value::String(STRINGS[rng.gen_range(0..STRINGS.len())].to_string()),
            5 => Value::String(
                (0..rng.gen_range(0..40))
                    .map(|_| char::from_u32(rng.gen_range(0..0x11000)).unwrap_or('?'))
                    .collect(),
            ),
            6 => Value::Array(
                (0..rng.gen_range(0..4))
                    .map(|_| arbitrary(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.gen_range(0..8))
                    .map(|_| {
                        let key = KEYS[rng.gen_range(0..KEYS.len())].to_string();
                        (key, arbitrary(rng, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    /// Property: no payload of any shape panics, and what comes out respects the caps.
    #[test]
    fn fuzz_normalize_never_panics() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..30_000 {
            let raw = arbitrary(&mut rng, 4);
            if let Normalized::Chat(event) = normalize(&raw, 0) {
                assert!(event.text.chars().count() <= MAX_TEXT_CHARS);
                assert!(event.author.chars().count() <= MAX_FIELD_CHARS);
                assert!(!event.author.is_empty() && !event.id.is_empty());
            }
        }
    }

    #[test]
    fn seen_forgets_the_oldest() {
        let mut seen = Seen::new(2);
        assert!(seen.insert("a"));
        assert!(!seen.insert("a"));
        assert!(seen.insert("b"));
        assert!(seen.insert("c"));
        assert!(seen.insert("a"));
        assert!(seen.contains("c") && !seen.contains("b"));
    }

    #[test]
    fn seen_holds_no_block_per_id() {
        // A flood's worth of ids through the listener's 4,096: what stays is two tables of
        // hashes (18 bytes an id), not 8,192 strings besides them (66).
        let mut seen = Seen::new(4096);
        let before = crate::script::held_bytes();
        let mut id = String::new();
        for i in 0..200_000 {
            id.clear();
            id.push_str(&format!("f-{i}"));
            seen.insert(&id);
        }
        let per_id = (crate::script::held_bytes() - before) / 4096;
        assert!(per_id <= 32, "{per_id} bytes an id");
    }
}
