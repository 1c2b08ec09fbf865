//! `doctor`'s checks of this machine, each a plain function to an [`Outcome`]: the
//! credentials, the TLS roots, the wake command on PATH, the state directory (writable, and
//! who holds its lock) and the personality (it loads and passes its self-tests). Nothing here
//! goes on the network or leaves a file behind.

use std::path::{Path, PathBuf};

use super::Outcome;
use crate::config::{Config, ConfigError, Credentials, ScriptChoice, StateDir, Tls, WakeConfig};
use crate::script::{Clock, LoadError, ScriptError, ScriptHost, Session};
use crate::state_lock::{self, Holder};

/// The credentials as read from `path`: who the bot speaks as, or the reading error (which
/// says what to do: `init`, `sandbox`, the variable to set). A file other users can read is a
/// problem too: the token is in it.
pub fn credentials(read: &Result<Credentials, ConfigError>, path: &Path) -> Outcome {
    match read {
        Ok(_) if readable_by_others(path) => Outcome::fail(
            format!("{} is readable by other users", path.display()),
            format!("chmod 600 {}", path.display()),
        ),
        Ok(creds) => Outcome::Ok(format!("{} in room {}", creds.agent_name, creds.user_db_id)),
        Err(error @ (ConfigError::CredsMissing { .. } | ConfigError::CredsField { .. })) => {
            Outcome::fail(error.to_string(), "")
        }
        Err(error) => Outcome::fail(
            error.to_string(),
            "fix the file, or write a new one with `retake-chat init --force`",
        ),
    }
}

/// The roots every connection verifies peers with, and that an HTTP client can be built on
/// them.
pub fn tls(loaded: &Result<Tls, ConfigError>, config: &Config) -> Outcome {
    let next = "point SSL_CERT_FILE at a PEM file of CA certificates, or unset it";
    match loaded {
        Ok(tls) => match tls.http(reqwest::Client::builder()).build() {
            Ok(_) => Outcome::Ok(format!("{} load", tls_roots(config))),
            Err(e) => Outcome::fail(
                format!("cannot set up TLS: {}", crate::error_text::with_causes(&e)),
                next,
            ),
        },
        Err(error) => Outcome::fail(error.to_string(), next),
    }
}

/// The roots in words: Mozilla's, and the extra file's.
pub fn tls_roots(config: &Config) -> String {
    let mozilla = format!(
        "Mozilla's {} root certificates",
        webpki_roots::TLS_SERVER_ROOTS.len()
    );
    match config.tls.extra_roots() {
        Some((file, added)) => format!("{mozilla} + {added} from {}", file.display()),
        None => mozilla,
    }
}

/// The wake command's program can be run: on `path` (the `PATH` value) when it has no `/`,
/// else at the path given. An HTTP wake and no wake at all are fine as they are.
pub fn wake(wake: &WakeConfig, path: Option<&str>) -> Outcome {
    if let Some(url) = &wake.url {
        return Outcome::Ok(format!("an HTTP POST to {url}"));
    }
    let Some(program) = wake.command.first() else {
        return Outcome::Ok("off ([wake] command = []): the agent is never woken".into());
    };
    let next = "install it, or set [wake] command (or url) in the config file; \
                `command = []` turns waking off";
    if program.contains('/') {
        return if is_executable(Path::new(program)) {
            Outcome::Ok(format!("`{program}` can be run"))
        } else {
            Outcome::fail(format!("`{program}` is not an executable file"), next)
        };
    }
    let found = path
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate));
    match found {
        Some(at) => Outcome::Ok(format!("`{program}` is {}", at.display())),
        None => Outcome::fail(format!("`{program}` is not on PATH"), next),
    }
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The state directory can be used: ours alone, writable (a temporary file is made and
/// removed), and who holds its listener lock. One that does not exist yet is fine when its
/// nearest existing parent is writable: `run` creates it.
pub fn state_dir(dir: &Path) -> Outcome {
    let next_dir = "give the listener one of its own with --state-dir or RETAKE_STATE_DIR";
    if let Err(error) = crate::files::check_state_dir(dir) {
        return Outcome::fail(error.to_string(), next_dir);
    }
    if !dir.exists() {
        let Some(parent) = nearest_existing(dir) else {
            return Outcome::fail(
                format!("{} does not exist, nor any parent of it", dir.display()),
                next_dir,
            );
        };
        return match writable(&parent) {
            Ok(()) => Outcome::Ok(format!(
                "{} does not exist yet; `run` creates it (in {}, which is writable)",
                dir.display(),
                parent.display()
            )),
            Err(e) => Outcome::fail(
                format!(
                    "{} does not exist, and {} is not writable ({e})",
                    dir.display(),
                    parent.display()
                ),
                next_dir,
            ),
        };
    }
    if let Err(e) = writable(dir) {
        return Outcome::fail(
            format!("{} is not writable ({e})", dir.display()),
            format!("make it yours (chmod 700 {}), or {next_dir}", dir.display()),
        );
    }
    let lock = dir.join(StateDir::LISTENER_LOCK);
    let holder = match state_lock::holder(dir) {
        Ok(Holder::NoFile) => "no listener has used it yet".to_string(),
        Ok(Holder::Free) => format!("no listener holds {}", lock.display()),
        Ok(Holder::Running(pid)) => format!(
            "a listener{} is running with it (it holds {}): a second `run` here is refused; \
             `retake-chat status` tells how it is",
            pid.map_or(String::new(), |p| format!(" (pid {p})")),
            lock.display()
        ),
        Err(e) => {
            return Outcome::fail(
                format!("cannot read {}: {e}", lock.display()),
                format!("make it readable, or {next_dir}"),
            );
        }
    };
    Outcome::Ok(format!("{} is writable; {holder}", dir.display()))
}

/// The closest ancestor of `dir` that exists.
fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .skip(1)
        .find(|p| p.as_os_str().is_empty() || p.exists())
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
}

/// A file can be made in `dir`: one is, and removed at once.
fn writable(dir: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".retake-chat-doctor-")
        .tempfile_in(dir)
        .map(drop)
}

/// The personality `run` would use compiles under the configured limits and passes its own
/// `tests()`: the same load the listener does at start.
pub fn script(config: &Config) -> Outcome {
    let runtime =
        ScriptHost::with_session((&config.script_limits).into(), Session::new(Clock::System));
    let label = match &config.script {
        ScriptChoice::File(path) => path.display().to_string(),
        ScriptChoice::Embedded => "the built-in copy".to_string(),
    };
    match crate::script::load(&runtime, &config.script) {
        Ok(personality) => Outcome::Ok(format!(
            "{label} loads and passes its {} self-tests",
            personality.tests_passed()
        )),
        Err(LoadError {
            error: ScriptError::Io { .. } | ScriptError::TooLarge { .. },
            rendered,
        }) => Outcome::fail(
            rendered,
            "give the script with --script PATH (or [script] path in the config file)",
        ),
        Err(LoadError { rendered, .. }) => Outcome::fail(
            rendered,
            format!(
                "fix it: `retake-chat check {label}` lists every problem, `retake-chat sandbox \
                 --script {label}` tries it live"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wake_program_is_looked_for_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wake = |command: &[&str]| WakeConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            ..WakeConfig::default()
        };
        let path = dir.path().display().to_string();
        assert_eq!(
            super::wake(&wake(&["openclaw", "system"]), Some(&path)),
            Outcome::fail(
                "`openclaw` is not on PATH",
                "install it, or set [wake] command (or url) in the config file; `command = []` \
                 turns waking off"
            )
        );
        let program = dir.path().join("openclaw");
        std::fs::write(&program, "#!/bin/sh\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        assert_eq!(
            super::wake(&wake(&["openclaw"]), Some(&path)),
            Outcome::Ok(format!("`openclaw` is {}", program.display()))
        );
        assert!(matches!(
            super::wake(&wake(&[]), None),
            Outcome::Ok(text) if text.starts_with("off")
        ));
    }
}
