//! The whole run's measurements of one listener: start → joined, 'gm' → reply latency at a
//! steady rate, a burst of half instant replies and half queued questions, and (in process,
//! without the binary) the cost of one `on_message` call of the shipped personality. The
//! flood, catch-up, queue and MCP rows have modules of their own.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use retake_chat::event::ChatEvent;
use retake_chat::fake::{FakeRetake, SentRequest};
use retake_chat::script::{EMBEDDED_PERSONALITY, Limits, ScriptHost};
use serde_json::Value;

use super::{
    BURST_MESSAGES, Fixture, LATENCY_MESSAGES, LATENCY_RATE_PER_S, PATIENCE, ROOM, SCRIPT_CALLS,
    SCRIPT_ROUNDS, STARTS, spawn_and_join, wait_for,
};

/// Start → joined for [`STARTS`] fresh processes; returns each, in milliseconds.
pub async fn measure_starts(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(STARTS);
    for _ in 0..STARTS {
        let (mut child, took) = spawn_and_join(fixture, bin, fake)?;
        times.push(took.as_secs_f64() * 1e3);
        child.kill().context("cannot kill the listener")?;
        child.wait().context("cannot wait for the listener")?;
        // The next start must find an empty room.
        wait_for(
            || fake.room_size(ROOM) == 0,
            "the killed listener leaves the room",
        )
        .await?;
    }
    Ok(times)
}

/// Poll the fake until `expected` POSTs arrived after the first `skip`, or nothing new came
/// for ten seconds; returns every POST after `skip`.
pub fn collect_posts(fake: &FakeRetake, skip: usize, expected: usize) -> Vec<SentRequest> {
    let started = Instant::now();
    let (mut last_count, mut last_change) = (0, Instant::now());
    loop {
        // `sent()` clones everything, so poll gently: the timings come from `at`, not from here.
        let posts: Vec<SentRequest> = fake.sent().into_iter().skip(skip).collect();
        if posts.len() != last_count {
            (last_count, last_change) = (posts.len(), Instant::now());
        }
        let stalled = last_change.elapsed() > Duration::from_secs(10);
        if posts.len() >= expected || stalled || started.elapsed() > 2 * PATIENCE {
            return posts;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The first successful POST of each text, and when it arrived.
pub fn by_text(posts: &[SentRequest]) -> HashMap<String, Instant> {
    let mut map = HashMap::new();
    for post in posts.iter().filter(|p| p.status == 200) {
        if let Some(text) = post.body.get("message").and_then(Value::as_str) {
            map.entry(text.to_owned()).or_insert(post.at);
        }
    }
    map
}

/// What the shipped personality answers to 'gm' and to a question.
pub fn gm_reply(author: &str) -> String {
    format!("gm {author}! ☀️")
}
pub fn ack_reply(author: &str) -> String {
    format!("On it {author}! 💭")
}

/// Emit → POST latencies in milliseconds, sorted; messages without a reply are left out.
pub struct Latency {
    pub sorted_ms: Vec<f64>,
}

impl Latency {
    pub fn percentile(&self, q: f64) -> f64 {
        let n = self.sorted_ms.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.sorted_ms[rank - 1]
    }
}

pub async fn measure_latency(fake: &FakeRetake) -> Result<Latency> {
    let skip = fake.sent().len();
    let period = Duration::from_nanos(1_000_000_000 / LATENCY_RATE_PER_S);
    let first = tokio::time::Instant::now() + Duration::from_millis(10);
    let mut emitted = Vec::with_capacity(LATENCY_MESSAGES);
    for i in 0..LATENCY_MESSAGES {
        // Absolute deadlines: a late tick does not push the following ones back.
        tokio::time::sleep_until(first + period * i as u32).await;
        let author = format!("lat{i}");
        let at = Instant::now();
        fake.emit_v1_message(ROOM, &format!("lat-{i}"), &author, "gm")
            .await;
        emitted.push((author, at));
    }
    let posts = collect_posts(fake, skip, LATENCY_MESSAGES);
    let replies = by_text(&posts);
    let mut sorted_ms: Vec<f64> = emitted
        .iter()
        .filter_map(|(author, at)| {
            let got = replies.get(&gm_reply(author))?;
            Some(got.saturating_duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    sorted_ms.sort_by(f64::total_cmp);
    ensure!(
        sorted_ms.len() == LATENCY_MESSAGES,
        "only {} of {LATENCY_MESSAGES} 'gm' got a reply",
        sorted_ms.len()
    );
    Ok(Latency { sorted_ms })
}

/// What the burst produced.
pub struct Burst {
    pub emit_ms: f64,
    pub last_reply_ms: f64,
    pub posts: usize,
    pub replies: usize,
    pub acks: usize,
    pub queued: usize,
    pub lost: usize,
}

pub async fn measure_burst(fake: &FakeRetake, fixture: &Fixture) -> Result<Burst> {
    let skip = fake.sent().len();
    let question = "what are you building today?";
    let started = Instant::now();
    for i in 0..BURST_MESSAGES {
        let text = if i % 2 == 0 { "gm" } else { question };
        fake.emit_v1_message(ROOM, &format!("burst-{i}"), &format!("b{i}"), text)
            .await;
    }
    let emit_ms = started.elapsed().as_secs_f64() * 1e3;
    let posts = collect_posts(fake, skip, BURST_MESSAGES);
    let last = posts.iter().map(|p| p.at).max().unwrap_or(started);
    let texts = by_text(&posts);
    let queued_ids = queue_ids(&fixture.state_dir().join("queue.jsonl"))?;
    let (mut replies, mut acks, mut queued, mut lost) = (0, 0, 0, 0);
    for i in 0..BURST_MESSAGES {
        let author = format!("b{i}");
        let replied = texts.contains_key(&gm_reply(&author));
        let acked = texts.contains_key(&ack_reply(&author));
        let in_queue = queued_ids.contains(&format!("burst-{i}"));
        replies += usize::from(replied);
        acks += usize::from(acked);
        queued += usize::from(in_queue);
        lost += usize::from(!replied && !in_queue);
    }
    Ok(Burst {
        emit_ms,
        last_reply_ms: last.saturating_duration_since(started).as_secs_f64() * 1e3,
        posts: posts.len(),
        replies,
        acks,
        queued,
        lost,
    })
}

/// Ids of the items in queue.jsonl.
pub fn queue_ids(path: &Path) -> Result<HashSet<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|item| item.get("id").and_then(Value::as_str).map(String::from))
        .collect())
}

pub fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// Microseconds per `decide` of the shipped personality, half 'gm', half a question.
pub fn measure_script() -> Result<f64> {
    let runtime = ScriptHost::new(Limits::default());
    let personality = runtime
        .compile("<embedded>", EMBEDDED_PERSONALITY)
        .map_err(|e| anyhow::anyhow!("the shipped personality does not compile: {e}"))?;
    let event = |id: &str, text: &str| ChatEvent {
        id: id.into(),
        kind: "message".into(),
        author: "alice".into(),
        author_id: "alice".into(),
        wallet: "0xviewer".into(),
        text: text.into(),
        ts: 1_700_000_000_000,
        amount: None,
        late: false,
        ..ChatEvent::default()
    };
    let events = [
        event("m1", "gm"),
        event("m2", "what are you building today?"),
    ];
    for e in events.iter().cycle().take(10_000) {
        runtime
            .decide(&personality, e)
            .map_err(|e| anyhow::anyhow!("on_message failed: {e}"))?;
    }
    // The median of several rounds: a round that the scheduler or a neighbour on the host
    // interrupted does not move it, as it would move one long average.
    let per_round = SCRIPT_CALLS / SCRIPT_ROUNDS;
    let mut rounds: Vec<f64> = (0..SCRIPT_ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for e in events.iter().cycle().take(per_round) {
                std::hint::black_box(
                    runtime
                        .decide(&personality, std::hint::black_box(e))
                        .is_ok(),
                );
            }
            started.elapsed().as_secs_f64() * 1e6 / per_round as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    Ok(rounds[rounds.len() / 2])
}
