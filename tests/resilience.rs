//! What must not break the listener: the server going away and coming back, and payloads
//! of every wrong shape.

use serde_json::json;

use crate::support::{Harness, ROOM, expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_outage_it_rejoins_with_one_socket_and_answers_once() {
    let h = Harness::start().await;
    h.fake.stop().await;
    expect("health says disconnected", || {
        h.health()["status"] == "disconnected"
    })
    .await;
    // Let it fail a few attempts against a closed port before the server returns.
    expect("a few reconnection attempts", || {
        h.health()["reconnects"].as_u64() >= Some(3)
    })
    .await;
    h.fake
        .restart()
        .await
        .expect("fake restarts on the same port");
    let fake = &h.fake;
    expect("rejoined the room", || fake.room_size(ROOM) == 1).await;
    expect("health says connected", || {
        h.health()["status"] == "connected"
    })
    .await;
    h.say("after", "gina", "gm").await;
    h.wait_sent(1).await;
    // A probe after the reply: had a second socket joined, gm would have been answered twice
    // before the probe's answer.
    h.say("probe", "gina", "ping").await;
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["gm gina! ☀️", "pong! 🏓"]);
    assert_eq!(fake.connections().len(), 1, "one live socket");
    assert_eq!(fake.room_size(ROOM), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_skipped_and_counted() {
    let h = Harness::start().await;
    let big = "x".repeat(2_000_000);
    let payloads = [
        json!(null),
        json!(42),
        json!("gm"),
        json!([1, 2, 3]),
        json!({}),
        json!({ "text": null }),
        json!({ "type": 7, "text": "hi" }),
        json!({ "type": "message", "text": ["a"], "author": "bob" }),
        json!({ "type": "message", "text": { "deep": { "er": [1] } }, "author": { "fusername": 5 } }),
        json!({ "_id": null, "text": "", "author": null }),
        json!({ "_id": "big", "text": big, "author": { "fusername": "bigmouth" } }),
    ];
    for payload in payloads {
        h.emit(payload).await;
    }
    h.say("alive", "hal", "gm").await;
    expect("the next gm is answered", || {
        h.sent_texts().contains(&"gm hal! ☀️".to_string())
    })
    .await;
    // The megabyte message reached the personality capped, and was queued whole-but-capped.
    expect("the capped big message is queued", || {
        h.queue()
            .iter()
            .any(|i| i.id == "big" && i.text.chars().count() == retake_chat::event::MAX_TEXT_CHARS)
    })
    .await;
    expect("malformed payloads counted", || {
        h.health()["counters"]["malformed"].as_u64() >= Some(5)
    })
    .await;
}
