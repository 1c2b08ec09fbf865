//! The connection under stress, against the in-process fake (fast): an outage, a server
//! kicking the listener in a loop, and a frozen server that keeps the TCP connection open but
//! never answers. Each must end with exactly one socket in the room and every message answered
//! exactly once. `interop.rs` proves the same against the reference Node.js server, whose
//! closes differ from the fake's; `source::backoff`'s tests walk the default backoff through
//! outages of any length.

use std::time::Duration;

use retake_chat::config::Config;
use retake_chat::fake::FakeOptions;

use crate::support::{AGENT, DEADLINE, Harness, ROOM, Setup, expect, wait_until};

/// After the trouble: one live socket, in the room, and gm answered once (a probe after the
/// reply proves no second socket answered too).
async fn answers_once(h: &Harness, tag: &str) {
    let fake = &h.fake;
    expect("rejoined the room", || fake.room_size(ROOM) == 1).await;
    expect("health says connected", || {
        h.health()["status"] == "connected"
    })
    .await;
    let before = fake.sent().len();
    h.say(&format!("{tag}-gm"), tag, "gm").await;
    h.say(&format!("{tag}-probe"), tag, "ping").await;
    h.wait_sent(before + 2).await;
    let texts = h.sent_texts();
    assert_eq!(
        texts[before..],
        [format!("gm {tag}! ☀️"), "pong! 🏓".to_string()],
        "all sent: {texts:?}"
    );
    assert_eq!(fake.connections().len(), 1, "one live socket");
    assert_eq!(fake.room_size(ROOM), 1);
}

async fn outage(length: Duration, tweak: fn(&mut Config), tag: &str) {
    let h = Harness::start_with(Setup {
        tweak,
        ..Setup::default()
    })
    .await;
    h.fake.stop().await;
    expect("health says disconnected", || {
        h.health()["status"] == "disconnected"
    })
    .await;
    // An outage of the given length, measured, not slept through blindly: the listener keeps
    // trying the whole time (the health file shows each attempt).
    let reconnects_before = h.health()["reconnects"].as_u64().unwrap_or(0);
    tokio::time::sleep(length).await;
    let reconnects = h.health()["reconnects"].as_u64().unwrap_or(0);
    assert!(
        reconnects > reconnects_before,
        "kept trying during the outage"
    );
    assert!(
        h.health()["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect")),
        "the last error is shown: {}",
        h.health()
    );
    h.fake
        .restart()
        .await
        .expect("fake restarts on the same port");
    let back = std::time::Instant::now();
    let fake = &h.fake;
    expect("rejoined the room", || fake.room_size(ROOM) == 1).await;
    // A figure for the record (run with --nocapture), not an assertion.
    eprintln!(
        "{tag}: outage {length:?}, {} attempts, back in the room {:?} after the server",
        h.health()["reconnects"],
        back.elapsed()
    );
    answers_once(&h, tag).await;
}

/// A second out, with the harness's quick backoff (50 ms to 0.5 s): several attempts, each
/// refused, then back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_1s_outage_it_rejoins_and_answers_once() {
    outage(Duration::from_secs(1), |_| {}, "one").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_ten_kicks_in_a_row_it_rejoins_each_time_and_answers_once() {
    let h = Harness::start().await;
    let fake = &h.fake;
    // Kick the listener every time it gets into the room, ten times over.
    for _ in 0..10 {
        expect("back in the room", || fake.room_size(ROOM) == 1).await;
        fake.disconnect_all().await;
        expect("kicked out", || fake.room_size(ROOM) == 0).await;
    }
    answers_once(&h, "kicked").await;
    let joins = fake.joins().get(ROOM).copied().unwrap_or(0);
    assert!(joins >= 11, "rejoined after every kick: {joins}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_is_noticed_by_ping_timeout() {
    let h = Harness::start_with(Setup {
        proxy: true,
        fake: FakeOptions {
            agent_name: AGENT.into(),
            user_db_id: ROOM.into(),
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(300),
            ..FakeOptions::default()
        },
        // Each attempt against the frozen server waits this out: the shortest there is.
        tweak: |config| config.connection.connect_timeout = Duration::from_secs(1),
        ..Setup::default()
    })
    .await;
    let proxy = h.proxy.as_ref().expect("proxy");
    proxy.freeze();
    // Nothing closes the TCP connection: only the missing pings can tell.
    expect("health says disconnected", || {
        h.health()["status"] == "disconnected"
    })
    .await;
    // Attempts against the frozen server time out; none of them may linger as a socket.
    assert!(
        wait_until(DEADLINE, || h.health()["reconnects"].as_u64() >= Some(2)).await,
        "kept trying"
    );
    proxy.thaw();
    answers_once(&h, "thawed").await;
}
