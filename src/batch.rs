//! Taking work off a channel in batches: wait for one item, then take whatever else is
//! already waiting, up to a limit. The queue writer (one fsync per batch) and the log writers
//! (one `write` per batch: the decision log, the transcript) use it, so a flood costs one
//! write per batch instead of one per message, and a quiet stream is written at once.

use std::future::Future;

use tokio::sync::mpsc;

/// The receiving end of a tokio channel, bounded or not.
pub trait Receiver<T: Send>: Send {
    /// Wait for at least one item (none: the channel is closed), then add what else waits to
    /// `buffer`, at most `limit` in all.
    fn recv_many(
        &mut self,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + Send;
    /// One item that is waiting now, if any.
    fn try_recv(&mut self) -> Option<T>;
}

impl<T: Send> Receiver<T> for mpsc::Receiver<T> {
    fn recv_many(
        &mut self,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + Send {
        mpsc::Receiver::recv_many(self, buffer, limit)
    }

    fn try_recv(&mut self) -> Option<T> {
        mpsc::Receiver::try_recv(self).ok()
    }
}

impl<T: Send> Receiver<T> for mpsc::UnboundedReceiver<T> {
    fn recv_many(
        &mut self,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + Send {
        mpsc::UnboundedReceiver::recv_many(self, buffer, limit)
    }

    fn try_recv(&mut self) -> Option<T> {
        mpsc::UnboundedReceiver::try_recv(self).ok()
    }
}

/// Fill `batch` from `rx` up to `max` items. An empty batch waits for its first item; one
/// that still holds items (kept for a retry) only takes what waits now, so a retry is never
/// held up by a quiet channel. False when the batch is empty and the channel closed: the
/// work is over.
pub async fn recv<T: Send>(rx: &mut impl Receiver<T>, batch: &mut Vec<T>, max: usize) -> bool {
    if batch.is_empty() {
        return rx.recv_many(batch, max).await > 0;
    }
    while batch.len() < max {
        match rx.try_recv() {
            Some(item) => batch.push(item),
            None => break,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_takes_what_waits_up_to_the_limit() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for n in 0..5 {
            tx.send(n).expect("open");
        }
        let mut batch = Vec::new();
        assert!(recv(&mut rx, &mut batch, 3).await);
        assert_eq!(batch, [0, 1, 2]);
        // Kept for a retry: topped up without waiting, still to the limit.
        batch.truncate(1);
        assert!(recv(&mut rx, &mut batch, 3).await);
        assert_eq!(batch, [0, 3, 4]);
        assert!(
            recv(&mut rx, &mut batch, 5).await,
            "nothing waits: no wait either"
        );
        assert_eq!(batch.len(), 3);
        batch.clear();
        drop(tx);
        assert!(!recv(&mut rx, &mut batch, 3).await, "closed and empty");
    }

    #[tokio::test]
    async fn a_bounded_channel_is_batched_the_same() {
        let (tx, mut rx) = mpsc::channel(8);
        let waiting = tokio::spawn(async move {
            let mut batch = Vec::new();
            let more = recv(&mut rx, &mut batch, 4).await;
            (more, batch)
        });
        tx.send(7).await.expect("open");
        let (more, batch) = waiting.await.expect("no panic");
        assert!(more);
        assert_eq!(batch, [7]);
    }
}
