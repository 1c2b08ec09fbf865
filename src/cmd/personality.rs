//! What `check`, `try` and `replay` share: the settings of the config file that running a
//! script takes (`--config`, resolved as the listener resolves it), the personality loaded
//! through `script::load` with its diagnostic printed, and a decision printed as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::config::{self, Env, Overrides, ScriptChoice, ScriptSettings};
use crate::event::ChatEvent;
use crate::script::{Decision, Personality, ScriptError, ScriptHost};
use crate::visible;

/// The script's settings for `--script` and `--config` (else `RETAKE_CHAT_CONFIG`); the
/// config file's error stops the command (exit 2).
pub fn settings(
    script: Option<PathBuf>,
    config: Option<PathBuf>,
) -> anyhow::Result<ScriptSettings> {
    let overrides = Overrides {
        script,
        config,
        ..Overrides::default()
    };
    Ok(config::resolve_script(&overrides, &Env::from_process())?)
}

/// The personality `try` and `replay` run: `--script`, else the config file's `[script] path`,
/// else the one `run` and `sandbox` would use (`./scripts/personality.rhai` if it exists,
/// else the built-in copy). Unless given by `--script`, it is named on stderr, so nobody
/// tries one script while editing another.
pub fn choice(given: bool, settings: &ScriptSettings) -> ScriptChoice {
    match (given, &settings.path) {
        (true, Some(path)) => ScriptChoice::File(path.clone()),
        (false, Some(path)) => {
            eprintln!(
                "personality: {} ([script] path in the config file; --script PATH for another)",
                path.display()
            );
            ScriptChoice::File(path.clone())
        }
        (_, None) => match config::script_choice(None, &Env::from_process()) {
            ScriptChoice::File(path) => {
                eprintln!(
                    "personality: {} (--script PATH for another)",
                    path.display()
                );
                ScriptChoice::File(path)
            }
            ScriptChoice::Embedded => {
                eprintln!(
                    "personality: the built-in copy (no --script given and no ./scripts/personality.rhai)"
                );
                ScriptChoice::Embedded
            }
        },
    }
}

/// Load `choice` with `runtime`, as the listener does. On failure the diagnostic is printed
/// on stderr and the exit code returned: 2 unreadable, 1 broken.
pub fn load(runtime: &ScriptHost, choice: &ScriptChoice) -> Result<Personality, ExitCode> {
    crate::script::load(runtime, choice).map_err(|failed| {
        let shown = visible::escape_lines(&failed.rendered);
        match failed.error {
            ScriptError::Io { .. } => {
                eprintln!("error: {shown}");
                ExitCode::from(2)
            }
            _ => {
                eprintln!("{shown}");
                ExitCode::from(1)
            }
        }
    })
}

/// The listener's reply window applied to a late message's decision: a reply held back
/// becomes `ignore`, with the reason.
pub fn with_reply_window(
    result: Result<Decision, ScriptError>,
    event: &ChatEvent,
    now_ms: i64,
    window: Duration,
) -> (Result<Decision, ScriptError>, Option<String>) {
    match &result {
        Ok(decision) => match crate::catchup::held_back(decision, event, now_ms, window) {
            Some(why) => (Ok(Decision::Ignore), Some(why)),
            None => (result, None),
        },
        Err(_) => (result, None),
    }
}

/// `reply "text"`, `ack "text"`, `queue`, `ignore`, or for a failing script what the listener
/// does then: `queue (script failed: ...)`.
pub fn outcome_human(result: &Result<Decision, ScriptError>) -> String {
    match result {
        Ok(decision) => decision.to_string(),
        Err(error) => format!("queue (script failed: {error})"),
    }
}

/// Add `decision` (`reply`, `ack`, `queue`, `ignore`), `say` (the text of a reply or ack) and,
/// for a failing script, `error` (the decision is then `queue`, as in the listener).
pub fn outcome_json(line: &mut Value, result: &Result<Decision, ScriptError>) {
    let (decision, say, error) = match result {
        Ok(decision) => (decision.kind(), decision.text(), None),
        Err(error) => ("queue", None, Some(error.to_string())),
    };
    line["decision"] = decision.into();
    if let Ok(Decision::ReplyIn { room, .. }) = result {
        line["room"] = room.as_str().into();
    }
    if let Some(say) = say {
        line["say"] = say.into();
    }
    if let Some(error) = error {
        line["error"] = error.into();
    }
}
