//! Logging on stderr for both binaries (`retake-chat` and `retake-chat-mcp`, whose stdout is
//! the MCP protocol): readable lines or JSON objects, filtered by `--log-level` or
//! `RUST_LOG`, values escaped so a viewer's newline cannot forge a line.

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormat;
use crate::log_format::{EscapedFields, JsonStderr};
use crate::visible;

/// Without `--log-level` or `RUST_LOG`: our own news, and only libraries' warnings.
pub const DEFAULT_FILTER: &str = "warn,retake_chat=info";

/// Logs go to stderr, as readable lines (colored on a terminal only, so the journal stays
/// clean) or JSON objects; `--log-level` wins over `RUST_LOG`. The filter is a list of
/// `target=level` directives (`tracing_subscriber`'s `Targets`): the part of `RUST_LOG` people
/// use, without the regex engine that span and field filters would load into every process.
///
/// `quiet` targets log at info at most, whatever the filter says: the MCP SDK logs every
/// request with its arguments at debug, and an agent may have pasted its token into one.
pub fn init(
    format: LogFormat,
    level: Option<&str>,
    default: &str,
    quiet: &[&str],
) -> Result<(), String> {
    let mut filter = match level {
        Some(level) => level_filter(level)?,
        // An empty RUST_LOG (`Environment=RUST_LOG=`) counts as unset, not as "log nothing".
        None => std::env::var("RUST_LOG")
            .ok()
            .filter(|text| !text.trim().is_empty())
            .and_then(|text| text.parse::<Targets>().ok())
            .unwrap_or_else(|| default.parse().unwrap_or_default()),
    };
    for target in quiet {
        if filter.would_enable(target, &tracing::Level::DEBUG) {
            filter = filter.with_target(*target, LevelFilter::INFO);
        }
    }
    // The filter decides; the formatter's own ceiling (info by default) must not.
    let builder = tracing_subscriber::fmt().with_max_level(LevelFilter::TRACE);
    match format {
        // Values escaped: a viewer's newline or escape sequence stays inside its field.
        LogFormat::Human => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(EscapedFields)
            .finish()
            .with(filter)
            .init(),
        // Fields at the top level (`id`, `author`, …) beside `message`: easy to query.
        LogFormat::Json => builder
            .with_writer(JsonStderr)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(filter)
            .init(),
    }
    Ok(())
}

/// `--log-level`: a bare level applies to us (libraries stay at warn or quieter); anything
/// else must be a filter of `target=level` directives. A bare word is refused rather than
/// read as a target name that would silence everything.
fn level_filter(text: &str) -> Result<Targets, String> {
    let expected = || {
        format!(
            "--log-level: expected a level (error, warn, info, debug, trace, off) or a filter like warn,retake_chat=debug, got {text:?}"
        )
    };
    if let Ok(level) = text.trim().parse::<LevelFilter>() {
        let libraries = level.min(LevelFilter::WARN);
        return Ok(Targets::new()
            .with_default(libraries)
            .with_target("retake_chat", level));
    }
    let directives_ok = text
        .split(',')
        .all(|d| d.contains('=') || d.trim().parse::<LevelFilter>().is_ok());
    if !directives_ok {
        return Err(expected());
    }
    text.parse::<Targets>().map_err(|_| expected())
}

/// Print a command's final error, with its causes, once on stderr: escaped (it may quote a
/// server's answer or a script, and nothing in it may act on the terminal), and as one JSON
/// line for machines reading JSON logs.
pub fn print_error(format: LogFormat, error: &anyhow::Error) {
    let message = format!("error: {error:#}");
    match format {
        LogFormat::Human => eprintln!("{}", visible::escape_lines(&message)),
        LogFormat::Json => {
            let line =
                serde_json::json!({"level": "ERROR", "target": "retake_chat", "message": message});
            eprintln!("{}", visible::json(&line.to_string()))
        }
    }
}
