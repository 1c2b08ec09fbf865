//! What a decision does: `reply` sends, `queue` persists, `wake` nudges the agent.
//!
//! [`Actions::apply`] routes one decision without blocking (it runs on the personality
//! thread); instant texts wait in the bounded [`outbox`], each with a deadline counted from
//! when its message arrived; [`run_queue`] batches queued messages, fsyncs them, and only then
//! lets their acknowledgements go out and wakes the agent (a full disk or a full queue holds
//! them back).

pub mod budget;
pub mod guard;
pub mod outbox;
pub mod queue;
pub mod reply;
pub mod wake;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::event::ChatEvent;
use crate::health::Health;
use crate::script::Decision;
use crate::time::now_ms;
use outbox::OutboxTx;
use queue::{Queue, QueueItem, Writer, Written};
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
    /// Where the acknowledgement goes: another streamer's room, or empty for the own room.
    pub room: String,
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
    /// The room the events come from, written into each queued item.
    pub room: String,
    /// `run --dry-run`: carry out nothing. Decisions are printed by the decision log; the
    /// script's own lines are printed here. Nothing reaches the sender or the queue, so
    /// nothing is posted, queued, acknowledged or woken.
    pub dry_run: bool,
}

impl Actions {
    /// Carry out `decision` for `event`, whose message arrived at `arrived`. Never blocks.
    pub fn apply(&self, event: &ChatEvent, decision: Decision, arrived: Instant) {
        if self.dry_run {
            return;
        }
        // From arrival, not from now: a reply decided late has less time left, not more.
        let deadline = arrived + self.instant_deadline;
        let queue = |ack: Option<String>| {
            let item = QueueItem::from_event(event, &self.room, now_ms());
            let _ = self.queue_tx.send(Pending {
                item,
                ack,
                deadline,
                room: event.room_id().to_string(),
            });
        };
        match decision {
            Decision::Reply(text) => self.reply_in(event, event.room_id(), text, deadline),
            // The personality stage has made `room` the id of a room the listener hears.
            Decision::ReplyIn { room, text } => self.reply_in(event, &room, text, deadline),
            Decision::Ack(text) => queue(Some(text)),
            Decision::Queue => queue(None),
            Decision::Ignore => self.health.counters.ignored.inc(),
        }
    }

    /// An instant reply to `event`, posted in `room` (empty: the own room).
    fn reply_in(&self, event: &ChatEvent, room: &str, text: String, deadline: Instant) {
        self.reply_tx.send(Outgoing {
            text,
            purpose: Purpose::Reply,
            deadline,
            in_reply_to: event.id.clone(),
            room: room.to_string(),
        });
    }

    /// Post a line the script said on its own (`on_start`, a timer), labelled for the logs.
    pub fn say(&self, text: String, label: &str) {
        if self.dry_run {
            let line = format!("({label})  →  say {}", crate::script::quote(&text));
            println!("{}", crate::visible::escape(&line));
            return;
        }
        self.reply_tx.send(Outgoing {
            text,
            purpose: Purpose::Timer,
            deadline: Instant::now() + self.instant_deadline,
            in_reply_to: label.to_string(),
            room: String::new(),
        });
    }
}

/// Most items written with one fsync.
const MAX_BATCH: usize = 1024;
/// Room kept for a batch between writes (a full one holds about 250 kB).
const KEEP_ROOM: usize = 16;
/// The first pause after a failed write; it doubles up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Write queued messages in batches (one fsync per batch), then release their
/// acknowledgements and wake the agent. A failed write (a full disk) leaves the file as it
/// was and keeps the batch in memory to retry: nothing accepted is dropped, nothing is
/// acknowledged before it is on disk, and health says why until a write succeeds. While the
/// queue holds `max_items`, new messages go to the archive, unacknowledged: "On it!" is
/// never sent for a message the agent will not see.
pub async fn run_queue(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    queue: Queue,
    max_items: usize,
    reply_tx: OutboxTx,
    waker: wake::Waker,
    health: Arc<Health>,
) {
    let mut stage = QueueStage {
        archive: queue.archive_path().display().to_string(),
        writer: Writer::new(queue, max_items),
        max_items,
        reply_tx,
        waker,
        health,
        retry_pause: FIRST_RETRY_PAUSE,
    };
    let mut batch: Vec<Pending> = Vec::new();
    loop {
        if batch.is_empty() {
            // Written: the room a flood grew it to is given back before waiting again.
            batch.shrink_to(KEEP_ROOM);
        }
        // A batch kept for a retry is topped up, not waited on.
        if !crate::batch::recv(&mut rx, &mut batch, MAX_BATCH).await {
            return;
        }
        let (written, error) = stage.write(&batch).await;
        stage.release(&mut batch, written);
        stage.settle(error, batch.len()).await;
    }
}

/// The queue writer's stage: the file, where acknowledgements go, and the retry pause.
struct QueueStage {
    /// The archive's path, for the log.
    archive: String,
    writer: Writer,
    max_items: usize,
    reply_tx: OutboxTx,
    waker: wake::Waker,
    health: Arc<Health>,
    retry_pause: Duration,
}

impl QueueStage {
    /// Write `batch` on the blocking pool (appends and an fsync): how much of it went to the
    /// queue and to the archive, and the error that stopped the rest.
    async fn write(&mut self, batch: &[Pending]) -> (Written, Option<String>) {
        let items: Vec<QueueItem> = batch.iter().map(|p| p.item.clone()).collect();
        let mut attempt = self.writer.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = attempt.write(&items);
            (attempt, result)
        })
        .await;
        match joined {
            Ok((attempt, result)) => {
                self.writer = attempt;
                match result {
                    Ok(written) => (written, None),
                    Err((written, error)) => (written, Some(error.to_string())),
                }
            }
            Err(join_error) => {
                self.writer.distrust_last_append();
                let error = format!("the queue writer failed: {join_error}");
                (Written::default(), Some(error))
            }
        }
    }

    /// Take what was written off the front of `batch`: the queued let their acknowledgements
    /// go and wake the agent, the archived are counted and named.
    fn release(&self, batch: &mut Vec<Pending>, written: Written) {
        for pending in batch.drain(..written.queued) {
            tracing::info!(id = %pending.item.id, author = %pending.item.author, "queued for the agent");
            if let Some(text) = pending.ack {
                self.reply_tx.send(Outgoing {
                    text,
                    purpose: Purpose::Ack,
                    deadline: pending.deadline,
                    room: pending.room,
                    in_reply_to: pending.item.id,
                });
            }
        }
        if written.queued > 0 {
            self.health.counters.queued.add(written.queued as u64);
            self.waker.wake();
        }
        if written.archived > 0 {
            let ids: Vec<String> = batch.drain(..written.archived).map(|p| p.item.id).collect();
            self.health.counters.archived.add(ids.len() as u64);
            tracing::warn!(
                "queue full ({} items): {} new messages written to {} instead, not acknowledged: {}",
                self.max_items,
                ids.len(),
                self.archive,
                ids.join(" ")
            );
        }
    }

    /// Tell health how the write went; after a failure, wait before the `kept` messages are
    /// tried again (the pause doubles while failures last).
    async fn settle(&mut self, error: Option<String>, kept: usize) {
        let health = &self.health;
        match error {
            None => {
                if self.retry_pause > FIRST_RETRY_PAUSE {
                    tracing::info!("the queue can be written again");
                }
                health.set_queue_error(None);
                self.retry_pause = FIRST_RETRY_PAUSE;
            }
            Some(error) => {
                health.counters.queue_errors.inc();
                health.set_error(error.clone());
                health.set_queue_error(Some(error.clone()));
                tracing::error!(
                    "{error}; keeping {kept} messages in memory, retrying in {:.1}s",
                    self.retry_pause.as_secs_f64()
                );
                tokio::time::sleep(self.retry_pause).await;
                self.retry_pause = (self.retry_pause * 2).min(MAX_RETRY_PAUSE);
            }
        }
    }
}
