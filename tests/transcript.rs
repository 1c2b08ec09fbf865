//! The transcript end to end: the listener writes what viewers said and what the bot posted
//! (only what the platform accepted), `retake-chat reply` adds the agent's answers, and
//! `queue take --context N` hands each item out with the lines said before it. Rotation
//! keeps the files bounded while the listener runs.

use std::path::Path;

use retake_chat::fake::v1_message;
use retake_chat::time::now_ms;
use retake_chat::transcript::{self, Line};
use serde_json::{Value, json};

use crate::support::{AGENT, Harness, Setup, bin, expect, run, write_creds};

/// A viewer's message said at `ts` (epoch ms), as the platform sends it.
fn said_at(id: &str, author: &str, text: &str, ts: i64) -> Value {
    let mut payload = v1_message(id, author, text);
    payload["timestamp"] = json!(ts);
    payload
}

/// `retake-chat queue take --context N`: the taken items.
fn take_with_context(state: &Path, n: &str) -> Vec<Value> {
    let (code, out, err) = run(bin()
        .args(["queue", "take", "--context", n, "--state-dir"])
        .arg(state));
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|line| serde_json::from_str(line).expect("stdout is JSON lines"))
        .collect()
}

/// `retake-chat reply [--ack ID] TEXT` as the agent, against the harness's fake.
fn reply(h: &Harness, ack: &[&str], text: &str) -> (i32, String) {
    let creds = write_creds(h.dir.path());
    let mut cmd = bin();
    cmd.arg("reply");
    for id in ack {
        cmd.args(["--ack", id]);
    }
    cmd.arg(text)
        .arg("--creds")
        .arg(creds)
        .args(["--api-url", &h.fake.url()])
        .arg("--state-dir")
        .arg(&h.config.state_dir)
        .env("HOME", h.dir.path());
    let (code, _, err) = run(&mut cmd);
    (code, err)
}

/// Everything in the transcript now, oldest first.
fn transcript(h: &Harness) -> Vec<Line> {
    transcript::recent(&h.config.state_dir, 10_000, None)
}

fn texts(lines: &[Line]) -> Vec<String> {
    lines.iter().map(|l| l.text.clone()).collect()
}

/// The agent takes a question and sees the conversation it came from: the viewer's `gm`
/// and the bot's instant answer to it, in order, with their authors and times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_take_context_shows_the_gm_the_bot_answered() {
    let h = Harness::start().await;
    let t0 = now_ms();
    h.emit(said_at("m1", "alice", "gm", t0 - 2_000)).await;
    h.wait_sent(1).await;
    h.emit(said_at("q1", "alice", "what is this stream?", t0 - 1_000))
        .await;
    expect("the question is queued and acknowledged", || {
        h.queue().len() == 1 && h.fake.sent().len() == 2
    })
    .await;
    expect("four lines in the transcript", || transcript(&h).len() == 4).await;

    let taken = take_with_context(&h.config.state_dir, "5");
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["id"], "q1");
    let context = taken[0]["context"].as_array().expect("a context array");
    assert_eq!(context.len(), 2, "{context:?}");
    assert_eq!(
        context[0],
        json!({"ts": t0 - 2_000, "author": "alice", "text": "gm", "id": "m1"})
    );
    assert_eq!(context[1]["author"], AGENT);
    assert_eq!(context[1]["text"], "gm alice! ☀️");
    assert_eq!(context[1]["bot"], true);
    let ts = context[1]["ts"].as_i64().expect("ts");
    let now = now_ms();
    assert!(t0 <= ts && ts <= now, "sent between {t0} and {now}: {ts}");
}

/// What the agent posts with `retake-chat reply` is in the next question's context, after
/// the question it answered and the listener's "On it!".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_through_retake_chat_reply_is_a_bot_line() {
    let h = Harness::start().await;
    h.say("q1", "bob", "what are you building?").await;
    expect("q1 queued and acknowledged", || {
        h.queue().len() == 1 && h.fake.sent().len() == 1
    })
    .await;
    let (code, err) = reply(&h, &["q1"], "A chat listener, in Rust.");
    assert_eq!(code, 0, "{err}");
    h.say("q2", "bob", "why Rust?").await;
    expect("q2 in the transcript", || {
        transcript(&h).last().is_some_and(|l| l.id == "q2")
    })
    .await;
    let taken = take_with_context(&h.config.state_dir, "3");
    let q2 = taken.iter().find(|i| i["id"] == "q2").expect("q2 taken");
    let context: Vec<Line> = serde_json::from_value(q2["context"].clone()).expect("context lines");
    assert_eq!(
        texts(&context),
        [
            "what are you building?",
            "On it bob! 💭",
            "A chat listener, in Rust."
        ]
    );
    assert!(context[2].bot && context[2].author == AGENT, "{context:?}");
    // The platform echoed the answer back: not a viewer line, and not twice.
    let all = transcript(&h);
    let answers = all.iter().filter(|l| l.text == "A chat listener, in Rust.");
    assert_eq!(answers.count(), 1, "{all:?}");
}

/// A reply the platform refused (4xx) never reached the chat, so it is not in the
/// conversation: neither the listener's nor `retake-chat reply`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_reply_is_not_in_the_transcript() {
    let h = Harness::start().await;
    h.fake.fail_next([(400, None)]);
    h.say("m1", "cy", "gm").await;
    expect("the refused reply is counted as dropped", || {
        h.health()["counters"]["repliesDropped"].as_u64() == Some(1)
    })
    .await;
    h.fake.fail_next([(400, None)]);
    let (code, err) = reply(&h, &[], "this never reached the chat");
    assert_eq!(code, 2, "{err}");
    h.say("q1", "cy", "anyone here?").await;
    expect("the question's On it! is sent", || {
        h.fake.sent().iter().any(|r| r.status == 200)
    })
    .await;
    expect("three lines in the transcript", || {
        transcript(&h).len() == 3
    })
    .await;
    assert_eq!(
        texts(&transcript(&h)),
        ["gm", "anyone here?", "On it cy! 💭"]
    );
    let taken = take_with_context(&h.config.state_dir, "10");
    let context: Vec<Line> =
        serde_json::from_value(taken[0]["context"].clone()).expect("context lines");
    assert_eq!(texts(&context), ["gm"]);
}

/// With a small `[transcript] max_bytes`, the listener rotates as it writes: no file passes
/// the limit, at most `keep` old ones stay, and the newest lines are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_transcript_bounded() {
    let h = Harness::start_with(Setup {
        tweak: |config| {
            config.transcript.max_bytes = 1_000;
            config.transcript.keep = 2;
        },
        ..Setup::default()
    })
    .await;
    // One at a time, so the transcript alternates: a gm, its answer.
    for i in 0..40 {
        h.say(&format!("m{i:02}"), &format!("viewer{i:02}"), "gm")
            .await;
        h.wait_sent(i + 1).await;
    }
    expect("the last answer is in the transcript", || {
        transcript(&h)
            .last()
            .is_some_and(|l| l.text == "gm viewer39! ☀️")
    })
    .await;
    let path = h.config.state_dir.transcript();
    for file in [
        path.clone(),
        path.with_file_name("transcript.1.jsonl"),
        path.with_file_name("transcript.2.jsonl"),
    ] {
        let size = std::fs::metadata(&file).expect("rotated files exist").len();
        assert!(size <= 1_000, "{} is {size} bytes", file.display());
    }
    assert!(!path.with_file_name("transcript.3.jsonl").exists());
    // The current file and the newest rotated one: the end of the chat, nothing missing.
    let lines = transcript(&h);
    assert!(lines.len() >= 10, "{} lines", lines.len());
    let start = lines.iter().position(|l| !l.bot).expect("a viewer line");
    let first: usize = lines[start].id[1..].parse().expect("an mNN id");
    let expected: Vec<String> = (first..40)
        .flat_map(|i| ["gm".to_string(), format!("gm viewer{i:02}! ☀️")])
        .collect();
    assert_eq!(texts(&lines[start..]), expected);
    assert_eq!(lines[start].id, format!("m{first:02}"));
}
