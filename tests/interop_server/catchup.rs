//! Catching up against the reference server as all of retake.tv: what viewers say while its
//! socket.io is closed (a deploy), or while the listener is stopped or killed, is read back
//! from its history after the rejoin and handled once; a live `gm` afterwards is answered once.
//! With its socket refused and its REST side up, the listener polls the history instead.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tokio::process::Child;

use crate::interop::BASE_CONFIG;
use crate::support::interop::RefServer;
use crate::support::{DEADLINE, ROOM, listener, start_fake, terminate};

/// A listener (the real binary) with `server` for both the socket and the REST API.
async fn spawn(server: &RefServer, dir: &TempDir) -> Child {
    spawn_with(server, dir, "").await
}

/// [`spawn`] with more config (whole tables) after the shared settings.
async fn spawn_with(server: &RefServer, dir: &TempDir, config: &str) -> Child {
    // Only to build the command line: nothing may reach it.
    let fake = start_fake().await;
    std::fs::write(
        dir.path().join("config.toml"),
        format!("{BASE_CONFIG}{config}"),
    )
    .expect("write config");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.path().join("listener.log"))
        .expect("listener log");
    listener(&fake, dir.path())
        .env("RETAKE_CHAT_URL", server.url())
        .env("RETAKE_API_URL", server.url())
        .env("RETAKE_CHAT_CONFIG", dir.path().join("config.toml"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the listener starts")
}

fn logs(dir: &TempDir, server: &RefServer) -> String {
    let listener = std::fs::read_to_string(dir.path().join("listener.log")).unwrap_or_default();
    format!("listener log:\n{listener}\nserver log:\n{}", server.log())
}

/// What the server's send endpoints received, as texts.
async fn texts(server: &mut RefServer) -> Vec<String> {
    server
        .sent()
        .await
        .iter()
        .filter_map(|s| s["body"]["message"].as_str().map(String::from))
        .collect()
}

/// Poll the server's sends until `done` holds for them; panics with the logs at the deadline.
async fn until_sent(
    server: &mut RefServer,
    dir: &TempDir,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let end = Instant::now() + DEADLINE;
    loop {
        let sent = texts(server).await;
        if done(&sent) {
            return sent;
        }
        if Instant::now() > end {
            panic!(
                "timed out waiting for: {what}; sent {sent:?}\n{}",
                logs(dir, server)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(sent: &[String], text: &str) -> usize {
    sent.iter().filter(|t| *t == text).count()
}

/// Queue lines with `id` in the listener's queue file.
fn queued(dir: &TempDir, id: &str) -> usize {
    std::fs::read_to_string(dir.path().join("state/queue.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("\"id\":\"{id}\"")))
        .count()
}

const MISSED: [(&str, &str, &str); 6] = [
    ("q1", "ann", "what are you building?"),
    ("g1", "bo", "gm"),
    ("q2", "cy", "how long have you been live?"),
    ("g2", "dee", "gm"),
    ("q3", "eve", "which model are you?"),
    ("g3", "fay", "hi"),
];

/// Each missed message answered exactly once, the way the shipped personality answers it late.
fn each_missed_answered_once(sent: &[String]) -> bool {
    MISSED.iter().all(|(_, author, text)| {
        let answer = match *text {
            "gm" => format!("gm {author}! ☀️"),
            "hi" => format!("Hi {author}! 👋"),
            _ => format!("Sorry I missed this, {author}! On it 💭"),
        };
        count(sent, &answer) == 1
    })
}

/// Finding 1 on the reference server: its socket.io closed (a deploy) while three questions
/// and three greetings are said; after the rejoin each is handled once, and a live gm once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_catch_up_after_the_server_closed() {
    let test = "interop_catch_up_after_the_server_closed";
    let Some((dir, mut server)) = super::start(test).await else {
        return;
    };
    let started = Instant::now();
    let mut child = spawn(&server, &dir).await;
    let joined =
        crate::support::wait_until(DEADLINE, || server.joined_after(ROOM, started).is_some()).await;
    assert!(joined, "never joined\n{}", logs(&dir, &server));
    server.say(ROOM, "before", "zed", "gm").await;
    until_sent(&mut server, &dir, "the live gm", |s| {
        count(s, "gm zed! ☀️") == 1
    })
    .await;

    server.close().await;
    for (id, author, text) in MISSED {
        server.say(ROOM, id, author, text).await;
    }
    let closed = Instant::now();
    server.listen().await;
    let rejoined =
        crate::support::wait_until(DEADLINE, || server.joined_after(ROOM, closed).is_some()).await;
    assert!(rejoined, "never rejoined\n{}", logs(&dir, &server));
    until_sent(
        &mut server,
        &dir,
        "every missed message answered once",
        each_missed_answered_once,
    )
    .await;
    server.say(ROOM, "after", "gus", "gm").await;
    server.say(ROOM, "probe", "gus", "ping").await;
    let sent = until_sent(&mut server, &dir, "the live gm after", |s| {
        count(s, "pong! 🏓") == 1
    })
    .await;
    assert!(each_missed_answered_once(&sent), "{sent:?}");
    assert_eq!(count(&sent, "gm gus! ☀️"), 1, "{sent:?}");
    assert_eq!(
        count(&sent, "gm zed! ☀️"),
        1,
        "not caught up again: {sent:?}"
    );
    for id in ["q1", "q2", "q3"] {
        assert_eq!(queued(&dir, id), 1, "{id} queued once");
    }
    terminate(&child);
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
}

/// Finding 2 on the reference server: the listener stopped with SIGTERM, and killed with
/// SIGKILL, while viewers talk; after each restart what was missed is handled once and what
/// was handled before is not handled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_catch_up_after_a_restart() {
    let test = "interop_catch_up_after_a_restart";
    let Some((dir, mut server)) = super::start(test).await else {
        return;
    };
    let mut started = Instant::now();
    let mut child = spawn(&server, &dir).await;
    for (round, kill) in [(0, false), (1, true)] {
        let joined =
            crate::support::wait_until(DEADLINE, || server.joined_after(ROOM, started).is_some())
                .await;
        assert!(joined, "never joined\n{}", logs(&dir, &server));
        let before = format!("before-{round}");
        server
            .say(ROOM, &before, &format!("b{round}"), "what's next?")
            .await;
        let ack = format!("On it b{round}! 💭");
        until_sent(&mut server, &dir, "handled before the stop", |s| {
            count(s, &ack) == 1
        })
        .await;
        if kill {
            child.start_kill().expect("kill");
        } else {
            terminate(&child);
        }
        let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
        let missed = format!("during-{round}");
        let author = format!("d{round}");
        server.say(ROOM, &missed, &author, "are you an AI?").await;
        started = Instant::now();
        child = spawn(&server, &dir).await;
        let late = format!("Sorry I missed this, {author}! On it 💭");
        let sent = until_sent(&mut server, &dir, "the missed question answered", |s| {
            count(s, &late) == 1
        })
        .await;
        assert_eq!(queued(&dir, &missed), 1, "{missed} queued once");
        assert_eq!(queued(&dir, &before), 1, "{before} not again");
        assert_eq!(count(&sent, &ack), 1, "{sent:?}");
    }
    let reads: Vec<Value> = server.history_reads().await;
    assert!(reads.len() >= 2, "the history was read: {reads:?}");
    terminate(&child);
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
}

/// Finding 4 on the reference server: its socket refused (503) while the REST side answers:
/// what viewers say is handled through polling, and once the socket is back nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_polling_while_the_socket_is_refused() {
    let test = "interop_polling_while_the_socket_is_refused";
    let Some((dir, mut server)) = super::start(test).await else {
        return;
    };
    let started = Instant::now();
    let polls = "[catchup]\npoll_after_secs = 1\npoll_active_secs = 1\npoll_quiet_secs = 1\n";
    let mut child = spawn_with(&server, &dir, polls).await;
    let joined =
        crate::support::wait_until(DEADLINE, || server.joined_after(ROOM, started).is_some()).await;
    assert!(joined, "never joined\n{}", logs(&dir, &server));
    server.refuse_socket(true).await;
    let health = || crate::support::read_json(&dir.path().join("state/health.json"));
    let polling = crate::support::wait_until(DEADLINE, || health()["source"] == "polling").await;
    assert!(polling, "polling: {}\n{}", health(), logs(&dir, &server));
    for n in 0..3 {
        let author = format!("p{n}");
        server.say(ROOM, &format!("poll-{n}"), &author, "gm").await;
        let reply = format!("gm {author}! ☀️");
        until_sent(&mut server, &dir, "a polled gm answered", |s| {
            count(s, &reply) == 1
        })
        .await;
    }
    let refused_until = Instant::now();
    server.refuse_socket(false).await;
    let back = crate::support::wait_until(DEADLINE, || {
        server.joined_after(ROOM, refused_until).is_some()
    })
    .await;
    assert!(back, "back on the socket\n{}", logs(&dir, &server));
    server.say(ROOM, "after", "zz", "gm").await;
    server.say(ROOM, "after-probe", "zz", "ping").await;
    let sent = until_sent(&mut server, &dir, "live again", |s| {
        count(s, "pong! 🏓") == 1
    })
    .await;
    for n in 0..3 {
        assert_eq!(
            count(&sent, &format!("gm p{n}! ☀️")),
            1,
            "p{n} once: {sent:?}"
        );
    }
    assert_eq!(count(&sent, "gm zz! ☀️"), 1, "{sent:?}");
    terminate(&child);
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
}
