//! Waking the agent when something was queued: run the configured command (no shell), or
//! POST to a wake hook.
//!
//! Never more than one wake runs; requests that arrive while one runs, or within the minimum
//! interval, coalesce into a single further run. A wake that hangs is killed at its timeout.
//! Wakes are known to be skipped on the agent side, so a periodic look at the queue wakes
//! again, with growing intervals, while items stay pending; the same look feeds the queue's
//! numbers into health. Failures are logged and counted, never fatal: the queue is the truth.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::queue::Queue;
use crate::config::{Tls, WakeConfig};
use crate::error_text::with_causes;
use crate::health::Health;
use crate::time::now_ms;

/// How often the queue is looked at for health and re-waking (more often when re-waking is
/// set below this).
const QUEUE_CHECK: Duration = Duration::from_secs(5);
/// Longest interval between re-wakes while items stay pending.
const MAX_REWAKE_INTERVAL: Duration = Duration::from_secs(600);

/// Asks for a wake; cheap to clone and never blocks.
#[derive(Debug, Clone)]
pub struct Waker {
    tx: mpsc::Sender<()>,
}

impl Waker {
    /// Request a wake. If one is already pending, this one is folded into it.
    pub fn wake(&self) {
        let _ = self.tx.try_send(());
    }
}

/// A waker and the receiving end that [`run`] consumes.
pub fn channel() -> (Waker, mpsc::Receiver<()>) {
    // One slot: a pending request is all the state coalescing needs.
    let (tx, rx) = mpsc::channel(1);
    (Waker { tx }, rx)
}

/// Serve wake requests until every [`Waker`] is dropped; meanwhile watch the queue.
pub async fn run(
    mut rx: mpsc::Receiver<()>,
    config: WakeConfig,
    tls: Tls,
    queue: Queue,
    health: Arc<Health>,
) {
    let min_interval = config.min_interval;
    let rewake_after = config.rewake_after;
    // Only an HTTP wake needs a client.
    let client = match &config.url {
        Some(_) => match tls.http(reqwest::Client::builder()).build() {
            Ok(client) => Some(client),
            Err(e) => {
                tracing::error!(
                    "wake hook: cannot build an HTTP client: {}",
                    with_causes(&e)
                );
                None
            }
        },
        None => None,
    };
    let mut last_start: Option<Instant> = None;
    let mut rewake = Rewake::new(rewake_after);
    let mut failing = false;
    let period = if rewake_after.is_zero() {
        QUEUE_CHECK
    } else {
        (rewake_after / 2).clamp(Duration::from_millis(250), QUEUE_CHECK)
    };
    let mut check = tokio::time::interval(period);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            request = rx.recv() => if request.is_none() { return },
            _ = check.tick() => {
                if !look_at_queue(&queue, &health, &mut rewake).await {
                    continue;
                }
                tracing::info!("items still pending after {:?}; waking the agent again", rewake_after);
            }
        }
        if !enabled(&config) {
            continue;
        }
        if let Some(last) = last_start {
            tokio::time::sleep_until(last + min_interval).await;
        }
        // Requests that came in while we waited are served by this run.
        while rx.try_recv().is_ok() {}
        last_start = Some(Instant::now());
        health.counters.wakes.inc();
        let at = now_ms();
        let result = wake_once(&config, client.as_ref()).await;
        match &result {
            Ok(()) => {
                failing = false;
                tracing::debug!("agent woken");
            }
            Err(error) => {
                health.counters.wake_failures.inc();
                // Loud once, then quiet, so a missing wake program does not flood the log.
                if failing {
                    tracing::debug!("wake failed: {error}");
                } else {
                    tracing::warn!("wake failed: {error}");
                }
                failing = true;
            }
        }
        health.wake_done(at, result);
    }
}

fn enabled(config: &WakeConfig) -> bool {
    config.url.is_some() || !config.command.is_empty()
}

/// When to wake again for items nobody took: after `after`, then twice as long each time,
/// starting over once the queue has been emptied.
#[derive(Debug)]
struct Rewake {
    after: Duration,
    interval: Duration,
    next: Option<Instant>,
}

impl Rewake {
    fn new(after: Duration) -> Self {
        Self {
            after,
            interval: after,
            next: None,
        }
    }

    /// Given the age of the oldest pending item (None: nothing pending), whether to wake now.
    fn due(&mut self, oldest_age: Option<Duration>, now: Instant) -> bool {
        let Some(age) = oldest_age.filter(|_| !self.after.is_zero()) else {
            self.interval = self.after;
            self.next = None;
            return false;
        };
        if age < self.after || self.next.is_some_and(|next| now < next) {
            return false;
        }
        self.next = Some(now + self.interval);
        self.interval = (self.interval * 2).min(MAX_REWAKE_INTERVAL);
        true
    }
}

/// Read the queue's numbers into health; true when a re-wake is due.
async fn look_at_queue(queue: &Queue, health: &Health, rewake: &mut Rewake) -> bool {
    let queue = queue.clone();
    let now = now_ms();
    let stats = match tokio::task::spawn_blocking(move || queue.stats(now)).await {
        Ok(Ok(stats)) => stats,
        Ok(Err(e)) => {
            tracing::debug!("cannot read the queue for health: {e}");
            return false;
        }
        Err(_) => return false,
    };
    health.set_queue(stats);
    let oldest_age = stats
        .oldest_queued
        .map(|at| Duration::from_millis(now.saturating_sub(at).max(0) as u64));
    rewake.due(oldest_age, Instant::now())
}

async fn wake_once(config: &WakeConfig, client: Option<&reqwest::Client>) -> Result<(), String> {
    let timeout = config.timeout;
    if let Some(url) = &config.url {
        let Some(client) = client else {
            return Err("wake hook: no HTTP client (its error is in the log)".into());
        };
        return wake_http(url, config, client, timeout).await;
    }
    let Some((program, args)) = config.command.split_first() else {
        return Ok(());
    };
    // The agent's command inherits our environment except our secrets: it has no use for the
    // token we post with, and whatever it runs (or logs) then cannot leak them.
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_remove("RETAKE_ACCESS_TOKEN")
        .env_remove("RETAKE_WAKE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{program} exited with {status}")),
        Ok(Err(e)) => Err(format!("waiting for {program}: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            Err(format!("{program} still running after {timeout:?}; killed"))
        }
    }
}

async fn wake_http(
    url: &str,
    config: &WakeConfig,
    client: &reqwest::Client,
    timeout: Duration,
) -> Result<(), String> {
    let mut request = client
        .post(url)
        .timeout(timeout)
        .json(&serde_json::json!({ "text": config.text, "mode": "now" }));
    if let Some(token) = &config.token {
        request = request.bearer_auth(token.expose());
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("wake hook answered {}", response.status())),
        Err(e) => Err(format!("wake hook: {}", with_causes(&e.without_url()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rewakes_back_off_and_reset_when_the_queue_empties() {
        let s = Duration::from_secs;
        let mut rewake = Rewake::new(s(30));
        let now = Instant::now();
        assert!(!rewake.due(None, now));
        assert!(!rewake.due(Some(s(10)), now));
        assert!(rewake.due(Some(s(30)), now));
        assert!(!rewake.due(Some(s(40)), now + s(10)));
        assert!(rewake.due(Some(s(60)), now + s(30)));
        // The interval doubled: 60 s after the second wake.
        assert!(!rewake.due(Some(s(100)), now + s(80)));
        assert!(rewake.due(Some(s(120)), now + s(90)));
        assert!(!rewake.due(None, now + s(100)));
        assert!(rewake.due(Some(s(30)), now + s(101)));
    }

    #[test]
    fn zero_turns_rewaking_off() {
        let mut rewake = Rewake::new(Duration::ZERO);
        assert!(!rewake.due(Some(Duration::from_secs(1000)), Instant::now()));
    }
}
