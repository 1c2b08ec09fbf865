//! The listener's side of the queue: each batch goes in as far as the `max_items` bound
//! allows and the rest to the archive, and across retries it remembers whether a failed
//! append may have left part of a batch behind, so no item is ever written twice.

use super::{Queue, QueueError, QueueItem};

/// Where a batch went: its first `queued` items into the queue, the next `archived` into the
/// archive (in that order; on an error, only what is counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Items appended to the queue, durably: their acknowledgements may go out.
    pub queued: usize,
    /// Items that did not fit, written to the archive: never acknowledged.
    pub archived: usize,
}

/// Writes the listener's batches. Cheap to clone: move a clone into a blocking task and
/// keep what comes back.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: Queue,
    max_items: usize,
    /// At least the items in the queue: it only grows as we append (the agent's acks shrink
    /// the file behind our back), so the queue is counted for real only near the bound.
    approx: usize,
    may_remain: bool,
}

impl Writer {
    /// A writer of `queue` keeping at most `max_items` in it.
    pub fn new(queue: Queue, max_items: usize) -> Self {
        Self {
            queue,
            max_items,
            approx: max_items,
            may_remain: false,
        }
    }

    /// After a crash of the task that wrote: assume the worst of the last append.
    pub fn distrust_last_append(&mut self) {
        self.may_remain = true;
    }

    /// Write `items`, blocking: what fits into the queue, the rest into the archive. On an
    /// error, what was done before it comes with it.
    pub fn write(&mut self, items: &[QueueItem]) -> Result<Written, (Written, QueueError)> {
        let mut done = Written::default();
        if self.approx + items.len() > self.max_items {
            self.approx = self.queue.count().map_err(|e| (done, e))?;
        }
        let fit = self.max_items.saturating_sub(self.approx).min(items.len());
        if fit > 0 {
            let appended = if self.may_remain {
                self.queue.append_missing(&items[..fit]).map(|_| ())
            } else {
                self.queue.append(&items[..fit])
            };
            if let Err(e) = appended {
                self.may_remain |= e.may_remain();
                return Err((done, e));
            }
            self.may_remain = false;
            self.approx += fit;
            done.queued = fit;
        }
        if fit < items.len() {
            self.queue.archive(&items[fit..]).map_err(|e| (done, e))?;
            done.archived = items.len() - fit;
        }
        Ok(done)
    }
}
