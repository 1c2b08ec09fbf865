//! Reading the queue as the agent sees it: the items not yet answered, with their leases,
//! and the lines that are not items. `read` goes through the whole file (`queue list`);
//! `stats` only through the leased items and the lines no take has read yet.

use super::file::{self, RawLine};
use super::item::{self, Line, QueueItem};
use super::{Queue, QueueError, QueueStats};

impl Queue {
    /// Every line still in the queue, in order: items waiting or leased (lease fields set),
    /// and lines that are not items. Empty when the file does not exist.
    pub fn read(&self) -> Result<Vec<Line>, QueueError> {
        self.shared(|| {
            let Some(mut opened) = self.open_with_ledger()? else {
                return Ok(Vec::new());
            };
            let bytes = file::read_from(&mut opened.queue, 0, &self.path)?;
            let state = &opened.ledger.leases;
            let mut out = Vec::new();
            for (n, (at, bytes, _)) in item::lines_at(&bytes, 0).enumerate() {
                let Some(line) = item::parse_line(bytes, n + 1) else {
                    continue;
                };
                if at >= state.scan {
                    if !state.acked.contains_key(&at) {
                        out.push(line);
                    }
                    continue;
                }
                // Before the scan an item is leased, or else answered.
                match (state.leased.get(&at), line) {
                    (Some(lease), Line::Item(mut item)) => {
                        item.leased_until = Some(lease.until);
                        item.attempts = lease.attempts;
                        out.push(Line::Item(item));
                    }
                    (None, Line::Item(_)) => {}
                    (_, unreadable) => out.push(unreadable),
                }
            }
            Ok(out)
        })
    }

    /// Every readable item in file order, with a note per unreadable line naming file and line.
    pub fn read_all(&self) -> Result<(Vec<QueueItem>, Vec<String>), QueueError> {
        let mut items = Vec::new();
        let mut problems = Vec::new();
        for line in self.read()? {
            match line {
                Line::Item(item) => items.push(item),
                Line::Unreadable { why, line, .. } => problems.push(format!(
                    "{}:{line}: not a queue item ({why}); left in place",
                    self.path.display(),
                )),
            }
        }
        Ok((items, problems))
    }

    /// Counts of pending and leased items at `now_ms`.
    pub fn stats(&self, now_ms: i64) -> Result<QueueStats, QueueError> {
        self.shared(|| {
            let mut stats = QueueStats::default();
            let Some(mut opened) = self.open_with_ledger()? else {
                return Ok(stats);
            };
            let state = opened.ledger.leases.clone();
            stats.unreadable = usize::try_from(state.unreadable).unwrap_or(usize::MAX);
            for lease in state.leased.values() {
                if lease.until > now_ms {
                    stats.leased += 1;
                } else if let Some(item) = self.leased_item(&mut opened, lease)? {
                    count_pending(&mut stats, &item);
                }
            }
            let mut lines = file::Lines::from(&mut opened.queue, state.scan, &self.path)?;
            while let Some(RawLine { at, bytes, .. }) = lines.next_line()? {
                if state.acked.contains_key(&at) {
                    continue;
                }
                match item::parse_line(bytes, 0) {
                    Some(Line::Item(item)) if item.is_pending(now_ms) => {
                        count_pending(&mut stats, &item);
                    }
                    Some(Line::Item(_)) => stats.leased += 1,
                    Some(Line::Unreadable { .. }) => stats.unreadable += 1,
                    None => {}
                }
            }
            Ok(stats)
        })
    }
}

fn count_pending(stats: &mut QueueStats, item: &QueueItem) {
    stats.pending += 1;
    stats.oldest_pending = Some(stats.oldest_pending.map_or(item.ts, |t| t.min(item.ts)));
    let since = item.waiting_since();
    stats.oldest_queued = Some(stats.oldest_queued.map_or(since, |t| t.min(since)));
}
