//! The access token appears nowhere: the real binary runs a tour of scenarios (replies, a
//! queued question, retries on 500, a 401, a broken script edit, bad config, SIGTERM) with
//! every log level on, and every byte it printed or wrote is searched for the token.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{AGENT, ROOM, TOKEN, bin, expect, listener, run, start_fake, terminate};

/// Every file under `dir`, as text.
fn all_files(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(all_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    found
}

/// Everything a child's pipe carries until it closes, read as it comes.
fn drain(
    pipe: Option<impl tokio::io::AsyncRead + Unpin + Send + 'static>,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes).await;
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_any_output() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("personality.rhai");
    // The built-in personality: the checkout's scripts/personality.rhai is the user's to edit.
    std::fs::write(&script, retake_chat::script::EMBEDDED_PERSONALITY).expect("write script");
    let mut child = listener(&fake, dir.path())
        .env("RUST_LOG", "trace")
        .arg("--script")
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain both pipes while the tour runs: trace logs overflow a pipe nobody reads, and a
    // listener blocked writing its log could not even stop.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    expect("joined", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "s1", "amy", "gm").await;
    fake.emit_v1_message(ROOM, "s2", "amy", "what is a token?")
        .await;
    expect("both answered", || fake.sent().len() == 2).await;
    fake.fail_next([(500, None), (500, None), (401, None)]);
    fake.emit_v1_message(ROOM, "s3", "bob", "ping").await;
    expect("retried into a 401", || fake.sent().len() == 5).await;
    std::fs::write(&script, "fn on_message(msg) { reply(\"x\" + ) }").expect("broken edit");
    expect("the broken edit is reported", || {
        std::fs::read_to_string(dir.path().join("state/health.json"))
            .is_ok_and(|h| h.contains("personality.rhai:1:"))
    })
    .await;
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    assert!(
        status.is_ok(),
        "the listener did not stop within 10 s of SIGTERM"
    );
    let stdout = stdout.await.expect("stdout reader");
    let stderr = stderr.await.expect("stderr reader");
    // The tour did produce output worth searching: trace-level logs, the 401 warning.
    assert!(stderr.contains("access token rejected"), "{stderr}");
    assert!(stderr.len() > 10_000, "trace logs were on");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "token in the output"
    );
    for (path, content) in all_files(dir.path()) {
        if path.ends_with("credentials.json") {
            continue;
        }
        assert!(!content.contains(TOKEN), "token in {path}");
    }
    // Error paths print the token's file, never its value; `run` searches those too.
    run(bin()
        .env("RETAKE_ACCESS_TOKEN", TOKEN)
        .env("RETAKE_USER_DB_ID", ROOM)
        .args(["--chat-url", "not a url"]));
    run(bin()
        .env("RETAKE_ACCESS_TOKEN", format!("{TOKEN}\n"))
        .env("RETAKE_USER_DB_ID", ROOM)
        .env("RETAKE_AGENT_NAME", AGENT)
        .args(["reply", "hi", "--api-url", "http://127.0.0.1:9"]));
}
