//! The script's own voice, wired through the daemon: `on_start`, timers that fire only after
//! chat (and while a backlog of it waits), `on_follow` from the v2 live room, and memory that
//! survives a restart.

use std::time::Duration;

use retake_chat::config::ApiVersion;
use serde_json::json;

use crate::support::{Harness, ROOM, SIM_TICK, Setup, expect, wait_until};

fn with_script(source: &str) -> Setup {
    Setup {
        script: Some(source.to_string()),
        ..Setup::default()
    }
}

const TIMED: &str = r#"
fn on_start() { "hello chat" }
fn on_message(msg) { ignore() }
fn every_30s() { "still here" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_start_speaks_and_a_timer_fires_after_chat() {
    let h = Harness::start_with(Setup {
        sim_clock: true,
        ..with_script(TIMED)
    })
    .await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["hello chat"]);
    // A whole period without chat: the timer does not talk at an empty room.
    h.advance(Duration::from_secs(30));
    let fake = &h.fake;
    let spoke = wait_until(SIM_TICK * 10, || fake.sent().len() > 1).await;
    assert!(!spoke, "a timer spoke without chat: {:?}", h.sent_texts());
    h.say("t1", "uma", "anything").await;
    expect("the message handled", || {
        h.health()["counters"]["messagesIn"] == 1
    })
    .await;
    // Due again 30 s later, and chat has happened: it speaks once.
    h.advance(Duration::from_secs(30));
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["hello chat", "still here"]);
}

/// The same on the system clock and the default pace: 30 s of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "full-length default timings; run by .ci/run"]
async fn on_start_speaks_and_a_timer_fires_after_chat_on_the_system_clock() {
    let h = Harness::start_with(with_script(TIMED)).await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["hello chat"]);
    h.say("t1", "uma", "anything").await;
    // The timer is due 30 s after start and chat has happened: it speaks once.
    let fake = &h.fake;
    assert!(
        wait_until(Duration::from_secs(45), || fake.sent().len() >= 2).await,
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
    assert!(
        h.config.state_dir.memory().is_file(),
        "memory saved at shutdown"
    );
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

/// A personality that takes a while per message (a few ms of script work) and has a timer.
const BUSY_TIMED: &str = r#"
fn on_message(msg) {
    let n = 0;
    for i in 0..20000 { n += i; }
    ignore()
}
fn every_30s() { "still here" }
"#;

/// Timers come due on the personality thread's tick, which is looked at after every message:
/// a backlog of chat does not hold them back until it has drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_while_a_backlog_of_chat_waits() {
    // About 1.5 s of script work in a debug build; the tick comes every 20 ms.
    const FLOOD: u64 = 100;
    let h = Harness::start_with(Setup {
        sim_clock: true,
        tweak: |config| {
            config.script_limits.max_operations = u64::MAX;
            config.script_limits.time_budget = Duration::from_secs(5);
        },
        ..with_script(BUSY_TIMED)
    })
    .await;
    let messages_in = || h.health()["counters"]["messagesIn"].as_u64().unwrap_or(0);
    for i in 0..FLOOD {
        h.say(&format!("f{i}"), "uma", "anything").await;
    }
    expect("the flood is being handled", || messages_in() > 0).await;
    h.advance(Duration::from_secs(30));
    h.wait_sent(1).await;
    let handled = messages_in();
    assert!(
        handled < FLOOD,
        "the timer spoke only once all {FLOOD} messages were handled ({handled})"
    );
    assert_eq!(h.sent_texts(), ["still here"]);
}
