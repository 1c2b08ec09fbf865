//! The real binary as a user runs it: exit codes, one-sentence errors naming the file and
//! field, never the token, and a full run against the fake ended by SIGTERM.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{
    ROOM, TOKEN, bin, expect, listener, offline, read_json, run, start_fake, terminate,
};

fn with_creds(dir: &Path, content: &str) -> Command {
    let creds = dir.join("credentials.json");
    std::fs::write(&creds, content).expect("write creds");
    let mut cmd = bin();
    cmd.env("HOME", dir)
        .arg("--creds")
        .arg(&creds)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--chat-url")
        .arg("http://127.0.0.1:9/");
    cmd
}

#[test]
fn a_missing_credentials_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(bin()
        .env("HOME", dir.path())
        .arg("--state-dir")
        .arg(dir.path()));
    assert_eq!(code, 2);
    let expected = format!(
        "error: no credentials file at {}: run `retake-chat init` to write one (or set \
         RETAKE_ACCESS_TOKEN, RETAKE_USER_DB_ID and RETAKE_AGENT_NAME); `retake-chat sandbox` \
         tries the bot without any\n",
        dir.path().join(".config/retake/credentials.json").display()
    );
    assert!(err.ends_with(&expected), "{err}");
}

#[test]
fn a_missing_field_is_named_with_its_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(&mut with_creds(
        dir.path(),
        &format!(r#"{{"access_token": "{TOKEN}", "agent_name": "Bot"}}"#),
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("credentials.json: field `userDbId` is missing or not a string (or set RETAKE_USER_DB_ID)"),
        "{err}"
    );
}

#[test]
fn malformed_credentials_never_show_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(&mut with_creds(
        dir.path(),
        &format!(r#"{{"access_token": {TOKEN}, "userDbId": "u"}}"#),
    ));
    assert_eq!(code, 2);
    assert!(
        err.contains("credentials.json is not valid JSON (line 1 column"),
        "{err}"
    );
}

#[test]
fn an_unreadable_script_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = with_creds(
        dir.path(),
        &format!(r#"{{"access_token": "{TOKEN}", "userDbId": "u", "agent_name": "Bot"}}"#),
    );
    let (code, _, err) = run(cmd.arg("--script").arg(dir.path().join("nope.rhai")));
    assert_eq!(code, 2);
    assert!(err.contains("nope.rhai"), "{err}");
}

#[test]
fn check_reports_position_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The built-in personality, not the checkout's scripts/personality.rhai: that is the
    // user's copy, and editing it must never fail a test.
    let shipped = dir.path().join("personality.rhai");
    std::fs::write(&shipped, retake_chat::script::EMBEDDED_PERSONALITY).expect("write");
    let (code, out, _) = run(bin().arg("check").arg(&shipped));
    assert_eq!(code, 0, "{out}");
    let broken = dir.path().join("broken.rhai");
    std::fs::write(&broken, "fn on_message(msg) {\n    reply(\"x\" +)\n}\n").expect("write");
    let (code, out, _) = run(bin().arg("check").arg(&broken));
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:2:", broken.display())),
        "{out}"
    );
    assert!(out.contains("    reply(\"x\" +)"), "{out}");
    assert!(out.contains('^'), "{out}");
    let (code, _, _) = run(bin().arg("check").arg(dir.path().join("missing.rhai")));
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_and_stops_cleanly_on_sigterm() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let child = listener(&fake, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    expect("the binary joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "b1", "ivy", "gm").await;
    expect("gm answered", || fake.sent().len() == 1).await;
    assert_eq!(fake.sent()[0].body["message"], "gm ivy! ☀️");

    terminate(&child);
    let output = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits within 10 s")
        .expect("output");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(!err.contains(TOKEN) && !String::from_utf8_lossy(&output.stdout).contains(TOKEN));
    assert!(err.contains("personality: the built-in copy"), "{err}");
    let health = read_json(&dir.path().join("state/health.json"));
    assert_eq!(health["status"], "stopped", "{health}");
    assert!(!health.to_string().contains(TOKEN));
}

#[test]
fn max_reconnects_gives_up_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(offline(dir.path()).args(["--max-reconnects", "2"]));
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "error: gave up connecting to http://127.0.0.1:9/ after 3 attempts (the first and 2 reconnects): cannot connect"
        ),
        "{err}"
    );
}

#[test]
fn a_broken_script_stops_the_start_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("broken.rhai");
    std::fs::write(&script, "fn on_message(msg) {\n    reply(\"x\" +)\n}\n").expect("write");
    let (code, _, err) = run(offline(dir.path()).arg("--script").arg(&script));
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("error: {}:2:", script.display())),
        "{err}"
    );
    assert!(err.contains("reply(\"x\" +)") && err.contains('^'), "{err}");
}

#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_gets_a_chmod_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let start_with_mode = |mode| {
        let mut cmd = offline(dir.path());
        let creds = dir.path().join("credentials.json");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let (code, _, err) = run(cmd.args(["--max-reconnects", "0"]));
        assert_eq!(code, 2, "{err}");
        (err, creds)
    };
    let (err, creds) = start_with_mode(0o644);
    assert!(
        err.contains(&format!("run: chmod 600 {}", creds.display())),
        "{err}"
    );
    let (err, _) = start_with_mode(0o600);
    assert!(!err.contains("chmod"), "{err}");
}

/// The commonest operator mistake: a service and a manual start on one state directory. The
/// second refuses at once, naming the first; the first answers alone; readers still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_listener_on_the_same_state_dir_refuses_to_start() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = listener(&fake, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    expect("the first joins the room", || fake.room_size(ROOM) == 1).await;
    let pid = first.id().expect("running");
    let state = dir.path().join("state");

    let second = listener(&fake, dir.path())
        .output()
        .await
        .expect("second runs");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(
        err.ends_with(&format!(
            "error: another retake-chat listener (pid {pid}) is already running with the state directory {}; stop it, or give this one its own --state-dir\n",
            state.display()
        )),
        "{err}"
    );
    assert!(!err.contains(TOKEN));

    let (code, out, _) = run(bin().arg("status").arg("--state-dir").arg(&state));
    assert_eq!(code, 0, "{out}");
    let holder = format!("pid {pid} holds {}", state.join("listener.lock").display());
    assert!(out.contains(&holder), "{out}");
    let (code, out, _) = run(bin().args(["queue", "take", "--state-dir"]).arg(&state));
    assert_eq!(code, 1, "an empty queue, read beside the listener: {out}");

    fake.emit_v1_message(ROOM, "twice-1", "ivy", "gm").await;
    fake.emit_v1_message(ROOM, "twice-2", "ivy", "ping").await;
    expect("both answered", || fake.sent().len() >= 2).await;
    let texts: Vec<_> = fake
        .sent()
        .iter()
        .map(|r| r.body["message"].clone())
        .collect();
    assert_eq!(texts, ["gm ivy! ☀️", "pong! 🏓"], "answered once each");
    assert_eq!(fake.room_size(ROOM), 1);

    terminate(&first);
    let _ = first.wait_with_output().await;
    let (code, out, _) = run(bin().arg("status").arg("--state-dir").arg(&state));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not running (nothing holds"), "{out}");
}

/// Settings that mean the same for every command that takes them work before the
/// subcommand's name as after it; one the subcommand does not take is one sentence.
#[test]
fn flags_before_the_subcommand_count_as_given_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("mine.rhai");
    std::fs::write(
        &script,
        "fn on_message(msg) { reply(`mine: ${msg.text}`) }\n",
    )
    .expect("write");
    for args in [
        vec![
            "--script".into(),
            script.clone().into_os_string(),
            "try".into(),
            "gm".into(),
        ],
        vec![
            "try".into(),
            "--script".into(),
            script.clone().into_os_string(),
            "gm".into(),
        ],
    ] {
        let (code, out, err) = run(bin().args(&args));
        assert_eq!(
            (code, out.as_str()),
            (0, "gm  →  reply \"mine: gm\"\n"),
            "{args:?}: {err}"
        );
    }

    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("state dir");
    std::fs::write(
        state.join("queue.jsonl"),
        "{\"id\":\"q1\",\"author\":\"ann\",\"text\":\"hi?\",\"ts\":1}\n",
    )
    .expect("queue");
    let before = run(bin().arg("--state-dir").arg(&state).args(["queue", "list"]));
    let after = run(bin().args(["queue", "list", "--state-dir"]).arg(&state));
    assert_eq!(before.0, 0, "{before:?}");
    assert!(before.1.contains("\"id\":\"q1\""), "{before:?}");
    assert_eq!(before, after);

    let (code, _, err) = run(bin()
        .args(["--log-format", "json", "status", "--state-dir"])
        .arg(dir.path().join("none")));
    assert_eq!(code, 2);
    assert!(err.starts_with("{\"level\":\"ERROR\""), "{err}");
}

#[test]
fn a_flag_before_a_subcommand_that_does_not_take_it_is_named() {
    let (code, out, err) = run(bin().args(["--script", "x.rhai", "queue", "list"]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "error: `queue list` does not take --script; see `retake-chat queue list --help`\n"
    );
    let (code, _, err) = run(bin().args(["--chat-url", "http://x/", "--api", "v2", "reply", "hi"]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: `reply` does not take --chat-url; see `retake-chat reply --help`\n"
    );
}

/// No subcommand is `run`, with its flags anywhere.
#[test]
fn flags_without_a_subcommand_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.rhai");
    let (code, _, err) = run(offline(dir.path()).arg("--script").arg(&missing));
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{}", missing.display())), "{err}");
    assert!(!err.contains("does not take"), "{err}");
}
