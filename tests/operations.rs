//! Running for months: `status` exit codes in every state and the shipped systemd unit here;
//! `/healthz` and `/metrics` over real HTTP in `http`; JSON log lines and the decision log's
//! rotation, from the real binary, in `logs`.

mod http;
pub(crate) mod logs;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Harness, bin, expect, run};

/// `retake-chat status [--json] --state-dir DIR`.
fn status(dir: &Path, json: bool) -> (i32, String, String) {
    let mut cmd = bin();
    cmd.arg("status").arg("--state-dir").arg(dir);
    if json {
        cmd.arg("--json");
    }
    run(&mut cmd)
}

/// `status --json`'s verdict, checked to agree with the exit code.
fn verdict(dir: &Path) -> Value {
    let (code, out, err) = status(dir, true);
    let parsed: Value = serde_json::from_str(&out).expect("status --json prints JSON");
    let verdict = parsed["verdict"].clone();
    assert_eq!(verdict["healthy"] == true, code == 0, "{out}{err}");
    assert!(
        parsed["status"].is_string(),
        "the raw snapshot is there: {out}"
    );
    verdict
}

/// health.json's `status` now.
fn health_status(harness: &Harness) -> Value {
    harness.health_file()["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_the_listener_connected_disconnected_stopped() {
    let mut h = Harness::start().await;
    let state = h.config.state_dir.clone();
    expect("status says healthy", || status(&state, false).0 == 0).await;
    let (code, out, _) = status(&state, false);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("retake-chat (pid "), "{out}");
    assert!(
        out.contains(": healthy\n") && out.contains("connected, up "),
        "{out}"
    );
    assert_eq!(verdict(&state), json!({"healthy": true, "reasons": []}));

    h.fake.stop().await;
    expect("health says disconnected", || {
        health_status(&h) == "disconnected"
    })
    .await;
    let (code, out, _) = status(&state, false);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("UNHEALTHY\n  - disconnected from the chat server"),
        "{out}"
    );
    assert_eq!(
        verdict(&state)["reasons"][0],
        "disconnected from the chat server"
    );

    h.shutdown().await.expect("clean stop");
    assert_eq!(health_status(&h), "stopped");
    let (code, out, _) = status(&state, false);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        verdict(&state)["reasons"],
        json!(["the listener has stopped"])
    );
}

/// A connected snapshot as a listener with pid `pid` would have written it `age_ms` ago.
fn write_health(dir: &Path, pid: u32, age_ms: i64) {
    let now = retake_chat::time::now_ms();
    let snapshot = json!({
        "status": "connected", "lastMessage": null, "reconnects": 0, "uptime": 1000,
        "pid": pid, "updatedAt": now - age_ms, "startedAt": now - 1000,
        "writeIntervalMs": 1000, "script": {"path": "<embedded>"}, "wake": {},
        "queue": {"pending": 0, "leased": 0}, "counters": {},
    });
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("health.json"), snapshot.to_string()).expect("write health");
}

#[test]
fn status_judges_stale_orphaned_and_missing_health_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let (code, _, err) = status(&state, false);
    assert_eq!(code, 2);
    let path = state.join("health.json");
    assert!(
        err.starts_with(&format!(
            "error: no readable health file at {}",
            path.display()
        )),
        "{err}"
    );

    write_health(&state, std::process::id(), 0);
    assert_eq!(status(&state, false).0, 0);

    // Written a minute ago with a 1 s interval: the writer (or the whole process) is stuck.
    write_health(&state, std::process::id(), 60_000);
    let reasons = verdict(&state)["reasons"].to_string();
    assert!(
        reasons.contains("health.json was last written 60s ago"),
        "{reasons}"
    );

    if cfg!(target_os = "linux") {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let gone = child.id();
        child.wait().expect("reaped");
        write_health(&state, gone, 0);
        let reasons = verdict(&state)["reasons"].clone();
        assert_eq!(
            reasons,
            json!([format!("its process {gone} is not running")])
        );
        assert_eq!(status(&state, false).0, 1);
    }
}

#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: systemd-analyze is not installed; the unit was not verified");
        return;
    }
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/retake-chat.service");
    let text = std::fs::read_to_string(&unit).expect("the unit ships");
    let binary = env!("CARGO_BIN_EXE_retake-chat");
    // The unit names ~/.cargo/bin/retake-chat; verify needs a binary that exists.
    let text: String = text
        .lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(rest) => format!(
                "ExecStart={binary}{}\n",
                &rest[rest.find(' ').unwrap_or(rest.len())..]
            ),
            None => format!("{line}\n"),
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("retake-chat.service");
    std::fs::write(&copy, text).expect("write unit");
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).expect("mkdir");
    // As a user unit where a user manager can be simulated, else as a system unit.
    let verify = |user: bool| {
        let mut cmd = Command::new("systemd-analyze");
        cmd.env("XDG_RUNTIME_DIR", &runtime)
            .env("SYSTEMD_LOG_COLOR", "0");
        if user {
            cmd.arg("--user");
        }
        cmd.arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze runs")
    };
    let mut output = verify(true);
    if String::from_utf8_lossy(&output.stderr).contains("Failed to initialize manager") {
        output = verify(false);
    }
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{err}");
    // verify exits 0 even for unknown keys; any remark about our file is a failure.
    assert!(!err.contains("retake-chat.service"), "{err}");
}
