//! Shared hosts: the sandbox's state directory is random, private and gone after Ctrl-C or
//! SIGTERM; temp files never follow a planted symlink; the state directory and its files are
//! ours alone (0700 and 0600) and one that others can write to is refused; credentials are
//! read only from small regular files, so a FIFO or `/dev/zero` is a sentence, not a hang.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{DEADLINE, ROOM, bin, expect, listener, start_fake, terminate, write_creds};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Our effective uid, as the kernel records it on a file we create.
fn our_uid(dir: &Path) -> u32 {
    let probe = dir.join("uid-probe");
    std::fs::write(&probe, "").expect("probe");
    let uid = std::fs::metadata(&probe).expect("stat").uid();
    std::fs::remove_file(&probe).expect("remove probe");
    uid
}

/// Send `signal` (`-TERM`, `-INT`) to `pid`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// Run `cmd` to its end within [`DEADLINE`] (killed and failed otherwise): code, stdout, stderr.
fn run_bounded(cmd: &mut Command) -> (i32, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = Instant::now() + DEADLINE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "still running after {DEADLINE:?}; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!err.contains("panicked"), "panic: {err}");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        err,
    )
}

#[test]
fn the_sandbox_state_dir_is_random_private_and_removed_on_sigterm_and_ctrl_c() {
    for sig in ["-TERM", "-INT"] {
        let home = tempfile::tempdir().expect("tempdir");
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut child = bin()
            .env("HOME", home.path())
            .env("TMPDIR", tmp.path())
            .current_dir(home.path())
            .arg("sandbox")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Answered, so the sandbox is up and reading the next line (a read nothing cancels).
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"gm\n").expect("write");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while !line.starts_with("bot: ") {
            line.clear();
            assert!(
                out.read_line(&mut line).expect("read") > 0,
                "no answer to gm"
            );
        }
        let entries = || -> Vec<std::path::PathBuf> {
            std::fs::read_dir(tmp.path())
                .expect("read TMPDIR")
                .map(|e| e.expect("entry").path())
                .collect()
        };
        let found = entries();
        assert_eq!(found.len(), 1, "one state directory: {found:?}");
        let state = found[0].clone();
        let name = state
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_ne!(
            name,
            format!("retake-chat-sandbox-{}", child.id()),
            "a name another user can predict"
        );
        assert_eq!(mode(&state), 0o700, "{name}");
        signal(child.id(), sig);
        let end = Instant::now() + DEADLINE;
        while child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < end, "the sandbox ignored {sig}");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(stdin);
        assert_eq!(
            entries(),
            Vec::<std::path::PathBuf>::new(),
            "left after {sig}"
        );
    }
}

/// Remembers every message (so `memory.json` is written) and answers it.
const REMEMBERING: &str = "fn on_message(msg) { remember(\"last\", msg.text); reply(\"ok\") }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temp_files_never_follow_a_planted_symlink_and_state_files_are_private() {
    let fake = start_fake().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    chmod(&state, 0o700);
    // Where the temp files used to go, links to files that must not change.
    let mut victims = Vec::new();
    for name in ["health.json.tmp", "memory.json.tmp"] {
        let victim = dir.path().join(format!("victim-{name}"));
        std::fs::write(&victim, "precious").expect("write victim");
        std::os::unix::fs::symlink(&victim, state.join(name)).expect("symlink");
        victims.push(victim);
    }
    let script = dir.path().join("remember.rhai");
    std::fs::write(&script, REMEMBERING).expect("write script");
    let child = listener(&fake, dir.path())
        .arg("--script")
        .arg(&script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the listener");
    expect("the binary joins the room", || fake.room_size(ROOM) == 1).await;
    fake.emit_v1_message(ROOM, "s1", "ivy", "gm").await;
    expect("the reply is sent", || !fake.sent().is_empty()).await;
    let files = [
        "health.json",
        "memory.json",
        "decisions.jsonl",
        "listener.lock",
    ];
    expect("the state files are written", || {
        files.iter().all(|name| state.join(name).exists())
    })
    .await;
    for name in files {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    terminate(&child);
    let _ = child.wait_with_output().await;
    for victim in &victims {
        let text = std::fs::read_to_string(victim).expect("read victim");
        assert_eq!(text, "precious", "{} was written through", victim.display());
    }
    for name in ["health.json", "memory.json"] {
        let meta = std::fs::symlink_metadata(state.join(name)).expect("stat");
        assert!(meta.is_file(), "{name} is a regular file of its own");
    }
}

#[test]
fn a_new_state_dir_is_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("deeper").join("state");
    let creds = write_creds(dir.path());
    // Nothing listens on port 9: the listener gives up after one attempt, its dir made.
    let (code, _, err) = run_bounded(
        bin()
            .env("HOME", dir.path())
            .args(["--chat-url", "http://127.0.0.1:9/", "--max-reconnects", "1"])
            .arg("--creds")
            .arg(&creds)
            .arg("--state-dir")
            .arg(&state),
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(mode(&state), 0o700);
}

#[test]
fn another_users_state_dir_is_refused_and_never_written_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    let victim = dir.path().join("root-only");
    std::fs::write(&victim, "precious").expect("write victim");
    chmod(&victim, 0o600);
    std::os::unix::fs::symlink(&victim, state.join("health.json.tmp")).expect("symlink");
    let creds = write_creds(dir.path());
    let listen = || {
        let mut cmd = bin();
        cmd.env("HOME", dir.path())
            .args(["--chat-url", "http://127.0.0.1:9/", "--max-reconnects", "1"])
            .arg("--creds")
            .arg(&creds)
            .arg("--state-dir")
            .arg(&state);
        cmd
    };
    // What the attacker left: a directory anyone may write to.
    chmod(&state, 0o777);
    let (code, _, err) = run_bounded(&mut listen());
    assert_eq!(code, 2, "{err}");
    let shown = state.display();
    assert!(
        err.contains(&format!(
            "state directory {shown} is writable by other users (mode 777); run: chmod 700 {shown}"
        )),
        "{err}"
    );
    let (code, _, err) = run_bounded(bin().args(["queue", "take", "--state-dir"]).arg(&state));
    assert_eq!(code, 2, "queue take on it too: {err}");
    if our_uid(dir.path()) == 0 {
        // As root, a directory of another user (nobody) is refused even when private.
        std::os::unix::fs::chown(&state, Some(65534), Some(65534)).expect("chown");
        chmod(&state, 0o700);
        let (code, _, err) = run_bounded(&mut listen());
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&format!(
                "state directory {shown} belongs to another user (uid 65534); use a directory of your own"
            )),
            "{err}"
        );
    } else {
        eprintln!("not root: the other-owner case needs chown, skipped");
    }
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
}

#[test]
fn credentials_and_config_come_only_from_small_regular_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("creds.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let huge = dir.path().join("huge.json");
    std::fs::write(&huge, " ".repeat(100 * 1024)).expect("write");
    let creds = write_creds(dir.path());
    let fifo_shown = fifo.display().to_string();
    let huge_shown = huge.display().to_string();
    let cases = [
        (
            "--creds",
            fifo_shown.as_str(),
            "it is a FIFO, not a regular file",
        ),
        (
            "--creds",
            "/dev/zero",
            "it is a character device, not a regular file",
        ),
        ("--creds", huge_shown.as_str(), "it is larger than 64 KiB"),
        (
            "--config",
            "/dev/zero",
            "it is a character device, not a regular file",
        ),
    ];
    for (flag, path, why) in cases {
        let what = if flag == "--creds" {
            "credentials file"
        } else {
            "config file"
        };
        // A cap on memory, so a reader without a limit fails here instead of the machine.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "ulimit -v 2000000 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_retake-chat"))
            .env_clear()
            .env("HOME", dir.path())
            .args(["--chat-url", "http://127.0.0.1:9/", "--max-reconnects", "1"])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args([flag, path])
            .stdin(Stdio::null());
        if flag == "--config" {
            cmd.arg("--creds").arg(&creds);
        }
        let (code, _, err) = run_bounded(&mut cmd);
        assert_eq!(code, 2, "{flag} {path}: {err}");
        assert_eq!(
            err.lines().last().unwrap_or_default(),
            format!("error: cannot read {what} {path}: {why}"),
            "{flag} {path}: {err}"
        );
    }
}
