//! Per-runtime state the script helpers read and change: the clock, per-author counts,
//! cooldowns, randomness and memory, gathered in one [`Session`].
//!
//! Every [`ScriptHost`](super::ScriptHost) owns its own session (self-tests get a fresh one per
//! load), so `try`, `replay`, self-tests and the daemon never share state. The helpers reach it
//! through the evaluation's tag (see `helpers.rs`); nothing here is global.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rhai::ImmutableString;

use super::lru::Lru;
use super::memory::{Memory, MemoryError};

/// Most cooldowns running at once; past it the one ending soonest is dropped.
const MAX_COOLDOWNS: usize = 10_000;
/// Longest cooldown key, in bytes.
const MAX_COOLDOWN_KEY: usize = 256;

/// Where `now()`, cooldowns and self-test timestamps get the time from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock: what the daemon and `try` use.
    #[default]
    System,
    /// A clock that moves only when told: `replay` and self-tests.
    Simulated(SimClock),
}

impl Clock {
    /// Milliseconds since the Unix epoch, by this clock.
    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => crate::time::now_ms(),
            Self::Simulated(clock) => clock.now_ms(),
        }
    }
}

/// A simulated clock; clones share one time, so the caller keeps a handle to move it.
#[derive(Debug, Clone)]
pub struct SimClock(Arc<AtomicI64>);

impl SimClock {
    /// A clock standing at `start_ms` (epoch milliseconds).
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    /// The current simulated time, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Set the time to `ms`.
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }

    /// Move the time forward by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Everything the helpers remember between calls. Built with [`Session::new`] and the
/// builder methods, then handed to [`ScriptHost::with_session`](super::ScriptHost::with_session).
#[derive(Debug)]
pub struct Session {
    clock: Clock,
    room: ImmutableString,
    rng: StdRng,
    /// Events per author, the authors seen longest ago forgotten past `max_counted`. Keyed by
    /// a hash of the name (keys random per process): 8 bytes in place of a name allocated per
    /// author. Two authors would share a count only on a 64-bit collision, about one chance
    /// in 10^11 with 10,000 authors held.
    counts: Lru<u64, i64>,
    max_counted: usize,
    names: RandomState,
    cooldowns: HashMap<String, i64>,
    pub(super) memory: Memory,
}

impl Session {
    /// A session with `clock`, no room, random seed, and memory kept in this process only.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            room: ImmutableString::new(),
            rng: StdRng::from_entropy(),
            counts: Lru::default(),
            max_counted: super::Limits::default().max_counted_authors,
            names: RandomState::new(),
            cooldowns: HashMap::new(),
            memory: Memory::default(),
        }
    }

    /// The room (the streamer's user id) scripts see as `msg.room`.
    pub fn room(mut self, room: &str) -> Self {
        self.room = room.into();
        self
    }

    /// Make `pick` and `chance` repeatable: the same seed gives the same choices.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// Count events for at most `authors` distinct authors (at least one); past it the author
    /// seen longest ago is forgotten, and counts from 1 again if they come back.
    pub(super) fn counted_authors(mut self, authors: usize) -> Self {
        self.max_counted = authors.max(1);
        self
    }

    /// Keep `remember`'s memory in `path` (JSON): load it now (a missing file is empty memory)
    /// and write changes back atomically. An unreadable or malformed file is an error naming it.
    pub fn with_memory_file(mut self, path: PathBuf) -> Result<Self, MemoryError> {
        self.memory = Memory::open(path)?;
        Ok(self)
    }

    /// The session's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Epoch milliseconds by the session's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The room scripts see.
    pub(super) fn room_name(&self) -> ImmutableString {
        self.room.clone()
    }

    /// Count one more event from `author`; returns the count including this one.
    pub(super) fn count(&mut self, author: &str) -> i64 {
        let key = self.names.hash_one(author);
        if let Some(n) = self.counts.touch(&key) {
            *n += 1;
            return *n;
        }
        // Bounded whatever the number of distinct viewers: the one seen longest ago goes.
        while self.counts.len() >= self.max_counted {
            self.counts.pop_oldest();
        }
        *self.counts.insert(key, 1)
    }

    /// True (and the cooldown starts) when `key` is not cooling down; false while it is.
    pub(super) fn cooldown(&mut self, key: &str, ms: i64) -> Result<bool, String> {
        if key.len() > MAX_COOLDOWN_KEY {
            return Err(format!(
                "keys are at most {MAX_COOLDOWN_KEY} bytes, got {}",
                key.len()
            ));
        }
        let now = self.now_ms();
        if let Some(&until) = self.cooldowns.get(key) {
            if now < until {
                return Ok(false);
            }
        } else if self.cooldowns.len() >= MAX_COOLDOWNS {
            self.cooldowns.retain(|_, until| *until > now);
            if self.cooldowns.len() >= MAX_COOLDOWNS {
                let soonest = self
                    .cooldowns
                    .iter()
                    .min_by_key(|(_, until)| **until)
                    .map(|(k, _)| k.clone());
                if let Some(soonest) = soonest {
                    self.cooldowns.remove(&soonest);
                }
            }
        }
        self.cooldowns
            .insert(key.to_string(), now.saturating_add(ms));
        Ok(true)
    }

    /// True with probability `p` (clamped to 0..=1; NaN is 0).
    pub(super) fn chance(&mut self, p: f64) -> bool {
        !p.is_nan() && self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// A random index below `len` (which must be positive).
    pub(super) fn index(&mut self, len: usize) -> usize {
        self.rng.gen_range(0..len)
    }
}

/// A session shared by a runtime's calls. The lock is held only inside one helper or while
/// building `msg`, never across a script call, so helpers cannot deadlock each other.
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<Mutex<Session>>);

impl Shared {
    pub(super) fn new(session: Session) -> Self {
        Self(Arc::new(Mutex::new(session)))
    }

    /// Lock the session. A panic elsewhere cannot leave it half-updated in a way that
    /// matters (every change is one field), so a poisoned lock is used as is.
    pub(super) fn lock(&self) -> MutexGuard<'_, Session> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> (Session, SimClock) {
        let clock = SimClock::new(ms);
        (
            Session::new(Clock::Simulated(clock.clone())).seeded(1),
            clock,
        )
    }

    #[test]
    fn cooldowns_follow_the_clock() {
        let (mut s, clock) = at(1_000_000);
        assert_eq!(s.cooldown("gm", 30_000), Ok(true));
        clock.advance_ms(10_000);
        assert_eq!(s.cooldown("gm", 30_000), Ok(false));
        assert_eq!(s.cooldown("other", 30_000), Ok(true));
        clock.advance_ms(20_000);
        assert_eq!(s.cooldown("gm", 30_000), Ok(true));
        assert!(s.cooldown(&"k".repeat(300), 1).is_err());
    }

    #[test]
    fn cooldowns_stay_bounded() {
        let (mut s, _) = at(0);
        for i in 0..MAX_COOLDOWNS + 10 {
            assert_eq!(s.cooldown(&format!("k{i}"), 1_000_000), Ok(true));
        }
        assert_eq!(s.cooldowns.len(), MAX_COOLDOWNS);
    }

    #[test]
    fn count_is_kept_per_author() {
        let (mut s, _) = at(0);
        assert_eq!(s.count("a"), 1);
        assert_eq!(s.count("a"), 2);
        assert_eq!(s.count("b"), 1);
    }

    #[test]
    fn counts_forget_the_author_seen_longest_ago() {
        let (s, _) = at(0);
        let mut s = s.counted_authors(3);
        for author in ["a", "b", "c"] {
            assert_eq!(s.count(author), 1);
        }
        assert_eq!(s.count("a"), 2, "a is now the newest");
        assert_eq!(s.count("d"), 1, "b, seen longest ago, makes room");
        assert_eq!(s.counts.len(), 3);
        assert_eq!(s.count("a"), 3);
        assert_eq!(s.count("c"), 2);
        assert_eq!(s.count("b"), 1, "b was forgotten: a first time again");
        for i in 0..10_000 {
            s.count(&format!("viewer{i}"));
        }
        assert_eq!(s.counts.len(), 3, "flat whatever the number of viewers");
    }

    #[test]
    fn counting_a_flood_of_viewers_holds_little_memory() {
        // The benchmark's flood: 200,000 viewers, each new, through the default 10,000 bound.
        let (s, _) = at(0);
        let mut s = s.counted_authors(10_000);
        let before = super::super::alloc::held();
        let mut name = String::new();
        for i in 0..200_000 {
            name.clear();
            name.push_str(&format!("viewer{i}"));
            s.count(&name);
        }
        let per_author = (super::super::alloc::held() - before) / 10_000;
        assert_eq!(s.counts.len(), 10_000);
        assert!(per_author <= 128, "{per_author} bytes an author");
    }

    #[test]
    fn seeded_sessions_repeat_and_chance_is_clamped() {
        let (mut a, _) = at(0);
        let (mut b, _) = at(0);
        let xs: Vec<usize> = (0..20).map(|_| a.index(10)).collect();
        let ys: Vec<usize> = (0..20).map(|_| b.index(10)).collect();
        assert_eq!(xs, ys);
        assert!(a.chance(2.0));
        assert!(!a.chance(-1.0));
    }
}
