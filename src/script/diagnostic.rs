//! Script errors: what went wrong, in which script, at which line and column.
//!
//! Owns [`ScriptError`], the translation of Rhai's parse and evaluation errors into it, and
//! [`ScriptError::render`], the multi-line diagnostic with the source line and a caret.
//! What to do about an error (queue the message, keep the last good script) is the caller's.

use std::fmt;

use rhai::{EvalAltResult, ParseError, ParseErrorType, Position};

use super::Limits;

/// Where in a script something happened: the script's name and, when Rhai knows it, the
/// 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The script's display name, usually its path.
    pub name: String,
    /// `(line, column)`, both 1-based.
    pub line_col: Option<(usize, usize)>,
}

impl Location {
    /// A location naming only the script.
    pub fn script(name: &str) -> Self {
        Self {
            name: name.to_string(),
            line_col: None,
        }
    }

    fn at(name: &str, pos: Position) -> Self {
        Self {
            name: name.to_string(),
            line_col: pos.line().map(|line| (line, pos.position().unwrap_or(1))),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(f, "{}:{line}:{col}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Everything that can go wrong loading or running a personality. Each kind is distinct so
/// callers can count and report them apart; `Display` is one line, `NAME:LINE:COL: message`.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The script does not parse (or uses a disabled keyword such as `eval` or `import`).
    #[error("{at}: syntax error: {message}")]
    Compile {
        /// Where.
        at: Location,
        /// What, lower-case.
        message: String,
    },
    /// The script failed while running: unknown variable or function, bad type, `throw`, ...
    #[error("{at}: runtime error: {message}")]
    ScriptHost {
        /// Where.
        at: Location,
        /// What, lower-case.
        message: String,
    },
    /// A budget ran out: operations, wall-clock time, string/array/map size, call or
    /// expression depth.
    #[error("{at}: limit exceeded: {message}")]
    Limit {
        /// Where.
        at: Location,
        /// Which limit.
        message: String,
    },
    /// A hook returned something that is not a decision (or, for `on_start`, `on_quiet` and
    /// timers, not something to say).
    #[error("{at}: {hook} returned {found}; expected {}", returns(hook))]
    BadReturn {
        /// Which script.
        at: Location,
        /// The hook that returned it, e.g. `on_message`.
        hook: String,
        /// The Rhai type (or kind of value) it returned.
        found: String,
    },
    /// The script has no usable `fn on_message(msg)`, or another hook is declared wrong (its
    /// parameters, a timer's name or period).
    #[error("{at}: {message}")]
    MissingHook {
        /// Which script.
        at: Location,
        /// What is missing or wrong, naming the hook.
        message: String,
    },
    /// The `//!` header is malformed or asks for a newer scripting API than this binary's.
    #[error("{at}: header: {message}")]
    Header {
        /// The header line.
        at: Location,
        /// What is wrong.
        message: String,
    },
    /// A case of the script's own `fn tests()` failed, or the cases are malformed.
    #[error("{at}: self-test failed: {message}")]
    SelfTest {
        /// The `fn tests` line, or where the hook failed.
        at: Location,
        /// Which case, what was expected and what came back.
        message: String,
    },
    /// The source is larger than [`MAX_SOURCE_BYTES`](super::MAX_SOURCE_BYTES).
    #[error("{at}: script is {size} bytes; at most {max} are allowed")]
    TooLarge {
        /// Which script.
        at: Location,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// The script file could not be read.
    #[error("{at}: cannot read script: {}", lower_first(&.error.to_string()))]
    Io {
        /// The path, as the script's name.
        at: Location,
        /// Why. Not a `#[source]`: it is already part of the one-line message.
        error: std::io::Error,
    },
}

impl ScriptError {
    /// The location (script name and position) of the error.
    pub fn location(&self) -> &Location {
        match self {
            Self::Compile { at, .. }
            | Self::ScriptHost { at, .. }
            | Self::Limit { at, .. }
            | Self::BadReturn { at, .. }
            | Self::MissingHook { at, .. }
            | Self::Header { at, .. }
            | Self::SelfTest { at, .. }
            | Self::TooLarge { at, .. }
            | Self::Io { at, .. } => at,
        }
    }

    /// The one-line message without the leading location (`runtime error: ...`).
    pub fn message(&self) -> String {
        let full = self.to_string();
        let at = format!("{}: ", self.location());
        match full.strip_prefix(&at) {
            Some(rest) => rest.to_string(),
            None => full,
        }
    }

    /// The name of the script the error belongs to.
    pub fn name(&self) -> &str {
        &self.location().name
    }

    /// `(line, column)`, 1-based, when Rhai reported one.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.location().line_col
    }

    /// The full diagnostic: the one-line message, then the offending source line and a caret
    /// under the column. Just the message when there is no position or it is outside `source`.
    pub fn render(&self, source: &str) -> String {
        let head = self.to_string();
        let Some((line_no, col)) = self.position() else {
            return head;
        };
        // `split('\n')`, not `lines()`: a position may point at the empty line after a final newline.
        let Some(line) = line_no
            .checked_sub(1)
            .and_then(|i| source.split('\n').nth(i))
        else {
            return head;
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        let gutter = format!("{line_no:>4} | ");
        // Keep tabs as tabs so the caret lines up however the terminal expands them.
        let pad: String = line
            .chars()
            .take(col.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let blank = " ".repeat(gutter.len() - 2);
        format!("{head}\n{gutter}{line}\n{blank}| {pad}^")
    }
}

/// What `hook` may return: `on_start` and timers say something or nothing; event hooks decide.
pub(crate) fn returns(hook: &str) -> &'static str {
    if hook == "on_start" || hook == super::hooks::ON_QUIET || hook.starts_with("every_") {
        "reply(text), a string, ignore() or ()"
    } else {
        "reply(text), ack(text), queue(), ignore(), a string or ()"
    }
}

/// Translate a parse error of `source`. Expression-depth and literal-size errors are limits,
/// not syntax.
pub(crate) fn from_parse(name: &str, source: &str, err: &ParseError) -> ScriptError {
    let at = Location::at(name, err.position());
    if let Some(word) = disabled_at(source, err.position()) {
        let message = format!("`{word}` is not available to personalities");
        return ScriptError::Compile { at, message };
    }
    let mut message = one_line(&err.err_type().to_string());
    match err.err_type() {
        ParseErrorType::ExprTooDeep | ParseErrorType::LiteralTooLarge(..) => {
            ScriptError::Limit { at, message }
        }
        ParseErrorType::VariableUndefined(_) if in_anonymous_fn(source, err.position()) => {
            message.push_str(
                "; an anonymous function cannot use the variables around it (closures are \
                 off), so pass what it needs as a parameter",
            );
            ScriptError::Compile { at, message }
        }
        _ => ScriptError::Compile { at, message },
    }
}

/// The disabled keyword (see `engine.rs`) that starts at `pos` in `source`, if one does:
/// Rhai's own message for `x.curry(..)` is only "expecting name of a property".
fn disabled_at(source: &str, pos: Position) -> Option<&'static str> {
    let (line, col) = (pos.line()?, pos.position()?);
    let text = source.split('\n').nth(line.checked_sub(1)?)?;
    let rest: String = text.chars().skip(col.saturating_sub(1)).collect();
    super::engine::DISABLED.into_iter().find(|word| {
        rest.strip_prefix(word)
            .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

/// Whether `pos` in `source` follows an anonymous function's `|params|` on its line: the
/// likely reason for an undefined variable there, since closures are compiled out.
fn in_anonymous_fn(source: &str, pos: Position) -> bool {
    let (Some(line), Some(col)) = (pos.line(), pos.position()) else {
        return false;
    };
    source
        .split('\n')
        .nth(line.saturating_sub(1))
        .map(|text| text.chars().take(col).filter(|&c| c == '|').count() >= 2)
        .unwrap_or(false)
}

/// Translate an evaluation error, looking through function-call wrappers to the innermost
/// error so the position points at the statement that failed, not at the call site.
pub(crate) fn from_eval(name: &str, err: EvalAltResult, limits: &Limits) -> ScriptError {
    let mut err = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = err
    {
        err = *inner;
    }
    let pos = err.position();
    let at = Location::at(name, pos);
    let limit = |message: String| ScriptError::Limit {
        at: at.clone(),
        message,
    };
    match &err {
        EvalAltResult::ErrorTooManyOperations(_) => {
            limit(format!("more than {} operations", limits.max_operations))
        }
        EvalAltResult::ErrorTerminated(token, _)
            if token.is_string() && token.to_string() == super::engine::OUT_OF_MEMORY =>
        {
            limit(format!(
                "held more than the memory budget of {} MiB",
                limits.max_memory / (1024 * 1024)
            ))
        }
        EvalAltResult::ErrorTerminated(..) => limit(format!(
            "ran longer than the time budget of {} ms",
            limits.time_budget.as_millis()
        )),
        EvalAltResult::ErrorStackOverflow(_) => limit(format!(
            "function calls nested deeper than {} levels",
            limits.max_call_levels
        )),
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            limit(format!("{} is over its limit", lower_first(what)))
        }
        EvalAltResult::ErrorTooManyModules(_) => limit("modules cannot be imported".to_string()),
        EvalAltResult::ErrorTooManyVariables(_) => limit("too many variables".to_string()),
        EvalAltResult::ErrorParsing(p, _) => ScriptError::Compile {
            at,
            message: one_line(&p.to_string()),
        },
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => ScriptError::ScriptHost {
            at,
            message: one_line(&value.to_string()),
        },
        EvalAltResult::Exit(..) => ScriptError::ScriptHost {
            at,
            message: "exit() is not a decision; return reply(text), ack(text), queue() or ignore()"
                .to_string(),
        },
        _ => {
            err.clear_position();
            ScriptError::ScriptHost {
                at,
                message: one_line(&err.to_string()),
            }
        }
    }
}

/// Rhai's messages start with a capital and may span lines; ours are one lower-case line
/// without a trailing period.
fn one_line(message: &str) -> String {
    let joined = message.split_whitespace().collect::<Vec<_>>().join(" ");
    lower_first(joined.trim_end_matches('.'))
}

/// Lower-case the first letter unless the word is an acronym ("JSON", "ID").
fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(first), second) if !second.is_some_and(char::is_uppercase) => first
            .to_lowercase()
            .chain(s[first.len_utf8()..].chars())
            .collect(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime_at(line: usize, col: usize) -> ScriptError {
        ScriptError::ScriptHost {
            at: Location {
                name: "p.rhai".to_string(),
                line_col: Some((line, col)),
            },
            message: "variable not found: x".to_string(),
        }
    }

    #[test]
    fn display_is_one_line_with_position() {
        let err = runtime_at(2, 9);
        assert_eq!(
            err.to_string(),
            "p.rhai:2:9: runtime error: variable not found: x"
        );
        assert_eq!(err.position(), Some((2, 9)));
        assert_eq!(err.name(), "p.rhai");
    }

    #[test]
    fn render_puts_the_caret_under_the_column() {
        let source = "fn on_message(msg) {\n    let y = x + 1;\n}\n";
        let rendered = runtime_at(2, 13).render(source);
        let lines: Vec<&str> = rendered.lines().collect();
        assert_eq!(lines.len(), 3, "{rendered}");
        assert_eq!(lines[1], "   2 |     let y = x + 1;");
        let caret = lines[2].find('^').expect("a caret");
        let x = lines[1].find('x').expect("the x");
        assert_eq!(caret, x, "{rendered}");
    }

    #[test]
    fn render_keeps_tabs_and_survives_bad_positions() {
        let rendered = runtime_at(1, 3).render("\t\tx");
        assert!(rendered.ends_with("| \t\t^"), "{rendered:?}");
        let head = runtime_at(9, 1).to_string();
        assert_eq!(runtime_at(9, 1).render("one line"), head);
        assert_eq!(
            runtime_at(0, 1).render("one line"),
            runtime_at(0, 1).to_string()
        );
    }

    #[test]
    fn messages_are_lower_case_single_lines() {
        assert_eq!(one_line("Variable not found: x."), "variable not found: x");
        assert_eq!(one_line("JSON is\nbroken"), "JSON is broken");
        assert_eq!(one_line(""), "");
    }
}
