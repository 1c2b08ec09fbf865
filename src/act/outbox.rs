//! Instant texts (replies, acknowledgements, timer lines) waiting for the sender: a bounded
//! line that never blocks whoever adds to it. When it is full the oldest text is dropped and
//! counted (`shed`): under a flood the freshest replies are the ones still worth posting, and
//! nothing in here is a viewer's question (a question is on disk before its "On it!" is
//! added). Memory stays flat however far the sender falls behind. A shed text is published
//! as an [`crate::outcome::Outcome::Held`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::reply::Outgoing;
use crate::health::Health;
use crate::outcome::{Held, Outcomes};

/// Shed texts between two log lines about it (the first is always logged).
const LOG_EVERY: u64 = 1000;
/// Room kept when the outbox drains; what a flood grew beyond it is given back.
const SHRINK_ABOVE: usize = 64;

#[derive(Debug)]
struct Shared {
    items: Mutex<VecDeque<Outgoing>>,
    ready: Notify,
    senders: AtomicUsize,
    capacity: usize,
    health: Arc<Health>,
    outcomes: Outcomes,
}

impl Shared {
    fn items(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        // A poisoned lock only means a panic elsewhere while holding it; the queue is plain.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds texts; cheap to clone, usable from any thread.
#[derive(Debug)]
pub struct OutboxTx(Arc<Shared>);

/// Takes texts, oldest first (the reply stage).
#[derive(Debug)]
pub struct OutboxRx(Arc<Shared>);

/// An outbox holding at most `capacity` texts (at least one); what it sheds is counted in
/// `health` and published on `outcomes`.
pub fn outbox(capacity: usize, health: Arc<Health>, outcomes: Outcomes) -> (OutboxTx, OutboxRx) {
    let shared = Arc::new(Shared {
        items: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
        senders: AtomicUsize::new(1),
        capacity: capacity.max(1),
        health,
        outcomes,
    });
    (OutboxTx(shared.clone()), OutboxRx(shared))
}

impl OutboxTx {
    /// Add `out`; if the outbox is full, drop the oldest text to make room. Never blocks.
    pub fn send(&self, out: Outgoing) {
        let mut items = self.0.items();
        let shed = if items.len() >= self.0.capacity {
            items.pop_front()
        } else {
            None
        };
        items.push_back(out);
        drop(items);
        self.0.ready.notify_one();
        if let Some(old) = shed {
            let counter = &self.0.health.counters.shed;
            counter.inc();
            let total = counter.get();
            let outcomes = &self.0.outcomes;
            outcomes.held(Held::Shed, &old.in_reply_to, &old.room, &old.text);
            if total % LOG_EVERY == 1 {
                tracing::warn!(
                    id = %old.in_reply_to,
                    "{} instant texts are waiting to be sent: dropped the oldest ({total} so far; [backlog] instant_texts)",
                    self.0.capacity
                );
            }
        }
    }
}

impl Clone for OutboxTx {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::Relaxed);
        Self(self.0.clone())
    }
}

impl Drop for OutboxTx {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: wake the receiver so it can see the end.
            self.0.ready.notify_one();
        }
    }
}

impl OutboxRx {
    /// The oldest text, waiting for one; `None` once every sender is gone and it is empty.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        loop {
            let next = {
                let mut items = self.0.items();
                let next = items.pop_front();
                // Drained after a flood: give back the room it grew to.
                if items.is_empty() && items.capacity() > SHRINK_ABOVE {
                    items.shrink_to(SHRINK_ABOVE);
                }
                next
            };
            if next.is_some() {
                return next;
            }
            if self.0.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            // A send between the check and here leaves a permit: this returns at once.
            self.0.ready.notified().await;
        }
    }

    /// Texts waiting now.
    pub fn len(&self) -> usize {
        self.0.items().len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::reply::Purpose;
    use tokio::time::Instant;

    fn text(n: usize) -> Outgoing {
        Outgoing {
            text: format!("t{n}"),
            purpose: Purpose::Reply,
            deadline: Instant::now(),
            in_reply_to: format!("m{n}"),
            room: String::new(),
        }
    }

    #[tokio::test]
    async fn the_oldest_are_shed_and_counted_the_rest_come_out_in_order() {
        let health = Arc::new(Health::new());
        let outcomes = Outcomes::broadcast();
        let mut told = outcomes.subscribe();
        let (tx, mut rx) = outbox(3, health.clone(), outcomes);
        for n in 0..10 {
            tx.send(text(n));
        }
        assert_eq!(rx.len(), 3);
        assert_eq!(health.counters.shed.get(), 7);
        for n in 0..7 {
            let Ok(crate::outcome::Outcome::Held(Held::Shed, shed)) = told.try_recv() else {
                panic!("shed text {n} told");
            };
            assert_eq!(
                (shed.text, shed.in_reply_to),
                (format!("t{n}"), format!("m{n}"))
            );
        }
        assert!(told.try_recv().is_err(), "only the shed ones");
        let mut out = Vec::new();
        drop(tx);
        while let Some(o) = rx.recv().await {
            out.push(o.text);
        }
        assert_eq!(out, ["t7", "t8", "t9"]);
    }

    #[tokio::test]
    async fn recv_waits_for_a_text_and_ends_with_the_last_sender() {
        let (tx, mut rx) = outbox(8, Arc::new(Health::new()), Outcomes::off());
        let second = tx.clone();
        let waiting = tokio::spawn(async move { rx.recv().await.map(|o| o.text) });
        std::thread::spawn(move || second.send(text(1)))
            .join()
            .expect("sender thread");
        assert_eq!(waiting.await.expect("joined"), Some("t1".to_string()));
        let (tx2, mut rx2) = outbox(8, Arc::new(Health::new()), Outcomes::off());
        drop(tx2);
        drop(tx);
        assert!(rx2.recv().await.is_none(), "no sender left: the end");
    }
}
