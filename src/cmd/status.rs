//! `retake-chat status [--json]`: is the listener healthy? Reads health.json and the queue in
//! the state directory (found as `queue` finds it) and asks who holds its `listener.lock`,
//! then prints a short summary, or with `--json` the snapshot plus the holder and the
//! [`verdict`](crate::health::verdict). The reading and judging live in `health` ([`Report`]),
//! shared with `/healthz` and the MCP server's `chat_status`. Exit 0 healthy, 1 unhealthy,
//! 2 no readable health.json.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::act::queue::Queue;
use crate::cli::StatusArgs;
use crate::config::{self, Env, StateDir};
use crate::health::{
    Counters, Feed, QueueStats, Report, ScriptState, Snapshot, Status, Verdict, WakeState,
};
use crate::state_lock::Holder;
use crate::time::now_ms;
use crate::visible;

/// Print the listener's state; the exit code is the verdict.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let dir = config::resolve_state_dir(&args.state.overrides(), &Env::from_process())?;
    let now = now_ms();
    let report = Report::read(&dir, now)?;
    // The queue as it is now, not as of health.json's last write.
    let queue = Queue::new(dir.queue()).stats(now);
    if args.json {
        let text = serde_json::to_string_pretty(&report.to_json(queue.ok()))?;
        println!("{}", visible::json(&text));
    } else {
        let queue = queue.map_err(|e| e.to_string());
        print!("{}", summary(&report, queue, &dir, now));
    }
    Ok(if report.verdict.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The human summary: the verdict, then one aligned line per subject.
fn summary(report: &Report, queue: Result<QueueStats, String>, dir: &Path, now: i64) -> String {
    let s = &report.snapshot;
    let mut out = headline(s.pid, &report.verdict);
    let mut line = |name: &str, text: String| {
        let _ = writeln!(out, "  {name:<13} {}", visible::escape(&text));
    };
    line("connection", connection(s, now));
    if let Some(text) = listener(report.holder, dir) {
        line("listener", text);
    }
    line("last message", ago(s.last_message, now, "none yet"));
    line("messages", messages(s));
    if let Some(error) = &s.history_error {
        line("history", first_line(error));
    }
    line("queue", queue_line(s, queue, now));
    line("last wake", wake(&s.wake, now));
    line("script", script(&s.script, now));
    if let Some(error) = &s.script.error {
        line("script error", first_line(error));
    }
    line("sends", sends(&s.counters));
    if let Some(error) = &s.last_error {
        line("last error", first_line(error));
    }
    let path = dir.join(crate::config::StateDir::HEALTH);
    let written = ago(s.updated_at, now, "never");
    line(
        "health file",
        format!("{}, written {written}", path.display()),
    );
    out
}

/// `retake-chat (pid N): healthy`, or `UNHEALTHY` and one line per reason.
fn headline(pid: Option<u32>, verdict: &Verdict) -> String {
    let mut out = String::new();
    let pid = pid.map_or(String::new(), |p| format!(" (pid {p})"));
    let word = if verdict.healthy {
        "healthy"
    } else {
        "UNHEALTHY"
    };
    let _ = writeln!(out, "retake-chat{pid}: {word}");
    // Errors quote viewers, scripts and servers: each line shows them, never obeys them.
    for reason in &verdict.reasons {
        let _ = writeln!(out, "  - {}", visible::escape(reason));
    }
    out
}

/// `connected, up 2h 3m, 1 reconnects (lost: 1 serverClosed)`.
fn connection(s: &Snapshot, now: i64) -> String {
    let stopped = s.status.known() == Some(Status::Stopped);
    let mut uptime = i64::try_from(s.uptime).unwrap_or(i64::MAX);
    if !stopped {
        uptime = uptime.saturating_add(s.updated_at.map_or(0, |t| (now - t).max(0)));
    }
    let lost: Vec<String> = crate::health::Cause::ALL
        .into_iter()
        .map(|cause| (cause.name(), s.disconnects.get(cause)))
        .filter(|&(_, n)| n > 0)
        .map(|(cause, n)| format!("{n} {cause}"))
        .collect();
    let lost = if lost.is_empty() {
        String::new()
    } else {
        format!(" (lost: {})", lost.join(", "))
    };
    let status = s.status.as_str().unwrap_or("unknown");
    format!(
        "{status}, up {}, {} reconnects{lost}",
        span(uptime),
        s.reconnects
    )
}

/// Who holds `listener.lock`; nothing when there is no lock file.
fn listener(holder: Holder, dir: &Path) -> Option<String> {
    let lock = dir.join(StateDir::LISTENER_LOCK);
    Some(match holder {
        Holder::Running(Some(pid)) => format!("pid {pid} holds {}", lock.display()),
        Holder::Running(None) => format!("running (holds {})", lock.display()),
        Holder::Free => format!("not running (nothing holds {})", lock.display()),
        Holder::NoFile => return None,
    })
}

/// Where messages come from, and what the history added.
fn messages(s: &Snapshot) -> String {
    let stopped = s.status.known() == Some(Status::Stopped);
    let source = match s.source {
        Some(Feed::CatchingUp) => "the socket, catching up from the history",
        Some(Feed::Polling) => "the history, polled (the socket is out of reach)",
        Some(Feed::None) if stopped => "nowhere (stopped)",
        Some(Feed::None) => "nowhere yet (the socket is out of reach)",
        Some(Feed::Socket) | None => "the socket",
    };
    let c = &s.counters;
    let history_errors = match c.history_errors.get() {
        0 => String::new(),
        n => format!(", {n} history errors"),
    };
    format!(
        "from {source}; {} caught up, {} polled{history_errors}",
        c.caught_up.get(),
        c.polled.get(),
    )
}

/// The queue now (or as last written, when it cannot be read) and its troubles since the start.
fn queue_line(s: &Snapshot, queue: Result<QueueStats, String>, now: i64) -> String {
    let (stats, note) = match queue {
        Ok(stats) => (stats, String::new()),
        Err(e) => (s.queue, format!(" (as last written; {e})")),
    };
    let oldest = stats.oldest_queued.map_or(String::new(), |t| {
        format!(", oldest waiting {}", span(now - t))
    });
    // Since the start: the verdict above says whether the queue can be written now.
    let c = &s.counters;
    let troubles: Vec<String> = [
        ("write errors", c.queue_errors.get()),
        ("archived", c.archived.get()),
    ]
    .into_iter()
    .filter(|&(_, n)| n > 0)
    .map(|(what, n)| format!("{n} {what}"))
    .collect();
    let troubles = if troubles.is_empty() {
        String::new()
    } else {
        format!(" ({})", troubles.join(", "))
    };
    format!(
        "{} pending, {} leased{oldest}{troubles}{note}",
        stats.pending, stats.leased
    )
}

/// When the agent was last woken, and how that went.
fn wake(wake: &WakeState, now: i64) -> String {
    let outcome = match (wake.ok, &wake.error) {
        (Some(true), _) => ", ok".to_string(),
        (Some(false), Some(error)) => format!(", failed: {error}"),
        (Some(false), None) => ", failed".to_string(),
        (None, _) => String::new(),
    };
    format!("{}{outcome}", ago(wake.at, now, "never"))
}

/// The personality and when it was loaded.
fn script(script: &ScriptState, now: i64) -> String {
    let loaded = ago(script.loaded_at, now, "not loaded");
    // The path is always written (before the first write): empty means the file had none.
    let name = Some(script.path.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("unknown");
    format!("{name}, loaded {loaded}")
}

/// What went wrong sending, since the start.
fn sends(c: &Counters) -> String {
    format!(
        "{} send errors, {} dropped, {} unknown, {} rate-limited",
        c.send_errors.get(),
        c.send_dropped.get(),
        c.replies_unknown.get() + c.acks_unknown.get(),
        c.rate_limited.get()
    )
}

/// "12s ago", or `never` when there is no time.
fn ago(at: Option<i64>, now: i64, never: &str) -> String {
    at.map_or(never.to_string(), |t| format!("{} ago", span(now - t)))
}

/// A duration in ms as `45s`, `4m 10s`, `2h 3m` or `3d 4h`.
fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(45_000), "45s");
        assert_eq!(span(250_000), "4m 10s");
        assert_eq!(span(7_380_000), "2h 3m");
        assert_eq!(span(273_600_000), "3d 4h");
        assert_eq!(span(-5), "0s");
    }
}
