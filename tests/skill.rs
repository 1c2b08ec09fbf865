//! skill/retake-chat/SKILL.md is what the binary does: its frontmatter is what OpenClaw reads,
//! and every shell block runs, in order, with bash in a throwaway HOME, against a listener
//! child connected to the in-process fake retake.tv, with two viewers' questions queued.
//! Blocks that install software, touch systemd, need another program or never end carry a
//! `# skill-test: skip (reason)` first line; their list is pinned here, so none is skipped
//! silently and no marker goes missing unnoticed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use retake_chat::act::queue::Queue;
use serde_json::{Value, json};

use crate::support::{
    DEADLINE, ROOM, TOKEN, acknowledged, expect, read_json, run, start_fake, terminate, write_creds,
};

const SKILL: &str = include_str!("../skill/retake-chat/SKILL.md");

/// The blocks not run, in SKILL.md's order: `reason: the block's first command`.
const SKIPPED: [&str; 7] = [
    "installs software: cargo install --path .",
    "runs until stopped: retake-chat --script scripts/personality.rhai",
    "touches systemd: install -Dm644 scripts/personality.rhai ~/.config/retake-chat/personality.rhai",
    "needs openclaw: openclaw mcp add retake-chat --command retake-chat --arg mcp",
    "needs claude: claude mcp add --transport stdio retake-chat -- retake-chat mcp",
    "needs codex: codex mcp add retake-chat -- retake-chat mcp",
    "runs until stopped: retake-chat mcp",
];

/// The questions waiting when the blocks run: the ids SKILL.md's examples answer and skip.
const QUESTIONS: [(&str, &str, &str); 2] = [
    ("comment_123", "alice", "what do you think of Rust?"),
    ("comment_456", "bob", "can you say hi to my mum?"),
];

/// What SKILL.md's `reply` example says.
const REPLY: &str = "Rust, because it never segfaults on stream";

/// Every fenced block: the line its fence is on, its language and its text.
fn fences(doc: &str) -> Vec<(usize, &str, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, &str, Vec<&str>)> = None;
    for (n, line) in doc.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((n + 1, lang.trim(), Vec::new())),
            (Some(_), Some("")) => {
                if let Some((at, lang, body)) = open.take() {
                    out.push((at, lang, body.join("\n")));
                }
            }
            (Some((_, _, body)), _) => body.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "SKILL.md ends inside a code fence");
    out
}

/// `program` as the skill's reader would run it: only HOME, a PATH with the built binaries
/// first, and the fake retake.tv's address, from the checkout in `home`.
fn in_home(program: &str, home: &Path, path: &str, fake_url: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("HOME", home)
        .env("PATH", path)
        .env("RETAKE_CHAT_URL", fake_url)
        .env("RETAKE_API_URL", fake_url)
        // Debug logs too must never show the token.
        .env("RUST_LOG", "debug")
        .current_dir(home)
        .stdin(Stdio::null());
    cmd
}

#[test]
fn the_frontmatter_is_what_openclaw_reads() {
    let mut parts = SKILL.splitn(3, "---\n");
    assert_eq!(
        parts.next(),
        Some(""),
        "SKILL.md opens with its frontmatter"
    );
    let front = parts.next().expect("the frontmatter ends with ---");
    // OpenClaw's fallback parser reads single-line keys only, so every key is one line.
    let fields: HashMap<&str, &str> = front
        .lines()
        .map(|line| line.split_once(": ").expect("a single-line `key: value`"))
        .collect();
    assert_eq!(fields["name"], "retake-chat");
    assert_eq!(fields["version"], "0.1.0");
    assert!(fields["description"].contains("retake.tv"));
    let metadata: Value = serde_json::from_str(fields["metadata"]).expect("metadata is JSON");
    assert_eq!(
        metadata,
        json!({"openclaw": {"requires": {"bins": ["retake-chat"]}, "os": ["linux"]}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shell_block_of_the_skill_works_against_a_listener() {
    let started = Instant::now();
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    // HOME doubles as the checkout: the shipped personality, and the credentials where
    // retake.tv keeps them.
    std::fs::create_dir_all(home.join("scripts")).expect("mkdir scripts");
    // (The built-in copy: the checkout's own scripts/personality.rhai is the user's to edit.)
    let personality = retake_chat::script::EMBEDDED_PERSONALITY;
    std::fs::write(home.join("scripts/personality.rhai"), personality).expect("write script");
    let creds_dir = home.join(".config/retake");
    std::fs::create_dir_all(&creds_dir).expect("mkdir creds");
    write_creds(&creds_dir);
    // A stand-in `openclaw` notes how the listener wakes the agent.
    let fake_bin = home.join("fake-bin");
    std::fs::create_dir_all(&fake_bin).expect("mkdir fake-bin");
    let openclaw = fake_bin.join("openclaw");
    std::fs::write(&openclaw, "#!/bin/sh\necho \"$*\" >> \"$HOME/wakes\"\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(&openclaw, mode).expect("chmod");
    }
    let bins: PathBuf = Path::new(env!("CARGO_BIN_EXE_retake-chat"))
        .parent()
        .expect("the binaries' directory")
        .into();
    let path = format!(
        "{}:{}:{}",
        bins.display(),
        fake_bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let url = fake.url();

    let log_path = home.join("listener.log");
    let log = std::fs::File::create(&log_path).expect("listener log");
    let mut listener = tokio::process::Command::from(in_home("retake-chat", home, &path, &url));
    listener
        .args(["--script", "scripts/personality.rhai"])
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let mut child = listener.spawn().expect("the listener starts");
    expect("the listener joins the room", || fake.room_size(ROOM) == 1).await;
    for (id, author, text) in QUESTIONS {
        fake.emit_v1_message(ROOM, id, author, text).await;
    }
    let state = home.join(".local/state/retake-chat");
    let queue = Queue::new(state.join("queue.jsonl"));
    let waiting = || queue.read_all().map(|(items, _)| items.len()).unwrap_or(0);
    expect("both questions queued", || waiting() == 2).await;
    expect("both acknowledged in the chat", || {
        acknowledged(&fake).len() == 2
    })
    .await;
    let health = state.join("health.json");
    expect("health.json says connected", || {
        read_json(&health)["status"] == "connected"
    })
    .await;
    let before = fake.sent_count();

    let (mut skipped, mut ran) = (Vec::new(), 0);
    for (at, lang, body) in fences(SKILL) {
        if !["sh", "bash", "shell"].contains(&lang) {
            let known = ["json", "text"].contains(&lang);
            assert!(
                known,
                "SKILL.md:{at}: ```{lang}: shell goes in ```sh, where it is run"
            );
            continue;
        }
        let marker = body.lines().next().and_then(|first| {
            first
                .strip_prefix("# skill-test: skip (")?
                .strip_suffix(')')
        });
        if let Some(reason) = marker {
            let command = body.lines().nth(1).unwrap_or_default();
            let command = command.split(" #").next().unwrap_or_default().trim();
            // Shown with `--nocapture` or a failure; the list is pinned below, so a new skip
            // fails the test anyway.
            eprintln!("SKILL.md:{at}: skipped ({reason}): {command}");
            skipped.push(format!("{reason}: {command}"));
            continue;
        }
        assert!(
            !body.contains("skill-test"),
            "SKILL.md:{at}: a skip marker must be the block's first line"
        );
        // `run` also fails the test if the token shows in stdout or stderr.
        let mut bash = in_home("bash", home, &path, &url);
        let (code, out, err) = run(bash.args(["-euo", "pipefail", "-c", &body]));
        assert_eq!(
            code, 0,
            "SKILL.md:{at}: the block exits {code}:\n{body}\n--- stdout\n{out}--- stderr\n{err}"
        );
        ran += 1;
    }

    assert_eq!(skipped, SKIPPED, "the skipped blocks changed");
    let posted = fake.sent_since(before);
    let texts: Vec<&Value> = posted.iter().map(|r| &r.body["message"]).collect();
    assert!(
        texts.iter().any(|text| *text == REPLY),
        "the reply reached the chat: {texts:?}"
    );
    let bearer = format!("Bearer {TOKEN}");
    for request in &posted {
        assert_eq!(request.authorization.as_deref(), Some(bearer.as_str()));
    }
    assert_eq!(
        waiting(),
        0,
        "both questions acknowledged, by reply and by ack"
    );
    let wakes = home.join("wakes");
    expect("the listener woke the agent", || wakes.exists()).await;
    let woken = std::fs::read_to_string(&wakes).expect("wakes");
    for line in woken.lines() {
        assert_eq!(line, "system event --text RETAKE_CHAT_CHECK --mode now");
    }

    terminate(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the listener stops in time")
        .expect("reaped");
    assert!(status.success(), "the listener exits with {status}");
    let log = std::fs::read_to_string(&log_path).expect("listener log");
    assert!(!log.contains(TOKEN), "the token is in the listener's log");
    assert!(!log.contains("panicked"), "the listener panicked:\n{log}");
    eprintln!(
        "skill: {ran} blocks run, {} skipped, in {:.1?}",
        skipped.len(),
        started.elapsed()
    );
}
