//! `retake-chat sandbox` driven through a pipe: each line is a viewer message, every outcome
//! is printed, it ends by itself after the input, and nothing touches live state.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::bin;

/// `script` written to a fresh home and run by a piped sandbox with `input`, which must end
/// well: its stdout lines and its stderr.
fn session(script: &str, input: &str) -> (Vec<String>, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("bot.rhai");
    std::fs::write(&path, script).expect("write script");
    let output = piped_sandbox(home.path(), &path, input);
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{err}");
    let out = String::from_utf8_lossy(&output.stdout);
    (out.lines().map(String::from).collect(), err)
}

/// `retake-chat sandbox` with `home` as HOME, TMPDIR and working directory, stdio piped.
pub fn sandbox_in(home: &Path) -> Command {
    let mut cmd = bin();
    cmd.env("HOME", home)
        .env("TMPDIR", home)
        .current_dir(home)
        .arg("sandbox")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `cmd` with `input` piped in; its output once it has ended by itself after the input.
pub fn fed(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child
        .wait_with_output()
        .expect("sandbox ends after its input")
}

/// `sandbox --script SCRIPT` in `home` ([`sandbox_in`]) with `input` piped in, to its end.
pub fn piped_sandbox(home: &Path, script: &Path, input: &str) -> Output {
    fed(sandbox_in(home).arg("--script").arg(script), input)
}

#[test]
fn a_piped_session_prints_every_outcome_and_leaves_no_trace() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("bot.rhai");
    std::fs::write(
        &script,
        r#"
        fn on_message(msg) {
            if msg.lower == "gm" { return reply(`gm ${msg.author}!`); }
            if msg.text.contains("?") { return ack("noted"); }
            ignore()
        }
        fn on_tip(ev) { reply(`thanks for ${ev.amount}, ${ev.author}`) }
        "#,
    )
    .expect("write script");
    let input = "gm\n/as bob why is the sky blue?\nlol\n/tip 5\n/bogus\n";
    let output = piped_sandbox(home.path(), &script, input);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    for expected in [
        "bot: gm viewer!",
        "bot: noted",
        "queued for the agent, who would be woken: bob: why is the sky blue?",
        "ignored: viewer: lol",
        "bot: thanks for 5, viewer",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(err.contains("unknown command /bogus"), "{err}");
    assert!(
        !home.path().join(".local").exists(),
        "the sandbox wrote live state"
    );
}

#[test]
fn late_lines_are_caught_up_from_the_history_after_the_socket_drops() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("personality.rhai");
    std::fs::write(&script, retake_chat::script::EMBEDDED_PERSONALITY).expect("write script");
    // Oldest first: a catch-up reads back only to the newest message the listener heard.
    let input = "/late 2m gm\n/late 90s what did I miss?\n/late 2h gm\n/late 2m too early\n";
    let output = piped_sandbox(home.path(), &script, input);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    for expected in [
        "bot: Sorry I missed this, viewer! On it 💭",
        "queued for the agent, who would be woken: viewer: what did I miss? (late: caught up from the history)",
        "ignored: viewer: gm (late: caught up from the history) (too late for an instant reply)",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        err.contains("usage: /late AGE text"),
        "2h is refused: {err}"
    );
    assert!(
        err.contains("not said: the listener has heard a message since then, and catching up reads the history back only to the newest one it heard; /late can reach "),
        "before the newest message heard is refused: {err}"
    );
    assert!(!out.contains("too early"), "{out}");
    // The sandbox dropped the socket itself, and said so on stderr: not an error.
    assert!(!out.contains("error: chat connection lost"), "{out}");
}

#[test]
fn quiet_makes_the_room_quiet_now_and_on_quiet_speaks() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("lively.rhai");
    std::fs::write(
        &script,
        r#"
        fn on_message(msg) { ignore() }
        fn on_quiet(ev) { `dead air after ${ev.quiet_secs} s` }
        "#,
    )
    .expect("write script");
    let output = piped_sandbox(home.path(), &script, "/help\n/quiet\n");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        out.lines().any(|l| l.starts_with("bot: dead air after ")),
        "on_quiet did not speak:\n{out}\n{err}"
    );
    assert!(err.contains("/quiet "), "listed in /help: {err}");
    assert!(err.contains("the room counts as quiet now"), "{err}");
}

#[test]
fn live_room_events_reach_their_hooks_and_a_tip_is_thanked_once() {
    let (lines, err) = session(
        r#"
        fn on_message(msg) { if msg.lower == "gm" { reply(`gm ${msg.author}!`) } }
        fn on_tip(ev) { reply(`thanks for ${ev.amount}, ${ev.author} (${ev.event})`) }
        fn on_live(ev) { reply(`live: ${ev.title}`) }
        fn on_trade(ev) { reply(`${ev.action} $${ev.usd} of ${ev.ticker}`) }
        fn on_pinned(ev) { queue() }
        fn on_follow(ev) { ignore() }
        "#,
        "/pin too early\ngm\n/tip 5\n/live Building\n/trade buy 25\n/pin read the docs\n/follow amy\n/trade hold 3\n",
    );
    for expected in [
        "bot: gm viewer!",
        "bot: thanks for 5, viewer (message)",
        "bot: live: Building",
        "bot: buy $25 of SBX",
        "queued for the agent, who would be woken: viewer (pinned): read the docs",
        "ignored: amy (follow): ",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "missing {expected:?} in {lines:#?}"
        );
    }
    let thanks = lines.iter().filter(|l| l.contains("thanks for")).count();
    assert_eq!(
        thanks, 1,
        "the tip came both ways and was thanked once: {lines:#?}"
    );
    assert!(
        err.contains("(not pinned: pins come in the live session's room"),
        "{err}"
    );
    assert!(err.contains("usage: /trade buy|sell USD"), "{err}");
}

/// Acknowledges `q…`, ignores `i…`, answers `same` always alike and anything else by name.
const SORTER: &str = r#"
fn on_message(msg) {
    if msg.text.starts_with("q") { return ack(`on it ${msg.text}`); }
    if msg.text.starts_with("i") { return ignore(); }
    if msg.text == "same" { return reply("same answer"); }
    reply(`re ${msg.text}`)
}
"#;

#[test]
fn piped_outcomes_come_in_input_order_and_a_repeat_names_its_message() {
    let (lines, err) = session(SORTER, "r1\nq1\ni1\nsame\nsame\nr2\n");
    assert_eq!(
        lines,
        [
            "bot: re r1",
            "bot: on it q1",
            "queued for the agent, who would be woken: viewer: q1",
            "ignored: viewer: i1",
            "bot: same answer",
            "bot stayed quiet: it said \"same answer\" within the last 30 s (the reply to viewer: same)",
            "bot: re r2",
        ],
        "{err}"
    );
}

#[test]
fn every_reply_over_the_send_budget_gets_its_own_line() {
    let viewers = ["ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"];
    let input: String = viewers
        .iter()
        .map(|v| format!("/as {v} hi {v}\n"))
        .collect();
    let (lines, err) = session(SORTER, &input);
    // The burst is five; one more may have refilled meanwhile: each viewer is either
    // answered or named as held back, once, in order.
    let mut over = 0;
    for (line, viewer) in lines.iter().zip(viewers) {
        let held = format!(
            "bot stayed quiet: over the send budget ([send] per_30s, burst): \"re hi {viewer}\" (the reply to {viewer}: hi {viewer})"
        );
        if *line == held {
            over += 1;
        } else {
            assert_eq!(*line, format!("bot: re hi {viewer}"), "{lines:#?}\n{err}");
        }
    }
    assert_eq!(lines.len(), viewers.len(), "{lines:#?}");
    assert!(over >= 2, "{lines:#?}");
}

#[test]
fn a_message_the_script_fails_on_is_shown_once() {
    let home = tempfile::tempdir().expect("tempdir");
    let path = home.path().join("fails.rhai");
    std::fs::write(
        &path,
        "fn on_message(msg) {\n    if msg.text == \"boom\" { throw \"kaboom\"; }\n    reply(`ok ${msg.text}`)\n}\n",
    )
    .expect("write script");
    // The sandbox's own logging, not the tests' debug.
    let mut cmd = sandbox_in(home.path());
    cmd.env_remove("RUST_LOG").arg("--script").arg(&path);
    let output = fed(&mut cmd, "boom\nhi\n");
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    let failure = format!("{}:2:29: runtime error: kaboom", path.display());
    assert_eq!(
        out,
        format!(
            "queued for the agent, who would be woken: viewer: boom (the script failed: {failure})\nbot: ok hi\n"
        ),
        "{err}"
    );
    assert!(!err.contains("kaboom"), "said again in the log: {err}");
}

#[test]
fn arrow_keys_and_control_characters_are_never_said() {
    let (lines, err) = session(
        "fn on_message(msg) { reply(`heard ${msg.text}`) }\n",
        "\u{1b}[A\n/as bob \u{1b}[31mhi\ngm\u{7}\n\u{1b}[D/quit\ngm\n",
    );
    assert_eq!(lines, ["bot: heard gm"], "{err}");
    let refused = "ignored: arrow keys and control characters are not chat (nothing was said)";
    assert_eq!(err.matches(refused).count(), 4, "{err}");
}

const README: &str = include_str!("../README.md");

/// The lines of the README's `text` block that begins with `first`.
pub fn readme_block(first: &str) -> Vec<&'static str> {
    README
        .split("```text\n")
        .find(|chunk| chunk.starts_with(first))
        .and_then(|chunk| chunk.split("```").next())
        .unwrap_or_else(|| panic!("no README block begins with {first:?}"))
        .lines()
        .collect()
}

#[test]
fn the_readme_session_is_what_the_sandbox_prints() {
    let block = readme_block("gm\n");
    let said = |line: &str| !line.starts_with("bot: ") && !line.starts_with("queued for ");
    let input: String = block
        .iter()
        .filter(|l| said(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("personality.rhai");
    std::fs::write(&script, retake_chat::script::EMBEDDED_PERSONALITY).expect("write script");
    let output = piped_sandbox(home.path(), &script, &input);
    let out = String::from_utf8_lossy(&output.stdout);
    let shown: Vec<&str> = block.iter().copied().filter(|l| !said(l)).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), shown);
}

#[test]
fn in_says_a_line_in_another_streamers_room_and_the_reply_goes_there() {
    let (out, err) = session(
        r#"fn on_message(msg) {
    if msg.own_room { return reply(`here: ${msg.text}`); }
    reply(`in ${msg.room_name}: ${msg.text}`)
}
"#,
        "gm\n/in rival gm\n/in nowhere gm\n",
    );
    assert_eq!(
        out,
        ["bot: here: gm", "bot (in rival): in rival: gm"],
        "{err}"
    );
    assert!(err.contains("usage: /in rival text"), "{err}");
}
