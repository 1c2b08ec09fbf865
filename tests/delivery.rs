//! What counts as delivered, end to end: a slow platform, a redirect, a reset, and the
//! counters beside what the fake actually received; `retake-chat reply` posting once and
//! saying so when the outcome is unknown; what the platform receives of a text; timers
//! unable to starve viewers of the send budget.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use retake_chat::act::queue::Queue;
use retake_chat::act::reply::{self, ChatPoster};
use retake_chat::act::{Actions, outbox};
use retake_chat::config::{ApiVersion, Config, ScriptChoice, SendConfig};
use retake_chat::event::{Normalized, normalize};
use retake_chat::fake::{FakeRetake, v1_message};
use retake_chat::health::Health;
use retake_chat::outcome::Outcomes;
use retake_chat::script::Decision;
use retake_chat::time::now_ms;
use retake_chat::transcript::Transcript;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::support::{Harness, Setup, bin, expect, run, start_fake, test_config, write_creds};

/// A state directory with one queued item, `q1`, and a config file with `send` settings.
pub fn agent_dir(send: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    // A line as the listener writes it (and as an old queue file has it): id, author, text, ts.
    let line = r#"{"id":"q1","author":"bea","text":"what is this?","ts":1}"#;
    std::fs::write(state.join("queue.jsonl"), format!("{line}\n")).expect("queue written");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[send]\n{send}\n")).expect("config written");
    (dir, config)
}

/// `retake-chat reply --ack q1 TEXT` against `fake`, off the async threads the fake needs.
pub async fn reply(fake: &FakeRetake, dir: &Path, config: &Path, text: &str) -> (i32, String) {
    let creds = write_creds(dir);
    let mut cmd = bin();
    cmd.args(["reply", "--ack", "q1", text])
        .arg("--creds")
        .arg(creds)
        .args(["--api-url", &fake.url()])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(config)
        .env("HOME", dir);
    let (code, _, err) = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("reply ran");
    (code, err)
}

pub fn queued_ids(dir: &Path) -> Vec<String> {
    let (items, _) = Queue::new(dir.join("state/queue.jsonl"))
        .read_all()
        .expect("queue readable");
    items.into_iter().map(|i| i.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_waits_for_a_slow_platform_and_posts_once() {
    let fake = start_fake().await;
    // Slower than the listener's request timeout, well within the agent's deadline.
    fake.set_send_delay(Duration::from_millis(1500));
    let (dir, config) = agent_dir("request_timeout_secs = 1\nagent_deadline_secs = 10");
    let (code, err) = reply(&fake, dir.path(), &config, "Because Rust.").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(fake.sent().len(), 1, "posted exactly once");
    assert!(queued_ids(dir.path()).is_empty(), "q1 acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_with_no_answer_by_its_deadline_is_unknown_and_not_posted_again() {
    let fake = start_fake().await;
    fake.set_send_delay(Duration::from_secs(6));
    let (dir, config) = agent_dir("request_timeout_secs = 1\nagent_deadline_secs = 2");
    let (code, err) = reply(&fake, dir.path(), &config, "Because Rust.").await;
    assert_eq!(code, 3, "exit 3: outcome unknown\n{err}");
    assert!(
        err.contains("may or may not be in the chat") && err.contains("not posted again"),
        "{err}"
    );
    assert!(err.contains("retake-chat queue ack q1"), "{err}");
    assert_eq!(fake.sent().len(), 1, "posted exactly once");
    assert_eq!(queued_ids(dir.path()), ["q1"], "q1 is not acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_does_not_follow_a_redirect_nor_ack() {
    let fake = start_fake().await;
    let elsewhere = start_fake().await;
    fake.redirect_next(307, &elsewhere.v1_send_url());
    let (dir, config) = agent_dir("");
    let (code, err) = reply(&fake, dir.path(), &config, "Because Rust.").await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("redirect") && err.contains(&elsewhere.v1_send_url()),
        "the error names the location: {err}"
    );
    assert_eq!(fake.sent().len(), 1);
    assert!(elsewhere.sent().is_empty(), "the body was not re-posted");
    assert_eq!(queued_ids(dir.path()), ["q1"], "q1 is not acknowledged");
}

fn counter(h: &Harness, name: &str) -> u64 {
    h.health()["counters"][name].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_dropped_and_named_never_followed() {
    let h = Harness::start().await;
    let elsewhere = start_fake().await;
    h.fake.redirect_next(307, &elsewhere.v1_send_url());
    h.say("r1", "kim", "gm").await;
    expect("the redirected reply is counted as dropped", || {
        counter(&h, "repliesDropped") == 1
    })
    .await;
    let error = h.health()["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("307") && error.contains(&elsewhere.v1_send_url()),
        "{error}"
    );
    assert_eq!(counter(&h, "repliesSent"), 0);
    assert_eq!(h.fake.sent().len(), 1);
    assert!(elsewhere.sent().is_empty(), "the body was not re-posted");
}

/// A platform slower than the request timeout: every POST it received is counted once as
/// sent or unknown, nothing is posted twice, and every reply and ack is accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_slow_platform_the_counters_match_what_it_received() {
    let slow = |config: &mut Config| {
        config.send.request_timeout = Duration::from_secs(1);
        config.send.instant_deadline = Duration::from_secs(3);
    };
    let h = Harness::start_with(Setup {
        tweak: slow,
        ..Setup::default()
    })
    .await;
    h.fake.set_send_delay(Duration::from_millis(1500));
    h.say("s1", "ana", "gm").await;
    h.say("s2", "ben", "why is the sky blue?").await;
    h.say("s3", "cid", "gm").await;
    h.say("s4", "dee", "gm").await;
    let outcomes = |kind: &str| {
        ["Sent", "Dropped", "Unknown"]
            .iter()
            .map(|outcome| counter(&h, &format!("{kind}{outcome}")))
            .sum::<u64>()
    };
    expect("every reply and ack has an outcome", || {
        outcomes("replies") == 3 && outcomes("acks") == 1
    })
    .await;
    let posts = h.fake.sent();
    let reached = counter(&h, "repliesSent")
        + counter(&h, "repliesUnknown")
        + counter(&h, "acksSent")
        + counter(&h, "acksUnknown");
    assert_eq!(posts.len() as u64, reached, "{posts:?}");
    assert!(counter(&h, "repliesUnknown") >= 1);
    let mut texts = h.sent_texts();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), posts.len(), "nothing was posted twice");
}

/// Sixteen timers speaking at once, as `Actions::say` posts them, then a viewer's `gm`
/// under the shipped budget (20 per 30 s, bursts of 5): the viewer is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_timer_lines_do_not_starve_a_viewer() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&fake, dir.path(), ApiVersion::V1, ScriptChoice::Embedded);
    config.send = SendConfig::default();
    let health = Arc::new(Health::new());
    let (reply_tx, reply_rx) = outbox::outbox(100, health.clone(), Outcomes::off());
    let (queue_tx, _queue_rx) = mpsc::unbounded_channel();
    let sender = ChatPoster::new(&config).expect("sender");
    let limits = config.send.clone();
    let stage = tokio::spawn({
        let health = health.clone();
        let said = Transcript::disabled();
        async move { reply::run(reply_rx, sender, &limits, health, said, Outcomes::off()).await }
    });
    let actions = Actions {
        reply_tx,
        queue_tx,
        instant_deadline: Duration::from_secs(5),
        health: health.clone(),
        room: crate::support::ROOM.into(),
        dry_run: false,
    };
    for i in 1..=16 {
        actions.say(format!("timer line {i}"), &format!("every_{i}m"));
    }
    let Normalized::Chat(gm) = normalize(&v1_message("g1", "zoe", "gm"), now_ms()) else {
        panic!("a v1 message normalizes to chat");
    };
    actions.apply(&gm, Decision::Reply("gm zoe!".into()), Instant::now());
    expect("the viewer's gm is answered", || {
        fake.sent().iter().any(|r| r.body["message"] == "gm zoe!")
    })
    .await;
    assert!(
        fake.sent().len() < 6,
        "the timers kept to their share: {:?}",
        fake.sent()
    );
    drop(actions);
    stage.await.expect("the reply stage ends with its channel");
}

/// A bare HTTP server on loopback: the first `cut` connections read a request and are closed
/// without a byte of answer (reset when `reset`), the rest answer 200. Returns its address
/// and a count of the requests it read.
async fn closing_server(cut: usize, reset: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = vec![0; 64 * 1024];
            // The request is small: its head and body come in one read on loopback.
            if stream.read(&mut buf).await.unwrap_or(0) == 0 {
                continue;
            }
            if seen.fetch_add(1, Ordering::SeqCst) < cut {
                if reset {
                    let _ = stream.set_zero_linger();
                }
                drop(stream);
                continue;
            }
            let ok = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(ok.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closed_or_reset_before_any_answer_is_retried() {
    for reset in [false, true] {
        let (url, requests) = closing_server(2, reset).await;
        let fake = start_fake().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = test_config(&fake, dir.path(), ApiVersion::V1, ScriptChoice::Embedded);
        config.api_url = url;
        let sender = ChatPoster::new(&config).expect("sender");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let delivered = sender.deliver("", "gm", deadline, &Health::new()).await;
        assert_eq!(delivered, Ok(()), "reset: {reset}");
        assert_eq!(requests.load(Ordering::SeqCst), 3, "reset: {reset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_no_answer_in_time_is_unknown_and_not_retried() {
    let fake = start_fake().await;
    fake.set_send_delay(Duration::from_secs(3));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&fake, dir.path(), ApiVersion::V1, ScriptChoice::Embedded);
    config.send.request_timeout = Duration::from_secs(1);
    let sender = ChatPoster::new(&config).expect("sender");
    // Time enough for several attempts: there must be only one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let delivered = sender.deliver("", "gm", deadline, &Health::new()).await;
    assert!(
        delivered.as_ref().is_err_and(|e| e.is_unknown()),
        "{delivered:?}"
    );
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_strips_control_and_bidi_characters() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("");
    let text = "line one\nline two \u{1b}]52;c;cHduZWQ=\u{7} \u{202e}desrever\u{202c}";
    let (code, err) = reply(&fake, dir.path(), &config, text).await;
    assert_eq!(code, 0, "{err}");
    let sent = fake.sent();
    assert_eq!(
        sent[0].body["message"],
        "line one line two ]52;c;cHduZWQ= desrever"
    );
}

/// An agent whose model returned nothing must not drop the viewer's question: an empty or
/// blank text posts nothing, acknowledges nothing and exits 2 with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_reply_posts_nothing_and_acknowledges_nothing() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("");
    for text in ["", "   ", "\n\t"] {
        let (code, err) = reply(&fake, dir.path(), &config, text).await;
        assert_eq!(code, 2, "{text:?}: {err}");
        assert!(
            err.contains(
                "error: nothing to send: the text is empty once line breaks and control characters are removed"
            ),
            "{text:?}: {err}"
        );
    }
    assert_eq!(fake.sent_count(), 0, "nothing posted");
    assert_eq!(queued_ids(dir.path()), ["q1"], "q1 still waits");
}
