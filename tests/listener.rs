//! End to end through the shipped personality: instant replies, acknowledgements with queue
//! and wake, and what must never reach the personality.

use retake_chat::config::ApiVersion;
use serde_json::json;

use crate::support::{AGENT, Harness, ROOM, Setup, TOKEN, expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gm_is_answered_over_v1() {
    let h = Harness::start().await;
    h.say("m1", "alice", "gm").await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].path, "/api/agent/chat/send");
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        sent[0].body,
        json!({ "userDbId": ROOM, "message": "gm alice! ☀️" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gm_is_answered_over_v2() {
    let h = Harness::start_with(Setup {
        api: ApiVersion::V2,
        ..Setup::default()
    })
    .await;
    h.fake
        .emit_v2_message(ROOM, "u-alice", "alice", "  GM ")
        .await;
    let sent = h.wait_sent(1).await;
    assert_eq!(sent[0].path, "/api/v1/agent/stream/chat/send");
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        sent[0].body,
        json!({ "message": "gm alice! ☀️", "destination_user_id": ROOM })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_table_is_kept() {
    let h = Harness::start().await;
    let cases = [
        ("hey", "Hey bob! 👋"),
        ("Hi", "Hi bob! 👋"),
        ("hello", "Hello bob! 🤖"),
        ("gn", "gn bob! 🌙"),
        ("ping", "pong! 🏓"),
        ("pong", "ping! 🏓"),
        ("👋", "👋"),
        ("❤️", "❤️"),
        ("🔥", "🔥"),
        ("hey are you live?", "Yes I'm here bob! What's up? 🤖"),
    ];
    for (i, (text, _)) in cases.iter().enumerate() {
        h.say(&format!("t{i}"), "bob", text).await;
    }
    h.wait_sent(cases.len()).await;
    let expected: Vec<String> = cases.iter().map(|(_, reply)| reply.to_string()).collect();
    assert_eq!(h.sent_texts(), expected);
    assert!(h.queue().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_acknowledged_queued_and_wakes_the_agent() {
    let h = Harness::start().await;
    h.say("q1", "carol", "What do you think of Rust?").await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["On it carol! 💭"]);
    let queue = h.queue();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, "q1");
    assert_eq!(queue[0].author, "carol");
    assert_eq!(queue[0].text, "What do you think of Rust?");
    assert!(
        queue[0].ts > 1_600_000_000_000,
        "ts is epoch ms: {}",
        queue[0].ts
    );
    expect("the wake command ran", || h.wakes() >= 1).await;
    expect("health counts the queued message", || {
        h.health()["counters"]["queued"] == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_and_own_messages_are_not_chat() {
    let h = Harness::start().await;
    for (i, kind) in ["jail", "unjail", "delete", "delete_all"]
        .iter()
        .enumerate()
    {
        h.emit(
            json!({ "_id": format!("mod{i}"), "type": kind, "text": "why?",
            "author": { "fusername": "mod" } }),
        )
        .await;
    }
    // The agent's own message, by name and by sender id.
    h.say("own1", AGENT, "what a question?").await;
    h.emit(json!({ "_id": "own2", "type": "message", "text": "hmm?",
        "author": { "fusername": "someone", "fid": ROOM } }))
        .await;
    // Events are handled in order: once this is answered, the ones above were handled.
    h.say("s1", "dave", "gm").await;
    h.wait_sent(1).await;
    // The fake echoes "gm dave! ☀️" back as the agent; a second probe proves it was ignored.
    h.say("s2", "dave", "ping").await;
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["gm dave! ☀️", "pong! 🏓"]);
    assert!(h.queue().is_empty());
    let fake = &h.fake;
    expect("echo counted as own", || {
        let health = h.health();
        health["counters"]["moderation"] == 4 && health["counters"]["own"].as_u64() >= Some(3)
    })
    .await;
    assert_eq!(fake.sent().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_ids_are_answered_once() {
    let h = Harness::start().await;
    h.say("dup", "erin", "gm").await;
    h.say("dup", "erin", "gm").await;
    h.say("probe", "erin", "ping").await;
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["gm erin! ☀️", "pong! 🏓"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_restart() {
    let mut h = Harness::start().await;
    h.say("q1", "frank", "first question?").await;
    h.wait_sent(1).await;
    h.shutdown().await.expect("clean stop");
    assert_eq!(
        h.health_file()["status"],
        "stopped",
        "the last health.json written"
    );
    h.launch().await;
    h.say("q2", "frank", "second question?").await;
    h.wait_sent(2).await;
    let ids: Vec<String> = h.queue().into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["q1", "q2"]);
}
