//! `take` and `ack`: they read only the lines they hand out or answer (and, for `take`, the
//! next unread ones), record what they did in the ledger (`leases`) and leave `queue.jsonl`
//! alone, until its answered lines are at least half of it: then `ack` compacts it, writing
//! the leases into the items that remain (the format every version reads) and emptying the
//! ledger. Each runs under the exclusive lock and is durable before it returns.

use std::collections::HashMap;
use std::fs::File;

use super::file::{self, Mode, RawLine};
use super::item::{self, Line, QueueItem};
use super::leases::{Lease, Leases, Ledger, Record, Span, identity};
use super::{Queue, QueueError};

/// The open queue file under the lock, and its ledger.
pub(super) struct Opened {
    /// queue.jsonl.
    pub(super) queue: File,
    /// Its length when opened.
    pub(super) len: u64,
    /// What takes and acks recorded about it.
    pub(super) ledger: Ledger,
}

impl Queue {
    /// The queue file and its ledger; `None` when there is no queue file.
    pub(super) fn open_with_ledger(&self) -> Result<Option<Opened>, QueueError> {
        let Some(queue) = file::open(&self.path, Mode::Read)? else {
            return Ok(None);
        };
        let len = queue
            .metadata()
            .map_err(file::io("inspect", &self.path))?
            .len();
        let ledger = Ledger::load(&self.leases_path, identity(&queue), len)?;
        Ok(Some(Opened { queue, len, ledger }))
    }

    /// The item a lease is for, or `None` if the line there is not it (the file was replaced
    /// in place behind the ledger's back).
    pub(super) fn leased_item(
        &self,
        opened: &mut Opened,
        lease: &Lease,
    ) -> Result<Option<QueueItem>, QueueError> {
        let bytes = file::read_at(&mut opened.queue, lease.at, lease.len, &self.path)?;
        let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        Ok(match item::parse_line(line, 0) {
            Some(Line::Item(item)) if item.id == lease.id => Some(item),
            _ => None,
        })
    }

    /// Claim up to `max` pending items for `lease_ms`: they are not handed out again until the
    /// lease ends, unless acknowledged first. Returns them in queue order.
    pub fn take(
        &self,
        max: usize,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Vec<QueueItem>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.locked(|| {
            let Some(mut opened) = self.open_with_ledger()? else {
                return Ok(Vec::new());
            };
            let mut taking = Taking {
                max,
                now_ms,
                until: now_ms.saturating_add(lease_ms),
                taken: Vec::new(),
                leased: Vec::new(),
            };
            // First the items whose lease ran out: they come before anything unread.
            self.take_ended(&mut opened, &mut taking)?;
            let (scan, unreadable) = self.take_unread(&mut opened, &mut taking)?;
            let Taking { taken, leased, .. } = taking;
            if scan != opened.ledger.leases.scan || !leased.is_empty() {
                let record = Record::Take {
                    scan,
                    unreadable,
                    leased,
                };
                opened.ledger.commit(&self.leases_path, record)?;
            }
            Ok(taken)
        })
    }

    /// Take again the items whose lease ended (up to `max`). If the ledger does not fit the
    /// file, start it afresh and take nothing here: everything is then read from the top.
    fn take_ended(&self, opened: &mut Opened, taking: &mut Taking) -> Result<(), QueueError> {
        let ended: Vec<Lease> = opened
            .ledger
            .leases
            .leased
            .values()
            .filter(|l| l.until <= taking.now_ms)
            .take(taking.max)
            .cloned()
            .collect();
        for lease in ended {
            let Some(mut item) = self.leased_item(opened, &lease)? else {
                opened.ledger.restart();
                taking.taken.clear();
                taking.leased.clear();
                return Ok(());
            };
            item.attempts = lease.attempts + 1;
            item.leased_until = Some(taking.until);
            taking.leased.push(Lease {
                until: taking.until,
                attempts: item.attempts,
                ..lease
            });
            taking.taken.push(item);
        }
        Ok(())
    }

    /// Take from the lines no take has read yet until `max` are taken; where the reading
    /// stopped and how many unreadable lines it has passed in all, for the ledger.
    fn take_unread(
        &self,
        opened: &mut Opened,
        taking: &mut Taking,
    ) -> Result<(u64, u64), QueueError> {
        let state = &opened.ledger.leases;
        let (mut scan, mut unreadable) = (state.scan, state.unreadable);
        let acked = state.acked.clone();
        let mut lines = file::Lines::from(&mut opened.queue, scan, &self.path)?;
        while taking.taken.len() < taking.max {
            // An unfinished last line is a crash's torn tail: not read past.
            let Some(RawLine {
                at,
                bytes,
                len,
                whole: true,
            }) = lines.next_line()?
            else {
                break;
            };
            scan = at + len;
            if acked.contains_key(&at) {
                continue;
            }
            match item::parse_line(bytes, 0) {
                None => {}
                Some(Line::Unreadable { .. }) => unreadable += 1,
                Some(Line::Item(item)) => taking.unread(item, at, len),
            }
        }
        Ok((scan, unreadable))
    }

    /// Remove the items with these ids. Returns the ids that were not in the queue (already
    /// acknowledged, or never there): acknowledging twice is harmless.
    pub fn ack(&self, ids: &[String]) -> Result<Vec<String>, QueueError> {
        self.locked(|| {
            let Some(mut opened) = self.open_with_ledger()? else {
                return Ok(ids.to_vec());
            };
            let mut acking = Acking {
                ids,
                found: vec![false; ids.len()],
                spans: Vec::new(),
            };
            acking.leased(&opened.ledger.leases);
            if acking.found.iter().any(|f| !f) {
                // Never taken: look for them among the lines not read yet.
                self.ack_unread(&mut opened, &mut acking)?;
            }
            let Acking { found, spans, .. } = acking;
            if !spans.is_empty() {
                let mut after = opened.ledger.leases.clone();
                after.apply(Record::Ack {
                    acked: spans.clone(),
                });
                if after.dead >= after.live(opened.len) {
                    self.compact(&mut opened.queue, &after)?;
                } else {
                    opened
                        .ledger
                        .commit(&self.leases_path, Record::Ack { acked: spans })?;
                }
            }
            Ok(ids
                .iter()
                .zip(found)
                .filter(|(_, found)| !found)
                .map(|(id, _)| id.clone())
                .collect())
        })
    }

    /// Find the ids not found yet among the lines no take has read.
    fn ack_unread(&self, opened: &mut Opened, acking: &mut Acking) -> Result<(), QueueError> {
        let ids = acking.ids;
        let wanted: Vec<(usize, String)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| !acking.found[*i])
            .map(|(i, id)| (i, serde_json::to_string(id).unwrap_or_default()))
            .collect();
        let any_legacy = wanted.iter().any(|(i, _)| item::is_legacy_id(&ids[*i]));
        let state = &opened.ledger.leases;
        let acked = state.acked.clone();
        let mut lines = file::Lines::from(&mut opened.queue, state.scan, &self.path)?;
        while let Some(RawLine { at, bytes, len, .. }) = lines.next_line()? {
            if acked.contains_key(&at) {
                continue;
            }
            // A quoted id can only be in a line that holds it; parse just those.
            let text = String::from_utf8_lossy(bytes);
            if !any_legacy
                && !wanted
                    .iter()
                    .any(|(_, quoted)| text.contains(quoted.as_str()))
            {
                continue;
            }
            if let Some(Line::Item(item)) = item::parse_line(bytes, 0)
                && let Some((i, _)) = wanted.iter().find(|(i, _)| ids[*i] == item.id)
            {
                acking.spans.push(Span { at, len });
                acking.found[*i] = true;
            }
        }
        Ok(())
    }

    /// Rewrite queue.jsonl without its answered lines, the leases written into the items
    /// that remain and unreadable lines kept as they are; then empty the ledger, which
    /// described the old file.
    fn compact(&self, queue: &mut File, state: &Leases) -> Result<(), QueueError> {
        let bytes = file::read_from(queue, 0, &self.path)?;
        let mut out = Vec::with_capacity(bytes.len() / 2);
        for (at, line, _) in item::lines_at(&bytes, 0) {
            if item::is_blank(line) {
                continue;
            }
            if at >= state.scan {
                if !state.acked.contains_key(&at) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
                continue;
            }
            match (state.leased.get(&at), item::parse_line(line, 0)) {
                (Some(lease), Some(Line::Item(mut item))) => {
                    item.leased_until = Some(lease.until);
                    item.attempts = lease.attempts;
                    out.extend(item::encode([&item]));
                }
                // Answered.
                (None, Some(Line::Item(_))) | (_, None) => {}
                _ => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
        }
        file::replace(&self.path, &out)?;
        super::leases::clear(&self.leases_path)
    }
}

/// What one `take` hands out and records in the ledger, as it goes.
struct Taking {
    max: usize,
    now_ms: i64,
    /// When the leases it gives end.
    until: i64,
    /// The items handed out, in queue order.
    taken: Vec<QueueItem>,
    /// The leases to record: those given, and those found already held in the file.
    leased: Vec<Lease>,
}

impl Taking {
    /// An unread item at `at`: taken, unless the file itself says it is still leased (a
    /// compacted queue, an older version), which is then only recorded.
    fn unread(&mut self, mut item: QueueItem, at: u64, len: u64) {
        let (id, attempts) = (item.id.clone(), item.attempts);
        if let Some(held) = item.leased_until.filter(|&t| t > self.now_ms) {
            self.leased.push(Lease {
                at,
                len,
                id,
                until: held,
                attempts,
            });
            return;
        }
        item.attempts += 1;
        item.leased_until = Some(self.until);
        self.leased.push(Lease {
            at,
            len,
            id,
            until: self.until,
            attempts: item.attempts,
        });
        self.taken.push(item);
    }
}

/// What one `ack` has found of the ids it was given.
struct Acking<'a> {
    ids: &'a [String],
    /// Whether each id was found, by its index.
    found: Vec<bool>,
    /// The lines to mark answered.
    spans: Vec<Span>,
}

impl Acking<'_> {
    /// Find the ids among the leased items (every lease of an id, should it have several).
    fn leased(&mut self, state: &Leases) {
        let by_id: HashMap<&str, Vec<&Lease>> =
            state.leased.values().fold(HashMap::new(), |mut map, l| {
                map.entry(l.id.as_str()).or_default().push(l);
                map
            });
        for (i, id) in self.ids.iter().enumerate() {
            for lease in by_id.get(id.as_str()).into_iter().flatten() {
                self.spans.push(Span {
                    at: lease.at,
                    len: lease.len,
                });
                self.found[i] = true;
            }
        }
    }
}
