//! `retake-chat init` on a clean HOME, as a new user runs it: the files it writes and their
//! modes, what it refuses, what `--force` keeps, the error without a terminal, the questions
//! on a real terminal (a pseudo-terminal, the token never echoed), and a listener that then
//! starts from those files alone and answers in the room.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::pty::Pty;
use crate::support::{AGENT, ROOM, TOKEN, bin, expect, run, start_fake, terminate};

/// A clean HOME with a project folder in it, where init runs.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir(home.work()).expect("project folder");
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    fn creds(&self) -> PathBuf {
        self.path().join(".config/retake/credentials.json")
    }

    fn config(&self) -> PathBuf {
        self.path().join(".config/retake/config.toml")
    }

    /// The binary in the project folder with this HOME (and an XDG_CONFIG_HOME elsewhere,
    /// which the listener does not read for its credentials, so neither does init).
    fn bin(&self) -> Command {
        let mut cmd = bin();
        cmd.env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("xdg"))
            .current_dir(self.work());
        cmd
    }

    /// `init` with every credential given: the token by its variable, the rest by flags.
    fn init(&self, extra: &[&str]) -> (i32, String, String) {
        run(self
            .bin()
            .env("RETAKE_ACCESS_TOKEN", TOKEN)
            .args(["init", "--user-db-id", ROOM, "--agent-name", AGENT])
            .args(extra))
    }

    /// `init` started on a terminal of its own, with nothing given.
    fn init_on_a_terminal(&self) -> (Pty, std::process::Child) {
        let mut terminal = Pty::open();
        let child = terminal.attach(self.bin().arg("init")).spawn();
        (terminal, child.expect("spawn"))
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn init_writes_private_credentials_a_config_and_a_personality_then_says_what_next() {
    let home = Home::new();
    let (code, out, err) = home.init(&[]);
    assert_eq!(code, 0, "{err}");
    let creds: serde_json::Value = serde_json::from_str(&read(&home.creds())).expect("JSON");
    assert_eq!(
        creds,
        serde_json::json!({"access_token": TOKEN, "userDbId": ROOM, "agent_name": AGENT})
    );
    assert_eq!(mode(&home.creds()), 0o600);
    assert_eq!(mode(&home.path().join(".config/retake")), 0o700);
    assert_eq!(mode(&home.config()), 0o600);
    assert!(!home.path().join("xdg").exists());
    let script = home.work().join("scripts/personality.rhai");
    assert_eq!(read(&script), retake_chat::script::EMBEDDED_PERSONALITY);
    let config = home.config().display().to_string();
    let expected = format!(
        "wrote {} (readable by you only)\n\
         wrote {config} (every setting at its default, commented out)\n\
         wrote scripts/personality.rhai (the built-in personality, yours to edit)\n\
         \n\
         Next:\n\
         \x20 retake-chat doctor --config {config}\n\
         \x20     check the setup: every setting and its source, the wake command, the state dir\n\
         \x20 retake-chat sandbox\n\
         \x20     try the personality against a fake retake.tv on this machine (no network)\n\
         \x20 retake-chat check\n\
         \x20     after each edit: compile it and run its own tests\n\
         \x20 retake-chat run --dry-run --config {config}\n\
         \x20     the live chat, each decision printed, nothing sent\n\
         \x20 retake-chat run --config {config}\n\
         \x20     go live: listen on your stream\n\
         \x20 as a service: see \"Running it for months\" in the README (examples/retake-chat.service),\n\
         \x20     with that same command line in ExecStart\n",
        home.creds().display()
    );
    assert_eq!(out, expected);
    assert_eq!(err, "", "nothing to warn about");

    // The next steps work as printed: doctor finds the files (its one problem, where there
    // is no `openclaw` on PATH, is the wake), and the personality passes check and runs in
    // the sandbox.
    let (code, out, err) = run(home.bin().args(["doctor", "--config"]).arg(home.config()));
    let no_openclaw = out.contains("FAIL  wake          `openclaw` is not on PATH");
    let one_problem = code == 1 && no_openclaw && out.contains("\n1 problem: ");
    assert!(code == 0 || one_problem, "{out}{err}");
    assert!(
        out.contains("ok    credentials   TestAgent in room room-1"),
        "{out}"
    );
    assert!(out.contains("ok    personality   "), "{out}");
    let (code, out, err) = run(home.bin().arg("check"));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(home.bin().arg("sandbox").stdin(Stdio::null()));
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_started_as_init_says_answers_with_those_credentials_and_that_script() {
    let home = Home::new();
    let (code, _, err) = home.init(&[]);
    assert_eq!(code, 0, "{err}");
    let script = home.work().join("scripts/personality.rhai");
    std::fs::write(
        &script,
        "fn on_message(msg) { reply(`init's copy: ${msg.text}`) }\n",
    )
    .expect("edit the copy");
    let fake = start_fake().await;
    // From another folder: the config file names the personality.
    let mut cmd = tokio::process::Command::from(home.bin());
    let child = cmd
        .current_dir(home.path())
        .arg("run")
        .arg("--config")
        .arg(home.config())
        .env("RETAKE_CHAT_URL", fake.url())
        .env("RETAKE_API_URL", fake.url())
        .env("RETAKE_STATE_DIR", home.path().join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    expect("the listener joins the room init was given", || {
        fake.room_size(ROOM) == 1
    })
    .await;
    fake.emit_v1_message(ROOM, "i1", "ivy", "gm").await;
    expect("gm answered", || fake.sent().len() == 1).await;
    let sent = &fake.sent()[0];
    assert_eq!(sent.body["message"], "init's copy: gm");
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    terminate(&child);
    let output = child.wait_with_output().await.expect("exits");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("personality: {}", script.display())),
        "{err}"
    );
    assert!(!err.contains(TOKEN));
}

#[test]
fn init_never_replaces_credentials_without_force_and_never_a_personality() {
    let home = Home::new();
    assert_eq!(home.init(&[]).0, 0);
    let script = home.work().join("scripts/personality.rhai");
    std::fs::write(&script, "// mine\nfn on_message(msg) { ignore() }\n").expect("edit");
    std::fs::write(home.config(), "# mine\n").expect("edit");
    let before = read(&home.creds());

    let (code, out, err) = run(home
        .bin()
        .env("RETAKE_ACCESS_TOKEN", "rtk_other_token")
        .args(["init", "--user-db-id", "other", "--agent-name", "Other"]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        format!(
            "error: {} already exists; pass --force to replace it (its other fields are kept)\n",
            home.creds().display()
        )
    );
    assert_eq!(read(&home.creds()), before);

    // --force replaces the credentials, keeps their other fields, and keeps the edits.
    let mut creds: serde_json::Value = serde_json::from_str(&before).expect("JSON");
    creds["token_address"] = "So1anaTokenAddre55".into();
    std::fs::write(home.creds(), creds.to_string()).expect("add a field");
    std::fs::set_permissions(home.creds(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, out, err) = run(home
        .bin()
        .env("RETAKE_ACCESS_TOKEN", "rtk_new_token_1234")
        .args([
            "init",
            "--force",
            "--user-db-id",
            "room-2",
            "--agent-name",
            "Bot 2",
        ]));
    assert_eq!(code, 0, "{err}");
    let creds: serde_json::Value = serde_json::from_str(&read(&home.creds())).expect("JSON");
    assert_eq!(
        creds,
        serde_json::json!({
            "access_token": "rtk_new_token_1234",
            "userDbId": "room-2",
            "agent_name": "Bot 2",
            "token_address": "So1anaTokenAddre55",
        })
    );
    assert_eq!(mode(&home.creds()), 0o600);
    assert!(
        out.contains(&format!("kept {} (already there)", home.config().display())),
        "{out}"
    );
    assert!(
        out.contains("kept scripts/personality.rhai (already there)"),
        "{out}"
    );
    assert!(out.contains(" retake-chat run --config "), "{out}");
    assert!(out.contains(" --script scripts/personality.rhai\n") || !out.contains("--script"));
    assert_eq!(read(&script), "// mine\nfn on_message(msg) { ignore() }\n");
    assert_eq!(read(&home.config()), "# mine\n");
}

#[test]
fn without_a_terminal_a_missing_value_names_its_flag_and_variable() {
    let home = Home::new();
    let (code, out, err) = run(home.bin().args(["init", "--agent-name", AGENT]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "error: stdin is not a terminal, so init cannot ask: give --access-token (or \
         RETAKE_ACCESS_TOKEN) and --user-db-id (or RETAKE_USER_DB_ID)\n"
    );
    assert!(!home.creds().exists() && !home.work().join("scripts").exists());
    let (code, _, err) = run(home.bin().args([
        "init",
        "--access-token",
        "rtk_a b",
        "--user-db-id",
        ROOM,
        "--agent-name",
        AGENT,
    ]));
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "error: --access-token: the access_token has a space in it\n"
    );
}

/// `RETAKE_CREDS` and `--script`, `--config` and `--api` put the files where asked, and the
/// next steps carry the flags they then need.
#[test]
fn init_writes_where_the_flags_and_variables_say() {
    let home = Home::new();
    let creds = home.path().join("secrets/retake.json");
    let config = home.path().join("conf/chat.toml");
    let (code, out, err) = run(home
        .bin()
        .env("RETAKE_CREDS", &creds)
        .env("RETAKE_ACCESS_TOKEN", TOKEN)
        .args([
            "init",
            "--user-db-id",
            ROOM,
            "--agent-name",
            AGENT,
            "--api",
            "v2",
        ])
        .args(["--script", "bots/mine.rhai", "--config"])
        .arg(&config));
    assert_eq!(code, 0, "{err}");
    assert_eq!(mode(&creds), 0o600);
    assert!(!home.creds().exists());
    assert!(home.work().join("bots/mine.rhai").is_file());
    let text = read(&config);
    assert!(text.contains("\napi = \"v2\" "), "{text}");
    let script = home.work().join("bots/mine.rhai");
    assert!(
        text.contains(&format!("\npath = \"{}\"", script.display())),
        "{text}"
    );
    assert!(
        out.contains("\n  retake-chat sandbox --script bots/mine.rhai\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  retake-chat check bots/mine.rhai\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "\n  retake-chat run --config {}\n",
            config.display()
        )),
        "{out}"
    );
    // The config file init wrote is one the program reads.
    let (code, out, err) = run(home.bin().args(["status", "--config"]).arg(&config));
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("no readable health file"),
        "the config parsed: {err}"
    );
}

/// On a terminal, init asks; the token is not echoed as it is typed.
#[test]
fn on_a_terminal_init_asks_and_never_shows_the_token() {
    let home = Home::new();
    let (mut terminal, mut child) = home.init_on_a_terminal();
    terminal.wait_for("What retake.tv gave your agent when it registered");
    terminal.wait_for("access token (rtk_…; not shown as you type): ");
    terminal.type_line(TOKEN);
    terminal.wait_for("user id (userDbId: your stream's room): ");
    terminal.type_line(ROOM);
    terminal.wait_for("agent name (agent_name: the agent's name in the chat): ");
    terminal.type_line(AGENT);
    terminal.wait_for("Next:");
    let status = child.wait().expect("init exits");
    assert!(status.success(), "{}", terminal.screen());
    assert!(
        !terminal.screen().contains(TOKEN),
        "echoed: {}",
        terminal.screen()
    );
    assert!(
        terminal.screen().contains(ROOM),
        "the room is echoed as typed"
    );
    let creds: serde_json::Value = serde_json::from_str(&read(&home.creds())).expect("JSON");
    assert_eq!(creds["access_token"], TOKEN);
    assert_eq!(creds["agent_name"], AGENT);
}

/// Ctrl-C (SIGINT), SIGTERM or a hang-up while the token is being typed gives the terminal
/// back with its echo on, and writes nothing.
#[test]
fn a_signal_at_the_token_question_leaves_the_terminal_echoing() {
    use std::os::unix::process::ExitStatusExt;
    for signal in ["INT", "TERM", "HUP"] {
        let home = Home::new();
        let (mut terminal, mut child) = home.init_on_a_terminal();
        terminal.wait_for("not shown as you type): ");
        assert!(!terminal.echoes(), "echo is off while the token is typed");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        let status = child.wait().expect("init exits");
        assert!(status.signal().is_some(), "died of SIG{signal}: {status:?}");
        assert!(terminal.echoes(), "SIG{signal} left the echo off");
        assert!(!home.creds().exists());
    }
}

/// The first hour on a clean HOME, in the order the messages point to: `run` says to `init`;
/// `init` writes the files and says `doctor`, `sandbox`, `run --dry-run`; each of those then
/// works from those files alone, the dry run against the fake's live chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_doctor_sandbox_and_a_dry_run_work_in_that_order_on_a_clean_home() {
    use std::io::Write as _;
    use tokio::io::AsyncBufReadExt as _;
    let home = Home::new();
    let (code, _, err) = run(home.bin().arg("run"));
    assert_eq!(code, 2);
    assert!(err.contains("run `retake-chat init` to write one"), "{err}");

    let (code, steps, err) = home.init(&[]);
    assert_eq!(code, 0, "{err}");
    let config = home.config();
    for step in ["doctor", "sandbox", "run --dry-run"] {
        assert!(steps.contains(&format!("  retake-chat {step}")), "{steps}");
    }

    let (code, out, err) = run(home.bin().args(["doctor", "--config"]).arg(&config));
    assert!(code <= 1, "{out}{err}");
    assert!(
        out.contains("ok    credentials   TestAgent in room room-1"),
        "{out}"
    );
    assert!(
        out.contains("then run `retake-chat doctor` again") || code == 0,
        "{out}"
    );

    let mut sandbox = home
        .bin()
        .arg("sandbox")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sandbox starts");
    sandbox
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"gm\n")
        .expect("type");
    let output = sandbox
        .wait_with_output()
        .expect("sandbox ends with its input");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("bot: gm viewer! ☀️"), "{out}");

    let fake = start_fake().await;
    let mut cmd = tokio::process::Command::from(home.bin());
    let mut dry = cmd
        .args(["run", "--dry-run", "--config"])
        .arg(&config)
        .env("RETAKE_CHAT_URL", fake.url())
        .env("RETAKE_API_URL", fake.url())
        .env("TMPDIR", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the dry run starts");
    let mut lines = tokio::io::BufReader::new(dry.stdout.take().expect("stdout")).lines();
    expect("the dry run joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "h1", "alice", "gm").await;
    let line = tokio::time::timeout(crate::support::DEADLINE, lines.next_line())
        .await
        .expect("a decision in time")
        .expect("stdout");
    assert_eq!(
        line.as_deref(),
        Some("alice: gm  →  reply \"gm alice! ☀️\"")
    );
    terminate(&dry);
    assert!(dry.wait().await.expect("exits").success());
    assert!(fake.sent().is_empty(), "a dry run sends nothing");
}
