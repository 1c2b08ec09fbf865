//! Text from outside (viewers, shared scripts, servers) made safe to show a person: the
//! characters that act on a terminal or reorder what is read (C0 and C1 controls, DEL, bidi
//! embeddings, overrides and isolates) are written out visibly as `\u{1b}`, `\n`, ….
//! Applied where text leaves for a terminal or a log; stripping chat text is `act`'s job.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` acts rather than shows: a C0 control, DEL, a C1 control (U+0080–U+009F, which
/// some terminals obey as escape sequences), or a bidi embedding, override or isolate
/// (U+202A–U+202E, U+2066–U+2069), which make text read differently from what it is.
pub fn is_active(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` on one line: every active character escaped, newlines and tabs included, so a
/// value can neither start a line of its own nor move the cursor.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_where(text, is_active)
}

/// `text` keeping its own layout (newlines and tabs, as in a diagnostic with a caret), with
/// every other active character escaped; a carriage return too, so no line is overwritten.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| is_active(c) && c != '\n' && c != '\t')
}

/// Serialized JSON with the active characters JSON itself leaves raw (DEL, C1, bidi) written
/// as `\uXXXX`. The value is unchanged: such characters only occur inside strings, where
/// the escape means the same character; the newlines between tokens stay.
pub fn json(text: &str) -> Cow<'_, str> {
    // Below DEL: C0, which JSON escapes itself (and whose raw forms are the layout).
    let raw_in_json = |c: char| c >= '\u{7f}' && is_active(c);
    if !text.chars().any(raw_in_json) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if raw_in_json(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_where(text: &str, active: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&active) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !active(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_characters_are_written_out() {
        let table = [
            ("gm alice! ☀️ 🤖 café ñ 日本", "gm alice! ☀️ 🤖 café ñ 日本"),
            ("\u{1b}]0;title\u{7}", "\\u{1b}]0;title\\u{7}"),
            ("\u{1b}[2J\u{1b}[H", "\\u{1b}[2J\\u{1b}[H"),
            ("\u{1b}]52;c;aGk=\u{7}", "\\u{1b}]52;c;aGk=\\u{7}"),
            ("a\nb\rc\td", "a\\nb\\rc\\td"),
            ("\0\u{8}\u{7f}", "\\u{0}\\u{8}\\u{7f}"),
            (
                "\u{9b}31m\u{85}\u{80}\u{9f}",
                "\\u{9b}31m\\u{85}\\u{80}\\u{9f}",
            ),
            ("abc\u{202e}exe.txt", "abc\\u{202e}exe.txt"),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            // Marks and joiners are not active: emoji sequences and scripts need them.
            ("\u{200d}\u{200e}\u{a0}", "\u{200d}\u{200e}\u{a0}"),
            ("C:\\path \\u{1b}", "C:\\path \\u{1b}"),
        ];
        for (text, shown) in table {
            assert_eq!(escape(text), shown, "{text:?}");
        }
    }

    #[test]
    fn lines_keep_their_layout_but_not_a_carriage_return() {
        assert_eq!(
            escape_lines("head\n   2 | \tx\u{1b}[2J\r\n     | \t^"),
            "head\n   2 | \tx\\u{1b}[2J\\r\n     | \t^"
        );
        assert!(matches!(escape_lines("plain\ntext"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({"text": "a\u{1b}b\u{9b}c\u{202e}d\u{7f}\n", "n": 1});
        let text = serde_json::to_string_pretty(&value).expect("serializes");
        let safe = json(&text);
        assert!(!safe.chars().any(|c| is_active(c) && c != '\n'), "{safe}");
        assert!(safe.contains("\\u009b") && safe.contains("\\u202e") && safe.contains("\\u007f"));
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
        assert!(matches!(json("{\"a\": 1}"), Cow::Borrowed(_)));
    }
}
