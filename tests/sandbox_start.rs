//! `retake-chat sandbox` that cannot start says why at once: a personality that does not load
//! gets `check`'s own diagnostic and exit code, and whatever else keeps the embedded listener
//! from starting is its own sentence, not a wait for a room it never joins.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sandbox_command::sandbox_in;

/// Far below the ten seconds the sandbox used to wait for its listener to join.
const AT_ONCE: Duration = Duration::from_secs(5);

/// `sandbox ARGS` in `home`, with a viewer line waiting on an open stdin: its exit code and
/// stderr, failing if it is still running after [`AT_ONCE`].
fn start(home: &Path, args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut child = sandbox_in(home)
        .env_remove("RUST_LOG")
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"gm\n").expect("write");
    let end = Instant::now() + AT_ONCE;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "still starting after {AT_ONCE:?}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let output = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (output.status.code().unwrap_or(-1), err)
}

/// `check PATH` in `home`: its exit code and everything it printed.
fn check(home: &Path, path: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_retake-chat"))
        .env_clear()
        .current_dir(home)
        .arg("check")
        .arg(path)
        .output()
        .expect("check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_script_that_does_not_load_stops_the_sandbox_at_once_with_checks_diagnostic() {
    let home = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, Option<&str>, i32, &str); 4] = [
        (
            "broken.rhai",
            Some("fn on_message(msg) {\n    reply(\n}\n"),
            1,
            "broken.rhai:3:1: syntax error",
        ),
        ("missing.rhai", None, 2, "missing.rhai: cannot read script"),
        (
            "future.rhai",
            Some("//! api: 2\nfn on_message(msg) { ignore() }\n"),
            1,
            "future.rhai:1:5: header: this script needs scripting API 2",
        ),
        (
            "untested.rhai",
            Some(
                "fn on_message(msg) { ignore() }\nfn tests() {\n    [ #{ say: \"gm\", expect: \"reply\" } ]\n}\n",
            ),
            1,
            "untested.rhai:2:1: self-test failed: case 1",
        ),
    ];
    for (name, source, code, head) in cases {
        let path = home.path().join(name);
        if let Some(source) = source {
            std::fs::write(&path, source).expect("write script");
        }
        let (check_code, diagnostic) = check(home.path(), &path);
        assert_eq!(check_code, code, "check {name}: {diagnostic}");
        let (exit, err) = start(home.path(), &["--script".as_ref(), path.as_os_str()]);
        assert_eq!(exit, code, "{name}: {err}");
        assert!(err.contains(head), "{name}: {err}");
        assert!(
            err.contains(diagnostic.trim_end()),
            "{name}: check's diagnostic\n{diagnostic}\nis not in\n{err}"
        );
        let why = if code == 2 {
            "cannot be read"
        } else {
            "does not load"
        };
        assert!(
            err.ends_with(&format!("sandbox: not started: the personality {why}\n")),
            "{name}: {err}"
        );
        assert!(!err.contains("did not join"), "{name}: {err}");
    }
    let left: Vec<_> = std::fs::read_dir(home.path())
        .expect("read home")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("retake-chat-sandbox-")
        })
        .collect();
    assert!(left.is_empty(), "a state directory was made: {left:?}");
}

#[test]
fn a_listener_that_cannot_start_says_why_at_once() {
    let home = tempfile::tempdir().expect("tempdir");
    // A kept state directory whose script memory is not JSON: the listener refuses it.
    let state = home.path().join("state");
    std::fs::create_dir(&state).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let memory = state.join("memory.json");
    std::fs::write(&memory, "garbage{").expect("write memory");
    let (exit, err) = start(home.path(), &["--state-dir".as_ref(), state.as_os_str()]);
    assert_eq!(exit, 2, "{err}");
    assert!(
        err.contains(&format!(
            "error: cannot load the script memory {}: ",
            memory.display()
        )),
        "{err}"
    );
    assert!(!err.contains("did not join"), "{err}");
    // And one that others can write to, before the listener is even started.
    let open = home.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let (exit, err) = start(home.path(), &["--state-dir".as_ref(), open.as_os_str()]);
        assert_eq!(exit, 2, "{err}");
        assert_eq!(
            err,
            format!(
                "error: state directory {} is writable by other users (mode 777); run: chmod 700 {}\n",
                open.display(),
                open.display()
            )
        );
    }
}

#[test]
fn the_live_listeners_state_dir_is_never_the_sandboxs() {
    let home = tempfile::tempdir().expect("tempdir");
    let live = home.path().join(".local/state/retake-chat");
    let (exit, err) = start(home.path(), &["--state-dir".as_ref(), live.as_os_str()]);
    assert_eq!(exit, 2, "{err}");
    assert_eq!(
        err,
        format!(
            "error: {} is the live listener's state directory: the sandbox would put its made-up viewers in that queue; give it a directory of its own\n",
            live.display()
        )
    );
    assert!(!live.exists(), "created anyway");
}
