//! `check`, `try` and `replay` take the config file's `[script]` limits (`--config`, or
//! `RETAKE_CHAT_CONFIG`) as the listener does: a script that passes them cannot hit a lower
//! limit live.

use std::path::{Path, PathBuf};

use super::{bin, json_lines, listener_in, run, script};

/// Fine under the default 200,000 operations, over a limit of 500 on every message.
const BUSY: &str = r#"fn on_message(msg) {
    let n = 0;
    for i in 0..1000 { n += i; }
    reply(`sum ${n}`)
}
"#;

const OVER: &str = "limit exceeded: more than 500 operations";

/// `--json` output whose first decision is what the listener does when the script fails on a
/// message: queue it, with the limit's error.
fn assert_queued_over_the_limit(out: &str) {
    let rows = json_lines(out);
    assert_eq!(rows[0]["decision"], "queue", "{out}");
    assert!(
        rows[0]["error"].as_str().is_some_and(|e| e.contains(OVER)),
        "{out}"
    );
}

/// A config file with a low operations limit.
fn low_limit(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, "[script]\nmax_operations = 500\n").expect("write config");
    path
}

#[test]
fn check_fails_under_the_config_files_limits_as_the_listener_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tested =
        format!("{BUSY}\nfn tests() {{ [#{{ say: \"gm\", from: \"t\", expect: \"reply\" }}] }}\n");
    let path = script(dir.path(), "busy.rhai", &tested);
    let config = low_limit(dir.path());
    let (code, out, err) = run(bin().arg("check").arg(&path));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(bin().arg("check").arg("--config").arg(&config).arg(&path));
    assert_eq!(code, 1, "{out}");
    let diagnostic = out.lines().next().unwrap_or_default().to_string();
    assert!(diagnostic.contains(OVER), "{out}");
    // The listener with the same config refuses to start with the same line.
    let (code, _, err) = run(listener_in(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("--script")
        .arg(&path));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("error: {diagnostic}")), "{err}");
    // Without a path, `check` checks the config file's `[script] path`.
    let named = dir.path().join("named.toml");
    std::fs::write(
        &named,
        format!(
            "[script]\npath = {:?}\nmax_operations = 500\n",
            path.display().to_string()
        ),
    )
    .expect("write config");
    let (code, out, _) = run(bin().arg("check").arg("--config").arg(&named));
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.lines().next(), Some(diagnostic.as_str()));
}

#[test]
fn try_decides_under_the_config_files_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "busy.rhai", BUSY);
    let config = low_limit(dir.path());
    let (code, out, err) = run(bin().arg("try").arg("--script").arg(&path).arg("gm"));
    assert_eq!(
        (code, out.as_str()),
        (0, "gm  →  reply \"sum 499500\"\n"),
        "{err}"
    );
    // What the listener does with a message the script fails on: queue it, with the error.
    let (code, out, _) = run(bin()
        .args(["try", "--json", "--config"])
        .arg(&config)
        .arg("--script")
        .arg(&path)
        .arg("gm"));
    assert_eq!(code, 1, "{out}");
    assert_queued_over_the_limit(&out);
    // RETAKE_CHAT_CONFIG counts as --config, as for the listener.
    let (code, out, _) = run(bin()
        .env("RETAKE_CHAT_CONFIG", &config)
        .args(["try", "--script"])
        .arg(&path)
        .arg("gm"));
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("gm  →  queue (script failed: "), "{out}");
    assert!(out.contains(OVER), "{out}");
}

#[test]
fn replay_decides_under_the_config_files_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = script(dir.path(), "busy.rhai", BUSY);
    let config = low_limit(dir.path());
    let transcript = dir.path().join("chat.jsonl");
    std::fs::write(&transcript, "{\"author\": \"amy\", \"text\": \"gm\"}\n").expect("write");
    let replay = |config: Option<&Path>| {
        let mut cmd = bin();
        cmd.args(["replay", "--json", "--script"]).arg(&path);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        run(cmd.arg(&transcript))
    };
    let (code, out, err) = replay(None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&out)[0]["say"], "sum 499500");
    let (code, out, _) = replay(Some(&config));
    assert_eq!(code, 1, "{out}");
    assert_queued_over_the_limit(&out);
    // A config file that does not parse stops the command, naming it.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[script]\nmax_operations = \"many\"\n").expect("write");
    let (code, _, err) = replay(Some(&broken));
    assert_eq!(code, 2, "{err}");
    let named = format!("error: config file {}: ", broken.display());
    assert!(
        err.starts_with(&named) && err.contains("expected u64"),
        "{err}"
    );
}
