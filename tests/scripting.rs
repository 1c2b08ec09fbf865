//! Scripting as users meet it, through the real binary: `check` (exact diagnostics, every
//! shipped script, headers, self-tests), `try`, `replay` on a simulated clock, the helpers, and
//! a script whose self-tests fail being refused at start and on hot reload.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{Harness, Setup, TOKEN, empty_cwd, expect};

mod config;
mod replay;

/// The binary with a clean environment (nothing leaks in from the developer's), in an empty
/// directory (the checkout's `scripts/personality.rhai` is the user's to edit).
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_retake-chat"));
    cmd.current_dir(empty_cwd())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// Run it: exit code, stdout, stderr (never a panic).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("binary runs");
    let (out, err) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    (status.code().unwrap_or(-1), out, err)
}

/// Write `source` as `name` in `dir` and return its path.
pub fn script(dir: &Path, name: &str, source: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path
}

/// Every stdout line parsed as JSON.
pub fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

const FAILING: &str = r#"fn on_message(msg) {
    if msg.lower == "gm" { return reply("hello"); }
    ignore()
}

fn tests() {
    [
        #{ say: "gm", from: "alice", expect: "reply", contains: "gm" },
    ]
}
"#;

#[test]
fn check_prints_syntax_errors_with_line_and_caret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(
        dir.path(),
        "broken.rhai",
        "fn on_message(msg) {\n    reply(\"x\" +)\n}\n",
    );
    let (code, out, _) = run(bin().arg("check").arg(&path));
    assert_eq!(code, 1);
    let expected = format!(
        "{}:2:16: syntax error: unexpected ')'\n   2 |     reply(\"x\" +)\n     |                ^\n",
        path.display()
    );
    assert_eq!(out, expected);
}

#[test]
fn check_names_the_failing_self_test_and_what_came_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "failing.rhai", FAILING);
    let (code, out, _) = run(bin().arg("check").arg(&path));
    assert_eq!(code, 1);
    let expected = format!(
        "{}:6:1: self-test failed: case 1 (\"gm\" from alice): expected reply containing \"gm\", got reply \"hello\"\n   6 | fn tests() {{\n     | ^\n",
        path.display()
    );
    assert_eq!(out, expected);
}

#[test]
fn check_refuses_a_newer_api_and_prints_the_header_of_good_scripts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let newer = script(
        dir.path(),
        "newer.rhai",
        "//! name: future\n//! api: 99\nfn on_message(msg) {}\n",
    );
    let good = script(
        dir.path(),
        "good.rhai",
        "//! name: good\n//! version: 2.0.1\n//! author: Ada\nfn on_message(msg) {}\nfn every_5m() {}\n",
    );
    let (code, out, _) = run(bin().arg("check").arg(&good).arg(&newer));
    assert_eq!(code, 1);
    let expected = format!(
        "{}: ok\n    name         good\n    version      2.0.1\n    author       Ada\n    api          1\n    hooks        on_message(msg), every_5m()\n    timers       every_5m\n    tests        none (add fn tests() to pin behaviour)\n\
         {}:2:5: header: this script needs scripting API 99, but this retake-chat provides API 1; upgrade retake-chat to run it\n   2 | //! api: 99\n     |     ^\n",
        good.display(),
        newer.display()
    );
    assert_eq!(out, expected);
    // An unreadable file wins: exit 2.
    let (code, _, err) = run(bin()
        .arg("check")
        .arg(&good)
        .arg(dir.path().join("nope.rhai")));
    assert_eq!(code, 2);
    assert!(err.contains("nope.rhai: cannot read script: "), "{err}");
}

#[test]
fn every_shipped_script_passes_check_with_its_own_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The built-in personality, not scripts/personality.rhai: that is the user's copy (CI
    // checks it as committed), and a half-done edit of it must not fail `cargo test`.
    let builtin = tempfile::tempdir().expect("tempdir");
    let mut paths = vec![builtin.path().join("personality.rhai")];
    std::fs::write(&paths[0], retake_chat::script::EMBEDDED_PERSONALITY).expect("write");
    for entry in std::fs::read_dir(root.join("examples")).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rhai") {
            paths.push(path);
        }
    }
    paths.sort();
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for wanted in [
        "personality.rhai",
        "greeter.rhai",
        "commands.rhai",
        "quiet.rhai",
        "lively.rhai",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "{wanted} missing: {names:?}"
        );
    }
    let (code, out, err) = run(bin().arg("check").args(&paths));
    assert_eq!(code, 0, "{out}{err}");
    for path in &paths {
        let block = out
            .split(&format!("{}: ok\n", path.display()))
            .nth(1)
            .expect("a summary per script");
        let tests = block
            .lines()
            .find(|l| l.trim_start().starts_with("tests"))
            .expect("tests row");
        assert!(
            tests.ends_with("passed") && !tests.contains(" 0 passed"),
            "{path:?}: {tests}"
        );
        assert!(
            block.lines().any(|l| l.trim_start().starts_with("name ")),
            "{path:?} has no header"
        );
    }
}

#[test]
fn try_prints_one_decision_per_text() {
    let (code, out, _) =
        run(bin().args(["try", "--author", "alice", "gm", "what are you building?"]));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "gm  →  reply \"gm alice! ☀️\"\nwhat are you building?  →  ack \"On it alice! 💭\"\n"
    );
    let (code, out, _) = run(bin().args(["try", "--json", "--author", "bo", "ping", "nice"]));
    assert_eq!(code, 0);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["text"], "ping");
    assert_eq!(lines[0]["author"], "bo");
    assert_eq!(lines[0]["decision"], "reply");
    assert_eq!(lines[0]["say"], "pong! 🏓");
    assert_eq!(lines[1]["decision"], "ack");
    assert_eq!(lines[1]["say"], "On it bo! 💭");
    // A script failing on a text: the listener would queue it; try says so and exits 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "t.rhai", "fn on_message(msg) {\n  nope()\n}\n");
    let (code, out, _) = run(bin().arg("try").arg("--script").arg(&path).arg("x"));
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "x  →  queue (script failed: {}:2:3: runtime error: function not found: nope ())\n",
            path.display()
        )
    );
}

#[test]
fn try_exercises_the_helpers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = r#"fn on_message(msg) {
    log(`deciding for ${msg.author}`);
    let n = (recall("n") ?? 0) + 1;
    remember("n", n);
    remember_for(msg.author, "last", msg.text);
    let picked = pick(["only"]);
    let sure = chance(1.0) && !chance(0.0);
    let cmd = matches(msg.text, "^!\\w+") && msg.command == "roll" && msg.args == ["2", "d6"];
    let fresh = cooldown("k", 60);
    `${n} ${recall_for(msg.author, "last")} ${picked} ${sure} ${cmd} ${fresh} ${msg.count} ${msg.first_time} ${now() > 1600000000000}`
}"#;
    let path = script(dir.path(), "helpers.rhai", source);
    let (code, out, err) = run(bin()
        .args(["try", "--author", "cy", "--script"])
        .arg(&path)
        .args(["!roll 2 d6", "hello"]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "!roll 2 d6  →  reply \"1 !roll 2 d6 only true true true 1 true true\"\nhello  →  reply \"2 hello only true false false 2 false true\"\n"
    );
    assert!(err.contains("deciding for cy"), "{err}");
    // Nothing was written next to the script or anywhere in the working directory.
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(files.len(), 1);
}

fn creds(dir: &Path) -> PathBuf {
    let path = dir.join("credentials.json");
    let body = format!(r#"{{"access_token": "{TOKEN}", "userDbId": "u", "agent_name": "Bot"}}"#);
    std::fs::write(&path, body).expect("write creds");
    path
}

/// `retake-chat` run as the listener with credentials and a state dir in `dir`, against a
/// chat address nothing listens on: what stops its start shows before it connects.
fn listener_in(dir: &Path) -> Command {
    let mut cmd = bin();
    cmd.env("HOME", dir)
        .arg("--creds")
        .arg(creds(dir))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--chat-url")
        .arg("http://127.0.0.1:9/");
    cmd
}

#[test]
fn a_script_whose_tests_fail_or_needs_a_newer_api_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, source, message) in [
        (
            "failing.rhai",
            FAILING,
            ":6:1: self-test failed: case 1 (\"gm\" from alice): expected reply containing \"gm\", got reply \"hello\"",
        ),
        (
            "newer.rhai",
            "//! api: 2\nfn on_message(msg) {}\n",
            ":1:5: header: this script needs scripting API 2",
        ),
    ] {
        let path = script(dir.path(), name, source);
        let (code, out, err) = run(listener_in(dir.path()).arg("--script").arg(&path));
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!("{}{message}", path.display())),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_whose_tests_fail_keeps_the_last_good_script() {
    let good = "fn on_message(msg) { reply(\"good \" + msg.author) }\nfn tests() { [#{ say: \"x\", from: \"t\", expect: \"reply\", equals: \"good t\" }] }\n";
    let h = Harness::start_with(Setup {
        script: Some(good.to_string()),
        ..Setup::default()
    })
    .await;
    h.say("m1", "ann", "hi").await;
    h.wait_sent(1).await;
    assert_eq!(h.sent_texts(), ["good ann"]);

    h.edit_script(&good.replace("reply(\"good \"", "reply(\"bad \""));
    expect("health shows the failing self-test", || {
        h.health()["script"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("self-test failed: case 1 (\"x\" from t): expected reply \"good t\", got reply \"bad t\""))
    })
    .await;
    h.say("m2", "bo", "hi").await;
    h.wait_sent(2).await;
    assert_eq!(h.sent_texts(), ["good ann", "good bo"]);
}

/// `try`, `replay` and `check` without a script use the one `run` and `sandbox` would,
/// `./scripts/personality.rhai`, and `try` and `replay` say which on stderr.
#[test]
fn try_replay_and_check_default_to_the_local_personality_and_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("scripts")).expect("mkdir");
    std::fs::write(
        dir.path().join("scripts/personality.rhai"),
        "fn on_message(msg) { reply(`edited: ${msg.text}`) }\n",
    )
    .expect("write");
    let (code, out, err) = run(bin().current_dir(dir.path()).args(["try", "gm"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("edited: gm"), "{out}");
    assert!(
        err.contains("scripts/personality.rhai (--script PATH for another)"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("chat.jsonl"),
        "{\"author\": \"amy\", \"text\": \"hi\"}\n",
    )
    .expect("write");
    let (code, out, err) = run(bin().current_dir(dir.path()).args(["replay", "chat.jsonl"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("edited: hi"), "{out}");
    let (code, out, err) = run(bin().current_dir(dir.path()).arg("check"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("scripts/personality.rhai"), "{out}");
    // Elsewhere: the built-in copy, said so; `check` has nothing to check.
    let empty = tempfile::tempdir().expect("tempdir");
    let (code, _, err) = run(bin().current_dir(empty.path()).args(["try", "gm"]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("personality: the built-in copy"), "{err}");
    let (code, _, err) = run(bin().current_dir(empty.path()).arg("check"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("error: no script given and no ./scripts/personality.rhai here"),
        "{err}"
    );
}
