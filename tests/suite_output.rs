//! The suite's own output: a passing `cargo test` prints nothing of the listeners it starts
//! (they log at DEBUG), and a failing test shows its listener's output with the failure. Proven
//! by running this test binary again as a child, on one test that starts a listener and
//! then passes or fails as the environment says.

use std::process::Command;

use crate::support::{ROOM, expect, listener, start_fake};

/// Set in the child run: `pass` or `fail` tells [`a_listener_then_pass_or_fail`] what to do.
const OUTCOME: &str = "RETAKE_CHAT_TEST_OUTCOME";

/// Only a child run of [`a_listener_s_output_shows_only_when_its_test_fails`] does anything
/// here: start a listener, wait until it joined, then pass or fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_then_pass_or_fail() {
    let Some(outcome) = std::env::var_os(OUTCOME) else {
        return;
    };
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _child = listener(&fake, dir.path())
        .spawn()
        .expect("the listener starts");
    expect("the listener joins", || fake.room_size(ROOM) == 1).await;
    assert_eq!(outcome, "pass", "failing on purpose");
}

/// This test binary, on [`a_listener_then_pass_or_fail`] only: exit code and all it printed.
fn run_child(outcome: &str) -> (Option<i32>, String) {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["suite_output::a_listener_then_pass_or_fail", "--exact"])
        .env(OUTCOME, outcome)
        .env_remove("RUST_LOG")
        .output()
        .expect("the test binary runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), printed)
}

#[test]
fn a_listener_s_output_shows_only_when_its_test_fails() {
    let (code, printed) = run_child("pass");
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        !printed.contains("DEBUG") && !printed.contains("INFO"),
        "a passing test printed its listener's log:\n{printed}"
    );
    assert!(printed.contains("1 passed"), "{printed}");

    let (code, printed) = run_child("fail");
    assert_eq!(code, Some(101), "{printed}");
    assert!(printed.contains("failing on purpose"), "{printed}");
    assert!(
        printed.contains("--- output of the listener started at tests/suite_output.rs:"),
        "the failure names the listener:\n{printed}"
    );
    assert!(
        printed.contains("joined the room"),
        "the failure shows the listener's log:\n{printed}"
    );
}
