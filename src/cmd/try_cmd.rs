//! `retake-chat try [--script PATH] [--late AGE] TEXT...`: what the personality would do with
//! each TEXT (said AGE ago and caught up from the history, with `--late`).
//!
//! One decision per TEXT, through the same engine, self-tests and (with `--config`) limits
//! and reply window as the listener, with in-process state only: no network, no queue, no
//! memory file. Loading and printing decisions (human and JSON) is shared with `replay`
//! (`personality.rs`).

use std::process::ExitCode;

use serde_json::json;

use super::personality::{self, outcome_human, outcome_json, with_reply_window};
use crate::cli::TryArgs;
use crate::event::{ChatEvent, MAX_TEXT_CHARS};
use crate::script::{Clock, ScriptHost, Session};
use crate::visible;

/// Decide on every TEXT; exit 0 when the script answered them all, 1 when it failed on one
/// (or does not load), 2 when the script or the config file cannot be read.
pub fn try_texts(args: &TryArgs) -> anyhow::Result<ExitCode> {
    let settings = personality::settings(args.script.clone(), args.config.clone())?;
    let runtime = ScriptHost::with_session((&settings.limits).into(), Session::new(Clock::System));
    let choice = personality::choice(args.script.is_some(), &settings);
    let personality = match personality::load(&runtime, &choice) {
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
        let decided = runtime.decide(&personality, &event);
        let (result, note) = with_reply_window(decided, &event, now, settings.reply_window);
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
