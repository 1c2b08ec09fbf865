//! Saving script memory off the personality thread: a change is handed to a thread of its
//! own, which writes `memory.json` at most every [`SAVE_EVERY`], so a slow disk (an fsync can
//! take most of a second) never holds up a reply.
//!
//! The [`ScriptHost`](super::ScriptHost) owns the [`Saver`] and tells it about changes; an explicit
//! save (at shutdown) runs on the caller's thread, in turn with the background ones. The thread
//! starts with the first change: a personality that never remembers anything costs nothing.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use super::memory::SAVE_EVERY;
use super::memory_file::{MemoryError, write_atomic};
use super::state::Shared;

/// The background saver of one session's memory; stops (after a last save) when dropped.
#[derive(Debug)]
pub(super) struct Saver {
    inner: Arc<Inner>,
    /// Started by the first change; `None` inside when it could not be started.
    thread: OnceLock<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Inner {
    session: Shared,
    signal: Mutex<Signal>,
    wake: Condvar,
    /// Held for a whole save, snapshot to rename, so saves land in the order they were taken
    /// and never share the temp file.
    writing: Mutex<()>,
}

#[derive(Debug, Default)]
struct Signal {
    changed: bool,
    stop: bool,
}

impl Saver {
    /// A saver for `session`'s memory; `None` when the memory has no file.
    pub(super) fn new(session: &Shared) -> Option<Self> {
        let trimmed = {
            let session = session.lock();
            session.memory.file.as_ref()?;
            session.memory.is_dirty()
        };
        let saver = Self {
            inner: Arc::new(Inner {
                session: session.clone(),
                signal: Mutex::new(Signal::default()),
                wake: Condvar::new(),
                writing: Mutex::new(()),
            }),
            thread: OnceLock::new(),
        };
        // A memory trimmed at load is rewritten at once.
        if trimmed {
            saver.changed();
        }
        Some(saver)
    }

    /// The memory changed: save it soon (at once if the last save is [`SAVE_EVERY`] old).
    pub(super) fn changed(&self) {
        self.thread.get_or_init(|| {
            let worker = Arc::clone(&self.inner);
            std::thread::Builder::new()
                .name("retake-chat-memory".into())
                .spawn(move || worker.run())
                .inspect_err(|error| {
                    tracing::warn!(
                        "cannot start the script memory saver ({error}); memory is saved at shutdown only"
                    );
                })
                .ok()
        });
        self.inner.signal().changed = true;
        self.inner.wake.notify_one();
    }

    /// Save now on this thread, after any save under way; false when there was nothing to save.
    pub(super) fn save_now(&self) -> Result<bool, MemoryError> {
        self.inner.save()
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        self.inner.signal().stop = true;
        self.inner.wake.notify_one();
        if let Some(Some(thread)) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Inner {
    fn signal(&self) -> MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut last_save: Option<Instant> = None;
        loop {
            let mut signal = self.signal();
            while !signal.changed && !signal.stop {
                signal = self
                    .wake
                    .wait(signal)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // Throttle: one save per SAVE_EVERY, however often the memory changes.
            if let Some(due) = last_save.map(|at| at + SAVE_EVERY) {
                while !signal.stop && Instant::now() < due {
                    let wait = due.saturating_duration_since(Instant::now());
                    signal = self
                        .wake
                        .wait_timeout(signal, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            signal.changed = false;
            let stop = signal.stop;
            drop(signal);
            if let Err(error) = self.save() {
                tracing::warn!("{error}; retrying in {} s", SAVE_EVERY.as_secs());
                self.signal().changed = true;
            }
            if stop {
                return;
            }
            last_save = Some(Instant::now());
        }
    }

    /// Take a snapshot and write it; on failure the memory is marked unsaved again.
    fn save(&self) -> Result<bool, MemoryError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        // The session is locked only to take the snapshot, never while writing.
        let snapshot = self.session.lock().memory.snapshot();
        let Some((path, text)) = snapshot else {
            return Ok(false);
        };
        write_atomic(&path, &text).inspect_err(|_| self.session.lock().memory.unsaved())?;
        Ok(true)
    }
}
