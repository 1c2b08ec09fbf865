//! What `retake-chat status` and the MCP server's `chat_status` report: the listener's
//! health.json (as written, and read into the typed [`Snapshot`] that is judged), who holds
//! its state directory's lock, and the verdict on both.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;

use super::{Process, QueueStats, Snapshot, Verdict, judge};
use crate::state_lock::{self, Holder};

/// A listener's health, read from its state directory.
#[derive(Debug, Clone)]
pub struct Report {
    /// health.json, read leniently (a field it cannot read is unknown).
    pub snapshot: Snapshot,
    /// health.json as written, a JSON object: what `status --json` prints.
    pub file: Value,
    /// Who holds `listener.lock`.
    pub holder: Holder,
    /// Healthy or not, and why.
    pub verdict: Verdict,
}

impl Report {
    /// Read health.json in `dir` and judge it at `now` (epoch ms); the error is one sentence
    /// naming the file.
    pub fn read(dir: &Path, now: i64) -> anyhow::Result<Self> {
        let path = dir.join(crate::config::StateDir::HEALTH);
        let file = read_object(&path)?;
        let snapshot = Snapshot::deserialize(&file)
            .with_context(|| format!("health file {} is not a snapshot", path.display()))?;
        // An unreadable lock file tells nothing either way: judge by the snapshot's pid.
        let holder = state_lock::holder(dir).unwrap_or(Holder::NoFile);
        let process = match holder {
            Holder::NoFile => Process::Unknown,
            Holder::Free => Process::Gone,
            Holder::Running(_) => Process::Running,
        };
        let verdict = judge(&snapshot, now, process);
        Ok(Self {
            snapshot,
            file,
            holder,
            verdict,
        })
    }

    /// The file plus `listener` (`{"running", "pid"}`, null when unknown) and `verdict`
    /// (`{"healthy", "reasons"}`): what `status --json` prints. `queue`, when given, replaces
    /// the counts health.json had at its last write with the queue as it is now.
    pub fn to_json(&self, queue: Option<QueueStats>) -> Value {
        let mut json = self.file.clone();
        if let Value::Object(map) = &mut json {
            if let Some(stats) = queue.and_then(|stats| serde_json::to_value(stats).ok()) {
                map.insert("queue".into(), stats);
            }
            let listener = match self.holder {
                Holder::NoFile => Value::Null,
                Holder::Free => serde_json::json!({"running": false}),
                Holder::Running(pid) => serde_json::json!({"running": true, "pid": pid}),
            };
            map.insert("listener".into(), listener);
            map.insert(
                "verdict".into(),
                serde_json::to_value(&self.verdict).unwrap_or(Value::Null),
            );
        }
        json
    }
}

/// health.json as a JSON object, or one sentence naming the file.
fn read_object(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "no readable health file at {} (is the listener running with this state directory?)",
            path.display()
        )
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => anyhow::bail!("health file {} is not a JSON object", path.display()),
    }
}
