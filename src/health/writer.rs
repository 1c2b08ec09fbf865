//! Writing health.json: [`run`] rewrites it every interval and shortly after each state
//! change, through the one atomic, durable replace ([`crate::files::write_replacing`]), off
//! the async threads. The last write (`stopped`) is the daemon's, once every stage has ended.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::Health;
use crate::time::now_ms;

impl Health {
    /// Write health.json atomically ([`crate::files::write_replacing`]).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        crate::files::write_replacing(path, self.to_json().as_bytes())?;
        self.written_at.store(now_ms(), Ordering::Relaxed);
        Ok(())
    }
}

/// Write health.json every `interval` and shortly after each change until shutdown, then once more.
pub async fn run(
    health: Arc<Health>,
    path: PathBuf,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // Changes come in bursts (connect + join + first message); a short pause folds them into one write.
    const SETTLE: Duration = Duration::from_millis(50);
    let mut failing = false;
    {
        let mut state = health.state.lock().unwrap_or_else(|e| e.into_inner());
        state.write_interval_ms = interval.as_millis().try_into().unwrap_or(u64::MAX);
    }
    loop {
        let result = {
            let (health, path) = (health.clone(), path.clone());
            tokio::task::spawn_blocking(move || health.write(&path)).await
        };
        match result {
            Ok(Err(e)) if !failing => {
                failing = true;
                tracing::warn!("cannot write {}: {e}", path.display());
            }
            Ok(Ok(())) => failing = false,
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = health.changed.notified() => tokio::time::sleep(SETTLE).await,
            _ = shutdown.changed() => {}
        }
        // The daemon writes the last one (`stopped`) once every stage has finished.
        if *shutdown.borrow() {
            return;
        }
    }
}
