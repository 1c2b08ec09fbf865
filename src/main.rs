//! The `retake-chat` binary: parse the command line, set up logging on stderr, run the
//! command, print any error chain once and map it to an exit code (0 ok, 1 "no", 2 error,
//! 3 a reply whose outcome is unknown).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use retake_chat::cli::{Cli, Command, LogFormat};
use retake_chat::log_format::{EscapedFields, JsonStderr};
use retake_chat::visible;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Without `--log-level` or `RUST_LOG`: our own news, and only libraries' warnings.
const DEFAULT_FILTER: &str = "warn,retake_chat=info";
/// The sandbox prints what happens itself; its logs would say it twice.
const SANDBOX_FILTER: &str = "warn";

fn main() -> ExitCode {
    // Before any thread exists: one allocator arena for the whole process.
    retake_chat::malloc::tune();
    let cli = Cli::parse();
    let format = cli.log_format;
    let default = match cli.command {
        Some(Command::Sandbox(_)) => SANDBOX_FILTER,
        _ => DEFAULT_FILTER,
    };
    if let Err(error) = init_tracing(format, cli.log_level.as_deref(), default) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    match retake_chat::cmd::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            let message = format!("error: {error:#}");
            // An error may quote a server's answer or a script: nothing in it acts on the terminal.
            match format {
                LogFormat::Human => eprintln!("{}", visible::escape_lines(&message)),
                // Machines reading JSON lines get the final error as one too.
                LogFormat::Json => {
                    let line = serde_json::json!({"level": "ERROR", "target": "retake_chat", "message": message});
                    eprintln!("{}", visible::json(&line.to_string()))
                }
            }
            // A reply that may or may not be in the chat is not a plain failure: the agent
            // must not simply try again (docs/agent.md).
            if error.is::<retake_chat::cmd::reply::OutcomeUnknown>() {
                ExitCode::from(retake_chat::cmd::reply::EXIT_UNKNOWN)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// Logs go to stderr, as readable lines (colored on a terminal only, so the journal stays
/// clean) or JSON objects; `--log-level` wins over `RUST_LOG`. The filter is a list of
/// `target=level` directives (`tracing_subscriber`'s `Targets`): the part of `RUST_LOG` people
/// use, without the regex engine that span and field filters would load into every process.
fn init_tracing(format: LogFormat, level: Option<&str>, default: &str) -> Result<(), String> {
    let filter = match level {
        Some(level) => level_filter(level)?,
        // An empty RUST_LOG (`Environment=RUST_LOG=`) counts as unset, not as "log nothing".
        None => std::env::var("RUST_LOG")
            .ok()
            .filter(|text| !text.trim().is_empty())
            .and_then(|text| text.parse::<Targets>().ok())
            .unwrap_or_else(|| default.parse().unwrap_or_default()),
    };
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
