//! What became of a text the bot decided to say, as the sandbox's screen sees it: sent (the
//! reply stage said the platform took it), or held back, and why (each an
//! [`Outcome`](crate::outcome::Outcome) the listener publishes); and the one line that says
//! which text was held back and why.

use crate::outcome::{Held, Text};
use crate::visible;

/// Most characters of a quoted text; a longer one ends in `…`.
const QUOTE_CHARS: usize = 60;

/// A text's fate.
pub(super) enum Fate {
    /// The platform received this chat message (or may have: no answer came).
    Sent(Text),
    /// It was not sent.
    Held(Held, Text),
}

impl Fate {
    /// The text it is the fate of.
    pub(super) fn text(&self) -> &Text {
        match self {
            Fate::Sent(text) | Fate::Held(_, text) => text,
        }
    }
}

/// The line saying a text was held back, naming the text and what it answered when known. A
/// blocked text is never quoted: it holds a secret.
pub(super) fn held_line(held: Held, text: Option<(&str, &str)>) -> String {
    let Some((text, about)) = text.filter(|_| held != Held::Blocked) else {
        return format!("bot stayed quiet: {}", why(held));
    };
    let text = quote(text);
    match held {
        Held::Repeat => {
            format!("bot stayed quiet: it said {text} within the last 30 s ({about})")
        }
        _ => format!("bot stayed quiet: {}: {text} ({about})", why(held)),
    }
}

fn why(held: Held) -> &'static str {
    match held {
        Held::Repeat => "it said the same within the last 30 s",
        Held::Budget => "over the send budget ([send] per_30s, burst)",
        Held::Blocked => "the outbound guard blocked it (a secret, or a [send] block match)",
        Held::Dropped => "dropped, too late to send or refused by the server",
        Held::Shed => "dropped, more were waiting than [backlog] instant_texts",
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
            held_line(Held::Repeat, Some(("gm viewer!", &about))),
            "bot stayed quiet: it said \"gm viewer!\" within the last 30 s (the reply to viewer: gm)"
        );
        assert_eq!(
            held_line(Held::Budget, Some(("gm", &about))),
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
            held_line(
                Held::Blocked,
                Some(("my sandbox-token", "the reply to viewer: hi"))
            ),
            "bot stayed quiet: the outbound guard blocked it (a secret, or a [send] block match)"
        );
        assert_eq!(
            held_line(Held::Repeat, None),
            "bot stayed quiet: it said the same within the last 30 s"
        );
    }
}
