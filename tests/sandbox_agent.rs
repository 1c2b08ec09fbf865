//! The agent loop against the sandbox: it prints its state directory and the environment a
//! second terminal needs, and with exactly that, `queue take`, `reply --ack` and `status` (as
//! child processes) work against it; the agent's reply shows in the sandbox's output, marked
//! as the agent's. `--state-dir` keeps the state after the sandbox ends. And, typed line by
//! line as well, a script edited mid-session: reloaded, or its error shown.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output};
use std::sync::mpsc::{Receiver, channel};
use std::time::Instant;

use crate::sandbox_command::{fed, readme_block, sandbox_in};
use crate::support::{DEADLINE, bin, run};

/// A running `sandbox`, its stdin open, its output lines arriving on channels.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<String>,
    err: Receiver<String>,
}

/// Each line `from` writes, on a channel (until it closes).
fn lines(from: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line from `rx` that `wanted` accepts, within [`DEADLINE`]; the lines before it
/// are kept in `seen` for the failure message.
fn next_line(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(line) => seen.push(line),
            Err(e) => panic!("no such line ({e}); saw:\n{}", seen.join("\n")),
        }
    }
}

impl Running {
    fn start(home: &Path, args: &[&str]) -> Self {
        let mut child = sandbox_in(home).args(args).spawn().expect("spawn");
        let out = lines(child.stdout.take().expect("stdout"));
        let err = lines(child.stderr.take().expect("stderr"));
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            out,
            err,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write");
    }

    /// Wait for `line` on stdout.
    fn expect_out(&self, line: &str) {
        let mut seen = Vec::new();
        next_line(&self.out, &mut seen, |l| l == line);
    }

    /// The printed guide's four lines, and the variables of its `export` line.
    fn guide(&self) -> (Vec<String>, Vec<(String, String)>) {
        let mut seen = Vec::new();
        let first = |l: &str| l.starts_with("sandbox: state directory ");
        let mut guide = vec![next_line(&self.err, &mut seen, first)];
        for _ in 0..3 {
            guide.push(next_line(&self.err, &mut seen, |_| true));
        }
        let vars = guide[2]
            .trim_start()
            .strip_prefix("export ")
            .expect("export")
            .split(' ')
            .map(|pair| {
                let (name, value) = pair.split_once('=').expect("NAME=value");
                (name.to_string(), value.to_string())
            })
            .collect();
        (guide, vars)
    }

    /// Close stdin and let it end by itself; its exit code.
    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < end,
                "the sandbox did not end after its input"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `retake-chat ARGS` with only the printed environment (and PATH, HOME).
fn as_agent(home: &Path, vars: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.env("HOME", home).current_dir(home).args(args);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    cmd
}

#[test]
fn a_second_terminal_plays_the_agent_with_the_printed_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("bot.rhai");
    std::fs::write(
        &script,
        "fn on_message(msg) { ack(`on it, ${msg.author}`) }\n",
    )
    .expect("write script");
    let mut sandbox = Running::start(home.path(), &["--script", &script.display().to_string()]);
    let (guide, vars) = sandbox.guide();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "RETAKE_STATE_DIR",
            "RETAKE_API",
            "RETAKE_API_URL",
            "RETAKE_ACCESS_TOKEN",
            "RETAKE_USER_DB_ID",
            "RETAKE_AGENT_NAME"
        ]
    );
    let state = PathBuf::from(&vars[0].1);
    assert!(state.is_dir(), "{}", state.display());
    // What the README shows, but for the directory and the port.
    let shown: Vec<String> = readme_block("sandbox: state directory ")
        .iter()
        .map(|line| {
            line.replace("/tmp/retake-chat-sandbox-Xa81bQ", &vars[0].1)
                .replace("http://127.0.0.1:40711", &vars[2].1)
        })
        .collect();
    assert_eq!(guide, shown);

    sandbox.say("what is rust?");
    sandbox.expect_out("bot: on it, viewer");
    sandbox.expect_out("queued for the agent, who would be woken: viewer: what is rust?");

    let (code, out, err) = run(&mut as_agent(home.path(), &vars, &["queue", "take"]));
    assert_eq!(code, 0, "{err}");
    let item: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON item");
    assert_eq!(item["text"], "what is rust?", "{out}");
    let id = item["id"].as_str().expect("id").to_string();

    let reply = [
        "reply",
        "--ack",
        &id,
        "a language that never segfaults on stream",
    ];
    let (code, _, err) = run(&mut as_agent(home.path(), &vars, &reply));
    assert_eq!(code, 0, "{err}");
    sandbox.expect_out("bot (the agent's reply): a language that never segfaults on stream");

    let (code, out, err) = run(&mut as_agent(
        home.path(),
        &vars,
        &["queue", "list", "--all"],
    ));
    assert_eq!((code, out.as_str()), (0, ""), "acknowledged: {err}");
    let (code, out, err) = run(&mut as_agent(home.path(), &vars, &["status"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("healthy"), "{out}");

    // The sandbox's listener holds its state directory: a second sandbox there is refused.
    let output = bin()
        .env("HOME", home.path())
        .args(["sandbox", "--state-dir"])
        .arg(&state)
        .output()
        .expect("second sandbox");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!(
            "is already running with the state directory {}; stop it",
            state.display()
        )),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert_eq!(sandbox.finish(), 0);
    assert!(!state.exists(), "the temp state directory is left");
}

#[test]
fn a_kept_state_dir_survives_and_a_second_run_starts_afresh_in_it() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("bot.rhai");
    std::fs::write(&script, "fn on_message(msg) { queue() }\n").expect("write script");
    let state = home.path().join("kept");
    for run in 1..=2 {
        let output = piped_sandbox_in(home.path(), &script, &state, &format!("run {run}\n"));
        let out = String::from_utf8_lossy(&output.stdout);
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{err}");
        // Only this run's message: the earlier run's decisions are not shown again, and
        // this run's ids are new (a repeated id would be dropped as a server repeat).
        assert_eq!(
            out,
            format!("queued for the agent, who would be woken: viewer: run {run}\n"),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "sandbox: state directory {} (kept after the sandbox ends)",
                state.display()
            )),
            "{err}"
        );
    }
    let queue = std::fs::read_to_string(state.join("queue.jsonl")).expect("kept queue");
    assert_eq!(queue.lines().count(), 2, "{queue}");
}

/// `sandbox --script SCRIPT --state-dir STATE` with `input` piped in, to its end.
fn piped_sandbox_in(home: &Path, script: &Path, state: &Path, input: &str) -> Output {
    let mut cmd = sandbox_in(home);
    cmd.arg("--script")
        .arg(script)
        .arg("--state-dir")
        .arg(state);
    fed(&mut cmd, input)
}

/// Editing the personality mid-session (as editors save: a temp file renamed over it) says
/// `reloaded` and the new version answers; a broken edit says `script error` with its
/// position, and the last good version keeps answering.
#[test]
fn an_edit_is_reloaded_and_a_broken_one_is_shown_while_the_last_good_answers() {
    let home = tempfile::tempdir().expect("tempdir");
    let script = home.path().join("bot.rhai");
    let edit = |source: &str| {
        let tmp = home.path().join("bot.rhai.swp");
        std::fs::write(&tmp, source).expect("write the edit");
        std::fs::rename(&tmp, &script).expect("save it over the script");
    };
    std::fs::write(&script, "fn on_message(msg) { reply(\"one\") }\n").expect("write script");
    let mut sandbox = Running::start(home.path(), &["--script", &script.to_string_lossy()]);
    sandbox.say("hi");
    sandbox.expect_out("bot: one");
    edit("fn on_message(msg) { reply(`two ${msg.text}`) }\n");
    sandbox.expect_out(&format!("reloaded {}", script.display()));
    sandbox.say("hi");
    sandbox.expect_out("bot: two hi");
    edit("fn on_message(msg) { reply( }\n");
    let mut seen = Vec::new();
    let error = next_line(&sandbox.out, &mut seen, |l| l.starts_with("script error: "));
    assert!(
        error.starts_with(&format!("script error: {}:1:", script.display())),
        "{error}"
    );
    assert!(seen.is_empty(), "nothing else came first: {seen:?}");
    sandbox.say("hey");
    sandbox.expect_out("bot: two hey");
    assert_eq!(sandbox.finish(), 0);
}
