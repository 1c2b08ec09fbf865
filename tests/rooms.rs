//! Other streamers' rooms (`--room`) through the whole listener against the fake: a `gm` said
//! in another room is answered there, once, and the own room still works (v1: a socket per
//! room, since its payloads name no room; v2: the same socket, the payload's `streamer_id`);
//! a room given by name is resolved through the platform's lookup once and then from
//! `rooms.json`; a name that does not resolve stops the start with one sentence; a queued
//! message from another room is answered there by the agent's `reply`.

use retake_chat::act::reply::agent;
use retake_chat::config::{ApiVersion, Config};
use retake_chat::fake::{FakeOptions, FakeRetake, SentRequest};

use crate::support::{AGENT, Harness, ROOM, Setup, expect, test_config};

mod interop;

/// The other streamer's room.
pub(crate) const RIVAL: &str = "room-2";

/// Greets with where it heard the greeting; hands everything else to the agent.
pub(crate) const WHERE: &str = r#"
fn on_message(msg) {
    if msg.lower == "gm" {
        return reply(`gm ${msg.author} in ${msg.room} (${msg.room_name}, own: ${msg.own_room})`);
    }
    ack("On it!")
}
"#;

fn fake_options() -> FakeOptions {
    FakeOptions {
        agent_name: AGENT.into(),
        user_db_id: ROOM.into(),
        ..FakeOptions::default()
    }
}

/// Where a send went: v1's `userDbId` or v2's `destination_user_id`.
pub(crate) fn destination(sent: &SentRequest) -> &str {
    sent.body
        .get("userDbId")
        .or_else(|| sent.body.get("destination_user_id"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
}

fn texts_to(h: &Harness, room: &str) -> Vec<String> {
    h.fake
        .sent()
        .iter()
        .filter(|s| destination(s) == room)
        .map(|s| s.body["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Wait until `room` got `n` texts, then return them.
async fn wait_texts(h: &Harness, room: &str, n: usize) -> Vec<String> {
    expect(&format!("{n} messages sent to {room}"), || {
        texts_to(h, room).len() >= n
    })
    .await;
    texts_to(h, room)
}

async fn start(api: ApiVersion, fake: FakeRetake, tweak: fn(&mut Config)) -> Harness {
    let setup = Setup {
        api,
        script: Some(WHERE.to_string()),
        tweak,
        ..Setup::default()
    };
    let h = Harness::start_with_fake(fake, setup).await;
    let fake = &h.fake;
    expect("joined the other room", || fake.room_size(RIVAL) == 1).await;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_a_gm_in_another_room_is_answered_there_once_and_the_own_room_still_works() {
    let fake = FakeRetake::start(fake_options()).await.expect("fake");
    let h = start(ApiVersion::V1, fake, |c| c.rooms = vec![RIVAL.into()]).await;
    h.fake.emit_v1_message(RIVAL, "r1", "bob", "gm").await;
    let there = wait_texts(&h, RIVAL, 1).await;
    assert_eq!(there, ["gm bob in room-2 (, own: false)"]);
    h.say("o1", "carol", "gm").await;
    let here = wait_texts(&h, ROOM, 1).await;
    assert_eq!(here, ["gm carol in room-1 (, own: true)"]);
    // Once: a later message in the other room is answered, the first not again.
    h.fake.emit_v1_message(RIVAL, "r2", "dan", "gm").await;
    let there = wait_texts(&h, RIVAL, 2).await;
    assert_eq!(there[1], "gm dan in room-2 (, own: false)");
    assert_eq!(there.len(), 2, "{there:?}");
    // v1's payloads name no room: the other room has a socket of its own.
    assert_eq!(h.fake.connections().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_a_room_given_by_name_is_looked_up_once_and_answered_on_the_same_socket() {
    let fake = FakeRetake::start(fake_options()).await.expect("fake");
    fake.add_streamer("rival", RIVAL);
    let mut h = start(ApiVersion::V2, fake, |c| c.rooms = vec!["rival".into()]).await;
    assert_eq!(h.fake.connections().len(), 1, "one socket hears both rooms");
    h.fake.emit_v2_message(RIVAL, "u-bob", "bob", "gm").await;
    let there = wait_texts(&h, RIVAL, 1).await;
    assert_eq!(there, ["gm bob in room-2 (rival, own: false)"]);
    h.fake.emit_v2_message(ROOM, "u-carol", "carol", "gm").await;
    let here = wait_texts(&h, ROOM, 1).await;
    assert_eq!(here, ["gm carol in room-1 (, own: true)"]);
    // Something else said there is queued with its room, and the agent's reply goes there.
    h.fake
        .emit_v2_message(RIVAL, "u-bob", "bob", "what is rust?")
        .await;
    expect("queued", || !h.queue().is_empty()).await;
    let item = h.queue().remove(0);
    assert_eq!(
        (item.room.as_str(), item.room_name.as_deref()),
        (RIVAL, Some("rival"))
    );
    assert_eq!(wait_texts(&h, RIVAL, 2).await[1], "On it!");
    let replied = agent::reply(
        &h.config,
        None,
        "a language",
        std::slice::from_ref(&item.id),
        |_| {},
    )
    .await
    .expect("replied");
    assert_eq!(replied.acked, [item.id]);
    assert_eq!(
        texts_to(&h, RIVAL).last().map(String::as_str),
        Some("a language")
    );
    // `reply --room rival` finds the name in rooms.json.
    agent::reply(&h.config, Some("rival"), "hello rival", &[], |_| {})
        .await
        .expect("replied");
    assert_eq!(
        texts_to(&h, RIVAL).last().map(String::as_str),
        Some("hello rival")
    );
    // A restart resolves the name from rooms.json, not from the platform.
    assert_eq!(h.fake.lookup_count(), 1);
    h.shutdown().await.expect("stops");
    h.launch().await;
    let fake = &h.fake;
    expect("joined the other room again", || fake.room_size(RIVAL) == 1).await;
    assert_eq!(h.fake.lookup_count(), 1, "the cached id is used");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_name_that_does_not_resolve_stops_the_start_naming_it() {
    let fake = FakeRetake::start(fake_options()).await.expect("fake");
    let dir = tempfile::tempdir().expect("dir");
    let mut config: Config = test_config(
        &fake,
        dir.path(),
        ApiVersion::V2,
        retake_chat::config::ScriptChoice::Embedded,
    );
    config.rooms = vec!["nobody".into()];
    let error = retake_chat::daemon::run(config, std::future::pending())
        .await
        .expect_err("does not start");
    assert_eq!(
        error.to_string(),
        format!(
            "room \"nobody\" (--room / rooms): no streamer of that name or id at {}/api/v1/users/streamer/nobody (404)",
            fake.url()
        )
    );
    assert_eq!(fake.total_connections(), 0, "nothing was joined");
}

/// Cross-posts on command; greets with a fixed text, so the repeat check meets two rooms.
const RAIDER: &str = r#"
fn on_message(msg) {
    if msg.lower == "!raid" { return reply_in("room-2", `raid from ${msg.author}!`); }
    if msg.lower == "!nowhere" { return reply_in("stranger", "hello?"); }
    if msg.lower == "gm" { return reply("gm!"); }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_in_cross_posts_to_a_room_heard_and_never_elsewhere() {
    let fake = FakeRetake::start(fake_options()).await.expect("fake");
    let setup = Setup {
        script: Some(RAIDER.to_string()),
        tweak: |c| c.rooms = vec![RIVAL.into()],
        ..Setup::default()
    };
    let h = Harness::start_with_fake(fake, setup).await;
    let fake = &h.fake;
    expect("joined the other room", || fake.room_size(RIVAL) == 1).await;
    h.say("o1", "carol", "!raid").await;
    assert_eq!(wait_texts(&h, RIVAL, 1).await, ["raid from carol!"]);
    // A room the listener does not hear is refused, and the message goes to the agent.
    h.say("o2", "dan", "!nowhere").await;
    expect("queued", || h.queue().iter().any(|i| i.id == "o2")).await;
    assert!(h.fake.sent().iter().all(|s| destination(s) != "stranger"));
    // The same text in two rooms is two messages, not a repeat.
    h.say("o3", "erin", "gm").await;
    h.fake.emit_v1_message(RIVAL, "r1", "bob", "gm").await;
    assert_eq!(wait_texts(&h, ROOM, 1).await, ["gm!"]);
    assert_eq!(wait_texts(&h, RIVAL, 2).await[1], "gm!");
}

/// A viewer message from bob in the other room, in `api`'s shape.
async fn say_there(h: &Harness, api: ApiVersion, id: &str, text: &str) {
    match api {
        ApiVersion::V1 => h.fake.emit_v1_message(RIVAL, id, "bob", text).await,
        ApiVersion::V2 => h.fake.emit_v2_message(RIVAL, "u-bob", "bob", text).await,
    }
}

/// What another room said during an outage is caught up there after the reconnect, and
/// answered in that room, once: v2 (one socket) and v1 (a socket per room).
async fn other_room_outage_case(api: ApiVersion) {
    let fake = FakeRetake::start(fake_options()).await.expect("fake");
    // v2 looks every room up, ids too (the platform's lookup takes either).
    fake.add_streamer("rival", RIVAL);
    let h = start(api, fake, |c| c.rooms = vec![RIVAL.into()]).await;
    say_there(&h, api, "r1", "gm").await;
    assert_eq!(wait_texts(&h, RIVAL, 1).await.len(), 1);
    // Answered, not only received: a send cut off before its answer is posted again (a
    // connection closed before any answer counts as not sent), which would be a second gm.
    expect("the reply confirmed", || {
        h.health()["counters"]["repliesSent"] == 1
    })
    .await;
    h.fake.stop().await;
    // Said while nobody can hear: only the platform's history has it.
    say_there(&h, api, "r2", "what is rust?").await;
    h.fake.restart().await.expect("restart");
    let texts = wait_texts(&h, RIVAL, 2).await;
    assert_eq!(
        texts[1], "On it!",
        "caught up and acknowledged in its room: {texts:?}"
    );
    expect("queued with its room", || {
        h.queue()
            .iter()
            .any(|i| i.text == "what is rust?" && i.room == RIVAL && i.late)
    })
    .await;
    // Nothing is answered twice, in either room, when both sockets are back.
    h.say("o1", "carol", "gm").await;
    assert_eq!(wait_texts(&h, ROOM, 1).await.len(), 1);
    assert_eq!(texts_to(&h, RIVAL).len(), 2, "{:?}", texts_to(&h, RIVAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_another_rooms_outage_is_caught_up_there() {
    other_room_outage_case(ApiVersion::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_another_rooms_outage_is_caught_up_there() {
    other_room_outage_case(ApiVersion::V1).await;
}
