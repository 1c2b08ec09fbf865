//! Payloads of every wrong shape never break the listener; connection failures are in
//! `outages`.

use serde_json::json;

use crate::support::{Harness, expect};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_payloads_do_not_break_the_connection() {
    let h = Harness::start().await;
    let mut deep = json!("bottom");
    for _ in 0..300 {
        deep = json!({ "text": deep });
    }
    h.emit(deep).await;
    h.emit(
        json!({ "_id": "wide", "text": "gm", "author": { "fusername": "wide" },
        "extra": (0..10_000).collect::<Vec<_>>() }),
    )
    .await;
    h.say("after-deep", "ivy", "gm").await;
    expect("the next gm is answered", || {
        h.sent_texts().contains(&"gm ivy! ☀️".to_string())
    })
    .await;
    let health = h.health();
    assert_eq!(health["reconnects"], 0, "the connection survived: {health}");
    assert_eq!(h.fake.total_connections(), 1);
}
