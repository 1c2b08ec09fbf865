//! `retake-chat doctor`, as the real binary on real files: every setting with its source and
//! the token never shown; each failed check with its next step; the state directory's lock
//! holder; a broken personality; `--online` against the fake and against a closed port; and
//! exit 2 when the settings cannot be read.

use std::path::Path;
use std::process::Command;

use crate::support::{
    Harness, ROOM, Setup, TOKEN, bin, run, start_fake, with_test_creds, write_creds,
};

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// `retake-chat doctor ARGS` with `dir` as HOME and working directory, nothing else set.
fn doctor(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.env("HOME", dir)
        .current_dir(dir)
        .arg("doctor")
        .args(args);
    cmd
}

/// The line of `out` that starts with `start` (after the indent), for exact comparison.
fn line<'a>(out: &'a str, start: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{out}"))
}

/// A clean HOME, as a new user has it: no credentials, no OpenClaw. Each problem is named
/// with what to do, nothing is created, and the exit code is 1.
#[test]
fn on_a_clean_home_each_problem_says_what_to_do_next() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = run(doctor(dir.path(), &[]).env("PATH", "/nonexistent"));
    assert_eq!(code, 1, "{out}{err}");
    let creds = dir.path().join(".config/retake/credentials.json");
    assert_eq!(
        line(&out, "FAIL  credentials"),
        format!(
            "  FAIL  credentials   no credentials file at {}: run `retake-chat init` to write \
             one (or set RETAKE_ACCESS_TOKEN, RETAKE_USER_DB_ID and RETAKE_AGENT_NAME); \
             `retake-chat sandbox` tries the bot without any",
            creds.display()
        )
    );
    assert!(
        out.contains(
            "  FAIL  wake          `openclaw` is not on PATH\n                      → install \
             it, or set [wake] command (or url) in the config file; `command = []` turns waking \
             off\n"
        ),
        "{out}"
    );
    let state = dir.path().join(".local/state/retake-chat");
    assert_eq!(
        line(&out, "ok    state dir"),
        format!(
            "  ok    state dir     {} does not exist yet; `run` creates it (in {}, which is \
             writable)",
            state.display(),
            dir.path().display()
        )
    );
    assert!(
        line(&out, "ok    personality")
            .starts_with("  ok    personality   the built-in copy loads and passes its "),
        "{out}"
    );
    assert_eq!(
        line(&out, "skip  online"),
        "  skip  online        not checked; `retake-chat doctor --online` asks the chat and API hosts"
    );
    assert_eq!(
        out.lines().last(),
        Some("2 problems: fix them as they say, then run `retake-chat doctor` again.")
    );
    // A check, not a setup: nothing was made, not even the probe file.
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("home").collect();
    assert!(left.is_empty(), "doctor left {left:?}");
}

/// Every setting from a different layer: each line names it, the token is only "set", and
/// with everything in order the exit code is 0 and the next steps are named.
#[test]
fn each_setting_names_its_source_and_the_token_is_never_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "chat_url = \"http://127.0.0.1:9/\"\n[wake]\ncommand = [\"sh\", \"-c\", \"true\"]\n",
    )
    .expect("config");
    let state = dir.path().join("state");
    let mut cmd = with_test_creds(dir.path(), &["doctor"]);
    cmd.current_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .args(["--room", "rival"])
        .env("RETAKE_API_URL", "http://127.0.0.1:9")
        .env("RETAKE_AGENT_NAME", "EnvAgent");
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains(TOKEN) && !err.contains(TOKEN),
        "the token shows"
    );
    let creds = dir.path().join("credentials.json");
    let expected = [
        format!("config file   {}  (flag --config)", config.display()),
        "api           v1  (default)".to_string(),
        "chat url      http://127.0.0.1:9/  (config file)".to_string(),
        "api url       http://127.0.0.1:9  (environment RETAKE_API_URL)".to_string(),
        format!("credentials   {}  (flag --creds)", creds.display()),
        format!(
            "access token  set ({} characters, never shown)  (credentials file)",
            TOKEN.len()
        ),
        format!("user id       {ROOM}  (credentials file)"),
        "agent name    EnvAgent  (environment RETAKE_AGENT_NAME)".to_string(),
        format!("state dir     {}  (flag --state-dir)", state.display()),
        "personality   the built-in copy  (default)".to_string(),
        "rooms         your own and rival  (flag --room)".to_string(),
        "wake          sh -c true  (config file)".to_string(),
        "metrics       off  (default)".to_string(),
    ];
    for want in &expected {
        assert!(out.contains(&format!("\n  {want}\n")), "{want}\n{out}");
    }
    assert!(line(&out, "ok    wake").contains("`sh` is /"), "{out}");
    assert!(!err.contains("readable by other users"), "{err}");
    assert!(line(&out, "ok    credentials").ends_with(&format!("EnvAgent in room {ROOM}")));
    assert_eq!(
        out.lines().last(),
        Some(
            "all good. Next: `retake-chat sandbox` tries the personality here, `retake-chat \
             doctor --online` checks the hosts, `retake-chat run --dry-run` watches it decide on \
             the live chat without answering; then `retake-chat run`."
        )
    );

    // The token from the environment: still only its length.
    let mut cmd = doctor(dir.path(), &["--state-dir"]);
    cmd.arg(&state)
        .arg("--creds")
        .arg(&creds)
        .env("RETAKE_ACCESS_TOKEN", TOKEN);
    let (_, out, _) = run(&mut cmd);
    assert!(
        out.contains(&format!(
            "\n  access token  set ({} characters, never shown)  (environment RETAKE_ACCESS_TOKEN)\n",
            TOKEN.len()
        )),
        "{out}"
    );
}

/// A state directory a listener runs with: doctor says who holds it, and that is no problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_dir_lock_holder_is_named() {
    let harness = Harness::start_with(Setup::default()).await;
    let state = harness.config.state_dir.clone();
    let dir = harness.dir.path().to_path_buf();
    let (out, _) = tokio::task::spawn_blocking(move || {
        let mut cmd = doctor(&dir, &["--state-dir"]);
        cmd.arg(&state).arg("--creds").arg(write_creds(&dir));
        let (_, out, err) = run(&mut cmd);
        (out, err)
    })
    .await
    .expect("doctor ran");
    let state = harness.config.state_dir.clone();
    assert_eq!(
        line(&out, "ok    state dir"),
        format!(
            "  ok    state dir     {} is writable; a listener (pid {}) is running with it (it \
             holds {}): a second `run` here is refused; `retake-chat status` tells how it is",
            state.display(),
            std::process::id(),
            state.join("listener.lock").display()
        )
    );
}

/// A personality that does not load: the diagnostic with its position, and where to go next.
#[test]
fn a_broken_personality_is_shown_with_its_position_and_the_next_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("broken.rhai");
    std::fs::write(&script, "fn on_message(msg) {\n  reply(\"hi\"\n}\n").expect("script");
    let mut cmd = with_test_creds(dir.path(), &["doctor"]);
    cmd.arg("--script").arg(&script);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    let shown = script.display().to_string();
    assert!(
        line(&out, "FAIL  personality").contains(&format!("{shown}:3:")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "→ fix it: `retake-chat check {shown}` lists every problem, `retake-chat sandbox \
             --script {shown}` tries it live\n"
        )),
        "{out}"
    );
}

/// `--online` against the fake: both hosts answer, the history is read with the token.
/// Against a closed port and a refused token: each fails with its next step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_asks_the_chat_and_api_hosts() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fake.url();
    let home = dir.path().to_path_buf();
    let online = move |chat: String, api: String| {
        let mut cmd = with_test_creds(&home, &["doctor", "--online"]);
        cmd.current_dir(&home).env("PATH", "/nonexistent").args([
            "--chat-url",
            &chat,
            "--api-url",
            &api,
        ]);
        run(&mut cmd)
    };
    let ask = online.clone();
    let (chat, api) = (url.clone(), url.clone());
    let (_, out, err) = tokio::task::spawn_blocking(move || ask(chat, api))
        .await
        .expect("doctor ran");
    assert_eq!(
        line(&out, "ok    chat host"),
        format!("  ok    chat host     {url} answers (a Socket.IO handshake)"),
        "{err}"
    );
    assert_eq!(
        line(&out, "ok    api host"),
        format!(
            "  ok    api host      {url} answers with the token (the chat history's newest \
             page: 0 messages)"
        )
    );
    let reads = fake.history_reads();
    assert_eq!(reads.len(), 1, "one read");
    assert_eq!(
        reads[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(fake.sent().is_empty(), "nothing posted");
    assert!(
        !fake.joins().contains_key(ROOM),
        "no room joined: {:?}",
        fake.joins()
    );

    // Not live (or the other API generation's path): the host answers, and both are said.
    fake.fail_history_next([(404, r#"{"error":"not live"}"#.to_string())]);
    let ask = online.clone();
    let (chat, api) = (url.clone(), url.clone());
    let (_, out, _) = tokio::task::spawn_blocking(move || ask(chat, api))
        .await
        .expect("doctor ran");
    assert_eq!(
        line(&out, "ok    api host"),
        format!(
            "  ok    api host      {url} answers (404 from the chat history: the stream is not \
             live, or --api is wrong; v1 reads /api/agent/stream/comments, v2 \
             /api/v1/agent/stream/comments)"
        )
    );

    fake.fail_history_next([(401, r#"{"error":"unauthorized"}"#.to_string())]);
    let ask = online.clone();
    let (chat, api) = (url.clone(), url.clone());
    let (code, out, _) = tokio::task::spawn_blocking(move || ask(chat, api))
        .await
        .expect("doctor ran");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "  FAIL  api host      {url} refused the access token (401)\n                      \
             → check access_token in the credentials file (or RETAKE_ACCESS_TOKEN); \
             `retake-chat init --force` writes a new file\n"
        )),
        "{out}"
    );

    let closed = format!("http://127.0.0.1:{}", closed_port());
    let (chat, api) = (closed.clone(), closed.clone());
    let (code, out, _) = tokio::task::spawn_blocking(move || online(chat, api))
        .await
        .expect("doctor ran");
    assert_eq!(code, 1, "{out}");
    assert!(
        line(&out, "FAIL  chat host")
            .starts_with(&format!("  FAIL  chat host     cannot reach {closed}: ")),
        "{out}"
    );
    assert!(
        out.contains("→ check --chat-url (RETAKE_CHAT_URL, chat_url) and this machine's network\n"),
        "{out}"
    );
    assert!(
        line(&out, "FAIL  api host").starts_with(&format!(
            "  FAIL  api host      cannot read the chat history from {closed}: "
        )),
        "{out}"
    );
    assert!(
        out.contains(
            "→ check --api-url (RETAKE_API_URL, api_url), --api and this machine's network\n"
        ),
        "{out}"
    );
}

/// Settings that cannot be read at all are exit 2, with the one sentence `run` would give.
#[test]
fn unreadable_settings_are_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[wake]\nbogus = 1\n").expect("config");
    let mut cmd = doctor(dir.path(), &["--config"]);
    cmd.arg(&config);
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!(
            "error: config file {}: line 2: unknown field `bogus`",
            config.display()
        )),
        "{err}"
    );
}

/// The README's doctor example is what doctor prints for a new user with credentials and no
/// OpenClaw (HOME shown as /home/you).
#[test]
fn the_readme_example_is_what_doctor_prints() {
    let readme = include_str!("../README.md");
    let example = readme
        .split("```text\nchecks\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the README shows doctor's checks");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = doctor(dir.path(), &[]);
    cmd.env("PATH", "/nonexistent")
        .env("RETAKE_CREDS", write_creds(dir.path()));
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 1, "{out}{err}");
    let home = dir.path().display().to_string();
    for shown in example.lines() {
        let printed = shown.replace("/home/you", &home);
        assert!(
            out.lines().any(|l| l == printed),
            "the README shows {shown:?}, doctor printed:\n{out}"
        );
    }
}

/// A credentials file other users can read holds the token for them too: a problem, with the
/// chmod that fixes it.
#[cfg(unix)]
#[test]
fn a_credentials_file_others_can_read_is_a_problem() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = write_creds(dir.path());
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = doctor(dir.path(), &["--creds"]);
    cmd.arg(&creds).env("PATH", "/nonexistent");
    let (code, out, _) = run(&mut cmd);
    assert_eq!(code, 1, "{out}");
    let path = creds.display();
    assert!(
        out.contains(&format!(
            "  FAIL  credentials   {path} is readable by other users\n                      \
             → chmod 600 {path}\n"
        )),
        "{out}"
    );
}
