//! The queue row of the benchmark: `take` of 5 items and `ack` of them with 10,000 items
//! queued, through the library on a real file in a temp directory (what `queue take` and
//! `queue ack` do, without the process start). Runs on its own with `-- --only queue`.

use std::time::Instant;

use anyhow::{Context, Result};
use retake_chat::act::queue::{Queue, QueueItem};
use retake_chat::event::ChatEvent;

/// Items waiting while take + ack are timed.
pub const ITEMS: usize = 10_000;
/// Items one take claims (and one ack removes).
const BATCH: usize = 5;
/// Timed take + ack cycles; the median counts.
const ROUNDS: usize = 200;

/// What one round of take + ack cost, in milliseconds.
pub struct QueueTimes {
    /// Median of take + ack.
    pub take_ack_ms: f64,
    /// Median of take alone.
    pub take_ms: f64,
    /// Median of ack alone.
    pub ack_ms: f64,
    /// The slowest take + ack (a compaction, when one ran).
    pub max_ms: f64,
}

fn item(n: usize) -> QueueItem {
    let event = ChatEvent {
        id: format!("comment_{n:07}"),
        kind: "message".into(),
        author: format!("viewer{}", n % 997),
        author_id: format!("user_{}", n % 997),
        wallet: "0x5f3a9c0e7b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a".into(),
        text: "what do you think about the new release, and will you stream it tomorrow?".into(),
        ts: 1_769_994_070_263 + n as i64,
        amount: None,
        late: false,
        ..ChatEvent::default()
    };
    QueueItem::from_event(&event, "room-1", 1_769_994_070_300 + n as i64)
}

/// Fill a queue with [`ITEMS`] items, then time [`ROUNDS`] cycles of take [`BATCH`] + ack,
/// appending [`BATCH`] new items after each (untimed) so the queue stays at [`ITEMS`].
pub fn measure() -> Result<QueueTimes> {
    let dir = tempfile::tempdir().context("cannot create a temp directory")?;
    let queue = Queue::new(dir.path().join("queue.jsonl"));
    let all: Vec<QueueItem> = (0..ITEMS).map(item).collect();
    for chunk in all.chunks(1000) {
        queue.append(chunk).context("cannot fill the queue")?;
    }
    let mut next = ITEMS;
    let (mut takes, mut acks, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let now = 1_769_994_100_000 + round as i64;
        let started = Instant::now();
        let taken = queue.take(BATCH, 300_000, now).context("take")?;
        let took = started.elapsed();
        anyhow::ensure!(taken.len() == BATCH, "took {} items", taken.len());
        let ids: Vec<String> = taken.into_iter().map(|i| i.id).collect();
        let unknown = queue.ack(&ids).context("ack")?;
        let total = started.elapsed();
        anyhow::ensure!(unknown.is_empty(), "ack missed {unknown:?}");
        takes.push(took.as_secs_f64() * 1e3);
        acks.push((total - took).as_secs_f64() * 1e3);
        both.push(total.as_secs_f64() * 1e3);
        let fresh: Vec<QueueItem> = (next..next + BATCH).map(item).collect();
        queue.append(&fresh).context("cannot refill the queue")?;
        next += BATCH;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let max_ms = both.iter().copied().fold(0.0, f64::max);
    Ok(QueueTimes {
        take_ack_ms: median(both),
        take_ms: median(takes),
        ack_ms: median(acks),
        max_ms,
    })
}
