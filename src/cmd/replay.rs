//! `retake-chat replay TRANSCRIPT`: run a recorded chat through a personality on a simulated
//! clock and print every decision, to see what a script would have done.
//!
//! The transcript is JSON lines (`author`, `text`, optional `kind`, `ts`, `amount`, `late`:
//! the seconds between saying it and the listener catching it up from the history; other
//! fields are ignored, so `queue.jsonl` replays too). `now()`, cooldowns, timers and dead air
//! (`on_quiet`, after a gap longer than `[script] quiet_after_secs`) follow the lines' `ts`,
//! or one second per line without one. State starts empty and stays in memory. With
//! `--config`, the config file's `[script]` limits and `[catchup]` reply window apply.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::personality::{self, outcome_human, outcome_json, with_reply_window};
use crate::cli::ReplayArgs;
use crate::event::{ChatEvent, MAX_TEXT_CHARS};
use crate::script::quiet::breaks_silence;
use crate::script::selftest::TEST_EPOCH_MS;
use crate::script::{
    Clock, Personality, Schedule, ScriptError, ScriptHost, Session, Silence, SimClock, hooks, quote,
};
use crate::visible;

/// The seed of `pick` and `chance`, so a replay gives the same output every time.
const SEED: u64 = 0;

/// Replay the transcript; exit 0 when every line replayed, 1 when a line was bad or the script
/// failed on one (or does not load), 2 when a file cannot be read.
pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let transcript = match std::fs::read_to_string(&args.transcript) {
        Ok(text) => text,
        Err(e) => {
            let path = args.transcript.display();
            eprintln!("error: cannot read transcript {path}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let lines: Vec<(usize, Result<Line, String>)> = transcript
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| (i + 1, parse(i + 1, line)))
        .collect();
    let settings = personality::settings(args.script.clone(), args.config.clone())?;
    let start = start_of(&lines);
    let clock = SimClock::new(start);
    let session = Session::new(Clock::Simulated(clock.clone())).seeded(SEED);
    let runtime = ScriptHost::with_session((&settings.limits).into(), session);
    let choice = personality::choice(args.script.is_some(), &settings);
    let p = match personality::load(&runtime, &choice) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let mut out = Printer {
        json: args.json,
        start,
        failed: false,
    };
    out.say("on_start", clock.now_ms(), &runtime.start(&p));
    // The listener's quiet clock, started as if it joined at the first line.
    let mut silence = Silence::new(settings.limits.quiet_after);
    silence.start(start);
    let mut replay = Replay {
        timers: Schedule::new(&p, start),
        runtime: &runtime,
        p: &p,
        clock,
        silence,
        reply_window: settings.reply_window,
        out,
    };
    let mut first = true;
    for (n, line) in lines {
        match line {
            Ok((event, late_ms)) => {
                replay.line(n, event, late_ms, first);
                first = false;
            }
            Err(error) => {
                let error = visible::escape(&error);
                eprintln!("{}:{n}: {error}", args.transcript.display());
                replay.out.failed = true;
            }
        }
    }
    Ok(if replay.out.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The simulated clock's start: the first good line's `ts`, else the self-tests' epoch.
fn start_of(lines: &[(usize, Result<Line, String>)]) -> i64 {
    lines
        .iter()
        .find_map(|(_, e)| e.as_ref().ok().map(|(event, _)| event))
        .map_or(
            TEST_EPOCH_MS,
            |e| if e.ts > 0 { e.ts } else { TEST_EPOCH_MS },
        )
}

/// One replay in progress: the personality, its simulated clock, its timers and quiet clock.
struct Replay<'a> {
    runtime: &'a ScriptHost,
    p: &'a Personality,
    clock: SimClock,
    timers: Schedule,
    silence: Silence,
    /// `[catchup] reply_window_secs`, as the listener applies it to late messages.
    reply_window: Duration,
    out: Printer,
}

impl Replay<'_> {
    /// Transcript line `n`: the clock moved to it (its `ts`, else one second on, the first
    /// line staying at the start), the hooks due by then fired, then its decision.
    fn line(&mut self, n: usize, mut event: ChatEvent, late_ms: i64, first: bool) {
        match (event.ts > 0, first) {
            (true, _) => self.clock.set_ms(event.ts),
            (false, true) => {}
            (false, false) => self.clock.advance_ms(1_000),
        }
        let now = self.clock.now_ms();
        event.ts = now - late_ms;
        event.late = late_ms > 0;
        self.fire_due(now);
        let decided = self.runtime.decide(self.p, &event);
        let (result, note) = with_reply_window(decided, &event, now, self.reply_window);
        self.out.decision(n, &event, now, &result, note);
        self.timers.chat_seen();
        if breaks_silence(&event) {
            self.silence.chat_seen(now);
        }
    }

    /// The timers and `on_quiet` due by `now`, in order, each at the moment it came due.
    fn fire_due(&mut self, now: i64) {
        let mut due: Vec<(i64, String)> = self
            .timers
            .take_due(now)
            .into_iter()
            .map(|(name, due)| (due, name))
            .collect();
        due.extend(
            self.silence
                .take_due(now)
                .map(|at| (at, hooks::ON_QUIET.to_string())),
        );
        due.sort();
        for (due, name) in due {
            // The hook speaks at the moment it came due, not at the message's.
            self.clock.set_ms(due);
            let said = if name == hooks::ON_QUIET {
                self.runtime.quiet(self.p, self.silence.quiet_secs(due))
            } else {
                self.runtime.fire_timer(self.p, &name)
            };
            self.out.say(&name, due, &said);
            self.clock.set_ms(now);
        }
    }
}

/// A transcript line: the event, and how long before the line's time it was said, ms (`late`,
/// given in seconds; 0 for a live message).
type Line = (ChatEvent, i64);

/// One transcript line; the error names what is wrong with it.
fn parse(n: usize, line: &str) -> Result<Line, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(obj) = value.as_object() else {
        return Err("not a JSON object".to_string());
    };
    let text = |key: &str| match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    };
    let author = text("author")?.ok_or("`author` is missing")?;
    let kind = text("kind")?.unwrap_or_else(|| "message".to_string());
    crate::event::check_kind(&kind)?;
    let text = text("text")?.unwrap_or_default();
    if kind == "message" && text.trim().is_empty() {
        return Err("`text` is missing or empty".to_string());
    }
    let ts = match obj.get("ts") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|ts| *ts > 0)
            .ok_or("`ts` must be epoch milliseconds")?,
    };
    let amount = match obj.get("amount") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().ok_or("`amount` must be a number")?),
    };
    let late_ms = match obj.get("late") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_f64()
            .filter(|secs| (0.0..=366.0 * 86_400.0).contains(secs))
            .map(|secs| (secs * 1000.0) as i64)
            .ok_or("`late` must be the seconds since it was said, from 0 to a year")?,
    };
    Ok((
        ChatEvent {
            id: format!("replay-{n}"),
            kind,
            author,
            text: text.chars().take(MAX_TEXT_CHARS).collect(),
            ts,
            amount,
            ..ChatEvent::default()
        },
        late_ms,
    ))
}

/// Prints decisions as text or JSON lines and remembers whether anything failed.
struct Printer {
    json: bool,
    start: i64,
    failed: bool,
}

impl Printer {
    fn decision(
        &mut self,
        n: usize,
        event: &ChatEvent,
        at: i64,
        result: &Result<crate::script::Decision, ScriptError>,
        note: Option<String>,
    ) {
        self.failed |= result.is_err();
        if self.json {
            let mut line = json!({
                "line": n, "ts": event.ts, "kind": event.kind, "author": event.author, "text": event.text,
            });
            if event.late {
                line["late"] = true.into();
            }
            outcome_json(&mut line, result);
            if let Some(note) = &note {
                line["note"] = note.as_str().into();
            }
            println!("{}", visible::json(&line.to_string()));
        } else {
            let what = match event.kind.as_str() {
                "message" => quote(&event.text),
                kind => {
                    let mut what = kind.to_string();
                    if let Some(amount) = event.amount {
                        what.push_str(&format!(" {amount}"));
                    }
                    if !event.text.is_empty() {
                        what.push_str(&format!(" {}", quote(&event.text)));
                    }
                    what
                }
            };
            let offset = self.offset(at);
            // The transcript is viewers' text: shown, never obeyed by the terminal.
            let late = if event.late { " (late)" } else { "" };
            let note = note.map(|n| format!(" ({n})")).unwrap_or_default();
            println!(
                "{n:>4} {offset:>7}  {}: {}{late}  →  {}",
                visible::escape(&event.author),
                visible::escape(&what),
                visible::escape(&format!("{}{note}", outcome_human(result)))
            );
        }
    }

    /// What `on_start` or a timer said (nothing is printed when it said nothing).
    fn say(&mut self, hook: &str, ts: i64, result: &Result<Option<String>, ScriptError>) {
        self.failed |= result.is_err();
        if matches!(result, Ok(None)) {
            return;
        }
        if self.json {
            let mut line = json!({ "hook": hook, "ts": ts });
            match result {
                Ok(say) => {
                    line["decision"] = "say".into();
                    line["say"] = say.clone().into();
                }
                Err(error) => line["error"] = error.to_string().into(),
            }
            println!("{}", visible::json(&line.to_string()));
        } else {
            let what = match result {
                Ok(say) => format!("say {}", quote(say.as_deref().unwrap_or_default())),
                Err(error) => format!("failed: {error}"),
            };
            let what = visible::escape(&what);
            println!("{:>4} {:>7}  [{hook}]  →  {what}", "", self.offset(ts));
        }
    }

    /// `+12s`: simulated time since the transcript's start.
    fn offset(&self, ts: i64) -> String {
        let ms = ts - self.start;
        if ms % 1000 == 0 {
            format!("+{}s", ms / 1000)
        } else {
            format!("+{:.1}s", ms as f64 / 1000.0)
        }
    }
}
