//! Viewers never reach the operator's terminal: what `status`, `sandbox`, `check`, `try` and
//! `replay` print has control and bidi characters escaped (JSON output too, with its values
//! unchanged), and the wake command does not inherit the tokens. The log lines are in `logs`.

mod logs;

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::sandbox_command::piped_sandbox;
use crate::support::{Harness, Setup, TOKEN, bin, expect, listener, run, start_fake, terminate};

/// What a hostile viewer types: a window title, clear screen, an OSC 52 clipboard write, a
/// C1 CSI, a carriage return and a right-to-left override.
const HOSTILE: &str =
    "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;aGk=\u{7}\u{9b}31m\rdone\u{202e}txt.exe";

/// The characters that act on a terminal or reorder text: C0 (but the newline), DEL, C1, and
/// the bidi embeddings, overrides and isolates.
fn acts_on_a_terminal(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Fails naming the first such character and where it is.
pub fn assert_printable(what: &str, text: &str) {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| acts_on_a_terminal(*c)) {
        panic!("{what} prints {c:?} raw at byte {at}:\n{text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_escapes_viewer_text_quoted_by_script_errors() {
    let harness = Harness::start_with(Setup {
        script: Some("fn on_message(msg) { throw msg.text; }\n".into()),
        ..Setup::default()
    })
    .await;
    harness.say("h1", "mallory", HOSTILE).await;
    expect("the script error reaches health.json", || {
        harness.health_file()["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("pwned"))
    })
    .await;
    let state = &harness.config.state_dir;
    let (_, out, err) = run(bin().arg("status").arg("--state-dir").arg(state));
    assert_printable("status", &out);
    assert_printable("status (stderr)", &err);
    assert!(out.contains("\\u{1b}]0;pwned"), "{out}");
    let (_, out, _) = run(bin().args(["status", "--json", "--state-dir"]).arg(state));
    assert_printable("status --json", &out);
    // Escaped, not changed: the value still holds what the viewer sent.
    let snapshot: Value = serde_json::from_str(&out).expect("status --json is JSON");
    let error = snapshot["lastError"].as_str().expect("lastError");
    assert!(error.contains("\u{202e}txt.exe"), "{error:?}");
}

#[test]
fn sandbox_prints_replies_and_viewer_text_escaped() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("echo.rhai");
    std::fs::write(
        &script,
        "fn on_message(msg) {\n    if msg.text.starts_with(\"echo \") { return reply(msg.text); }\n    if msg.text == \"boom\" { throw \"\\x1b]0;pwned\\x07\\x1b[2J\"; }\n    ignore()\n}\n",
    )
    .expect("write script");
    // Typed control characters are refused before they are said (tests/sandbox_command.rs);
    // what reaches the screen from viewers, names and the script's errors is escaped.
    let input = format!(
        "echo done\u{202e}txt.exe\nlol done\u{202e}txt.exe\n/as eve\u{2066} hi there\nboom\n{HOSTILE}\n"
    );
    let output = piped_sandbox(home.path(), &script, &input);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0));
    assert_printable("sandbox", &out);
    assert!(
        out.lines().any(|l| l.starts_with("bot: echo ")),
        "the reply is shown: {out}"
    );
    assert!(
        out.contains("ignored: viewer: lol done\\u{202e}txt.exe"),
        "{out}"
    );
    assert!(out.contains("ignored: eve\\u{2066}: hi there"), "{out}");
    assert!(out.contains("runtime error: \\u{1b}]0;pwned"), "{out}");
    assert!(
        err.contains("ignored: arrow keys and control characters are not chat"),
        "the hostile line is never said: {err}"
    );
}

#[test]
fn check_escapes_what_a_shared_script_says_and_quotes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let described = dir.path().join("described.rhai");
    std::fs::write(
        &described,
        "//! name: friendly\u{202e}gnp.exe\n//! description: totally \u{2067}safe\nfn on_message(msg) { ignore() }\n",
    )
    .expect("write");
    let broken = dir.path().join("broken.rhai");
    std::fs::write(
        &broken,
        "fn on_message(msg) {\n    reply(\"\u{1b}]0;owned\u{7}\u{1b}[2J\" +)\n}\n",
    )
    .expect("write");
    let (code, out, err) = run(bin().arg("check").arg(&described).arg(&broken));
    assert_eq!(code, 1, "{out}{err}");
    assert_printable("check", &out);
    assert_printable("check (stderr)", &err);
    assert!(out.contains("friendly\\u{202e}gnp.exe"), "{out}");
    assert!(out.contains("reply(\"\\u{1b}]0;owned\\u{7}"), "{out}");
}

/// A script whose replies carry the hostile text and whatever the viewer said.
fn echoing_script(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("echo.rhai");
    std::fs::write(
        &path,
        "fn on_message(msg) { reply(\"\\x1b]52;c;aGk=\\x07 \" + msg.text) }\n",
    )
    .expect("write script");
    path
}

#[test]
fn try_escapes_texts_and_replies_in_both_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = echoing_script(dir.path());
    let mut cmd = bin();
    cmd.arg("try").arg("--script").arg(&script);
    let (code, out, err) = run(cmd.args(["--author", "eve\u{1b}[8m", HOSTILE]));
    assert_eq!(code, 0, "{err}");
    assert_printable("try", &out);
    assert!(out.contains("\\u{1b}]52;c;aGk="), "{out}");
    let mut cmd = bin();
    cmd.arg("try").arg("--json").arg("--script").arg(&script);
    let (_, out, _) = run(cmd.arg(HOSTILE));
    assert_printable("try --json", &out);
    let line: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(line["text"], HOSTILE, "the value is unchanged");
}

#[test]
fn replay_escapes_authors_texts_and_replies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = echoing_script(dir.path());
    let transcript = dir.path().join("chat.jsonl");
    let line = serde_json::json!({"author": "eve\u{1b}[8m\u{2068}", "text": HOSTILE});
    std::fs::write(&transcript, format!("{line}\n")).expect("write transcript");
    for json in [false, true] {
        let mut cmd = bin();
        cmd.arg("replay")
            .arg("--script")
            .arg(&script)
            .arg(&transcript);
        if json {
            cmd.arg("--json");
        }
        let (code, out, err) = run(&mut cmd);
        assert_eq!(code, 0, "{err}");
        assert_printable("replay", &out);
        assert!(out.contains("eve"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wake_command_does_not_inherit_the_tokens() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = dir.path().join("wake-env");
    let config = dir.path().join("config.toml");
    // Written aside and renamed, so a half-written file is never read.
    let command = format!("env > '{0}.part' && mv '{0}.part' '{0}'", seen.display());
    std::fs::write(
        &config,
        format!("[wake]\ncommand = [\"sh\", \"-c\", {command:?}]\nmin_interval_ms = 0\n"),
    )
    .expect("write config");
    let mut child = listener(&fake, dir.path())
        .arg("--config")
        .arg(&config)
        .env("RETAKE_ACCESS_TOKEN", TOKEN)
        .env("RETAKE_WAKE_TOKEN", "wake_SECRET_4242")
        .env("RETAKE_TEST_KEPT", "kept")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the listener");
    expect("the binary joins the room", || {
        fake.room_size(crate::support::ROOM) == 1
    })
    .await;
    fake.emit_v1_message(crate::support::ROOM, "w1", "ivy", "what is your stack?")
        .await;
    expect("the wake command ran", || seen.exists()).await;
    terminate(&child);
    let _ = child.wait().await;
    let env = std::fs::read_to_string(&seen).expect("read the child's environment");
    assert!(
        env.contains("RETAKE_TEST_KEPT=kept"),
        "the rest is inherited:\n{env}"
    );
    for secret in [
        "RETAKE_ACCESS_TOKEN",
        "RETAKE_WAKE_TOKEN",
        TOKEN,
        "wake_SECRET_4242",
    ] {
        assert!(!env.contains(secret), "the wake command sees {secret}");
    }
}
