//! What became of a text the bot decided to say, as the sandbox's screen sees it: sent (the
//! fake received it), or held back, each reason read off the reply stage's counter for it;
//! and the one line that says which text was held back and why.

use crate::health::Counters;
use crate::visible;

/// Most characters of a quoted text; a longer one ends in `…`.
const QUOTE_CHARS: usize = 60;

/// A text's fate.
pub(super) enum Fate {
    /// The fake received this chat message.
    Sent(String),
    /// It was not sent.
    Held(Held),
}

/// Why a text was not sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The same text went out within 30 s.
    Repeat,
    /// The send budget was spent.
    Budget,
    /// The outbound guard blocked it.
    Blocked,
    /// Its deadline passed, or the server refused it.
    Dropped,
    /// Too many instant texts were waiting.
    Shed,
}

/// Every reason, in the order the screen reads their counters.
pub(super) const HELD: [Held; 5] = [
    Held::Repeat,
    Held::Budget,
    Held::Blocked,
    Held::Dropped,
    Held::Shed,
];

impl Held {
    /// How many texts were held back for this reason so far.
    pub(super) fn count(self, c: &Counters) -> u64 {
        match self {
            Held::Repeat => c.repeats_suppressed.get(),
            Held::Budget => c.rate_limited.get(),
            Held::Blocked => c.blocked.get(),
            Held::Dropped => c.replies_dropped.get() + c.acks_dropped.get(),
            Held::Shed => c.shed.get(),
        }
    }

    /// The line saying so, naming the text and what it answered when known. A blocked text
    /// is never quoted: it holds a secret.
    pub(super) fn line(self, text: Option<(&str, &str)>) -> String {
        let Some((text, about)) = text.filter(|_| self != Held::Blocked) else {
            return format!("bot stayed quiet: {}", self.why());
        };
        let text = quote(text);
        match self {
            Held::Repeat => {
                format!("bot stayed quiet: it said {text} within the last 30 s ({about})")
            }
            _ => format!("bot stayed quiet: {}: {text} ({about})", self.why()),
        }
    }

    fn why(self) -> &'static str {
        match self {
            Held::Repeat => "it said the same within the last 30 s",
            Held::Budget => "over the send budget ([send] per_30s, burst)",
            Held::Blocked => "the outbound guard blocked it (a secret, or a [send] block match)",
            Held::Dropped => "dropped, too late to send or refused by the server",
            Held::Shed => "dropped, more were waiting than [backlog] instant_texts",
        }
    }
}

/// `the reply to viewer: gm`: what a decided text answered (`who` is escaped already).
pub(super) fn about(decision: &str, who: &str, message: &str) -> String {
    let what = if decision == "ack" {
        "the acknowledgement"
    } else {
        "the reply"
    };
    format!("{what} to {who}: {}", cap(message))
}

/// `text` in quotes, escaped and capped.
pub(super) fn quote(text: &str) -> String {
    format!("\"{}\"", cap(text))
}

/// `text` escaped, at most [`QUOTE_CHARS`] characters of it.
fn cap(text: &str) -> String {
    let escaped = visible::escape(text);
    match escaped.char_indices().nth(QUOTE_CHARS) {
        Some((end, _)) => format!("{}…", escaped[..end].trim_end()),
        None => escaped.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_back_text_is_named_quoted_and_capped() {
        let about = about("reply", "viewer", "gm");
        assert_eq!(
            Held::Repeat.line(Some(("gm viewer!", &about))),
            "bot stayed quiet: it said \"gm viewer!\" within the last 30 s (the reply to viewer: gm)"
        );
        assert_eq!(
            Held::Budget.line(Some(("gm", &about))),
            "bot stayed quiet: over the send budget ([send] per_30s, burst): \"gm\" (the reply to viewer: gm)"
        );
        let long = "x".repeat(100);
        let quoted = quote(&long);
        assert_eq!(quoted, format!("\"{}…\"", "x".repeat(QUOTE_CHARS)));
        assert_eq!(
            super::about("ack", "bob", &long),
            format!("the acknowledgement to bob: {}…", "x".repeat(QUOTE_CHARS))
        );
    }

    #[test]
    fn a_blocked_text_is_never_quoted() {
        assert_eq!(
            Held::Blocked.line(Some(("my sandbox-token", "the reply to viewer: hi"))),
            "bot stayed quiet: the outbound guard blocked it (a secret, or a [send] block match)"
        );
        assert_eq!(
            Held::Repeat.line(None),
            "bot stayed quiet: it said the same within the last 30 s"
        );
    }
}
