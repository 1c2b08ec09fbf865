//! Waking the agent: the command coalesces a burst, a wake hook gets its POST with the bearer
//! token, and items nobody takes cause further wakes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use retake_chat::config::{Config, Secret};
use serde_json::Value;

use crate::support::{Harness, Setup, expect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_questions_coalesces_into_few_wakes() {
    let slow_wake = |config: &mut Config| {
        config.wake.min_interval = Duration::from_millis(1000);
    };
    let h = Harness::start_with(Setup {
        tweak: slow_wake,
        ..Setup::default()
    })
    .await;
    for i in 0..50 {
        h.say(&format!("w{i}"), &format!("v{i}"), "a question?")
            .await;
    }
    expect("all queued", || h.queue().len() == 50).await;
    expect("woken", || h.wakes() >= 1).await;
    // 50 messages arrive within well under a second: one wake, at most one more for stragglers.
    assert!(h.wakes() <= 3, "{} wakes for one burst", h.wakes());
}

/// A tiny wake hook on loopback recording what it receives.
async fn hook() -> (String, Arc<Mutex<Vec<(Option<String>, Value)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hooks/wake",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                record.lock().expect("lock").push((auth, body.0));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hooks/wake", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_wake_posts_text_and_token() {
    let (url, seen) = hook().await;
    let mut h = Harness::start().await;
    h.shutdown().await.expect("stop");
    h.config.wake.url = Some(url);
    h.config.wake.token = Some(Secret::new("hook-token"));
    h.launch().await;
    h.say("h1", "rey", "are we there yet?").await;
    expect("the hook was called", || {
        !seen.lock().expect("lock").is_empty()
    })
    .await;
    let (auth, body) = seen.lock().expect("lock")[0].clone();
    assert_eq!(auth.as_deref(), Some("Bearer hook-token"));
    assert_eq!(
        body,
        serde_json::json!({ "text": "RETAKE_CHAT_CHECK", "mode": "now" })
    );
    expect("health shows the wake", || h.health()["wake"]["ok"] == true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_left_pending_wake_the_agent_again() {
    let eager = |config: &mut Config| {
        config.wake.rewake_after = Duration::from_secs(1);
    };
    let h = Harness::start_with(Setup {
        tweak: eager,
        ..Setup::default()
    })
    .await;
    h.say("p1", "sol", "anyone home?").await;
    expect("woken once", || h.wakes() >= 1).await;
    // Nobody takes the item: the listener wakes the agent again (after 1 s, then 2 s).
    expect("woken again", || h.wakes() >= 2).await;
    expect("health shows the pending item", || {
        h.health()["queue"]["pending"] == 1
    })
    .await;
}
