//! `retake-chat mcp` driven by the official MCP TypeScript SDK's client
//! (`@modelcontextprotocol/sdk`, pinned in tests/interop/package-lock.json), from Node: what
//! agent runtimes built on it see. `tests/interop/mcp_client.mjs` lists the tools, takes,
//! replies, acks and waits; this side prepares the queue, queues a question while the wait is
//! in flight, and checks every step and what reached the fake retake.tv.

use std::process::Stdio;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::mcp::{enqueue, question};
use crate::support::interop::{interop_dir, node_ready};
use crate::support::{DEADLINE, TOKEN, start_fake, write_creds};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_typescript_sdk_client_drives_the_mcp_server() {
    if !node_ready("interop_typescript_sdk_client_drives_the_mcp_server") {
        return;
    }
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    enqueue(
        &state,
        &[
            question("t1", "ann", "do you like TypeScript?", 1_769_994_000_000),
            question("t2", "bob", "and Rust?", 1_769_994_001_000),
        ],
    );
    let mut child = tokio::process::Command::new("node")
        .arg(interop_dir().join("mcp_client.mjs"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_retake-chat"))
        .arg("--state-dir")
        .arg(&state)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("RETAKE_CREDS", write_creds(dir.path()))
        .env("RETAKE_API_URL", fake.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut steps = serde_json::Map::new();
    let mut queued_at = None;
    let end = Instant::now() + 2 * DEADLINE;
    loop {
        let line = tokio::time::timeout_at(end.into(), lines.next_line())
            .await
            .expect("the client finishes in time")
            .expect("stdout readable");
        let Some(line) = line else { break };
        let step: Value = serde_json::from_str(&line).expect("a JSON line");
        let name = step["step"].as_str().expect("step").to_string();
        if name == "waiting" {
            enqueue(
                &state,
                &[question("t3", "cy", "still live?", 1_769_994_002_000)],
            );
            queued_at = Some(Instant::now());
        }
        steps.insert(name, step["result"].clone());
    }
    let output = child.wait_with_output().await.expect("node ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed:\n{stderr}");
    assert!(!stderr.contains(TOKEN), "the token is in the server's log");
    assert!(
        steps.contains_key("closed"),
        "every step ran: {steps:?}\n{stderr}"
    );

    assert_eq!(steps["connected"]["server"]["name"], "retake-chat");
    let mut names: Vec<&str> = steps["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, crate::mcp::TOOLS);

    let items = &steps["take"]["structuredContent"]["items"];
    assert_eq!(items[0]["id"], "t1", "{}", steps["take"]);
    assert_eq!(items[1]["author"], "bob");
    assert_eq!(items[0]["context"], json!([]), "no transcript yet");

    let reply = &steps["reply"];
    assert_eq!(reply["isError"], false, "{reply}");
    assert_eq!(reply["structuredContent"]["acked"], json!(["t1"]));
    let posted: Vec<_> = fake
        .sent()
        .into_iter()
        .filter(|r| r.body["message"] == "Answered from TypeScript")
        .collect();
    assert_eq!(posted.len(), 1, "posted once");
    assert_eq!(
        posted[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(steps["ack"]["structuredContent"]["acked"], json!(["t2"]));

    let wait = &steps["wait"]["structuredContent"];
    assert_eq!(wait["ready"], true, "{wait}");
    assert!(
        queued_at.is_some(),
        "the question was queued during the wait"
    );
    let again = &steps["take-again"]["structuredContent"]["items"];
    assert_eq!(again.as_array().map(Vec::len), Some(1), "{again}");
    assert_eq!(again[0]["id"], "t3");

    let refused = &steps["refused"];
    assert_eq!(refused["isError"], true, "{refused}");
    let text = refused["content"][0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("chat_reply: nothing to send"), "{text}");
}
