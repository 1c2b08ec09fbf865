//! Log lines from the real binary: a viewer's newline or carriage return cannot start a line
//! of its own in the readable format, and JSON lines escape what JSON itself leaves raw.

use super::assert_printable;
use crate::operations::logs::{spawn_listener, stop};
use crate::support::{ROOM, expect, start_fake};

/// The binary (logging at debug) on `args`; a viewer named `author` says `text`, which the
/// shipped personality queues; returns everything it logged.
async fn log_of(args: &[&str], author: &str, text: &str) -> String {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let child = spawn_listener(&fake, dir.path(), args);
    expect("the binary joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "f1", author, text).await;
    expect("the ack is sent", || !fake.sent().is_empty()).await;
    stop(child).await
}

const FORGED: &str = "2030-01-01T00:00:00.000000Z ERROR retake_chat: forged";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_forge_log_lines() {
    let author = format!("eve\n{FORGED}\r\u{1b}[2K");
    let text = format!("what is your stack?\n{FORGED}\r\u{1b}[1A\u{202e}");
    let err = log_of(&[], &author, &text).await;
    assert_printable("the log", &err);
    assert!(
        !err.lines().any(|line| line.starts_with("2030-")),
        "a forged line:\n{err}"
    );
    // Still there to read, escaped.
    assert!(err.contains("eve\\n2030-01-01"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_escape_what_json_leaves_raw() {
    let author = "eve\u{202e}\u{9b}2J\u{7f}\n";
    let err = log_of(&["--log-format", "json"], author, "what is your stack?").await;
    assert_printable("the JSON log", &err);
    let lines = crate::scripting::json_lines(&err);
    // Escaped, not altered: the value is the viewer's name.
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "queued for the agent" && l["author"] == author),
        "{err}"
    );
}
