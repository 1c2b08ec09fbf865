//! The healthy-or-not verdict on a typed health [`Snapshot`], shared by `retake-chat status`
//! (which reads health.json and asks who holds the state directory's lock) and `/healthz`
//! (which asks the live listener): not connected, a snapshot older than three write intervals, a queue
//! that cannot be written, or a process that is gone make it unhealthy.

use std::path::Path;

use serde::Serialize;

use super::{Snapshot, Status, StatusWord};

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

/// Judge a snapshot at `now` (epoch ms): unhealthy when not connected, when it was written
/// more than three write intervals ago, when the queue cannot be written, or when its
/// process is gone.
pub fn verdict(snapshot: &Snapshot, now: i64) -> Verdict {
    judge(snapshot, now, Process::Unknown)
}

/// [`verdict`], knowing from the state directory's lock whether the listener runs.
pub fn judge(snapshot: &Snapshot, now: i64, process: Process) -> Verdict {
    let mut reasons = Vec::new();
    let status = snapshot.status.known();
    match &snapshot.status {
        StatusWord::Known(Status::Connected) => {}
        StatusWord::Known(Status::Stopped) => reasons.push("the listener has stopped".to_string()),
        StatusWord::Known(Status::Disconnected) => {
            reasons.push("disconnected from the chat server".to_string())
        }
        StatusWord::Known(Status::Starting) => {
            reasons.push("not connected yet (starting)".to_string())
        }
        StatusWord::Other(other) => reasons.push(format!("unknown status {other:?}")),
        StatusWord::Missing => reasons.push("unknown status \"missing\"".to_string()),
    }
    // A stopped listener wrote its last snapshot on purpose: its age and pid say nothing more.
    if status != Some(Status::Stopped) {
        reasons.extend(staleness(snapshot, now));
        if let Some(error) = &snapshot.queue_error {
            reasons.push(format!("the queue cannot be written: {error}"));
        }
        reasons.extend(gone(snapshot.pid, process));
    }
    Verdict {
        healthy: reasons.is_empty(),
        reasons,
    }
}

/// Why the snapshot is too old to trust, if it is.
fn staleness(snapshot: &Snapshot, now: i64) -> Option<String> {
    let interval = snapshot.write_interval_ms.max(1);
    let Some(updated) = snapshot.updated_at else {
        return Some("health.json has no updatedAt".to_string());
    };
    let age = now.saturating_sub(updated).max(0).unsigned_abs();
    (age > 3 * interval).then(|| {
        format!(
            "health.json was last written {}s ago, more than 3 times its {}s interval",
            age / 1000,
            interval as f64 / 1000.0
        )
    })
}

/// Why the listener's process is gone, if it is.
fn gone(pid: Option<u32>, process: Process) -> Option<String> {
    match process {
        Process::Gone => Some(match pid {
            Some(pid) => format!("its process {pid} is not running"),
            None => "no listener is running".to_string(),
        }),
        Process::Unknown => pid
            .filter(|&pid| process_gone(pid))
            .map(|pid| format!("its process {pid} is not running")),
        Process::Running => None,
    }
}

/// Whether no process `pid` exists (Linux: no `/proc/<pid>`; elsewhere we cannot tell).
fn process_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
    cfg!(target_os = "linux") && proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot(status: &str, updated_at: i64) -> Snapshot {
        read(
            json!({"status": status, "updatedAt": updated_at, "writeIntervalMs": 1000, "pid": std::process::id()}),
        )
    }

    fn read(json: serde_json::Value) -> Snapshot {
        serde_json::from_value(json).expect("a snapshot")
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
        full.queue_error = Some("disk full: cannot append to q: File too large".into());
        assert_eq!(
            verdict(&full, 10_000).reasons,
            ["the queue cannot be written: disk full: cannot append to q: File too large"]
        );
        let stopped = verdict(&snapshot("stopped", 0), 1_000_000);
        assert_eq!(stopped.reasons, ["the listener has stopped"]);
        let old = verdict(&read(json!({"status": "starting", "updatedAt": 0})), 1000);
        assert_eq!(old.reasons, ["not connected yet (starting)"]);
        let odd = |json| verdict(&read(json), 0).reasons;
        assert_eq!(
            odd(json!({"status": "paused", "updatedAt": 0})),
            ["unknown status \"paused\""]
        );
        assert_eq!(odd(json!({"updatedAt": 0})), ["unknown status \"missing\""]);
        assert_eq!(
            odd(json!({"status": "connected"})),
            ["health.json has no updatedAt"]
        );
        // Our own pid is running, but a free lock says the listener that wrote it is not.
        let gone = judge(&snapshot("connected", 10_000), 10_000, Process::Gone);
        assert_eq!(
            gone.reasons,
            [format!("its process {} is not running", std::process::id())]
        );
    }
}
