//! `retake-chat status [--json]`: is the listener healthy? Reads health.json and the queue in
//! the state directory (found as `queue` finds it) and asks who holds its `listener.lock`,
//! then prints a short summary, or with `--json` the snapshot plus the holder and the
//! [`verdict`](crate::health::verdict). The reading and judging live in `health` ([`Report`]),
//! shared with `/healthz` and the MCP server's `chat_status`. Exit 0 healthy, 1 unhealthy,
//! 2 no readable health.json.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use crate::act::queue::{Queue, QueueStats};
use crate::cli::StatusArgs;
use crate::config::{self, Env};
use crate::health::{self, Report, Verdict, now_ms};
use crate::state_lock::{self, Holder};
use crate::visible;

/// Print the listener's state; the exit code is the verdict.
pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let dir = config::resolve_state_dir(&args.state.overrides(), &Env::from_process())?;
    let now = now_ms();
    let report = Report::read(&dir, now)?;
    // The queue as it is now, not as of health.json's last write.
    let queue = Queue::new(dir.join("queue.jsonl")).stats(now);
    if args.json {
        let text = serde_json::to_string_pretty(&report.to_json(queue.ok()))?;
        println!("{}", visible::json(&text));
    } else {
        let queue = queue.map_err(|e| e.to_string());
        print!(
            "{}",
            summary(
                &report.snapshot,
                &report.verdict,
                queue,
                report.holder,
                &dir,
                now
            )
        );
    }
    Ok(if report.verdict.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The human summary: the verdict, then one aligned line per subject.
fn summary(
    s: &Value,
    verdict: &Verdict,
    queue: Result<QueueStats, String>,
    holder: Holder,
    dir: &Path,
    now: i64,
) -> String {
    let path = dir.join("health.json");
    let mut out = String::new();
    let pid = s["pid"]
        .as_u64()
        .map_or(String::new(), |p| format!(" (pid {p})"));
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
    let mut line = |name: &str, text: String| {
        let _ = writeln!(out, "  {name:<13} {}", visible::escape(&text));
    };
    let status = s["status"].as_str().unwrap_or("unknown");
    let updated = s["updatedAt"].as_i64();
    let mut uptime = s["uptime"].as_i64().unwrap_or(0);
    if status != "stopped" {
        uptime += updated.map_or(0, |t| (now - t).max(0));
    }
    let reconnects = s["reconnects"].as_u64().unwrap_or(0);
    let lost: Vec<String> = s["disconnects"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(cause, n)| Some((cause, n.as_u64().filter(|&n| n > 0)?)))
        .map(|(cause, n)| format!("{n} {cause}"))
        .collect();
    let lost = if lost.is_empty() {
        String::new()
    } else {
        format!(" (lost: {})", lost.join(", "))
    };
    line(
        "connection",
        format!(
            "{status}, up {}, {reconnects} reconnects{lost}",
            span(uptime)
        ),
    );
    let lock = dir.join(state_lock::FILE);
    match holder {
        Holder::Running(Some(pid)) => {
            line("listener", format!("pid {pid} holds {}", lock.display()))
        }
        Holder::Running(None) => line("listener", format!("running (holds {})", lock.display())),
        Holder::Free => line(
            "listener",
            format!("not running (nothing holds {})", lock.display()),
        ),
        Holder::NoFile => {}
    }
    let count = |name: &str| s["counters"][name].as_u64().unwrap_or(0);
    line(
        "last message",
        ago(s["lastMessage"].as_i64(), now, "none yet"),
    );
    let source = match s["source"].as_str() {
        Some("catching up") => "the socket, catching up from the history",
        Some("polling") => "the history, polled (the socket is out of reach)",
        Some("none") if status == "stopped" => "nowhere (stopped)",
        Some("none") => "nowhere yet (the socket is out of reach)",
        _ => "the socket",
    };
    let history_errors = match count("historyErrors") {
        0 => String::new(),
        n => format!(", {n} history errors"),
    };
    line(
        "messages",
        format!(
            "from {source}; {} caught up, {} polled{history_errors}",
            count("caughtUp"),
            count("polled"),
        ),
    );
    if let Some(error) = s["historyError"].as_str() {
        line("history", first_line(error));
    }
    let (stats, note) = match queue {
        Ok(stats) => (stats, String::new()),
        Err(e) => (health::queue_stats(s), format!(" (as last written; {e})")),
    };
    let oldest = stats.oldest_queued.map_or(String::new(), |t| {
        format!(", oldest waiting {}", span(now - t))
    });
    // Since the start: the verdict above says whether the queue can be written now.
    let troubles: Vec<String> = [("write errors", "queueErrors"), ("archived", "archived")]
        .into_iter()
        .filter(|(_, name)| count(name) > 0)
        .map(|(what, name)| format!("{} {what}", count(name)))
        .collect();
    let troubles = if troubles.is_empty() {
        String::new()
    } else {
        format!(" ({})", troubles.join(", "))
    };
    line(
        "queue",
        format!(
            "{} pending, {} leased{oldest}{troubles}{note}",
            stats.pending, stats.leased
        ),
    );
    let wake = &s["wake"];
    let outcome = match (wake["ok"].as_bool(), wake["error"].as_str()) {
        (Some(true), _) => ", ok".to_string(),
        (Some(false), Some(error)) => format!(", failed: {error}"),
        (Some(false), None) => ", failed".to_string(),
        (None, _) => String::new(),
    };
    let at = ago(wake["at"].as_i64(), now, "never");
    line("last wake", format!("{at}{outcome}"));
    let script = &s["script"];
    let loaded = ago(script["loadedAt"].as_i64(), now, "not loaded");
    let name = script["path"].as_str().unwrap_or("unknown");
    line("script", format!("{name}, loaded {loaded}"));
    if let Some(error) = script["error"].as_str() {
        line("script error", first_line(error));
    }
    line(
        "sends",
        format!(
            "{} send errors, {} dropped, {} unknown, {} rate-limited",
            count("sendErrors"),
            count("sendDropped"),
            count("repliesUnknown") + count("acksUnknown"),
            count("rateLimited")
        ),
    );
    if let Some(error) = s["lastError"].as_str() {
        line("last error", first_line(error));
    }
    let written = ago(updated, now, "never");
    line(
        "health file",
        format!("{}, written {written}", path.display()),
    );
    out
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
