//! `retake-chat doctor [--online]`: is this machine ready to go live? Prints every effective
//! setting with the layer it came from (flag, environment, config file, credentials file,
//! default; the token only as "set", never its text), then one line per check, each failed
//! one with what to do next. The checks themselves are in `checks` (this machine) and
//! `online` (the chat and API hosts, only with `--online`). Exit 0 all good, 1 a problem,
//! 2 the settings cannot be read at all (the config file, an environment value), like `status`.

mod checks;
mod online;

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::cli::DoctorArgs;
use crate::config::{self, Config, Credentials, Env, ScriptChoice, Source, Sources};
use crate::visible;

/// How one check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Fine: what was found.
    Ok(String),
    /// A problem: what is wrong, and what to do about it.
    Fail {
        /// What is wrong (may span lines, as a script diagnostic does).
        problem: String,
        /// The next step, one sentence; empty when the problem already says it.
        next: String,
    },
    /// Not checked, and why.
    Skipped(String),
}

impl Outcome {
    fn fail(problem: impl Into<String>, next: impl Into<String>) -> Self {
        Self::Fail {
            problem: problem.into(),
            next: next.into(),
        }
    }
}

/// One named check and how it ended.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked: `credentials`, `wake`, `state dir`, ...
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// Print the settings and the checks; the exit code is 1 when any check failed.
pub fn doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let overrides = args.overrides();
    let env = Env::from_process();
    // Unreadable settings are the one thing doctor cannot report around: exit 2, as `run`.
    let settings = config::resolve_settings(&overrides, &env)?;
    let sources = config::sources(&overrides, &env)?;
    let creds = config::load_credentials(&settings.creds_path, &env);
    let tls = config::load_tls(&env);
    let mut config = settings.config;
    if let Ok(tls) = &tls {
        config.tls = tls.clone();
    }
    print!(
        "{}",
        settings_table(&config, &settings.creds_path, &sources, creds.as_ref().ok())
    );
    let mut found = vec![
        Check {
            name: "credentials",
            outcome: checks::credentials(&creds, &settings.creds_path),
        },
        Check {
            name: "tls roots",
            outcome: checks::tls(&tls, &config),
        },
        Check {
            name: "wake",
            outcome: checks::wake(&config.wake, env.path()),
        },
        Check {
            name: "state dir",
            outcome: checks::state_dir(&config.state_dir),
        },
        Check {
            name: "personality",
            outcome: checks::script(&config),
        },
    ];
    if args.online {
        match (&creds, &tls) {
            (Ok(creds), Ok(_)) => {
                config.creds = creds.clone();
                found.extend(online::check(&config)?);
            }
            _ => found.push(Check {
                name: "online",
                outcome: Outcome::Skipped(
                    "not checked: the credentials and TLS roots must load first".into(),
                ),
            }),
        }
    } else {
        found.push(Check {
            name: "online",
            outcome: Outcome::Skipped(
                "not checked; `retake-chat doctor --online` asks the chat and API hosts".into(),
            ),
        });
    }
    print!("{}", checks_table(&found));
    let problems = found
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail { .. }))
        .count();
    println!("{}", verdict(problems, args.online));
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The closing line: what to do next either way.
fn verdict(problems: usize, online: bool) -> String {
    match problems {
        0 if online => {
            "all good. Next: `retake-chat run --dry-run` watches the personality decide \
                 on the live chat without answering; then `retake-chat run`."
                .to_string()
        }
        0 => "all good. Next: `retake-chat sandbox` tries the personality here, `retake-chat \
              doctor --online` checks the hosts, `retake-chat run --dry-run` watches it decide on \
              the live chat without answering; then `retake-chat run`."
            .to_string(),
        1 => "1 problem: fix it as it says, then run `retake-chat doctor` again.".to_string(),
        n => format!("{n} problems: fix them as they say, then run `retake-chat doctor` again."),
    }
}

/// The `settings` block: one line per setting, its value and where it came from.
fn settings_table(
    config: &Config,
    creds_path: &std::path::Path,
    sources: &Sources,
    creds: Option<&Credentials>,
) -> String {
    let mut out = String::from("settings\n");
    let mut line = |name: &str, value: String, source: Source| {
        let _ = writeln!(out, "  {name:<13} {}  ({source})", visible::escape(&value));
    };
    let config_file = sources
        .config_file
        .as_ref()
        .map_or_else(|| "none".to_string(), |p| p.display().to_string());
    line("config file", config_file, sources.config);
    let api = match config.api {
        config::ApiVersion::V1 => "v1",
        config::ApiVersion::V2 => "v2",
    };
    line("api", api.to_string(), sources.api);
    line("chat url", config.chat_url.clone(), sources.chat_url);
    line("api url", config.api_url.clone(), sources.api_url);
    line(
        "credentials",
        creds_path.display().to_string(),
        sources.creds,
    );
    let missing = || "missing".to_string();
    // The token's length only: enough to see it is the one meant, nothing to copy.
    let token = creds.map_or_else(missing, |c| {
        format!(
            "set ({} characters, never shown)",
            c.access_token.expose().chars().count()
        )
    });
    line("access token", token, sources.access_token);
    line(
        "user id",
        creds.map_or_else(missing, |c| c.user_db_id.clone()),
        sources.user_db_id,
    );
    line(
        "agent name",
        creds.map_or_else(missing, |c| c.agent_name.clone()),
        sources.agent_name,
    );
    line(
        "state dir",
        config.state_dir.display().to_string(),
        sources.state_dir,
    );
    let script = match &config.script {
        ScriptChoice::File(path) => path.display().to_string(),
        ScriptChoice::Embedded => "the built-in copy".to_string(),
    };
    line("personality", script, sources.script);
    let rooms = match config.rooms.as_slice() {
        [] => "your own only".to_string(),
        rooms => format!("your own and {}", rooms.join(", ")),
    };
    line("rooms", rooms, sources.rooms);
    let wake = match (&config.wake.url, config.wake.command.as_slice()) {
        (Some(url), _) => format!("POST {url}"),
        (None, []) => "off".to_string(),
        (None, command) => command.join(" "),
    };
    line("wake", wake, sources.wake);
    let metrics = config
        .metrics_addr
        .map_or_else(|| "off".to_string(), |a| a.to_string());
    line("metrics", metrics, sources.metrics_addr);
    line("tls roots", checks::tls_roots(config), sources.tls);
    out.push('\n');
    out
}

/// The `checks` block: `ok`, `FAIL` or `skip`, the name, what was found; a failure's next
/// step on the line below, after an arrow.
fn checks_table(found: &[Check]) -> String {
    let mut out = String::from("checks\n");
    let indent = " ".repeat(2 + 4 + 2 + 13 + 1);
    for check in found {
        let (mark, text, next) = match &check.outcome {
            Outcome::Ok(text) => ("ok", text.as_str(), ""),
            Outcome::Fail { problem, next } => ("FAIL", problem.as_str(), next.as_str()),
            Outcome::Skipped(text) => ("skip", text.as_str(), ""),
        };
        // Errors quote files and servers: each line is shown, never obeyed.
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {mark:<4}  {:<13} {}",
            check.name,
            visible::escape(first)
        );
        for more in lines {
            let _ = writeln!(out, "{indent}{}", visible::escape(more));
        }
        if !next.is_empty() {
            let _ = writeln!(out, "{indent}→ {}", visible::escape(next));
        }
    }
    out.push('\n');
    out
}
