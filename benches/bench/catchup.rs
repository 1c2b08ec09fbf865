//! Catching up, for the benchmark: a listener in the room, the chat server down, 100 questions
//! asked meanwhile (kept in the fake's history), the server back. Measured: from the rejoin to
//! the last of the 100 "Sorry I missed this" acknowledgements reaching the server, and that
//! each was acknowledged once.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use retake_chat::fake::FakeRetake;

use super::{Fixture, PATIENCE, ROOM, Row, Running, by_text, gm_reply, joins, wait_for};

/// Questions asked while the listener could not hear.
pub const MISSED: usize = 100;
const QUESTION: &str = "what did I miss?";

/// What one catch-up took.
pub struct CatchUp {
    /// From the rejoin to the last acknowledgement's arrival, ms.
    pub rejoin_to_last_ms: f64,
    /// Missed questions acknowledged (each once, or it is an error).
    pub handled: usize,
}

fn late_ack(author: &str) -> String {
    format!("Sorry I missed this, {author}! On it 💭")
}

/// Run the scenario once with a fresh listener.
pub async fn measure(fixture: &Fixture, bin: &Path, fake: &FakeRetake) -> Result<CatchUp> {
    let _ = fs::remove_dir_all(fixture.state_dir());
    let mut running = Running::spawn(fixture, bin, fake)?;
    // A live message first, so the listener's cursor is a message it handled.
    fake.emit_v1_message(ROOM, "catchup-live", "cl", "gm").await;
    wait_for(
        || by_text(&fake.sent()).contains_key(&gm_reply("cl")),
        "the live gm is answered",
    )
    .await?;
    fake.stop().await;
    wait_for(
        || fake.room_size(ROOM) == 0,
        "the listener is out of the room",
    )
    .await?;
    for n in 0..MISSED {
        let (id, author) = (format!("catchup-{n}"), format!("cu{n}"));
        fake.emit_v1_message(ROOM, &id, &author, QUESTION).await;
    }
    let (joins_before, skip) = (joins(fake), fake.sent_count());
    fake.restart().await?;
    let started = Instant::now();
    while joins(fake) == joins_before {
        if started.elapsed() > PATIENCE {
            bail!("the listener did not rejoin within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_micros(200));
    }
    let rejoined = Instant::now();
    let wanted: Vec<String> = (0..MISSED).map(|n| late_ack(&format!("cu{n}"))).collect();
    wait_for(
        || {
            let posted = by_text(&fake.sent_since(skip));
            wanted.iter().all(|text| posted.contains_key(text))
        },
        "every missed question is acknowledged",
    )
    .await?;
    let posts = fake.sent_since(skip);
    let texts: Vec<&str> = posts
        .iter()
        .filter_map(|p| p.body.get("message").and_then(|m| m.as_str()))
        .collect();
    for text in &wanted {
        let times = texts.iter().filter(|t| *t == text).count();
        if times != 1 {
            bail!("{text:?} was posted {times} times");
        }
    }
    let posted = by_text(&posts);
    let last = wanted
        .iter()
        .filter_map(|text| posted.get(text))
        .max()
        .copied()
        .unwrap_or(rejoined);
    running.stop()?;
    Ok(CatchUp {
        rejoin_to_last_ms: last.saturating_duration_since(rejoined).as_secs_f64() * 1000.0,
        handled: wanted.len(),
    })
}

/// The benchmark's row.
pub fn row(c: &CatchUp) -> Row {
    Row {
        what: format!("catch-up: rejoin → last of {MISSED} missed handled"),
        measured: format!(
            "{:.0} ms ({} acknowledged once)",
            c.rejoin_to_last_ms, c.handled
        ),
        target: "≤ 1 s".into(),
        ok: Some(c.rejoin_to_last_ms <= 1000.0),
        seed: "never (lost)",
    }
}
