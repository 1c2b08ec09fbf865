//! What a decision does: `reply` sends, `queue` persists, `wake` nudges the agent.
//!
//! [`Actions::apply`] routes one decision without blocking (it runs on the personality
//! thread); instant texts wait in the bounded [`outbox`], each with a deadline counted from
//! when its message arrived; [`run_queue`] batches queued messages, fsyncs them, and only then
//! lets their acknowledgements go out and wakes the agent.

pub mod budget;
pub mod outbox;
pub mod queue;
pub mod reply;
pub mod wake;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::ChatEvent;
use crate::health::{Health, now_ms};
use crate::script::Decision;
use outbox::OutboxTx;
use queue::{Queue, QueueItem};
use reply::{Outgoing, Purpose};

/// A message on its way into the queue, with the acknowledgement to send once it is on disk.
#[derive(Debug)]
pub struct Pending {
    /// The line to write.
    pub item: QueueItem,
    /// The acknowledgement text, if the personality gave one.
    pub ack: Option<String>,
    /// When the acknowledgement stops being worth sending.
    pub deadline: Instant,
}

/// The senders a decision needs; cheap to use from any thread.
#[derive(Debug, Clone)]
pub struct Actions {
    /// Outgoing chat messages, in order.
    pub reply_tx: OutboxTx,
    /// Messages for the queue writer.
    pub queue_tx: mpsc::UnboundedSender<Pending>,
    /// How long after its message arrived an instant reply or acknowledgement stays worth
    /// sending.
    pub instant_deadline: Duration,
    /// Counters.
    pub health: Arc<Health>,
}

impl Actions {
    /// Carry out `decision` for `event`, whose message arrived at `arrived`. Never blocks.
    pub fn apply(&self, event: &ChatEvent, decision: Decision, arrived: Instant) {
        // From arrival, not from now: a reply decided late has less time left, not more.
        let deadline = arrived + self.instant_deadline;
        let queue = |ack: Option<String>| {
            let item = QueueItem::from_event(event, now_ms());
            let _ = self.queue_tx.send(Pending {
                item,
                ack,
                deadline,
            });
        };
        match decision {
            Decision::Reply(text) => {
                self.reply_tx.send(Outgoing {
                    text,
                    purpose: Purpose::Reply,
                    deadline,
                    in_reply_to: event.id.clone(),
                });
            }
            Decision::Ack(text) => queue(Some(text)),
            Decision::Queue => queue(None),
            Decision::Ignore => self.health.counters.ignored.inc(),
        }
    }

    /// Post a line the script said on its own (`on_start`, a timer), labelled for the logs.
    pub fn say(&self, text: String, label: &str) {
        self.reply_tx.send(Outgoing {
            text,
            purpose: Purpose::Timer,
            deadline: Instant::now() + self.instant_deadline,
            in_reply_to: label.to_string(),
        });
    }
}

/// Most items written with one fsync.
const MAX_BATCH: usize = 1024;

/// Write queued messages in batches (one fsync per batch), then release their
/// acknowledgements and wake the agent. A failed write keeps the batch and retries it:
/// nothing accepted is dropped, and nothing is acknowledged before it is on disk.
pub async fn run_queue(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    queue: Queue,
    max_items: usize,
    reply_tx: OutboxTx,
    waker: wake::Waker,
    health: Arc<Health>,
) {
    let mut batch: Vec<Pending> = Vec::new();
    // Only grows as we append (the agent's acks shrink the file behind our back), so when it
    // passes the bound we count for real, and only then rewrite.
    let mut approx_items = max_items;
    let mut retry_pause = Duration::from_millis(100);
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(pending) => batch.push(pending),
                None => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let items: Vec<QueueItem> = batch.iter().map(|p| p.item.clone()).collect();
        let writer = queue.clone();
        let check_limit = approx_items + items.len() > max_items;
        let written = tokio::task::spawn_blocking(move || {
            writer.append(&items)?;
            if check_limit {
                return writer.enforce_limit(max_items).map(Some);
            }
            Ok(None)
        })
        .await;
        match written {
            Ok(Ok(limited)) => {
                retry_pause = Duration::from_millis(100);
                health.counters.queued.add(batch.len() as u64);
                approx_items += batch.len();
                if let Some((moved, remaining)) = limited {
                    approx_items = remaining;
                    if moved > 0 {
                        health.counters.archived.add(moved as u64);
                        tracing::warn!(
                            "queue full ({max_items} items): moved the {moved} oldest to {}",
                            queue.archive_path().display()
                        );
                    }
                }
                for pending in batch.drain(..) {
                    tracing::info!(id = %pending.item.id, author = %pending.item.author, "queued for the agent");
                    if let Some(text) = pending.ack {
                        reply_tx.send(Outgoing {
                            text,
                            purpose: Purpose::Ack,
                            deadline: pending.deadline,
                            in_reply_to: pending.item.id,
                        });
                    }
                }
                waker.wake();
            }
            Ok(Err(error)) => {
                health.counters.queue_errors.inc();
                health.set_error(error.to_string());
                tracing::error!(
                    "{error}; keeping {} messages in memory and retrying",
                    batch.len()
                );
                tokio::time::sleep(retry_pause).await;
                retry_pause = (retry_pause * 2).min(Duration::from_secs(5));
            }
            Err(join_error) => {
                tracing::error!("queue writer task failed: {join_error}; retrying");
                tokio::time::sleep(retry_pause).await;
            }
        }
    }
}
