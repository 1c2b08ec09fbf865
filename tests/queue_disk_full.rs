//! A full disk under the queue, for real: the listener runs as a child with a file-size limit
//! (`ulimit -f`), so an append that crosses it fails with EFBIG after a partial write, the
//! way ENOSPC cuts one short. What must hold: nothing is acknowledged before it is on disk,
//! health and `status` say "disk full", and once space is back every acknowledged message is
//! readable exactly once: no torn or glued line, no batch written twice.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::{
    ROOM, acknowledged, bin, expect, read_json, run, start_fake, wait_until, write_creds,
};

/// The limit in 512-byte blocks (dash's unit): room for about twenty of the messages below.
const LIMIT_BLOCKS: u32 = 48;
/// A question long enough that a few fill the limit (each queue line is about 1 KB).
fn question(i: usize) -> String {
    format!(
        "{} question number {i}, what do you think?",
        "why ".repeat(225)
    )
}

fn queue_cmd(state: &Path, args: &[&str]) -> (i32, String, String) {
    run(bin().arg("queue").args(args).arg("--state-dir").arg(state))
}

/// Take everything pending and acknowledge it, as an agent would; returns the ids taken.
fn drain(state: &Path) -> Vec<String> {
    let (_, out, _) = queue_cmd(state, &["take", "--max", "1000"]);
    let ids: Vec<String> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|item| item["id"].as_str().map(String::from))
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["ack"];
        args.extend(ids.iter().map(String::as_str));
        let (code, _, err) = queue_cmd(state, &args);
        assert_eq!(code, 0, "{err}");
    }
    ids
}

fn status(state: &Path) -> (i32, String) {
    let (code, out, _) = run(bin().arg("status").arg("--state-dir").arg(state));
    (code, out)
}

async fn healthz(state: &Path) -> Option<u16> {
    let addr = read_json(&state.join("health.json"))["metricsAddr"]
        .as_str()?
        .to_string();
    let response = reqwest::get(format!("http://{addr}/healthz")).await.ok()?;
    Some(response.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_loses_tears_or_repeats_no_acknowledged_message() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = dir.path().join("config.toml");
    // No decision log: the queue is the only file that grows. A long instant deadline, so the
    // acknowledgements released after the outage still go out and are checked too.
    std::fs::write(
        &config,
        "metrics_addr = \"127.0.0.1:0\"\n[send]\nper_30s = 0\ninstant_deadline_secs = 120\n\
         [wake]\ncommand = []\n[decisions]\nmax_bytes = 0\n[health]\ninterval_secs = 1\n",
    )
    .expect("config");
    let creds = write_creds(dir.path());
    let log = std::fs::File::create(dir.path().join("listener.log")).expect("log");
    // SIGXFSZ ignored: a write past the limit fails with EFBIG instead of killing the process.
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {LIMIT_BLOCKS}; exec \"$0\""
        ))
        .arg(env!("CARGO_BIN_EXE_retake-chat"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("HOME", dir.path())
        .env("RETAKE_CREDS", &creds)
        .env("RETAKE_CHAT_URL", fake.url())
        .env("RETAKE_API_URL", fake.url())
        .env("RETAKE_STATE_DIR", &state)
        .env("RETAKE_CHAT_CONFIG", &config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the listener");
    expect("joined", || fake.room_size(ROOM) == 1).await;

    let health = || read_json(&state.join("health.json"));
    let queue_errors = || health()["counters"]["queueErrors"].as_u64().unwrap_or(0);
    let acked = || acknowledged(&fake);
    // One question at a time, each waited for, until an append hits the limit.
    let mut asked = 0;
    for i in 0..60 {
        fake.emit_v1_message(ROOM, &format!("d{i}"), &format!("v{i}"), &question(i))
            .await;
        asked = i + 1;
        expect("the question acknowledged, or the queue failing", || {
            acked().len() == asked || queue_errors() > 0
        })
        .await;
        if queue_errors() > 0 {
            break;
        }
    }
    assert!(queue_errors() > 0, "the limit was never reached");
    let mut problems = Vec::new();
    let last = format!("v{}", asked - 1);
    if acked().contains(&last) {
        problems.push(format!(
            "{last} was acknowledged before its line was on disk"
        ));
    }

    // While the queue cannot be written, the listener says so.
    let cause = health()["queueError"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !cause.starts_with("disk full: ") || !cause.contains("queue.jsonl") {
        problems.push(format!("health.json queueError is {cause:?}"));
    }
    let (code, out) = status(&state);
    if code != 1 || !out.contains("disk full: ") {
        problems.push(format!("status while the disk is full: exit {code}\n{out}"));
    }
    let code = healthz(&state).await;
    if code != Some(503) {
        problems.push(format!("/healthz while the disk is full: {code:?}"));
    }

    // The agent answers what is there, which frees the space; the listener's retry then
    // writes the message it kept, and its acknowledgement goes out.
    let mut handed_out: HashMap<String, usize> = HashMap::new();
    let all_written = wait_until(std::time::Duration::from_secs(30), || {
        for id in drain(&state) {
            *handed_out.entry(id).or_default() += 1;
        }
        (0..asked).all(|i| handed_out.contains_key(&format!("d{i}")))
    })
    .await;
    assert!(
        all_written,
        "not every question reached the agent: {handed_out:?}\n{}",
        std::fs::read_to_string(dir.path().join("listener.log")).unwrap_or_default()
    );
    expect("every question acknowledged", || acked().len() >= asked).await;
    let healthy_again =
        wait_until(std::time::Duration::from_secs(10), || status(&state).0 == 0).await;
    if !healthy_again {
        problems.push(format!("status after the outage:\n{}", status(&state).1));
    }
    if queue_errors() == 0 || health()["queueError"] != Value::Null {
        problems.push(format!("health after the outage: {}", health()));
    }

    // Every acknowledged question handed to the agent exactly once, and nothing unreadable.
    for author in acked() {
        let id = format!("d{}", author.trim_start_matches('v'));
        match handed_out.get(&id) {
            Some(1) => {}
            n => problems.push(format!("{id} (acknowledged) handed out {n:?} times")),
        }
    }
    let (_, _, err) = queue_cmd(&state, &["list", "--all"]);
    if err.contains("not a queue item") {
        problems.push(format!("unreadable lines left in the queue: {err}"));
    }
    let text = std::fs::read_to_string(state.join("queue.jsonl")).unwrap_or_default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if serde_json::from_str::<Value>(line).is_err() {
            problems.push(format!("a torn line in queue.jsonl: {:.80}…", line));
        }
    }
    child.start_kill().expect("kill");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
