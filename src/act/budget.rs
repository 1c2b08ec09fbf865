//! Outbound politeness, as pure data structures: the send budget (a token bucket for the
//! message rate, with the script's own lines capped to their share of it), a memory of recent
//! texts so the same line is not posted twice within 30 s, and what a chat message may hold
//! (one line, no control or bidi-override characters, at most 500 characters). `reply`
//! applies them; nothing here does I/O.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::SendConfig;

/// Longest chat message, in characters (what comparable platforms enforce).
pub const MAX_MESSAGE_CHARS: usize = 500;
/// Identical text to the room within this window is not sent again.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(30);

/// A token bucket: `capacity` messages at once, refilled at `per_30s` per 30 seconds.
/// A zero rate means unlimited.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(per_30s: u32, burst: u32) -> Self {
        Self::with_rate(f64::from(per_30s) / 30.0, f64::from(burst))
    }

    /// A full bucket of `capacity` (at least 1) tokens refilled at `per_sec`.
    fn with_rate(per_sec: f64, capacity: f64) -> Self {
        let capacity = capacity.max(1.0);
        Self {
            capacity,
            per_sec,
            tokens: capacity,
            updated: Instant::now(),
        }
    }

    fn unlimited(&self) -> bool {
        self.per_sec == 0.0
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.updated = now;
    }

    /// Take one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let available = self.has_token(now);
        if available && !self.unlimited() {
            self.tokens -= 1.0;
        }
        available
    }

    /// Whether a token is there now, without taking it.
    fn has_token(&mut self, now: Instant) -> bool {
        if self.unlimited() {
            return true;
        }
        self.refill(now);
        self.tokens >= 1.0
    }

    /// How long until a token is available (zero when one is).
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        if self.unlimited() {
            return Duration::ZERO;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_sec)
        }
    }
}

/// The whole send budget: one bucket for every message, and inside it a smaller one that
/// caps what the script's own lines (timers, `on_start`) may take of it, so however many
/// timers a script has, viewers keep `100 - timer_share_percent` % of the rate and burst.
#[derive(Debug)]
pub struct SendBudget {
    all: TokenBucket,
    /// `None`: the script's own lines get no share at all (`timer_share_percent = 0`).
    timers: Option<TokenBucket>,
}

impl SendBudget {
    /// Full buckets for `limits`.
    pub fn new(limits: &SendConfig) -> Self {
        let share = f64::from(limits.timer_share_percent.min(100)) / 100.0;
        let timers = (share > 0.0).then(|| {
            // An unlimited rate stays unlimited (a zero rate means that to the bucket).
            let per_sec = f64::from(limits.per_30s) / 30.0 * share;
            TokenBucket::with_rate(per_sec, (f64::from(limits.burst) * share).floor())
        });
        Self {
            all: TokenBucket::new(limits.per_30s, limits.burst),
            timers,
        }
    }

    /// Take one message's worth: a timer line needs a token from its share and from the
    /// whole budget, and takes neither unless it gets both.
    pub fn try_take(&mut self, timer: bool, now: Instant) -> bool {
        if !timer {
            return self.all.try_take(now);
        }
        let Some(share) = &mut self.timers else {
            return false;
        };
        share.has_token(now) && self.all.try_take(now) && share.try_take(now)
    }
}

/// Most texts remembered for the repeat check: at the default budget (20 per 30 s) it never
/// fills; with the budget off, the oldest are forgotten first and memory stays flat.
const MAX_RECENT: usize = 1024;

/// The texts sent within [`REPEAT_WINDOW`] (at most [`MAX_RECENT`] of them), to drop exact
/// repeats to the same room (the same `gm` in two streams is two messages). Kept as hashes of
/// room and text: a false match would need a 64-bit collision.
#[derive(Debug, Default)]
pub struct RecentTexts {
    sent: VecDeque<(Instant, u64)>,
    counts: HashMap<u64, usize>,
}

impl RecentTexts {
    /// Whether `text` went out to `room` (empty: the own room) within the window.
    pub fn contains(&mut self, room: &str, text: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.sent.front()
            && now.saturating_duration_since(*at) >= REPEAT_WINDOW
        {
            self.forget_oldest();
        }
        self.counts.contains_key(&hash(room, text))
    }

    /// Remember that `text` went out to `room` at `now`.
    pub fn record(&mut self, room: &str, text: &str, now: Instant) {
        if self.sent.len() >= MAX_RECENT {
            self.forget_oldest();
        }
        let key = hash(room, text);
        self.sent.push_back((now, key));
        *self.counts.entry(key).or_default() += 1;
    }

    fn forget_oldest(&mut self) {
        if let Some((_, old)) = self.sent.pop_front()
            && let Some(count) = self.counts.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&old);
            }
        }
    }
}

fn hash(room: &str, text: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one((room, text))
}

/// What may go into a chat message, the one place every outgoing text passes (the
/// listener's and `retake-chat reply`'s): line breaks and tabs become one space (chat is one
/// line), every other C0 and C1 control character is removed (terminal escapes, bells), and
/// so are the bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) that
/// would make the text read differently from what it says. Everything else is kept.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if is_line_break(c) {
            // The break and the spaces around it become one space.
            out.truncate(out.trim_end().len());
            pending_space = true;
            continue;
        }
        if c.is_control() || is_bidi_control(c) {
            continue;
        }
        if pending_space {
            if c.is_whitespace() {
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Characters that break or indent a line: each becomes a space.
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Unicode's explicit bidi formatting characters: embeddings, overrides, isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Fit `text` into chat messages, [`clean`]ed: as is when short enough; otherwise split at a
/// word boundary into at most two messages, the second cut with "…" if still too long.
/// Nothing is left of a text that was only blanks and control characters.
pub fn split(text: &str) -> Vec<String> {
    fit(text).parts
}

/// A text as the chat messages it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    /// The messages, in order: none, one, or two.
    pub parts: Vec<String>,
    /// Characters of the cleaned text that are in no part (cut off the second): what the
    /// chat never sees.
    pub cut_chars: usize,
}

/// [`split`], also telling how much was cut off.
pub fn fit(text: &str) -> Fitted {
    let cleaned = clean(text);
    let text = cleaned.trim();
    let whole = |parts| Fitted {
        parts,
        cut_chars: 0,
    };
    if text.is_empty() {
        return whole(Vec::new());
    }
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return whole(vec![text.to_string()]);
    }
    let (first, rest) = split_at_word(text, MAX_MESSAGE_CHARS);
    let rest = rest.trim_start();
    if rest.chars().count() <= MAX_MESSAGE_CHARS {
        return whole(vec![first.trim_end().to_string(), rest.to_string()]);
    }
    let (head, _) = split_at_word(rest, MAX_MESSAGE_CHARS - 1);
    let head = head.trim_end();
    Fitted {
        parts: vec![first.trim_end().to_string(), format!("{head}…")],
        cut_chars: rest.chars().count() - head.chars().count(),
    }
}

/// Split `text` before character `max`, at the last whitespace if there is one in the second
/// half (so a long word does not leave a tiny first part), else hard at `max`.
fn split_at_word(text: &str, max: usize) -> (&str, &str) {
    let cut = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    let head = &text[..cut];
    match head.rfind(char::is_whitespace) {
        Some(space) if space >= cut / 2 => (&text[..space], &text[space..]),
        _ => (head, &text[cut..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(20, 5);
        let now = Instant::now();
        assert!((0..5).all(|_| bucket.try_take(now)));
        assert!(!bucket.try_take(now));
        assert_eq!(bucket.wait_time(now), Duration::from_millis(1500));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(bucket.try_take(Instant::now()));
        assert!(!bucket.try_take(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_is_unlimited() {
        let mut bucket = TokenBucket::new(0, 5);
        assert!((0..1000).all(|_| bucket.try_take(Instant::now())));
    }

    #[tokio::test(start_paused = true)]
    async fn repeats_are_remembered_for_30s() {
        let mut recent = RecentTexts::default();
        recent.record("", "pong! 🏓", Instant::now());
        assert!(recent.contains("", "pong! 🏓", Instant::now()));
        assert!(!recent.contains("", "other", Instant::now()));
        assert!(
            !recent.contains("rival", "pong! 🏓", Instant::now()),
            "another room's chat is another chat"
        );
        tokio::time::advance(REPEAT_WINDOW).await;
        assert!(!recent.contains("", "pong! 🏓", Instant::now()));
        // However fast texts go out, at most MAX_RECENT are kept: the oldest go first.
        for n in 0..=MAX_RECENT {
            recent.record("", &format!("t{n}"), Instant::now());
        }
        assert!(
            !recent.contains("", "t0", Instant::now()),
            "forgotten first"
        );
        assert!(recent.contains("", &format!("t{MAX_RECENT}"), Instant::now()));
        assert_eq!(recent.sent.len(), MAX_RECENT);
        assert_eq!(recent.counts.len(), MAX_RECENT);
    }

    /// Sixteen timers firing every second for a minute cannot take viewers' share.
    #[tokio::test(start_paused = true)]
    async fn timers_keep_to_their_share_of_the_budget() {
        let mut budget = SendBudget::new(&SendConfig::default());
        let (mut timer_lines, mut viewers) = (0, 0);
        for second in 0..60 {
            let now = Instant::now();
            timer_lines += (0..16).filter(|_| budget.try_take(true, now)).count();
            if second % 3 == 0 {
                assert!(budget.try_take(false, now), "viewer starved at {second} s");
                viewers += 1;
            }
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(viewers, 20);
        // 25 % of 20 per 30 s over 60 s, plus the one-line burst.
        assert!((9..=11).contains(&timer_lines), "{timer_lines}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_share_silences_timers_and_unlimited_stays_unlimited() {
        let silent = SendConfig {
            timer_share_percent: 0,
            ..SendConfig::default()
        };
        assert!(!SendBudget::new(&silent).try_take(true, Instant::now()));
        let unlimited = SendConfig {
            per_30s: 0,
            ..SendConfig::default()
        };
        let mut budget = SendBudget::new(&unlimited);
        assert!((0..1000).all(|_| budget.try_take(true, Instant::now())));
    }

    #[test]
    fn outgoing_text_is_one_line_without_controls_or_bidi_overrides() {
        assert_eq!(clean("gm alice! ☀️"), "gm alice! ☀️");
        assert_eq!(clean("one\ntwo \r\n  three\tfour"), "one two three four");
        assert_eq!(
            clean("\u{1b}]0;pwned\u{7}title\u{1b}[2J"),
            "]0;pwnedtitle[2J"
        );
        assert_eq!(clean("a\u{0}b\u{7f}c\u{9b}d\u{85}e"), "abcd e");
        assert_eq!(
            clean("abc\u{202e}txt.exe\u{202c} \u{2066}x\u{2069}"),
            "abctxt.exe x"
        );
        // Right-to-left text itself, and the marks that help it display, are kept.
        assert_eq!(clean("שלום \u{200f}!"), "שלום \u{200f}!");
        assert_eq!(clean("\n\n trailing \n"), "trailing");
        assert!(split("\u{1b}\n\u{202e}  ").is_empty());
    }

    #[test]
    fn long_texts_split_at_words_then_cut() {
        assert_eq!(split("  short  "), ["short"]);
        let words = "word ".repeat(150); // 750 characters
        let parts = split(&words);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_MESSAGE_CHARS));
        assert!(parts[0].ends_with("word") && !parts[1].ends_with('…'));
        let huge = "é".repeat(2000);
        let parts = split(&huge);
        assert_eq!(parts[0].chars().count(), MAX_MESSAGE_CHARS);
        assert_eq!(parts[1].chars().count(), MAX_MESSAGE_CHARS);
        assert!(parts[1].ends_with('…'));
        assert_eq!(fit(&huge).cut_chars, 2000 - 2 * MAX_MESSAGE_CHARS + 1);
        assert_eq!(fit(&words).cut_chars, 0);
        assert_eq!(fit("  short  ").cut_chars, 0);
    }
}
