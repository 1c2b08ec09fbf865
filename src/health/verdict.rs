//! The healthy-or-not verdict on a health snapshot, shared by `retake-chat status` (which
//! reads health.json and asks who holds the state directory's lock) and `/healthz` (which asks
//! the live listener): not connected, a snapshot older than three write intervals, a queue
//! that cannot be written, or a process that is gone make it unhealthy.

use std::path::Path;

use serde::Serialize;

use crate::act::queue::QueueStats;

/// The write interval a snapshot without `writeIntervalMs` is judged by (the default).
pub(super) const DEFAULT_WRITE_INTERVAL_MS: u64 = 5000;

/// Whether a listener is healthy and, if not, why: what `status` and `/healthz` both answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when there is no reason to worry.
    pub healthy: bool,
    /// One lower-case sentence per problem found.
    pub reasons: Vec<String>,
}

/// What is known of the listener's process besides its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// Nothing: judge by the snapshot's pid.
    Unknown,
    /// It holds the state directory's lock.
    Running,
    /// Nobody holds the state directory's lock.
    Gone,
}

/// Judge a snapshot (health.json's JSON) at `now` (epoch ms): unhealthy when not connected,
/// when it was written more than three write intervals ago, when the queue cannot be
/// written, or when its process is gone.
pub fn verdict(snapshot: &serde_json::Value, now: i64) -> Verdict {
    judge(snapshot, now, Process::Unknown)
}

/// [`verdict`], knowing from the state directory's lock whether the listener runs.
pub fn judge(snapshot: &serde_json::Value, now: i64, process: Process) -> Verdict {
    let mut reasons = Vec::new();
    let status = snapshot["status"].as_str().unwrap_or("missing");
    match status {
        "connected" => {}
        "stopped" => reasons.push("the listener has stopped".to_string()),
        "disconnected" => reasons.push("disconnected from the chat server".to_string()),
        "starting" => reasons.push("not connected yet (starting)".to_string()),
        other => reasons.push(format!("unknown status {other:?}")),
    }
    // A stopped listener wrote its last snapshot on purpose: its age and pid say nothing more.
    if status != "stopped" {
        let interval = snapshot["writeIntervalMs"]
            .as_u64()
            .unwrap_or(DEFAULT_WRITE_INTERVAL_MS)
            .max(1);
        match snapshot["updatedAt"].as_i64() {
            Some(updated) => {
                let age = now.saturating_sub(updated).max(0).unsigned_abs();
                if age > 3 * interval {
                    reasons.push(format!(
                        "health.json was last written {}s ago, more than 3 times its {}s interval",
                        age / 1000,
                        interval as f64 / 1000.0
                    ));
                }
            }
            None => reasons.push("health.json has no updatedAt".to_string()),
        }
        if let Some(error) = snapshot["queueError"].as_str() {
            reasons.push(format!("the queue cannot be written: {error}"));
        }
        let pid = snapshot["pid"].as_u64();
        match process {
            Process::Gone => reasons.push(match pid {
                Some(pid) => format!("its process {pid} is not running"),
                None => "no listener is running".to_string(),
            }),
            Process::Unknown => {
                if let Some(pid) = pid
                    && process_gone(pid)
                {
                    reasons.push(format!("its process {pid} is not running"));
                }
            }
            Process::Running => {}
        }
    }
    Verdict {
        healthy: reasons.is_empty(),
        reasons,
    }
}

/// The queue numbers of a snapshot (health.json's `queue`), zero where missing.
pub fn queue_stats(snapshot: &serde_json::Value) -> QueueStats {
    let q = &snapshot["queue"];
    let count = |name: &str| {
        q[name]
            .as_u64()
            .unwrap_or(0)
            .try_into()
            .unwrap_or(usize::MAX)
    };
    QueueStats {
        pending: count("pending"),
        leased: count("leased"),
        oldest_pending: q["oldestPending"].as_i64(),
        oldest_queued: q["oldestQueued"].as_i64(),
        unreadable: count("unreadable"),
    }
}

/// Whether no process `pid` exists (Linux: no `/proc/<pid>`; elsewhere we cannot tell).
fn process_gone(pid: u64) -> bool {
    let proc = Path::new("/proc");
    cfg!(target_os = "linux") && proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(status: &str, updated_at: i64) -> serde_json::Value {
        json!({"status": status, "updatedAt": updated_at, "writeIntervalMs": 1000, "pid": std::process::id()})
    }

    #[test]
    fn judges_status_and_age() {
        assert!(verdict(&snapshot("connected", 10_000), 13_000).healthy);
        let stale = verdict(&snapshot("connected", 10_000), 13_001);
        assert_eq!(
            stale.reasons,
            ["health.json was last written 3s ago, more than 3 times its 1s interval"]
        );
        let mut full = snapshot("connected", 10_000);
        full["queueError"] = "disk full: cannot append to q: File too large".into();
        assert_eq!(
            verdict(&full, 10_000).reasons,
            ["the queue cannot be written: disk full: cannot append to q: File too large"]
        );
        let stopped = verdict(&snapshot("stopped", 0), 1_000_000);
        assert_eq!(stopped.reasons, ["the listener has stopped"]);
        let old = verdict(&json!({"status": "starting", "updatedAt": 0}), 1000);
        assert_eq!(old.reasons, ["not connected yet (starting)"]);
        // Our own pid is running, but a free lock says the listener that wrote it is not.
        let gone = judge(&snapshot("connected", 10_000), 10_000, Process::Gone);
        assert_eq!(
            gone.reasons,
            [format!("its process {} is not running", std::process::id())]
        );
    }
}
