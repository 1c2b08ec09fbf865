//! Floods, for the benchmark: a fresh listener takes 200,000 messages at 20,000 a second (half
//! 'gm', half a question, every one from a new viewer), then a 1,000,000-message soak at the
//! same rate in four rounds. The rate is one the listener can read and decide, but not answer:
//! far more than it may post, so the outbox fills and sheds. Measured: resident memory at its peak, once the flood is handled and
//! after a few idle seconds; in the soak after each quarter; how late the instant replies and
//! acknowledgements that were posted reached the server after the viewer wrote; and that every
//! question whose "On it!" was posted is in the queue. (Questions that arrive while the queue
//! is full go to its archive unacknowledged, and the archive is rotated at its size cap: those
//! rotated away are counted apart, as "past the archive's cap".)
//!
//! The listener runs with the send rate limit off, so the reply stage is bounded only by how
//! fast HTTP goes: the worst case for memory and lateness.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use retake_chat::fake::FakeRetake;
use serde_json::Value;

use super::{Fixture, Latency, ROOM, Row, Running, ack_reply, gm_reply, status_kb};

/// Messages in the flood.
pub const FLOOD_MESSAGES: usize = 200_000;
/// Messages emitted per second, in the flood and the soak.
pub const FLOOD_RATE: u64 = 20_000;
/// Messages in the soak, sent in [`SOAK_ROUNDS`] rounds.
pub const SOAK_MESSAGES: usize = 1_000_000;
const SOAK_ROUNDS: usize = 4;
/// Quiet time after a flood before the idle memory is read.
const IDLE_AFTER: Duration = Duration::from_secs(3);
/// The listener counts as done once its counters and the fake's POSTs stop moving this long.
const SETTLED: Duration = Duration::from_secs(2);
/// The question every other message asks.
const QUESTION: &str = "what are you building today?";

/// What a flood did to the listener.
pub struct Flood {
    /// Resident memory just before, at the peak, when handled, and after [`IDLE_AFTER`].
    pub rss_kb: [u64; 4],
    /// Of that, anonymous (what the listener allocated) and file-backed (code pages), before
    /// and after [`IDLE_AFTER`].
    pub anon_kb: [u64; 2],
    pub file_kb: [u64; 2],
    /// Viewer → server, for every instant reply and acknowledgement that was posted.
    pub lateness: Latency,
    /// Instant replies and acknowledgements posted, of [`FLOOD_MESSAGES`] messages.
    pub posted: usize,
    /// Questions acknowledged in the chat but in no queue file.
    pub lost_questions: usize,
    /// Questions never acknowledged and no longer in any file: archived past the cap.
    pub past_archive: usize,
    /// How long the emit took, and the listener to settle after it.
    pub emit_s: f64,
    pub settle_s: f64,
    /// The listener's own counters once it settled (health.json).
    pub counters: Value,
}

/// The soak's resident memory after each round.
pub struct Soak {
    pub rss_kb: Vec<u64>,
    pub lost_questions: usize,
    pub past_archive: usize,
}

/// A fresh listener for a flood, with health.json written every second.
fn spawn(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<(Running, PathBuf)> {
    let state = fixture.state_dir();
    // Earlier runs' queue and health must not count for this one.
    let _ = fs::remove_dir_all(&state);
    let running = Running::spawn(fixture, bin, fake)?;
    Ok((running, state))
}

/// Emit messages `from..to` of a flood at [`FLOOD_RATE`]; returns when each was emitted.
async fn emit(fake: &FakeRetake, tag: &str, from: usize, to: usize) -> Vec<Instant> {
    // In slices of a millisecond's worth, on absolute deadlines: a late slice does not push
    // the rest back.
    let per_slice = (FLOOD_RATE / 1000).max(1) as usize;
    let first = tokio::time::Instant::now();
    let mut at = Vec::with_capacity(to - from);
    for i in from..to {
        let n = i - from;
        if n.is_multiple_of(per_slice) {
            tokio::time::sleep_until(first + Duration::from_millis((n / per_slice) as u64)).await;
        }
        let text = if i % 2 == 0 { "gm" } else { QUESTION };
        fake.emit_v1_message(ROOM, &format!("{tag}-{i}"), &format!("{tag}{i}"), text)
            .await;
        at.push(Instant::now());
    }
    at
}

/// Wait until the listener has taken `events` messages in and nothing has moved for
/// [`SETTLED`]: its counters (health.json) and the POSTs the fake received.
fn settle(fake: &FakeRetake, state: &Path, events: u64) -> Result<()> {
    let started = Instant::now();
    let mut last = (0u64, 0usize, Instant::now());
    loop {
        let health = read_json(&state.join("health.json"));
        let counters = &health["counters"];
        let seen = counters["messagesIn"].as_u64().unwrap_or(0);
        let moved = counters["repliesSent"].as_u64().unwrap_or(0)
            + counters["acksSent"].as_u64().unwrap_or(0)
            + counters["sendDropped"].as_u64().unwrap_or(0)
            + counters["queued"].as_u64().unwrap_or(0);
        let posts = fake.sent_count();
        if (moved, posts) != (last.0, last.1) {
            last = (moved, posts, Instant::now());
        }
        if seen >= events && last.2.elapsed() >= SETTLED {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the listener did not settle: {seen} of {events} events in; {health}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn read_json(path: &Path) -> Value {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// Ids in queue.jsonl and every archive beside it.
fn queued_ids(state: &Path) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    let entries =
        fs::read_dir(state).with_context(|| format!("cannot list {}", state.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("queue") && name.ends_with(".jsonl")) {
            continue;
        }
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        ids.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter_map(|item| item["id"].as_str().map(String::from)),
        );
    }
    Ok(ids)
}

/// Of the questions among messages `0..n` of `tag` that are in no queue file: those whose
/// "On it!" was posted (lost: a broken promise), and the others (archived past the cap).
fn unkept_questions(
    state: &Path,
    posts: &[retake_chat::fake::SentRequest],
    tag: &str,
    n: usize,
) -> Result<(usize, usize)> {
    let ids = queued_ids(state)?;
    let acked: HashSet<&str> = posts
        .iter()
        .filter(|p| p.status == 200)
        .filter_map(|p| p.body["message"].as_str())
        .collect();
    let (mut lost, mut past_archive) = (0, 0);
    for i in (1..n).step_by(2) {
        if ids.contains(&format!("{tag}-{i}")) {
            continue;
        }
        if acked.contains(ack_reply(&format!("{tag}{i}")).as_str()) {
            lost += 1;
        } else {
            past_archive += 1;
        }
    }
    Ok((lost, past_archive))
}

/// The flood: see the module header.
pub async fn measure_flood(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Flood> {
    let (mut running, state) = spawn(fixture, bin, fake)?;
    thread::sleep(Duration::from_millis(500));
    let before = status_kb(running.pid, "VmRSS")?;
    let split_before = (
        status_kb(running.pid, "RssAnon")?,
        status_kb(running.pid, "RssFile")?,
    );
    let skip = fake.sent_count();
    let started = Instant::now();
    let emitted = emit(fake, "f", 0, FLOOD_MESSAGES).await;
    let emit_s = started.elapsed().as_secs_f64();
    settle(fake, &state, FLOOD_MESSAGES as u64)?;
    let settle_s = started.elapsed().as_secs_f64() - emit_s - SETTLED.as_secs_f64();
    let handled = status_kb(running.pid, "VmRSS")?;
    let peak = status_kb(running.pid, "VmHWM")?;
    thread::sleep(IDLE_AFTER);
    let idle = status_kb(running.pid, "VmRSS")?;
    let split_after = (
        status_kb(running.pid, "RssAnon")?,
        status_kb(running.pid, "RssFile")?,
    );

    // When each instant text reached the fake, against when its message was emitted.
    let posts = fake.sent_since(skip);
    let mut first_post: HashMap<&str, Instant> = HashMap::with_capacity(posts.len());
    for post in posts.iter().filter(|p| p.status == 200) {
        if let Some(text) = post.body["message"].as_str() {
            first_post.entry(text).or_insert(post.at);
        }
    }
    let mut sorted_ms: Vec<f64> = (0..FLOOD_MESSAGES)
        .filter_map(|i| {
            let author = format!("f{i}");
            let text = if i % 2 == 0 {
                gm_reply(&author)
            } else {
                ack_reply(&author)
            };
            let posted = first_post.get(text.as_str())?;
            Some(posted.saturating_duration_since(emitted[i]).as_secs_f64() * 1e3)
        })
        .collect();
    sorted_ms.sort_by(f64::total_cmp);
    let posted = sorted_ms.len();
    let (lost, past_archive) = unkept_questions(&state, &posts, "f", FLOOD_MESSAGES)?;
    let counters = read_json(&state.join("health.json"))["counters"].clone();
    running.stop()?;
    Ok(Flood {
        rss_kb: [before, peak, handled, idle],
        anon_kb: [split_before.0, split_after.0],
        file_kb: [split_before.1, split_after.1],
        lateness: Latency { sorted_ms },
        posted,
        lost_questions: lost,
        past_archive,
        emit_s,
        settle_s,
        counters,
    })
}

/// The soak: see the module header.
pub async fn measure_soak(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Soak> {
    let (mut running, state) = spawn(fixture, bin, fake)?;
    let skip = fake.sent_count();
    let per_round = SOAK_MESSAGES / SOAK_ROUNDS;
    let mut rss_kb = Vec::with_capacity(SOAK_ROUNDS);
    for round in 0..SOAK_ROUNDS {
        let (from, to) = (round * per_round, (round + 1) * per_round);
        emit(fake, "s", from, to).await;
        settle(fake, &state, to as u64)?;
        rss_kb.push(status_kb(running.pid, "VmRSS")?);
    }
    let posts = fake.sent_since(skip);
    let (lost_questions, past_archive) = unkept_questions(&state, &posts, "s", SOAK_MESSAGES)?;
    running.stop()?;
    Ok(Soak {
        rss_kb,
        lost_questions,
        past_archive,
    })
}

/// The table's rows for a flood and a soak.
pub fn rows(f: &Flood, soak: &Soak) -> Vec<Row> {
    let row = |what: &str, measured: String, target: &str, ok: Option<bool>| Row {
        what: what.into(),
        measured,
        target: target.into(),
        ok,
        seed: "",
    };
    let mb = |kb: u64| kb as f64 / 1024.0;
    let [_, peak, _, idle] = f.rss_kb.map(mb);
    let late = |q| f.lateness.percentile(q) / 1000.0;
    let soak_mb: Vec<f64> = soak.rss_kb.iter().map(|&kb| mb(kb)).collect();
    let spread = soak_mb.iter().copied().fold(f64::MIN, f64::max)
        - soak_mb.iter().copied().fold(f64::MAX, f64::min);
    vec![
        row(
            "flood 200k: resident memory, peak",
            format!("{peak:.1} MB"),
            "≤ 30 MB",
            Some(peak <= 30.0),
        ),
        row(
            "flood: resident memory, idle after",
            format!("{idle:.1} MB"),
            "≤ 12 MB",
            Some(idle <= 12.0),
        ),
        row(
            "flood: of it allocated / code, before → after",
            format!(
                "{:.1} → {:.1} / {:.1} → {:.1} MB",
                mb(f.anon_kb[0]),
                mb(f.anon_kb[1]),
                mb(f.file_kb[0]),
                mb(f.file_kb[1])
            ),
            "",
            None,
        ),
        row(
            "flood: instant texts posted",
            format!("{} of {}", f.posted, FLOOD_MESSAGES),
            "",
            None,
        ),
        row(
            "flood: posted late by, p50 / p99",
            format!("{:.2} / {:.2} s", late(0.5), late(0.99)),
            "p99 ≤ 5 s",
            Some(late(0.99) <= 5.0),
        ),
        row(
            "flood: acknowledged questions lost",
            f.lost_questions.to_string(),
            "0",
            Some(f.lost_questions == 0),
        ),
        row(
            "soak 1M: memory at 25/50/75/100%",
            soak_mb
                .iter()
                .map(|mb| format!("{mb:.1}"))
                .collect::<Vec<_>>()
                .join(" / ")
                + " MB",
            "flat ± 2 MB",
            Some(spread <= 2.0),
        ),
        row(
            "soak: acknowledged questions lost",
            soak.lost_questions.to_string(),
            "0",
            Some(soak.lost_questions == 0),
        ),
        row(
            "soak: unacknowledged, past the archive's cap",
            format!("{} of {}", soak.past_archive, SOAK_MESSAGES / 2),
            "",
            None,
        ),
    ]
}

/// A line under the table: how long the flood took.
pub fn note(f: &Flood) -> String {
    let count = |name: &str| f.counters[name].as_u64().unwrap_or(0);
    format!(
        "flood: emitted in {:.1} s, handled {:.1} s later; memory {} MB before, {} MB once handled; \
         listener: {} replies + {} acks sent, {} dropped at their deadline, {} shed, {} queued unasked; \
         {} questions never acknowledged and past the archive's cap",
        f.emit_s,
        f.settle_s,
        f.rss_kb[0] / 1024,
        f.rss_kb[2] / 1024,
        count("repliesSent"),
        count("acksSent"),
        count("sendDropped"),
        count("shed"),
        count("unscripted"),
        f.past_archive,
    )
}
