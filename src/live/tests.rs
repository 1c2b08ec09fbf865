//! The live-room payloads, good and bad, and the session room learned from chat payloads.

use serde_json::{Value, json};

use super::*;
use crate::event::{Normalized, Via};

fn event(kind: Kind, raw: Value) -> ChatEvent {
    match normalize(kind, &raw, 42) {
        Normalized::Chat(event) => event,
        other => panic!("{raw}: expected an event, got {other:?}"),
    }
}

fn details(event: &ChatEvent) -> &crate::event::Details {
    event.details.as_deref().expect("details")
}

#[test]
fn tips_take_the_sender_amount_and_hash_from_the_usual_fields() {
    let e = event(
        Kind::Tip,
        json!({"sender_username": "bob", "sender_user_id": "u7", "amount": "2.5",
            "tx_hash": "0xfeed", "message": "for the stream", "timestamp": 1000}),
    );
    assert_eq!((e.kind.as_str(), e.via), ("tip", Via::TipReceived));
    assert_eq!((e.author.as_str(), e.author_id.as_str()), ("bob", "u7"));
    assert_eq!((e.amount, e.ts), (Some(2.5), 1000));
    assert_eq!(
        (e.text.as_str(), details(&e).tx_hash.as_str()),
        ("for the stream", "0xfeed")
    );
    let e = event(
        Kind::Tip,
        json!({"sender": {"username": "amy", "id": 9}, "tip_data": {"amount": 3, "tx_hash": "h"}}),
    );
    assert_eq!((e.author.as_str(), e.author_id.as_str()), ("amy", "9"));
    assert_eq!((e.amount, e.ts), (Some(3.0), 42));
    assert_eq!(details(&e).tx_hash, "h");
    assert_eq!(event(Kind::Tip, json!({"amount": 1})).author, "anon");
}

#[test]
fn trades_carry_usd_action_and_ticker() {
    let e = event(
        Kind::Trade,
        json!({"address": "0xT", "action": "BUY", "usdAmount": 25, "tokenTicker": "RTK"}),
    );
    assert_eq!((e.kind.as_str(), e.via), ("trade", Via::NewTrade));
    let d = details(&e);
    assert_eq!((d.usd, d.action.as_str()), (Some(25.0), "buy"));
    assert_eq!((d.ticker.as_str(), d.address.as_str()), ("RTK", "0xT"));
    assert_eq!(e.amount, Some(25.0));
    let e = event(Kind::Trade, json!({"action": "sell", "usdAmount": "0.5"}));
    assert_eq!((details(&e).action.as_str(), e.amount), ("sell", Some(0.5)));
}

#[test]
fn sessions_and_pins() {
    let e = event(
        Kind::Started,
        json!({"session_id": "s1", "title": "Building a bot", "streamer_username": "Agent"}),
    );
    assert_eq!((e.kind.as_str(), e.via), ("live", Via::SessionStarted));
    assert_eq!(
        (
            details(&e).session_id.as_str(),
            e.text.as_str(),
            e.author.as_str()
        ),
        ("s1", "Building a bot", "Agent")
    );
    let e = event(Kind::Started, json!({"session": {"id": 12, "title": "T"}}));
    assert_eq!(
        (details(&e).session_id.as_str(), e.text.as_str()),
        ("12", "T")
    );
    assert_eq!(event(Kind::Started, json!({})).text, "");

    let e = event(
        Kind::Pinned,
        json!({"message": {"text": "read the docs", "sender_username": "mod"}, "pinned": true}),
    );
    assert_eq!((e.kind.as_str(), e.via), ("pinned", Via::Pinned));
    assert_eq!(
        (e.text.as_str(), e.author.as_str()),
        ("read the docs", "mod")
    );
    assert_eq!(details(&e).pinned, Some(true));
    let e = event(
        Kind::Pinned,
        json!({"text": "gm", "author": {"fusername": "v1"}}),
    );
    assert_eq!((e.author.as_str(), details(&e).pinned), ("v1", Some(true)));
    let e = event(
        Kind::Pinned,
        json!({"action": "unpin", "chat_event_id": "5"}),
    );
    assert_eq!((e.text.as_str(), details(&e).pinned), ("", Some(false)));
}

#[test]
fn malformed_payloads_of_each_kind_are_refused_with_a_reason() {
    let cases = [
        (Kind::Tip, json!(null)),
        (Kind::Tip, json!({"sender_username": "bob"})),
        (Kind::Tip, json!({"amount": null})),
        (Kind::Tip, json!({"amount": "lots"})),
        (Kind::Tip, json!({"amount": -1})),
        (Kind::Tip, json!({"amount": 1, "sender_username": 5})),
        (Kind::Trade, json!(7)),
        (Kind::Trade, json!({"usdAmount": 5})),
        (Kind::Trade, json!({"action": "hodl", "usdAmount": 5})),
        (Kind::Trade, json!({"action": 1, "usdAmount": 5})),
        (Kind::Trade, json!({"action": "buy"})),
        (Kind::Trade, json!({"action": "buy", "usdAmount": [5]})),
        (
            Kind::Trade,
            json!({"action": "buy", "usdAmount": 5, "tokenTicker": 5}),
        ),
        (Kind::Started, json!(null)),
        (Kind::Started, json!("s1")),
        (Kind::Started, json!({"title": 5})),
        (Kind::Pinned, json!(null)),
        (Kind::Pinned, json!({})),
        (Kind::Pinned, json!({"text": 5})),
        (Kind::Pinned, json!({"text": "x", "pinned": "yes"})),
    ];
    for (kind, raw) in cases {
        assert!(
            matches!(normalize(kind, &raw, 0), Normalized::Malformed(why) if why.starts_with(kind.event_name())),
            "{kind:?} {raw} was taken"
        );
    }
}

#[test]
fn no_shape_panics() {
    let big = "é".repeat(100_000);
    let shapes = [
        json!({"amount": 1e308, "sender_username": big, "text": big}),
        json!({"action": "sell", "usdAmount": "1e999"}),
        json!({"session": [1], "title": {"a": 1}}),
        json!({"message": {"text": {"t": 1}}, "pinned": null}),
        json!({"message": 5, "chat": "x"}),
        json!([{"amount": 1}]),
    ];
    for kind in [Kind::Tip, Kind::Trade, Kind::Started, Kind::Pinned] {
        for raw in &shapes {
            if let Normalized::Chat(e) = normalize(kind, raw, 0) {
                assert!(e.text.chars().count() <= crate::event::MAX_TEXT_CHARS);
                assert!(e.author.chars().count() <= crate::event::MAX_FIELD_CHARS);
            }
        }
    }
}

#[test]
fn first_seen_keys_never_carry_values() {
    let raw = json!({"amount": 5, "sender": {"username": "secret-name"}, "tx_hash": "0xvalue"});
    let listed = keys(&raw);
    assert_eq!(listed, ["amount", "sender.username", "tx_hash"]);
    assert_eq!(keys(&json!(null)), ["(not an object: null)"]);
    let many: serde_json::Map<String, Value> =
        (0..100).map(|i| (format!("k{i:03}"), json!(i))).collect();
    assert_eq!(keys(&Value::Object(many)).len(), MAX_KEYS_LOGGED + 1);
}

fn creds(token_address: &str) -> Credentials {
    Credentials {
        access_token: crate::config::Secret::new("t"),
        user_db_id: "me".into(),
        agent_name: "Me".into(),
        token_address: token_address.into(),
        token_ticker: "RTK".into(),
        secret_fields: Vec::new(),
    }
}

#[test]
fn the_session_room_is_learned_from_own_payloads_only() {
    let (tx, rx) = watch::channel(Vec::new());
    let live = Live::new(&creds(""), Some(tx));
    live.learn_session(&json!({"streamer_id": "other", "session_id": "x"}));
    live.learn_session(&json!({"session_id": "bad id"}));
    live.learn_session(&json!({"session_id": 5}));
    assert!(rx.borrow().is_empty());
    live.learn_session(&json!({"streamer_id": "me", "session_id": "s1"}));
    assert_eq!(*rx.borrow(), ["me/s1"]);
    live.learn_session(&json!({"session": {"id": "s2"}}));
    assert_eq!(*rx.borrow(), ["me/s2"]);
    // Without a session sender (v1) nothing is learned, and nothing fails.
    Live::new(&creds(""), None).learn_session(&json!({"session_id": "s1"}));
}

#[test]
fn the_token_room_needs_a_token() {
    assert_eq!(token_room(&creds(" ")), None);
    assert_eq!(token_room(&creds("0xT")).as_deref(), Some("trades_0xT"));
}

#[test]
fn a_trade_without_a_ticker_gets_the_agents_own() {
    let live = Live::new(&creds("0xT"), None);
    let ticker = |raw: Value| match live.normalize(Kind::Trade, &raw, 0) {
        Normalized::Chat(e) => details(&e).ticker.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ticker(json!({"action": "buy", "usdAmount": 1})), "RTK");
    assert_eq!(
        ticker(json!({"action": "buy", "usdAmount": 1, "tokenTicker": "X"})),
        "X"
    );
}

#[test]
fn ids_are_shared_by_repeats_only() {
    let id = |raw: Value| event(Kind::Tip, raw).id;
    let tip = json!({"sender_username": "vic", "amount": 7, "timestamp": 5});
    assert_eq!(id(tip.clone()), id(tip.clone()));
    let mut other = tip.clone();
    other["tx_hash"] = json!("0x8");
    assert_ne!(id(tip.clone()), id(other));
    let mut more = tip.clone();
    more["amount"] = json!(8);
    assert_ne!(id(tip), id(more));
    let untimed = json!({"amount": 1});
    assert_ne!(id(untimed.clone()), id(untimed));
}
