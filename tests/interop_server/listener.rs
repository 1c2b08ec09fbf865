//! The real listener with the reference server as all of retake.tv (`--chat-url` and
//! `--api-url` both on it), in both API generations: what it posts arrives at the server's
//! send endpoints with the token, and the server's echoes are what the listener knows as its own.

use std::time::Instant;

use serde_json::{Value, json};

use super::{V1_HISTORY, get, ids};
use crate::interop::BASE_CONFIG;
use crate::support::{DEADLINE, ROOM, TOKEN, read_json, start_fake, wait_until};

/// The real listener with the reference server as all of retake.tv, in generation `api`: a
/// viewer's `gm` and a probe are each answered once through the server's send endpoint with
/// the token, and the echoes of those answers are recognised as the agent's own.
async fn listener_answers_through_the_reference_server(api: &str, test: &str) {
    let Some((dir, mut server)) = super::start(test).await else {
        return;
    };
    // Only to build the listener's command line: nothing may reach it.
    let fake = start_fake().await;
    std::fs::write(dir.path().join("config.toml"), BASE_CONFIG).expect("write config");
    let started = Instant::now();
    let mut listener = server
        .listener(&fake, dir.path(), api)
        .spawn()
        .expect("the listener starts");
    let logs = || std::fs::read_to_string(dir.path().join("listener.log")).unwrap_or_default();
    let joined = wait_until(DEADLINE, || server.joined_after(ROOM, started).is_some()).await;
    assert!(joined, "the listener never joined\n{}", logs());

    if api == "v2" {
        server.say_v2(ROOM, "u-vic", "vic", "gm").await;
        server.say_v2(ROOM, "u-vic", "vic", "ping").await;
    } else {
        server.say(ROOM, "g1", "vic", "gm").await;
        server.say(ROOM, "p1", "vic", "ping").await;
    }
    let health = || read_json(&dir.path().join("state/health.json"));
    let own = wait_until(DEADLINE, || health()["counters"]["own"] == 2).await;
    assert!(
        own,
        "both echoes seen as the agent's own: {}\n{}",
        health(),
        logs()
    );
    let sent = server.sent().await;
    let texts: Vec<&Value> = sent.iter().map(|s| &s["body"]["message"]).collect();
    assert_eq!(
        texts,
        [&json!("gm vic! ☀️"), &json!("pong! 🏓")],
        "{}",
        logs()
    );
    for send in &sent {
        assert_eq!(send["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(send["status"], 200);
    }
    assert!(fake.sent().is_empty(), "nothing went to the fake");
    let (_, history) = get(&server, V1_HISTORY, &format!("userDbId={ROOM}")).await;
    assert_eq!(
        ids(&history).len(),
        4,
        "two viewer lines and two answers: {history}"
    );

    crate::support::terminate(&listener);
    let status = tokio::time::timeout(DEADLINE, listener.wait()).await;
    assert!(
        status.is_ok_and(|s| s.is_ok_and(|s| s.success())),
        "clean stop\n{}",
        logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_serves_a_v1_listener() {
    listener_answers_through_the_reference_server("v1", "interop_reference_serves_a_v1_listener")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_reference_serves_a_v2_listener() {
    listener_answers_through_the_reference_server("v2", "interop_reference_serves_a_v2_listener")
        .await;
}
