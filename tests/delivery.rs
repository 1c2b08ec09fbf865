//! What counts as delivered, end to end: what the platform receives of a text, as
//! `retake-chat reply` sends it.

use std::path::{Path, PathBuf};

use retake_chat::fake::FakeRetake;

use crate::support::{bin, run, start_fake, write_creds};

/// A state directory with one queued item, `q1`, and a config file with `send` settings.
fn agent_dir(send: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    // A line as the listener writes it (and as an old queue file has it): id, author, text, ts.
    let line = r#"{"id":"q1","author":"bea","text":"what is this?","ts":1}"#;
    std::fs::write(state.join("queue.jsonl"), format!("{line}\n")).expect("queue written");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[send]\n{send}\n")).expect("config written");
    (dir, config)
}

/// `retake-chat reply --ack q1 TEXT` against `fake`, off the async threads the fake needs.
async fn reply(fake: &FakeRetake, dir: &Path, config: &Path, text: &str) -> (i32, String) {
    let creds = write_creds(dir);
    let mut cmd = bin();
    cmd.args(["reply", "--ack", "q1", text])
        .arg("--creds")
        .arg(creds)
        .args(["--api-url", &fake.url()])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(config)
        .env("HOME", dir);
    let (code, _, err) = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .expect("reply ran");
    (code, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_strips_control_and_bidi_characters() {
    let fake = start_fake().await;
    let (dir, config) = agent_dir("");
    let text = "line one\nline two \u{1b}]52;c;cHduZWQ=\u{7} \u{202e}desrever\u{202c}";
    let (code, err) = reply(&fake, dir.path(), &config, text).await;
    assert_eq!(code, 0, "{err}");
    let sent = fake.sent();
    assert_eq!(
        sent[0].body["message"],
        "line one line two ]52;c;cHduZWQ= desrever"
    );
}
