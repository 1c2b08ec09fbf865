//! `retake-chat run --dry-run` against the fake retake.tv, as the real binary: it joins the
//! room and prints one line per viewer message (author, text, decision), and carries nothing
//! out: the fake receives no post, the state directory is not written, the wake command never
//! runs.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{DEADLINE, ROOM, TOKEN, expect, listener, start_fake, terminate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_each_decision_and_sends_queues_and_wakes_nothing() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let woke = dir.path().join("woke");
    let config = dir.path().join("config.toml");
    // The wake command a real run would use: it leaves a mark if it ever runs.
    std::fs::write(
        &config,
        format!(
            "[wake]\ncommand = [\"sh\", \"-c\", \"echo woke >> '{}'\"]\nmin_interval_ms = 0\nrewake_after_secs = 1\n",
            woke.display()
        ),
    )
    .expect("config");
    let state = dir.path().join("state");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    let mut child = listener(&fake, dir.path())
        .args(["run", "--dry-run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("TMPDIR", &tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dry run starts");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = child.stdout.take().expect("stdout");
    let collected = lines.clone();
    let reader = tokio::spawn(async move {
        let mut stdout = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = stdout.next_line().await {
            collected.lock().expect("lines").push(line);
        }
    });
    let stderr = child.stderr.take().expect("stderr");
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let mut stderr = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = stderr.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    expect("the dry run joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "d1", "alice", "gm").await;
    fake.emit_v1_message(ROOM, "d2", "bob", "what are you building?")
        .await;
    fake.emit_v1_message(ROOM, "d3", "eve", "hi\u{1b}[2J").await;
    expect("three decisions printed", || {
        lines.lock().expect("lines").len() >= 3
    })
    .await;
    terminate(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the dry run stops in time")
        .expect("exit status");
    reader.await.expect("stdout read");
    let err = errors.await.expect("stderr read");
    assert!(status.success(), "{status:?}\n{err}");

    let printed = lines.lock().expect("lines").clone();
    assert_eq!(
        printed,
        [
            "alice: gm  →  reply \"gm alice! ☀️\"",
            "bob: what are you building?  →  ack \"On it bob! 💭\"",
            "eve: hi\\u{1b}[2J  →  ack \"On it eve! 💭\"",
        ],
        "{err}"
    );
    // The README shows these lines as what a dry run prints.
    let readme = include_str!("../README.md");
    for line in &printed[..2] {
        assert!(
            readme.contains(&format!("\n{line}\n")),
            "README shows {line}"
        );
    }
    assert!(
        err.contains(
            "dry run: each decision is printed on stdout; nothing is sent, queued or woken"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "dry run over: 3 messages decided, nothing sent, queued or woken. Without --dry-run \
             the listener answers for real."
        ),
        "{err}"
    );
    assert!(!err.contains(TOKEN) && !printed.concat().contains(TOKEN));
    assert_eq!(fake.sent_count(), 0, "nothing was posted");
    assert!(
        !state.exists(),
        "the state directory was not touched: no queue.jsonl, no health.json"
    );
    assert!(!woke.exists(), "the wake command never ran");
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").collect();
    assert!(left.is_empty(), "the temporary state is removed: {left:?}");
}

/// What the script says on its own (`on_start`, timers, `on_quiet`) is printed as what it
/// would say, and not posted either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_the_scripts_own_lines_and_posts_none() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("starter.rhai");
    std::fs::write(
        &script,
        "fn on_start() { \"I'm live\" }\nfn on_message(msg) { ignore() }\n",
    )
    .expect("script");
    let mut child = listener(&fake, dir.path())
        .args(["run", "--dry-run", "--script"])
        .arg(&script)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the dry run starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a line in time")
        .expect("stdout readable");
    assert_eq!(first.as_deref(), Some("(on_start)  →  say \"I'm live\""));
    expect("the dry run joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "s1", "alice", "gm").await;
    let second = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("a line in time")
        .expect("stdout readable");
    assert_eq!(second.as_deref(), Some("alice: gm  →  ignore"));
    terminate(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the dry run stops in time")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    assert_eq!(fake.sent_count(), 0, "nothing was posted");
}
