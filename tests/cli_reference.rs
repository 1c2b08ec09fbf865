//! What a finished command line gives besides the commands: `--version` with the build's
//! facts, shell completions that a real bash loads and completes with, and the man page.

use clap::CommandFactory as _;
use retake_chat::cli::Cli;

use crate::support::{bin, run};

#[test]
fn version_names_the_commit_the_build_date_the_target_and_the_scripting_api() {
    let (code, out, _) = run(bin().arg("--version"));
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(
        lines[0],
        format!("retake-chat {}", env!("CARGO_PKG_VERSION"))
    );
    let value = |line: &str, label: &str| {
        line.strip_prefix(label)
            .map(str::trim)
            .unwrap_or_else(|| panic!("`{line}` is not `{label} …`"))
            .to_string()
    };
    let commit = value(lines[1], "commit:");
    let in_a_checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".git")
        .exists();
    if in_a_checkout {
        assert!(
            commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit()),
            "{commit}"
        );
    } else {
        assert_eq!(commit, "unknown");
    }
    let date = value(lines[2], "built:");
    let shape: String = date
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99", "{date}");
    let target = value(lines[3], "target:");
    assert!(target.split('-').count() >= 3, "a target triple: {target}");
    assert_eq!(
        value(lines[4], "scripting API:"),
        retake_chat::script::SCRIPT_API_VERSION.to_string()
    );
    let (code, out, _) = run(bin().arg("-V"));
    assert_eq!(
        (code, out),
        (0, format!("retake-chat {}\n", env!("CARGO_PKG_VERSION")))
    );
}

/// Every command but clap's own `help`, by name.
fn commands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn bash_completes_the_commands_and_their_flags_with_the_generated_script() {
    let (code, script, err) = run(bin().args(["completions", "bash"]));
    assert_eq!(code, 0, "{err}");
    for name in commands() {
        assert!(script.contains(&name), "{name} is not in the bash script");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("retake-chat.bash");
    std::fs::write(&path, &script).expect("write the script");
    // What bash does on TAB: the words so far, then the completion function's answers.
    let complete = |words: &str| {
        let line = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _retake__chat retake-chat \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            path.display()
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "-c", &line])
            .output()
            .expect("bash runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(complete("retake-chat sa"), "sandbox\n");
    assert_eq!(complete("retake-chat queue ta"), "take\n");
    assert!(complete("retake-chat status --").contains("--state-dir\n"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let (code, script, err) = run(bin().args(["completions", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(script.contains("sandbox"), "{shell}");
    }
    let (code, _, err) = run(bin().args(["completions", "tcsh"]));
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

#[test]
fn the_man_page_has_a_name_and_a_section_per_command() {
    let (code, page, err) = run(bin().arg("man"));
    assert_eq!(code, 0, "{err}");
    assert!(
        page.starts_with(".ie"),
        "roff: {}",
        &page[..80.min(page.len())]
    );
    assert!(page.contains(".TH retake-chat 1"), "{page}");
    assert!(
        page.contains(".SH NAME\nretake\\-chat \\- A fast, durable chat listener"),
        "{page}"
    );
    for name in commands().iter().filter(|n| *n != "help") {
        let title = format!(".SH \"RETAKE\\-CHAT {}\"", name.to_uppercase());
        assert!(page.contains(&title), "no {title}");
        assert!(
            page.contains(&format!(".TP\n\\fB{name}\\fR\n")),
            "{name} not listed"
        );
    }
    assert!(
        page.contains(".SH \"RETAKE\\-CHAT QUEUE TAKE\""),
        "queue's actions too"
    );
    assert!(page.contains(&format!(
        "scripting API {}",
        retake_chat::script::SCRIPT_API_VERSION
    )));
}

/// The README's table of commands lists every command, and its completion and manual lines
/// run as shown.
#[test]
fn the_readme_lists_every_command_and_its_examples_run() {
    let readme = include_str!("../README.md");
    let table = readme
        .split("## Commands\n")
        .nth(1)
        .and_then(|rest| rest.trim_start().split("\n\n").next())
        .expect("README has a Commands table");
    for name in commands().iter().filter(|n| *n != "help") {
        assert!(
            table.contains(&format!("| `retake-chat {name}"))
                || table.contains(&format!("[{name}]")), // `retake-chat [run]`: the default
            "the README's Commands table does not list `{name}`"
        );
    }
    let mut shown = 0;
    for line in readme.lines() {
        let Some(example) = line.strip_prefix("retake-chat ") else {
            continue;
        };
        let words: Vec<&str> = example
            .split_whitespace()
            .take_while(|w| !matches!(*w, ">" | "|"))
            .collect();
        if !matches!(words.first(), Some(&("completions" | "man"))) {
            continue;
        }
        let (code, out, err) = run(bin().args(&words));
        assert_eq!(code, 0, "README: `{line}`: {err}");
        assert!(!out.is_empty(), "README: `{line}` prints nothing");
        shown += 1;
    }
    assert!(
        shown >= 4,
        "only {shown} completion and manual examples in the README"
    );
}

/// `init --help`, `completions --help` and `man --help` end with an example: each works as
/// shown, in a fresh HOME (the man page example only where `man` is installed).
#[test]
fn the_help_examples_of_init_completions_and_man_work() {
    let home = tempfile::tempdir().expect("tempdir");
    let completions = home.path().join(".local/share/bash-completion/completions");
    std::fs::create_dir_all(&completions).expect("the completions folder");
    let has_man = std::process::Command::new("sh")
        .args(["-c", "command -v man"])
        .output()
        .is_ok_and(|o| o.status.success());
    for subcommand in ["init", "completions", "man"] {
        let (_, help, _) = run(bin().args([subcommand, "--help"]));
        let example = help
            .lines()
            .find_map(|line| line.trim().strip_prefix("Example: "))
            .unwrap_or_else(|| panic!("{subcommand} --help has no example"));
        if example.contains("| man ") && !has_man {
            eprintln!("skipped `{example}`: no man on PATH");
            continue;
        }
        let (code, out, err) = crate::docs::shell(home.path(), example);
        assert_eq!(code, 0, "`{example}`:\n{out}{err}");
    }
    let creds = home.path().join(".config/retake/credentials.json");
    let creds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(creds).expect("init wrote")).expect("JSON");
    assert_eq!(creds["agent_name"], "mybot");
    let script = std::fs::read_to_string(completions.join("retake-chat")).expect("written");
    assert!(script.contains("_retake__chat"), "the bash script");
}
