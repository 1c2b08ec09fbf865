//! `retake-chat try [--script PATH] [--late AGE] TEXT...`: what the personality would do with
//! each TEXT (said AGE ago and caught up from the history, with `--late`).
//!
//! One decision per TEXT, through the same engine, limits and self-tests as the listener, with
//! in-process state only: no network, no queue, no memory file. Printing decisions (human and
//! JSON) is shared with `replay`.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::TryArgs;
use crate::config::ScriptChoice;
use crate::config::{CatchupConfig, ScriptConfig};
use crate::event::{ChatEvent, MAX_TEXT_CHARS};
use crate::script::{
    Clock, Decision, EMBEDDED_PERSONALITY, Personality, Runtime, ScriptError, Session, reload,
};
use crate::visible;

/// Decide on every TEXT; exit 0 when the script answered them all, 1 when it failed on one
/// (or does not load), 2 when the script cannot be read.
pub fn try_texts(args: &TryArgs) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::with_session(
        (&ScriptConfig::default()).into(),
        Session::new(Clock::System),
    );
    let personality = match load(&runtime, args.script.as_deref()) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let mut failed = false;
    for (i, text) in args.text.iter().enumerate() {
        let now = runtime.now_ms();
        let late_ms = args.late.map(|secs| secs.saturating_mul(1000) as i64);
        let event = ChatEvent {
            id: format!("try-{}", i + 1),
            kind: args.kind.clone(),
            author: args.author.clone(),
            text: text.chars().take(MAX_TEXT_CHARS).collect(),
            ts: now - late_ms.unwrap_or(0),
            amount: args.amount,
            late: late_ms.is_some(),
            ..ChatEvent::default()
        };
        let (result, note) = with_reply_window(runtime.decide(&personality, &event), &event, now);
        failed |= result.is_err();
        if args.json {
            let mut line = json!({ "author": event.author, "text": event.text });
            if event.late {
                line["late"] = true.into();
            }
            outcome_json(&mut line, &result);
            if let Some(note) = note {
                line["note"] = note.into();
            }
            println!("{}", visible::json(&line.to_string()));
        } else {
            let (text, outcome) = (visible::escape(text), outcome_human(&result));
            let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
            println!(
                "{text}  →  {}",
                visible::escape(&format!("{outcome}{note}"))
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Compile the script at `path` with `runtime`; without one, the script `run` and `sandbox`
/// would use (`./scripts/personality.rhai` if it exists, else the built-in copy), named on
/// stderr so nobody tries one script while editing another. On failure the diagnostic is
/// printed and the exit code returned: 2 unreadable, 1 broken.
pub fn load(runtime: &Runtime, path: Option<&Path>) -> Result<Personality, ExitCode> {
    let chosen = match path {
        Some(path) => Some(path.to_path_buf()),
        None => match crate::config::script_choice(None, &crate::config::Env::from_process()) {
            ScriptChoice::File(path) => {
                eprintln!(
                    "personality: {} (--script PATH for another)",
                    path.display()
                );
                Some(path)
            }
            ScriptChoice::Embedded => {
                eprintln!(
                    "personality: the built-in copy (no --script given and no ./scripts/personality.rhai)"
                );
                None
            }
        },
    };
    let (name, source) = match chosen.as_deref() {
        None => ("<embedded>".to_string(), EMBEDDED_PERSONALITY.to_string()),
        Some(path) => match reload::read(path) {
            Ok(read) => read,
            Err(error @ ScriptError::Io { .. }) => {
                eprintln!("error: {}", visible::escape_lines(&error.to_string()));
                return Err(ExitCode::from(2));
            }
            Err(error) => {
                eprintln!("{}", visible::escape_lines(&error.to_string()));
                return Err(ExitCode::from(1));
            }
        },
    };
    runtime.compile(&name, &source).map_err(|error| {
        eprintln!("{}", visible::escape_lines(&error.render(&source)));
        ExitCode::from(1)
    })
}

/// The listener's reply window applied to a late message's decision (the default 60 s): a
/// reply held back becomes `ignore`, with the reason.
pub fn with_reply_window(
    result: Result<Decision, ScriptError>,
    event: &ChatEvent,
    now_ms: i64,
) -> (Result<Decision, ScriptError>, Option<String>) {
    let window = CatchupConfig::default().reply_window;
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
