//! [`Decision`]: what the personality wants done with one chat event, the only thing
//! [`ScriptHost::decide`](super::ScriptHost::decide) returns. Owns its name ([`Decision::kind`], as
//! scripts, `try`, the decision log and self-tests spell it), its text and how it is shown
//! ([`quote`]). The script functions that make one are `api.rs`'s; carrying it out is `act`'s.

use std::fmt;

/// What to do with one chat event.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this text now; nothing else.
    Reply(String),
    /// Send this text now in another room the listener hears (`reply_in(room, text)`: a
    /// streamer's id or the name it was given by); nothing else.
    ReplyIn {
        /// The room as the script named it.
        room: String,
        /// What to say there.
        text: String,
    },
    /// Send this text now, queue the message for the agent and wake it.
    Ack(String),
    /// Queue the message for the agent and wake it, silently.
    Queue,
    /// Do nothing.
    Ignore,
}

impl Decision {
    /// Every [`Decision::kind`], in the order the docs list them.
    pub const KINDS: [&'static str; 5] = ["reply", "reply_in", "ack", "queue", "ignore"];

    /// Its name as scripts, `try`, the decision log and self-tests spell it: `reply`,
    /// `reply_in`, `ack`, `queue` or `ignore`. The one place a decision becomes its name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Reply(_) => "reply",
            Self::ReplyIn { .. } => "reply_in",
            Self::Ack(_) => "ack",
            Self::Queue => "queue",
            Self::Ignore => "ignore",
        }
    }

    /// The text it says in the chat, if any (`reply`, `reply_in` and `ack` say one).
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Reply(text) | Self::ReplyIn { text, .. } | Self::Ack(text) => Some(text),
            Self::Queue | Self::Ignore => None,
        }
    }
}

impl fmt::Display for Decision {
    /// `reply "text"`, `reply_in "room" "text"`, `ack "text"`, `queue` or `ignore`: how
    /// `try`, `replay` and self-test failures show a decision.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        if let Self::ReplyIn { room, .. } = self {
            write!(f, " {}", quote(room))?;
        }
        match self.text() {
            Some(text) => write!(f, " {}", quote(text)),
            None => Ok(()),
        }
    }
}

/// `text` in double quotes, with `\`, `"` and control characters escaped (emoji kept).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_has_one_of_the_listed_kinds_and_says_its_text() {
        let all = [
            Decision::Reply("hi".into()),
            Decision::ReplyIn {
                room: "rival".into(),
                text: "yo".into(),
            },
            Decision::Ack("on it".into()),
            Decision::Queue,
            Decision::Ignore,
        ];
        let kinds: Vec<&str> = all.iter().map(Decision::kind).collect();
        assert_eq!(kinds, Decision::KINDS);
        let texts: Vec<Option<&str>> = all.iter().map(Decision::text).collect();
        assert_eq!(texts, [Some("hi"), Some("yo"), Some("on it"), None, None]);
        let shown: Vec<String> = all.iter().map(Decision::to_string).collect();
        assert_eq!(
            shown,
            [
                r#"reply "hi""#,
                r#"reply_in "rival" "yo""#,
                r#"ack "on it""#,
                "queue",
                "ignore"
            ]
        );
    }
}
