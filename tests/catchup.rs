//! Gap-free chat against the in-process fake: what viewers say while the listener cannot hear
//! (an outage, a stop, a kill, a refused websocket) is read back from the chat history and
//! handled once; a fresh state dir answers nothing from before it; a history endpoint that
//! misbehaves in every way costs a counter, never a live reply. `interop.rs` proves the
//! socket cases against the reference Node.js server too.

use std::time::Duration;

use retake_chat::config::{ApiVersion, Config};
use retake_chat::fake::{FakeOptions, FakeRetake, HistoryShape};
use retake_chat::time::now_ms;
use serde_json::{Value, json};

use crate::support::{
    AGENT, DEADLINE, Harness, ROOM, Setup, expect, listener, terminate, wait_until,
};

/// A v1 viewer message said `ago_secs` before now (the platform's timestamp, as a string of
/// epoch milliseconds, which both the socket and the history carry).
fn said(id: &str, author: &str, text: &str, ago_secs: i64) -> Value {
    json!({
        "_id": id, "type": "message", "text": text,
        "timestamp": (now_ms() - ago_secs * 1000).to_string(),
        "author": {"fusername": author, "fid": author, "walletAddress": "0xviewer"},
    })
}

/// How many texts sent so far equal `text`.
fn sent(h: &Harness, text: &str) -> usize {
    h.sent_texts().iter().filter(|t| *t == text).count()
}

/// Queue items with `id`.
fn queued(h: &Harness, id: &str) -> usize {
    h.queue().iter().filter(|item| item.id == id).count()
}

fn counter(health: &Value, name: &str) -> u64 {
    health["counters"][name].as_u64().unwrap_or(0)
}

/// Findings 1 (socket down while questions and greetings are posted): each question queued
/// once and acknowledged once, greetings younger than the reply window answered once, older
/// ones ignored, and a live gm afterwards answered once.
/// A harness whose state dir says the listener last heard the chat `ago_secs` ago (as after
/// an earlier run), so messages stamped since then count as missed.
async fn last_heard(ago_secs: i64, setup: Setup) -> Harness {
    let mut h = Harness::start_with(setup).await;
    h.shutdown().await.expect("stops");
    let line = json!({"id": "", "ts": now_ms() - ago_secs * 1000}).to_string();
    std::fs::write(h.config.state_dir.handled(), line + "\n").expect("write handled.jsonl");
    h.launch().await;
    h
}

#[tokio::test]
async fn an_outage_is_caught_up_and_nothing_is_answered_twice() {
    let h = last_heard(180, Setup::default()).await;
    let mut outcomes = h.outcomes();
    // The cursor: the last message handled before the outage, two minutes ago by its stamp
    // (so the outage can hold messages of every age without the test waiting for them).
    h.emit(said("before", "zed", "gm", 120)).await;
    expect("the live gm answered", || sent(&h, "gm zed! ☀️") == 1).await;

    h.fake.stop().await;
    expect("health says disconnected", || {
        h.health()["status"] == "disconnected"
    })
    .await;
    for (id, author, text, ago) in [
        ("q1", "ann", "what are you building?", 100),
        ("g1", "bo", "gm", 90),
        ("q2", "cy", "how long have you been live?", 50),
        ("g2", "dee", "gm", 30),
        ("q3", "eve", "which model are you?", 5),
        ("g3", "fay", "hi", 2),
    ] {
        h.emit(said(id, author, text, ago)).await;
    }
    h.fake.restart().await.expect("restart");

    expect("six missed messages caught up", || {
        counter(&h.health(), "caughtUp") == 6
    })
    .await;
    for (id, author) in [("q1", "ann"), ("q2", "cy"), ("q3", "eve")] {
        let ack = format!("Sorry I missed this, {author}! On it 💭");
        expect(&format!("{id} acknowledged"), || sent(&h, &ack) == 1).await;
        expect(&format!("{id} queued"), || queued(&h, id) == 1).await;
    }
    expect("young greetings answered", || {
        sent(&h, "gm dee! ☀️") == 1 && sent(&h, "Hi fay! 👋") == 1
    })
    .await;
    let item = h.queue().into_iter().find(|i| i.id == "q1").expect("q1");
    assert_eq!(item.text, "what are you building?");
    assert!(item.late, "the agent is told it was caught up late");

    // A live gm afterwards: answered once, and nothing of the outage again.
    let before = h.fake.sent_count();
    h.say("live", "gus", "gm").await;
    h.say("probe", "gus", "ping").await;
    h.wait_sent(before + 2).await;
    assert_eq!(sent(&h, "gm bo! ☀️"), 0, "a 90 s old gm is not answered");
    assert_eq!(
        sent(&h, "gm zed! ☀️"),
        1,
        "the cursor's own message not again"
    );
    for (id, author) in [("q1", "ann"), ("q2", "cy"), ("q3", "eve")] {
        assert_eq!(queued(&h, id), 1, "{id} queued once");
        let acks = h
            .sent_texts()
            .iter()
            .filter(|t| t.contains(&format!("{author}!")))
            .count();
        assert_eq!(acks, 1, "{author} acknowledged once: {:?}", h.sent_texts());
    }
    let health = h.health();
    assert_eq!(health["source"], "socket");
    assert_eq!(counter(&health, "caughtUp"), 6);
    let late_gm = outcomes.decision("g1").await;
    assert_eq!(late_gm.decision, "ignore", "{late_gm:?}");
    assert!(
        late_gm
            .error
            .as_deref()
            .is_some_and(|e| e.contains("reply window")),
        "{late_gm:?}"
    );
}

/// Finding 2: the listener stopped (SIGTERM) and, separately, killed (SIGKILL) while viewers
/// talk: after the restart each missed question is queued once, and nothing handled before
/// the stop is handled again.
#[tokio::test]
async fn a_restart_catches_up_what_was_said_meanwhile() {
    for kill in [false, true] {
        restart_case(kill).await;
    }
}

async fn restart_case(kill: bool) {
    let how = if kill { "SIGKILL" } else { "SIGTERM" };
    let fake = crate::support::start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = dir.path().join("state/queue.jsonl");
    let queued = |id: &str| {
        std::fs::read_to_string(&queue)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"id\":\"{id}\"")))
            .count()
    };
    let start = || {
        listener(&fake, dir.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the listener starts")
    };
    let mut child = start();
    expect("joined", || fake.room_size(ROOM) == 1).await;
    fake.emit(ROOM, "message", said("before-q", "ann", "what's next?", 1))
        .await;
    fake.emit(ROOM, "message", said("before-g", "bo", "gm", 1))
        .await;
    // Its "On it!" too (or "Sorry I missed this" when the first history read got it first):
    // it goes out after the queue's fsync, and one still on its way when the listener is
    // killed is never sent, which would leave the count below at none.
    expect("handled before the stop", || {
        let texts: Vec<String> = fake
            .sent()
            .iter()
            .filter_map(|r| r.body["message"].as_str().map(String::from))
            .collect();
        queued("before-q") == 1
            && texts.iter().any(|t| t == "gm bo! ☀️")
            && texts.iter().any(|t| t.contains("ann!"))
    })
    .await;
    if kill {
        child.start_kill().expect("kill");
    } else {
        terminate(&child);
    }
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
    expect(&format!("{how}: out of the room"), || {
        fake.room_size(ROOM) == 0
    })
    .await;
    fake.emit(ROOM, "message", said("during-1", "cy", "are you an AI?", 0))
        .await;
    fake.emit(ROOM, "message", said("during-2", "dee", "what stack?", 0))
        .await;

    let _child = start();
    expect(&format!("{how}: both missed questions queued"), || {
        queued("during-1") == 1 && queued("during-2") == 1
    })
    .await;
    // The listener is settled once the acks of both are out.
    expect("both acknowledged", || {
        let texts: Vec<String> = fake
            .sent()
            .iter()
            .filter_map(|r| r.body["message"].as_str().map(String::from))
            .collect();
        texts.iter().any(|t| t.contains("cy!")) && texts.iter().any(|t| t.contains("dee!"))
    })
    .await;
    let texts: Vec<String> = fake
        .sent()
        .iter()
        .filter_map(|r| r.body["message"].as_str().map(String::from))
        .collect();
    assert_eq!(queued("before-q"), 1, "{how}: handled before, not again");
    assert_eq!(
        texts.iter().filter(|t| *t == "gm bo! ☀️").count(),
        1,
        "{how}: the gm before the stop answered once: {texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.contains("ann!")).count(),
        1,
        "{how}: {texts:?}"
    );
}

/// Finding 3: a fresh state dir with 20 old messages in the history answers and queues none
/// of them, and still answers what is said after it started.
#[tokio::test]
async fn a_fresh_start_answers_nothing_from_before_it() {
    let fake = FakeRetake::start(FakeOptions {
        agent_name: AGENT.into(),
        user_db_id: ROOM.into(),
        ..FakeOptions::default()
    })
    .await
    .expect("fake");
    for n in 0..20 {
        let text = if n % 2 == 0 {
            "gm"
        } else {
            "what is this stream?"
        };
        fake.add_history(
            ROOM,
            said(&format!("old-{n}"), &format!("v{n}"), text, 300 - n),
        );
    }
    let h = Harness::start_with_fake(fake, Setup::default()).await;
    // The baseline read, then the first join's catch-up, done (health says so once its
    // messages, if any, are in the personality's channel).
    expect("the first catch-up is over", || {
        h.fake.history_read_count() >= 2 && h.health()["source"] == "socket"
    })
    .await;
    h.say("new", "zoe", "gm").await;
    expect("a new gm answered", || sent(&h, "gm zoe! ☀️") == 1).await;
    // Replies go out in order: anything the catch-up answered would be out before this one.
    assert_eq!(
        h.fake.sent_count(),
        1,
        "only the new gm: {:?}",
        h.sent_texts()
    );
    assert!(h.queue().is_empty(), "nothing queued: {:?}", h.queue());
    assert_eq!(counter(&h.health(), "caughtUp"), 0);
}

/// Finding 4: the websocket refused while the REST API is up: messages are handled through
/// polling within 5 s each; when the socket is back nothing is handled twice.
#[tokio::test]
async fn polling_hears_chat_while_the_socket_is_refused() {
    let h = Harness::start_with(Setup {
        tweak: |c: &mut Config| {
            c.catchup.poll_after = Duration::from_secs(1);
            c.catchup.poll_active = Duration::from_secs(1);
            c.catchup.poll_quiet = Duration::from_secs(1);
        },
        ..Setup::default()
    })
    .await;
    h.fake.refuse_socket(true).await;
    expect("polling", || h.health()["source"] == "polling").await;
    for n in 0..3 {
        let author = format!("p{n}");
        h.emit(said(&format!("poll-{n}"), &author, "gm", 0)).await;
        let reply = format!("gm {author}! ☀️");
        assert!(
            wait_until(Duration::from_secs(5), || sent(&h, &reply) == 1).await,
            "message {n} handled by polling within 5 s"
        );
    }
    h.emit(said("poll-q", "qq", "what's the plan?", 0)).await;
    expect("a polled question queued", || queued(&h, "poll-q") == 1).await;
    // The first read of an outage is its catch-up; what follows is polled.
    expect("counted as polled", || {
        let health = h.health();
        let (polled, caught_up) = (counter(&health, "polled"), counter(&health, "caughtUp"));
        polled >= 1 && polled + caught_up >= 4
    })
    .await;

    h.fake.refuse_socket(false).await;
    expect("back on the socket", || {
        h.fake.room_size(ROOM) == 1 && h.health()["source"] == "socket"
    })
    .await;
    let before = h.fake.sent_count();
    h.say("after", "zz", "gm").await;
    h.say("after-probe", "zz", "ping").await;
    h.wait_sent(before + 2).await;
    for n in 0..3 {
        assert_eq!(sent(&h, &format!("gm p{n}! ☀️")), 1, "p{n} answered once");
    }
    assert_eq!(queued(&h, "poll-q"), 1);
    assert_eq!(
        h.sent_texts().iter().filter(|t| t.contains("qq!")).count(),
        1,
        "acknowledged once"
    );
}

/// Finding 5: the history answering 401, 500, invalid JSON, an empty body, 10 MB, both item
/// shapes mixed, items with missing or repeated ids: no panic, live messages still answered
/// at once, errors and skipped items counted.
#[tokio::test]
async fn a_misbehaving_history_costs_counters_not_replies() {
    let h = Harness::start().await;
    h.say("first", "ann", "gm").await;
    expect("answered", || sent(&h, "gm ann! ☀️") == 1).await;
    let mixed = json!({"comments": [
        said("m-1", "mo", "what's up?", 1),
        {"chat_event_id": "900", "sender_user_id": "fl", "sender_username": "flat",
         "text": "are you there?", "type": "message",
         "timestamp": (now_ms() - 1000).to_string()},
        said("m-1", "mo", "what's up?", 1),
        {"text": "no id but a time", "author": {"fusername": "noid"},
         "timestamp": (now_ms() - 1000).to_string()},
        {"_id": "m-3", "text": "no time"},
        null, 17, "text",
    ]});
    let big = format!("{{\"comments\": [\"{}\"]}}", "x".repeat(10 << 20));
    h.fake.fail_history_next([
        (500, "{\"error\": \"boom\"}".to_string()),
        (200, "{not json".to_string()),
        (200, String::new()),
        (200, big),
        (200, mixed.to_string()),
    ]);
    // Each kick is a rejoin, each rejoin a catch-up: the scripted answers are served in turn
    // (failures are retried after a backoff, and a rejoin retries at once).
    for round in 0..5 {
        h.fake.disconnect_all().await;
        expect("rejoined", || h.fake.room_size(ROOM) == 1).await;
        let author = format!("live{round}");
        h.say(&format!("live-{round}"), &author, "gm").await;
        let reply = format!("gm {author}! ☀️");
        expect("a live gm answered meanwhile", || sent(&h, &reply) == 1).await;
    }
    expect("the mixed page handled", || {
        counter(&h.health(), "caughtUp") >= 3
    })
    .await;
    let health = h.health();
    assert!(counter(&health, "historyErrors") >= 4, "{health}");
    assert!(counter(&health, "historySkipped") >= 4, "{health}");
    expect("the repeated id acknowledged", || {
        sent(&h, "Sorry I missed this, mo! On it 💭") >= 1
    })
    .await;
    assert_eq!(queued(&h, "m-1"), 1);
    expect("the flat item answered", || {
        sent(&h, "Yes I'm here flat! What's up? 🤖") == 1
    })
    .await;

    // 401: catching up stops, said once in health; live chat goes on.
    h.fake
        .fail_history_next([(401, "{\"error\": \"unauthorized\"}".to_string())]);
    h.fake.disconnect_all().await;
    expect("401 reported", || {
        h.health()["historyError"]
            .as_str()
            .is_some_and(|e| e.contains("refused"))
    })
    .await;
    let reads = h.fake.history_read_count();
    h.fake.disconnect_all().await;
    expect("rejoined", || h.fake.room_size(ROOM) == 1).await;
    h.say("after-401", "zed", "gm").await;
    expect("still answering", || sent(&h, "gm zed! ☀️") == 1).await;
    assert_eq!(h.fake.history_read_count(), reads, "no reads after a 401");
    assert_eq!(
        sent(&h, "Sorry I missed this, mo! On it 💭"),
        1,
        "repeated id once"
    );
}

/// Both item shapes, through the v2 endpoint: a flat history item and its socket message are
/// one message, and the catch-up pages back across several pages with `beforeId`.
#[tokio::test]
async fn v2_history_pages_back_and_dedupes_against_the_socket() {
    let h = Harness::start_with(Setup {
        api: ApiVersion::V2,
        fake: FakeOptions {
            agent_name: AGENT.into(),
            user_db_id: ROOM.into(),
            history_shape: HistoryShape::Flat,
            ..FakeOptions::default()
        },
        tweak: |c: &mut Config| c.catchup.page_size = 10,
        ..Setup::default()
    })
    .await;
    h.fake.emit_v2_message(ROOM, "u0", "live0", "gm").await;
    expect("live answered", || sent(&h, "gm live0! ☀️") == 1).await;
    h.fake.stop().await;
    for n in 0..35 {
        h.fake
            .emit_v2_message(
                ROOM,
                &format!("u{n}"),
                &format!("m{n}"),
                &format!("question {n}?"),
            )
            .await;
    }
    h.fake.restart().await.expect("restart");
    expect("35 caught up", || counter(&h.health(), "caughtUp") == 35).await;
    let reads = h.fake.history_reads();
    assert!(
        reads.iter().any(|r| r.query.contains_key("beforeId")),
        "paged back: {reads:?}"
    );
    expect("all acknowledged", || {
        (0..35).all(|n| sent(&h, &format!("Sorry I missed this, m{n}! On it 💭")) == 1)
    })
    .await;
    assert_eq!(
        sent(&h, "gm live0! ☀️"),
        1,
        "the live one is not caught up again"
    );
}

/// A message said just after a fresh start may reach the first history read before the
/// socket delivers it: it was said after the join, so it is answered (once), not taken for
/// the chat before the start.
#[tokio::test]
async fn what_the_first_history_read_sees_before_the_socket_is_answered() {
    let fake = crate::support::start_fake().await;
    fake.set_history_delay(Duration::from_millis(300));
    let h = Harness::start_with_fake(fake, Setup::default()).await;
    // On the platform's side first (the first read, slow, answers with it) ...
    h.fake.add_history(ROOM, said("early", "ann", "gm", 0));
    expect("the first history read is answered", || {
        h.fake.history_read_count() >= 1
    })
    .await;
    // ... and on the socket after.
    h.emit(said("early", "ann", "gm", 0)).await;
    h.say("probe", "ann", "ping").await;
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["gm ann! ☀️", "pong! 🏓"]);
}

/// A question said just after a rejoin may reach that rejoin's catch-up before the socket
/// delivers it. It was said after the join and heard live too, so it is not "late": its
/// acknowledgement is the plain "On it!", not "Sorry I missed this".
#[tokio::test]
async fn a_question_the_catch_up_gets_before_the_socket_is_not_apologised_for() {
    let h = Harness::start().await;
    h.say("m0", "bo", "gm").await;
    expect("the gm answered", || sent(&h, "gm bo! ☀️") == 1).await;
    // The next catch-up's page is computed after 300 ms: whatever is said meanwhile is on it.
    h.fake.set_history_delay(Duration::from_millis(300));
    let reads = h.fake.history_read_count();
    let joins = h.fake.joins().get(ROOM).copied().unwrap_or(0);
    h.fake.disconnect_all().await;
    expect("rejoined", || {
        h.fake.joins().get(ROOM).copied().unwrap_or(0) > joins
    })
    .await;
    h.fake
        .add_history(ROOM, said("early-q", "ann", "what are you building?", 0));
    expect("the catch-up read is answered", || {
        h.fake.history_read_count() > reads
    })
    .await;
    h.emit(said("early-q", "ann", "what are you building?", 0))
        .await;
    expect("acknowledged", || {
        h.sent_texts().iter().any(|t| t.contains("ann!"))
    })
    .await;
    let acks: Vec<String> = h
        .sent_texts()
        .into_iter()
        .filter(|t| t.contains("ann!"))
        .collect();
    assert_eq!(acks, ["On it ann! 💭"], "once, and no apology");
    assert_eq!(queued(&h, "early-q"), 1);
    let item = h.queue().into_iter().find(|i| i.id == "early-q");
    assert!(item.is_some_and(|i| !i.late), "heard live too: not late");
}
