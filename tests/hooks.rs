//! The script's own voice, wired through the daemon: `on_start`, timers that fire only after
//! chat, `on_follow` from the v2 live room, and memory that survives a restart.

use retake_chat::config::ApiVersion;
use serde_json::json;

use crate::support::{Harness, ROOM, Setup, expect};

fn with_script(source: &str) -> Setup {
    Setup {
        script: Some(source.to_string()),
        ..Setup::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_start_speaks_and_a_timer_fires_after_chat() {
    let h = Harness::start_with(with_script(
        r#"
        fn on_start() { "hello chat" }
        fn on_message(msg) { ignore() }
        fn every_30s() { "still here" }
        "#,
    ))
    .await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["hello chat"]);
    h.say("t1", "uma", "anything").await;
    // The timer is due 30 s after start and chat has happened: it speaks once.
    let fake = &h.fake;
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(45), || fake.sent().len()
            >= 2)
        .await,
        "the timer never fired"
    );
    assert_eq!(h.sent_texts(), ["hello chat", "still here"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_survives_a_restart() {
    let mut h = Harness::start_with(with_script(
        r#"
        fn on_message(msg) {
            let n = recall("greetings");
            if n == () { n = 0; }
            n += 1;
            remember("greetings", n);
            reply(`greeting number ${n}`)
        }
        "#,
    ))
    .await;
    h.say("m1", "val", "hi").await;
    h.say("m2", "wes", "hi").await;
    h.wait_sent(2).await;
    h.shutdown().await.expect("clean stop");
    assert!(h.config.memory_path().is_file(), "memory saved at shutdown");
    h.launch().await;
    h.say("m3", "xia", "hi").await;
    h.wait_sent(3).await;
    assert_eq!(
        h.sent_texts(),
        [
            "greeting number 1",
            "greeting number 2",
            "greeting number 3"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_from_the_live_room_reach_on_follow() {
    let mut setup = with_script(
        r#"
        fn on_message(msg) { ignore() }
        fn on_follow(ev) { reply(`thanks for the follow, ${ev.author}!`) }
        "#,
    );
    setup.api = ApiVersion::V2;
    let h = Harness::start_with(setup).await;
    let live = format!("live_{ROOM}");
    let fake = &h.fake;
    expect("joined the live room too", || fake.room_size(&live) == 1).await;
    fake.emit(
        &live,
        "user_followed",
        json!({ "follower_username": "yara", "timestamp": 1 }),
    )
    .await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["thanks for the follow, yara!"]);
}
