//! The real binary as a service runs it: `--log-format json` lines that parse and name the
//! message, and `decisions.jsonl` rotated through the config file's `[decisions]` table.

use std::path::Path;
use std::process::Stdio;

use retake_chat::fake::FakeRetake;
use serde_json::{Value, json};

use crate::support::{ROOM, TOKEN, expect, listener, start_fake, terminate};

/// The real binary against `fake` (the shared setup) plus `args`, its output captured.
pub(crate) fn spawn_listener(
    fake: &FakeRetake,
    dir: &Path,
    args: &[&str],
) -> tokio::process::Child {
    listener(fake, dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the listener")
}

/// SIGTERM, then the stderr of a clean exit.
pub(crate) async fn stop(child: tokio::process::Child) -> String {
    terminate(&child);
    let output = tokio::time::timeout(crate::support::DEADLINE, child.wait_with_output())
        .await
        .expect("exits in time")
        .expect("output");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains(TOKEN), "token leaked");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_parse_and_name_the_message() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let child = spawn_listener(&fake, dir.path(), &["--log-format", "json"]);
    expect("the binary joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "j1", "ivy", "gm").await;
    fake.emit_v1_message(ROOM, "j2", "ivy", "what is your stack?")
        .await;
    expect("gm and the ack sent", || fake.sent().len() == 2).await;
    let err = stop(child).await;
    let lines: Vec<Value> = err
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["timestamp"].is_string())
    );
    for id in ["j1", "j2"] {
        let decided = lines
            .iter()
            .find(|l| l["id"] == id && l["message"] == "decided");
        assert_eq!(decided.map(|l| &l["author"]), Some(&json!("ivy")), "{err}");
    }
    let queued = lines
        .iter()
        .find(|l| l["message"] == "queued for the agent");
    assert_eq!(
        queued.map(|l| (&l["id"], &l["author"])),
        Some((&json!("j2"), &json!("ivy")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_log_rotates_and_keeps_its_limit() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[wake]\ncommand = []\n[decisions]\nmax_bytes = 700\nkeep = 2\n",
    )
    .expect("write config");
    let child = spawn_listener(
        &fake,
        dir.path(),
        &["--config", config.to_str().expect("utf-8")],
    );
    expect("the binary joins the room", || fake.room_size(ROOM) == 1).await;
    let texts = ["gm", "what is rust?", "nice stream", "gm"];
    let ids: Vec<String> = (0..12).map(|i| format!("d{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        fake.emit_v1_message(ROOM, id, &format!("viewer{i}"), texts[i % texts.len()])
            .await;
    }
    let state = dir.path().join("state");
    let current = state.join("decisions.jsonl");
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    expect("the last decision is logged", || {
        read(&current).contains("\"id\":\"d11\"")
    })
    .await;
    stop(child).await;

    assert!(
        state.join("decisions.2.jsonl").exists(),
        "rotated at least twice"
    );
    assert!(
        !state.join("decisions.3.jsonl").exists(),
        "keep = 2 is honoured"
    );
    let mut logged = Vec::new();
    for name in ["decisions.2.jsonl", "decisions.1.jsonl", "decisions.jsonl"] {
        let text = read(&state.join(name));
        assert!(text.len() <= 700, "{name} is {} bytes", text.len());
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("each line is JSON");
            assert!(
                record["author"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("viewer")),
                "{line}"
            );
            assert!(
                ["reply", "ack", "queue", "ignore"]
                    .contains(&record["decision"].as_str().unwrap_or("")),
                "{line}"
            );
            assert_eq!(
                record["script_version"].as_str().map(str::len),
                Some(16),
                "{line}"
            );
            logged.push(record["id"].as_str().expect("id").to_string());
        }
    }
    // The newest records, in order, nothing missing between the files.
    assert!(ids.ends_with(&logged) && logged.len() >= 4, "{logged:?}");
}
