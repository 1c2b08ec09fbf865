//! Hot reload: watch the script file, compile the new version, swap it in, keep the last good.
//!
//! Owns [`run`], the watch loop; each version is loaded by [`super::load`], as the first one
//! was. Counting and showing outcomes is left to the `report` callback the daemon passes;
//! deciding with the current personality is the daemon's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, timeout_at};

use super::{LoadError, Personality, ScriptHost, load};
use crate::config::ScriptChoice;

/// How long the directory must stay quiet before a burst of events becomes one reload.
const QUIET: Duration = Duration::from_millis(100);
/// Reload at the latest this long after the first event, even if writes keep coming.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// The result of one reload attempt, for the daemon to count and show.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadOutcome {
    /// A new version compiled and is now deciding.
    Loaded {
        /// The script's name (its path).
        name: String,
        /// When it was compiled, epoch milliseconds.
        loaded_at_ms: i64,
    },
    /// The new version failed; the last good one keeps deciding.
    Failed {
        /// The script's name (its path).
        name: String,
        /// The one-line error, `path:line:col: message`.
        error: String,
        /// The full diagnostic with the source line and a caret.
        rendered: String,
    },
}

/// Watch `path` until `shutdown` becomes true (or its sender goes away), swapping each good new
/// version into `current` and reporting every attempt. Unchanged content is not swapped.
pub async fn run(
    runtime: Arc<ScriptHost>,
    path: PathBuf,
    current: watch::Sender<Arc<Personality>>,
    report: impl Fn(ReloadOutcome) + Send + 'static,
    mut shutdown: watch::Receiver<bool>,
) {
    if *shutdown.borrow() {
        return;
    }
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    // Keep the watcher alive for the whole loop; dropping it stops the events.
    let _watcher = match watch_parent(&path, events_tx) {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(script = %path.display(), %error,
                "cannot watch the script for changes; the current version keeps running");
            None
        }
    };
    // The caller loaded the file before the watch began; catch a change made in between.
    if let Some(outcome) = reload(&runtime, &path, &current).await {
        report(outcome);
    }

    let Some(file_name) = path.file_name().map(OsString::from) else {
        return wait_for_shutdown(&mut shutdown).await;
    };
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
            event = events_rx.recv() => match event {
                // The watcher is gone (or never started): nothing more will come.
                None => return wait_for_shutdown(&mut shutdown).await,
                Some(event) if touches(&event, &file_name) => {
                    if !settle(&mut events_rx, &mut shutdown).await {
                        return;
                    }
                    if let Some(outcome) = reload(&runtime, &path, &current).await {
                        report(outcome);
                    }
                }
                Some(_) => {}
            },
        }
    }
}

/// Watch the parent directory, not the file: editors save by writing a new file and renaming
/// it over the old one, and a watch on the old inode dies with the first such save.
fn watch_parent(
    path: &Path,
    events_tx: mpsc::UnboundedSender<notify::Result<Event>>,
) -> notify::Result<notify::RecommendedWatcher> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // The callback runs on notify's thread: it only forwards, never blocks.
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = events_tx.send(event);
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}

/// True when `event` may have changed the script: it names the file and is not a mere open or
/// read (our own reads would otherwise trigger reloads forever). Watch errors are logged.
fn touches(event: &notify::Result<Event>, file_name: &OsString) -> bool {
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, "script watch error");
            return false;
        }
    };
    let writes = match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    writes
        && event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(file_name.as_os_str()))
}

/// Wait until no event has arrived for [`QUIET`] (or [`MAX_DELAY`] has passed), swallowing the
/// burst. False when shutdown was requested meanwhile.
async fn settle(
    events_rx: &mut mpsc::UnboundedReceiver<notify::Result<Event>>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let latest = Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (Instant::now() + QUIET).min(latest);
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return false;
                }
            }
            event = timeout_at(quiet_until, events_rx.recv()) => match event {
                // Quiet long enough, or the watcher went away: reload now.
                Err(_) | Ok(None) => return true,
                Ok(Some(_)) if Instant::now() >= latest => return true,
                Ok(Some(_)) => {}
            },
        }
    }
}

/// Load the file off the async threads, then swap it in; `None` when the content is unchanged.
/// Reporting is the caller's, so `report` is never borrowed across an await (it need not be Sync).
async fn reload(
    runtime: &Arc<ScriptHost>,
    path: &Path,
    current: &watch::Sender<Arc<Personality>>,
) -> Option<ReloadOutcome> {
    let name = path.display().to_string();
    let loaded = {
        let (runtime, choice) = (Arc::clone(runtime), ScriptChoice::File(path.to_path_buf()));
        // File I/O and compiling (which runs the top level, up to the time budget) block.
        tokio::task::spawn_blocking(move || load(&runtime, &choice)).await
    };
    match loaded {
        Ok(Ok(personality)) => {
            if personality.version() == current.borrow().version() {
                return None;
            }
            let loaded_at_ms = personality.loaded_at_ms();
            tracing::info!(script = %name, version = personality.version(), "script reloaded");
            // send_replace: swapping must work even when nobody is subscribed right now.
            current.send_replace(Arc::new(personality));
            Some(ReloadOutcome::Loaded { name, loaded_at_ms })
        }
        Ok(Err(LoadError { error, rendered })) => {
            // A log value never spans lines (src/log_format.rs), so the source line and its
            // caret follow as lines of their own.
            tracing::warn!(script = %name, "script reload failed; keeping the last good version: {error}");
            for line in rendered.lines().skip(1) {
                tracing::warn!("{line}");
            }
            Some(ReloadOutcome::Failed {
                name,
                error: error.to_string(),
                rendered,
            })
        }
        Err(join_error) => {
            let error = format!("{name}: reload task failed: {join_error}");
            tracing::warn!(script = %name, %join_error, "script reload failed; keeping the last good version");
            Some(ReloadOutcome::Failed {
                name,
                rendered: error.clone(),
                error,
            })
        }
    }
}

async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::event::ChatEvent;
    use crate::fake::wait_until;
    use crate::script::{Decision, Limits};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let unique = format!(
                "retake-chat-reload-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let dir = std::env::temp_dir().join(unique);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Save the way editors do: write a temp file, then rename it over the script.
    fn save(path: &Path, source: &str) {
        let tmp = path.with_extension("rhai.tmp");
        std::fs::write(&tmp, source).expect("write temp");
        std::fs::rename(&tmp, path).expect("rename");
    }

    fn replying(text: &str) -> String {
        format!("fn on_message(msg) {{\n    reply(\"{text}\")\n}}\n")
    }

    fn decide(runtime: &ScriptHost, p: &Personality) -> Option<Decision> {
        let event = ChatEvent {
            text: "x".to_string(),
            ..ChatEvent::default()
        };
        runtime.decide(p, &event).ok()
    }

    #[test]
    fn run_is_spawnable_with_a_send_but_not_sync_report() {
        fn spawnable<F: std::future::Future + Send + 'static>(_: F) {}
        let runtime = Arc::new(ScriptHost::new(Limits::default()));
        let first = runtime.compile("p", &replying("one")).expect("compiles");
        let (current_tx, _current_rx) = watch::channel(Arc::new(first));
        let (_shutdown_tx, shutdown_rx) = watch::channel(false);
        let count = std::cell::Cell::new(0);
        let report = move |_| count.set(count.get() + 1);
        spawnable(run(
            runtime,
            PathBuf::from("p.rhai"),
            current_tx,
            report,
            shutdown_rx,
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reloads_good_versions_and_keeps_the_last_good() {
        let runtime = Arc::new(ScriptHost::new(Limits::default()));
        let dir = TempDir::new();
        let path = dir.0.join("personality.rhai");
        std::fs::write(&path, replying("one")).expect("write");
        let first = load(&runtime, &ScriptChoice::File(path.clone())).expect("loads");
        let (current_tx, current_rx) = watch::channel(Arc::new(first));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let report = {
            let outcomes = Arc::clone(&outcomes);
            move |outcome| outcomes.lock().expect("lock").push(outcome)
        };
        let task = tokio::spawn(run(
            Arc::clone(&runtime),
            path.clone(),
            current_tx,
            report,
            shutdown_rx,
        ));

        // A new good version is swapped in.
        save(&path, &replying("two"));
        let two = Some(Decision::Reply("two".to_string()));
        let swapped = wait_until(Duration::from_secs(10), || {
            decide(&runtime, &current_rx.borrow()) == two
        })
        .await;
        assert!(swapped, "the new version was not swapped in");
        assert!(
            wait_until(Duration::from_secs(5), || {
                outcomes
                    .lock()
                    .expect("lock")
                    .iter()
                    .any(|o| matches!(o, ReloadOutcome::Loaded { .. }))
            })
            .await
        );

        // A broken version is reported and the good one stays.
        save(&path, "fn on_message(msg) {\n    reply(\"three\"\n}\n");
        let failed = wait_until(Duration::from_secs(10), || {
            outcomes
                .lock()
                .expect("lock")
                .iter()
                .any(|o| matches!(o, ReloadOutcome::Failed { .. }))
        })
        .await;
        assert!(failed, "the broken version was not reported");
        let failure = outcomes.lock().expect("lock").iter().find_map(|o| match o {
            ReloadOutcome::Failed {
                error, rendered, ..
            } => Some((error.clone(), rendered.clone())),
            ReloadOutcome::Loaded { .. } => None,
        });
        let (error, rendered) = failure.expect("a failure");
        assert!(
            error.starts_with(&format!("{}:3:1: syntax error", path.display())),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
        assert!(rendered.contains("   3 | }"), "{rendered}");
        assert_eq!(decide(&runtime, &current_rx.borrow()), two);

        // The watch survives renames: a later good version still arrives.
        save(&path, &replying("four"));
        let four = Some(Decision::Reply("four".to_string()));
        let swapped = wait_until(Duration::from_secs(10), || {
            decide(&runtime, &current_rx.borrow()) == four
        })
        .await;
        assert!(swapped, "a version after the broken one was not swapped in");

        // Shutdown ends the loop.
        shutdown_tx.send_replace(true);
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(ended, Ok(Ok(()))), "run did not stop on shutdown");
    }

    #[tokio::test]
    async fn an_unwatchable_directory_is_not_fatal() {
        let runtime = Arc::new(ScriptHost::new(Limits::default()));
        let first = runtime
            .compile("embedded", &replying("one"))
            .expect("compiles");
        let (current_tx, current_rx) = watch::channel(Arc::new(first));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let report = {
            let outcomes = Arc::clone(&outcomes);
            move |outcome| outcomes.lock().expect("lock").push(outcome)
        };
        let path = std::env::temp_dir().join("retake-chat-no-such-dir-7f3a/p.rhai");
        let task = tokio::spawn(run(
            Arc::clone(&runtime),
            path,
            current_tx,
            report,
            shutdown_rx,
        ));
        let reported = wait_until(Duration::from_secs(5), || {
            !outcomes.lock().expect("lock").is_empty()
        })
        .await;
        assert!(reported);
        assert!(matches!(
            outcomes.lock().expect("lock")[0],
            ReloadOutcome::Failed { .. }
        ));
        assert_eq!(
            decide(&runtime, &current_rx.borrow()),
            Some(Decision::Reply("one".to_string()))
        );
        shutdown_tx.send_replace(true);
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(ended, Ok(Ok(()))));
    }
}
