//! `chat_wait`: a long poll on the queue. It returns as soon as an item is pending: woken by
//! the kernel (inotify) when the listener appends to `queue.jsonl` or a take or ack changes
//! the leases, and checking at least every [`RECHECK`] in any case (a lease that runs out
//! makes an item pending without touching a file; a watch can fail).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::act::queue::Queue;
use crate::health::QueueStats;
use crate::time::now_ms;

/// The longest between two looks at the queue.
const RECHECK: Duration = Duration::from_millis(500);

/// What a wait ended with.
#[derive(Debug, Clone, Copy)]
pub struct Waited {
    /// The queue when it ended.
    pub stats: QueueStats,
    /// How long it waited.
    pub waited: Duration,
}

/// Wait until `queue` has a pending item, or `timeout` passes.
pub async fn until_pending(queue: Queue, timeout: Duration) -> Result<Waited, String> {
    let started = Instant::now();
    let deadline = started + timeout;
    let (tx, mut changed) = mpsc::channel(1);
    // Kept alive for the wait; without it, the rechecks alone still end the wait in time.
    let _watcher = watch(queue.path(), tx);
    loop {
        let stats = stats(&queue).await?;
        let now = Instant::now();
        if stats.pending > 0 || now >= deadline {
            return Ok(Waited {
                stats,
                waited: now - started,
            });
        }
        let next = deadline.min(now + RECHECK);
        tokio::select! {
            _ = changed.recv() => {}
            () = tokio::time::sleep_until(next) => {}
        }
    }
}

/// The queue's counts, read off the async threads.
async fn stats(queue: &Queue) -> Result<QueueStats, String> {
    let queue = queue.clone();
    tokio::task::spawn_blocking(move || queue.stats(now_ms()))
        .await
        .map_err(|e| format!("reading the queue failed: {e}"))?
        .map_err(|e| e.to_string())
}

/// A watch on the queue's directory that nudges `tx` when the queue or its leases change.
fn watch(queue: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let dir = queue.parent()?.to_path_buf();
    let names: [PathBuf; 2] = [
        queue.to_path_buf(),
        queue.with_file_name(crate::config::StateDir::QUEUE_LEASES),
    ];
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|path| names.contains(path))
        {
            // Full means a nudge is already waiting: one is enough.
            let _ = tx.try_send(());
        }
    })
    .ok()?;
    match watcher.watch(&dir, RecursiveMode::NonRecursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            tracing::debug!(
                "cannot watch {}: {e}; checking the queue every 0.5 s",
                dir.display()
            );
            None
        }
    }
}
