//! The personality thread's tick: when it is next due, and the upkeep that rides on it off
//! that thread (the handled ids saved, memory given back once a burst is over). The decider
//! runs the script's timers and dead air on the same tick; waiting for its inbox is bounded
//! by [`Tick::at`], so no task has to wake it.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::catchup::Handled;
use crate::health::Health;

/// When the next tick is due, and what each tick does besides the script's hooks.
pub(super) struct Tick {
    every: Duration,
    at: Instant,
    handled: Arc<Handled>,
    after_burst: BurstEnd,
    /// The file work goes to this runtime's blocking pool.
    tokio: Handle,
}

impl Tick {
    /// Ticks `every` apart, the first at once; the upkeep saves `handled` and watches
    /// `health`'s counters for the end of a burst, on `tokio`'s blocking pool.
    pub(super) fn new(
        every: Duration,
        handled: Arc<Handled>,
        health: Arc<Health>,
        tokio: Handle,
    ) -> Self {
        Self {
            every,
            at: Instant::now(),
            handled,
            after_burst: BurstEnd::new(health),
            tokio,
        }
    }

    /// When the next tick is due.
    pub(super) fn at(&self) -> Instant {
        self.at
    }

    /// True when a tick is due; the next is then due a tick later. A tick missed (a slow
    /// script) is not made up for: the next comes a whole tick after this one.
    pub(super) fn take_due(&mut self) -> bool {
        match after(self.at, self.every, Instant::now()) {
            Some(next) => {
                self.at = next;
                true
            }
            None => false,
        }
    }

    /// The tick's file work, on the blocking pool so that it never holds the personality up:
    /// save the handled ids, and give memory back on the quiet ticks after a burst.
    pub(super) fn upkeep(&mut self) {
        let handled = self.handled.clone();
        self.tokio.spawn_blocking(move || handled.sync());
        if self.after_burst.release_now() {
            self.tokio.spawn_blocking(crate::malloc::release);
        }
    }
}

/// When the tick after the one due `at` is due, if that one is due by `now`: a tick later,
/// or a tick after `now` when that is past already (ticks missed are not made up in a burst).
fn after(at: Instant, every: Duration, now: Instant) -> Option<Instant> {
    if now < at {
        return None;
    }
    let next = at + every;
    Some(if next <= now { now + every } else { next })
}

/// Messages in a burst worth giving memory back after.
const BURST: u64 = 10_000;
/// Quiet ticks after a burst on which memory is given back: the first hands back most of it,
/// the later ones what the file threads it kept busy held until they ended (`cmd/run.rs`):
/// each keeps a cache of the blocks it freed, which `malloc_trim` cannot return.
const QUIET_TICKS: u32 = 3;

/// Tells, tick by tick, when to give memory back: after at least [`BURST`] messages, on each
/// of the first [`QUIET_TICKS`] ticks in which nothing came in and nothing went out (sent,
/// dropped, shed, queued or archived).
struct BurstEnd {
    health: Arc<Health>,
    released_at: u64,
    last: (u64, u64),
    quiet: u32,
}

impl BurstEnd {
    fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            released_at: 0,
            last: (0, 0),
            quiet: 0,
        }
    }

    /// True on the ticks memory should be given back (at most [`QUIET_TICKS`] per burst).
    fn release_now(&mut self) -> bool {
        let c = &self.health.counters;
        let events = c.events_in.get();
        let out = [
            &c.replies_sent,
            &c.acks_sent,
            &c.send_dropped,
            &c.shed,
            &c.queued,
            &c.archived,
        ]
        .iter()
        .map(|n| n.get())
        .sum();
        let now = (events, out);
        self.quiet = if now == self.last { self.quiet + 1 } else { 0 };
        self.last = now;
        if self.quiet == 0 || events - self.released_at < BURST {
            return false;
        }
        if self.quiet >= QUIET_TICKS {
            self.released_at = events;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_keep_their_beat_and_missed_ones_are_not_made_up() {
        let (start, tick) = (Instant::now(), Duration::from_millis(20));
        assert_eq!(after(start + tick, tick, start), None, "not due yet");
        // Looked at a little late: the next keeps the beat.
        let late = start + Duration::from_millis(5);
        assert_eq!(after(start, tick, late), Some(start + tick));
        // Three ticks late (a slow script): one tick now, the next a whole tick on.
        let stalled = start + tick * 3;
        assert_eq!(after(start, tick, stalled), Some(stalled + tick));
    }

    #[test]
    fn memory_is_given_back_on_the_first_quiet_ticks_after_a_burst() {
        let health = Arc::new(Health::new());
        let mut end = BurstEnd::new(health.clone());
        health.counters.events_in.add(BURST);
        assert!(!end.release_now(), "messages came in");
        // Nothing new comes in, but the outbox still drains: not quiet yet.
        health.counters.replies_sent.add(500);
        assert!(!end.release_now(), "replies went out");
        for _ in 0..QUIET_TICKS {
            assert!(end.release_now());
        }
        assert!(!end.release_now(), "that burst is done");
        health.counters.events_in.add(BURST - 1);
        for _ in 0..=QUIET_TICKS {
            assert!(!end.release_now(), "too few messages to be a burst");
        }
    }
}
