//! v2's live-room events through the whole listener against the fake: each reaches its hook
//! (`on_live`, `on_tip`, `on_trade`, `on_pinned`, `on_follow`) with its fields, a tip that
//! arrives both ways is handled once, hooks a script lacks ignore their events, malformed
//! payloads and unknown events are counted, and the same against the reference server.

use retake_chat::config::{ApiVersion, Config};
use retake_chat::fake;
use serde_json::{Value, json};

use crate::support::{Harness, ROOM, Setup, expect};

mod interop;

/// The agent's token in these tests.
pub(crate) const TOKEN_ADDRESS: &str = "0xT0KEN";

/// Replies naming each hook and the fields it got; pins are queued, for the agent.
pub(crate) const EVERY_HOOK: &str = r#"
fn on_message(msg) { if msg.lower == "gm" { reply(`gm ${msg.author}`) } }
fn on_live(ev) { reply(`live: ${ev.title} (${ev.session_id}, ${ev.event})`) }
fn on_tip(ev) { reply(`tip: ${ev.amount} from ${ev.author} (${ev.event}, ${ev.tx_hash})`) }
fn on_trade(ev) { reply(`trade: ${ev.action} $${ev.usd} ${ev.ticker} (${ev.event})`) }
fn on_pinned(ev) { ack(`pinned: ${ev.text} by ${ev.author} (${ev.pinned})`) }
fn on_follow(ev) { reply(`follow: ${ev.author}`) }
"#;

fn with_token(config: &mut Config) {
    config.creds.token_address = TOKEN_ADDRESS.into();
    config.creds.token_ticker = "RTK".into();
}

/// A v2 listener running `script`, with the agent's token when `token`.
async fn v2(script: &str, token: bool) -> Harness {
    let setup = Setup {
        api: ApiVersion::V2,
        script: Some(script.to_string()),
        tweak: if token { with_token } else { |_| {} },
        ..Setup::default()
    };
    let h = Harness::start_with(setup).await;
    let fake = &h.fake;
    expect("joined the live room", || fake.room_size(&live()) == 1).await;
    if token {
        expect("joined the token's trades room", || {
            fake.room_size(&trades()) == 1
        })
        .await;
    }
    h
}

pub(crate) fn live() -> String {
    format!("live_{ROOM}")
}

pub(crate) fn trades() -> String {
    format!("trades_{TOKEN_ADDRESS}")
}

/// Emit each `(room, event, payload)`, in order.
async fn emit_all<const N: usize>(h: &Harness, events: [(&str, &str, Value); N]) {
    for (room, event, payload) in events {
        h.fake.emit(room, event, payload).await;
    }
}

/// A tip's chat copy, a `message` of type `tip`, into the stream's room.
async fn tip_in_chat(h: &Harness, sender: &str, amount: f64, tx: &str, text: &str) {
    let payload = fake::chat_tip(ROOM, sender, amount, tx, text);
    h.fake.emit(ROOM, "message", payload).await;
}

/// A tip's `tip_received` copy into the live room.
async fn tip_received(h: &Harness, sender: &str, amount: f64, tx: &str) {
    let payload = fake::tip_received(sender, amount, tx);
    h.fake.emit(&live(), "tip_received", payload).await;
}

/// The stream goes live with `session` (`session_started`); once the listener is in the
/// session's room, where pins come, that room.
async fn go_live(h: &Harness, session: &str, title: &str) -> String {
    let started = fake::session_started(ROOM, session, title);
    h.fake.emit(&live(), "session_started", started).await;
    let room = fake::session_room(ROOM, session);
    let fake = &h.fake;
    expect("joined the live session's room", || {
        fake.room_size(&room) == 1
    })
    .await;
    room
}

/// Say `gm` as `end` and wait until the script's `answer` to it is sent: the outbox sends
/// in order, so every reply decided before it has been sent by then. All texts sent.
async fn sentinel(h: &Harness, answer: &str) -> Vec<String> {
    let before = h.fake.sent_count();
    h.fake.emit_v2_message(ROOM, "end", "end", "gm").await;
    let fake = &h.fake;
    expect(&format!("{answer:?} sent"), || {
        fake.sent_since(before)
            .iter()
            .any(|r| r.body["message"] == answer)
    })
    .await;
    h.sent_texts()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_live_room_event_reaches_its_hook() {
    let h = v2(EVERY_HOOK, true).await;
    let session_room = go_live(&h, "s-1", "Building a bot").await;
    let (live, trades) = (live(), trades());
    emit_all(
        &h,
        [
            (
                &live,
                "tip_received",
                fake::tip_received("tia", 2.5, "0xabc"),
            ),
            (
                &trades,
                "newtrade",
                fake::newtrade(TOKEN_ADDRESS, "buy", 25.0, "RTK"),
            ),
            // A trade without its ticker takes the credentials' one.
            (
                &trades,
                "newtrade",
                json!({"action": "sell", "usdAmount": "4"}),
            ),
            (
                &session_room,
                "pinned",
                fake::pinned("mod", "read the docs"),
            ),
            (&live, "user_followed", json!({"follower_username": "fay"})),
        ],
    )
    .await;
    sentinel(&h, "gm end").await;
    // An acknowledgement goes out once its item is on disk, after the replies around it.
    let pinned = "pinned: read the docs by mod (true)";
    expect("the pin acknowledged", || {
        h.sent_texts().iter().any(|t| t == pinned)
    })
    .await;
    let mut texts = h.sent_texts();
    texts.retain(|t| t != pinned);
    assert_eq!(
        texts,
        [
            "live: Building a bot (s-1, session_started)",
            "tip: 2.5 from tia (tip_received, 0xabc)",
            "trade: buy $25 RTK (newtrade)",
            "trade: sell $4 RTK (newtrade)",
            "follow: fay",
            "gm end",
        ]
    );
    // What a live hook queues carries its kind.
    let queued = h.queue();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (
            queued[0].kind.as_str(),
            queued[0].text.as_str(),
            queued[0].author.as_str()
        ),
        ("pinned", "read the docs", "mod")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tip_arriving_both_ways_calls_on_tip_once() {
    let h = v2(EVERY_HOOK, false).await;
    // Each first copy is answered before its second is sent: the two come through different
    // rooms, and which is first is the point of each case.
    // With a transaction hash on both copies, chat first.
    tip_in_chat(&h, "uma", 5.0, "0x5", "gg").await;
    h.wait_sent(1).await;
    tip_received(&h, "uma", 5.0, "0x5").await;
    // Without one on the live copy, which comes first: sender and amount pair them.
    tip_received(&h, "vic", 7.0, "").await;
    h.wait_sent(2).await;
    tip_in_chat(&h, "vic", 7.0, "0x7", "").await;
    // The same viewer tipping the same again is a new tip (both copies again).
    tip_in_chat(&h, "vic", 7.0, "0x8", "again").await;
    h.wait_sent(3).await;
    tip_received(&h, "vic", 7.0, "0x8").await;
    let texts = sentinel(&h, "gm end").await;
    assert_eq!(
        texts,
        [
            "tip: 5 from uma (message, 0x5)",
            "tip: 7 from vic (tip_received, )",
            "tip: 7 from vic (message, 0x8)",
            "gm end",
        ]
    );
    expect("health counts the three second copies", || {
        h.health()["counters"]["tipDuplicates"] == 3
    })
    .await;
    // No token in the credentials: no trades room joined.
    assert!(
        !h.fake.joins().keys().any(|room| room.starts_with("trades")),
        "{:?}",
        h.fake.joins()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_a_script_lacks_ignore_their_events() {
    let h = v2(
        r#"fn on_message(msg) { reply(`on_message: ${msg.kind} ${msg.lower} (${msg.event})`) }"#,
        true,
    )
    .await;
    let session_room = go_live(&h, "s-2", "t").await;
    let (live, trades) = (live(), trades());
    emit_all(
        &h,
        [
            (
                &trades,
                "newtrade",
                fake::newtrade(TOKEN_ADDRESS, "buy", 1.0, "RTK"),
            ),
            (&live, "user_followed", json!({"follower_username": "fay"})),
            (&session_room, "pinned", fake::pinned("mod", "x")),
            // A tip is a tip either way: without on_tip it goes to on_message, like its chat
            // copy.
            (&live, "tip_received", fake::tip_received("tia", 1.0, "")),
        ],
    )
    .await;
    let texts = sentinel(&h, "on_message: message gm (message)").await;
    assert_eq!(
        texts,
        [
            "on_message: tip  (tip_received)",
            "on_message: message gm (message)"
        ]
    );
    expect("health counts the four ignored", || {
        h.health()["counters"]["ignored"] == 4
    })
    .await;
    assert_eq!(h.health()["counters"]["scriptErrors"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_live_payloads_and_unknown_events_are_counted_and_skipped() {
    let h = v2(EVERY_HOOK, true).await;
    let session_room = go_live(&h, "s-3", "t").await;
    let (live, trades) = (live(), trades());
    let bad: [(&str, &str, Value); 12] = [
        (&live, "tip_received", Value::Null),
        (&live, "tip_received", json!({"sender_username": "bob"})),
        (
            &live,
            "tip_received",
            json!({"amount": 5, "sender_username": 7}),
        ),
        (&trades, "newtrade", Value::Null),
        (&trades, "newtrade", json!({"action": "buy"})),
        (&trades, "newtrade", json!({"action": 3, "usdAmount": 1})),
        (&live, "session_started", Value::Null),
        (&live, "session_started", json!({"title": 12})),
        (&session_room, "pinned", Value::Null),
        (&session_room, "pinned", json!({"pinned": true})),
        (&session_room, "pinned", json!({"text": 9})),
        (&live, "user_followed", Value::Null),
    ];
    emit_all(&h, bad).await;
    emit_all(
        &h,
        [
            (&live, "mystery_event", json!({"x": 1})),
            (&live, "mystery_event", json!(null)),
        ],
    )
    .await;
    let texts = sentinel(&h, "gm end").await;
    assert_eq!(texts, ["live: t (s-3, session_started)", "gm end"]);
    expect("health counts them", || {
        let health = h.health();
        health["counters"]["malformed"] == 12 && health["counters"]["unknownEvents"] == 2
    })
    .await;
    let health = h.health();
    assert_eq!(health["unknownEventNames"], json!({"mystery_event": 2}));
    assert_eq!(health["status"], "connected", "{health}");
}
