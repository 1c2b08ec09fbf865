//! `retake-chat init`: the first step on a new machine. Writes the credentials file where the
//! listener looks for it (0600, never replaced without `--force`), a config file beside it
//! with every setting commented out, and a copy of the built-in personality (never replaced),
//! then prints the next steps. Asks on the terminal for what flags and environment do not
//! give (`prompt`); without a terminal, a missing value is an error naming its flag.

mod prompt;

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use crate::cli::InitArgs;
use crate::config::{self, ApiVersion, Env, Overrides};
use crate::script::EMBEDDED_PERSONALITY;

/// The config file init writes: every setting at its default, commented out.
pub const CONFIG_TEMPLATE: &str = include_str!("init/config.toml");

/// One credential init asks for.
struct Field {
    /// Its key in credentials.json.
    key: &'static str,
    /// The flag that gives it.
    flag: &'static str,
    /// The environment variable that gives it (the listener honours it too).
    var: &'static str,
    /// The question on the terminal.
    question: &'static str,
    /// Not shown as it is typed.
    hidden: bool,
}

const FIELDS: [Field; 3] = [
    Field {
        key: "access_token",
        flag: "--access-token",
        var: "RETAKE_ACCESS_TOKEN",
        question: "access token (rtk_…; not shown as you type): ",
        hidden: true,
    },
    Field {
        key: "userDbId",
        flag: "--user-db-id",
        var: "RETAKE_USER_DB_ID",
        question: "user id (userDbId: your stream's room): ",
        hidden: false,
    },
    Field {
        key: "agent_name",
        flag: "--agent-name",
        var: "RETAKE_AGENT_NAME",
        question: "agent name (agent_name: the agent's name in the chat): ",
        hidden: false,
    },
];

/// Where each file goes.
struct Paths {
    creds: PathBuf,
    config: PathBuf,
    script: PathBuf,
}

/// Write the credentials, the config file and the personality; print the next steps.
pub fn init(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let paths = paths(args, &env)?;
    // Before asking anything: a question answered for nothing is a poor start.
    if paths.creds.symlink_metadata().is_ok() && !args.force {
        bail!(
            "{} already exists; pass --force to replace it (its other fields are kept)",
            paths.creds.display()
        );
    }
    let values = gather(args, &env, std::io::stdin().is_terminal())?;
    let mut report = String::new();
    // The files that are kept when present first: a failure here leaves no credentials
    // behind that a second try would need --force for.
    let script_written = write_new(&paths.script, EMBEDDED_PERSONALITY.as_bytes(), false)?;
    let config_written = write_new(
        &paths.config,
        config_text(&paths.script, args.api).as_bytes(),
        true,
    )?;
    write_creds(&paths.creds, &values, args.force)?;
    let _ = writeln!(
        report,
        "wrote {} (readable by you only)",
        paths.creds.display()
    );
    let what = "every setting at its default, commented out";
    said(&mut report, config_written, &paths.config, what);
    let what = "the built-in personality, yours to edit";
    said(&mut report, script_written, &paths.script, what);
    report.push_str(&next_steps(args, &paths, &env, config_written));
    print!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `wrote PATH (what)` or `kept PATH (already there)`.
fn said(report: &mut String, written: bool, path: &Path, what: &str) {
    let _ = match written {
        true => writeln!(report, "wrote {} ({what})", path.display()),
        false => writeln!(report, "kept {} (already there)", path.display()),
    };
}

/// The credentials file as the listener finds it, the config file given or beside it, and
/// the personality given or `./scripts/personality.rhai`.
fn paths(args: &InitArgs, env: &Env) -> anyhow::Result<Paths> {
    let overrides = Overrides {
        creds: args.creds.clone(),
        config: args.config.clone(),
        ..Overrides::default()
    };
    let creds = config::resolve_creds_path(&overrides, env)?;
    let config =
        config::config_path(&overrides, env).unwrap_or_else(|| creds.with_file_name("config.toml"));
    let script = args
        .script
        .clone()
        .unwrap_or_else(|| Path::new("scripts").join("personality.rhai"));
    Ok(Paths {
        creds,
        config,
        script,
    })
}

/// The three credentials: from the flag, else the variable, else asked (on a terminal).
fn gather(args: &InitArgs, env: &Env, interactive: bool) -> anyhow::Result<Vec<String>> {
    let given = [&args.access_token, &args.user_db_id, &args.agent_name];
    let mut values = Vec::with_capacity(FIELDS.len());
    let mut missing = Vec::new();
    let mut introduced = false;
    for (field, flag) in FIELDS.iter().zip(given) {
        let value = flag
            .as_deref()
            .or_else(|| env.get(field.var))
            .map(str::trim);
        match value {
            Some(value) => values.push(checked(field, value)?),
            None if interactive => {
                if !std::mem::replace(&mut introduced, true) {
                    eprintln!(
                        "What retake.tv gave your agent when it registered (its access_token, \
                         userDbId and agent_name):"
                    );
                }
                values.push(ask(field)?);
            }
            None => missing.push(format!("{} (or {})", field.flag, field.var)),
        }
    }
    if let Some(last) = missing.pop() {
        let list = match missing.is_empty() {
            true => last,
            false => format!("{} and {last}", missing.join(", ")),
        };
        bail!("stdin is not a terminal, so init cannot ask: give {list}");
    }
    if !values[0].starts_with("rtk_") {
        eprintln!(
            "warning: the access token does not start with rtk_, as retake.tv's do; check it"
        );
    }
    Ok(values)
}

/// Ask until the answer is usable (three tries).
fn ask(field: &Field) -> anyhow::Result<String> {
    for _ in 0..3 {
        let Some(answer) = prompt::ask(field.question, field.hidden)? else {
            bail!("no answer for {} (the input ended)", field.flag);
        };
        match checked(field, answer.trim()) {
            Ok(value) => return Ok(value),
            Err(error) => eprintln!("{error}"),
        }
    }
    bail!("no usable answer for {} after three tries", field.flag)
}

/// `value` if it can be a credential: not empty, one line, no spaces in a token or an id.
/// The error names the field, never the value.
fn checked(field: &Field, value: &str) -> anyhow::Result<String> {
    if value.is_empty() {
        bail!("{}: the {} is empty", field.flag, field.key);
    }
    if value.chars().any(char::is_control) {
        bail!(
            "{}: the {} has a control character in it",
            field.flag,
            field.key
        );
    }
    if field.key != "agent_name" && value.chars().any(char::is_whitespace) {
        bail!("{}: the {} has a space in it", field.flag, field.key);
    }
    Ok(value.to_string())
}

/// The template with the personality's path, and the API generation when given, set.
fn config_text(script: &Path, api: Option<ApiVersion>) -> String {
    let absolute = std::path::absolute(script).unwrap_or_else(|_| script.to_path_buf());
    let path = toml::Value::String(absolute.display().to_string());
    let mut text = CONFIG_TEMPLATE.replacen(
        "# path = \"scripts/personality.rhai\"   # default: ./scripts/personality.rhai if present, else the built-in copy",
        &format!("path = {path}   # the personality init copied"),
        1,
    );
    if let Some(api) = api {
        let name = match api {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        };
        text = text.replacen("# api = \"v1\"", &format!("api = \"{name}\""), 1);
    }
    text
}

/// Create `path` with `bytes` unless it exists (then `false`); its folders as needed.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<bool> {
    if path.symlink_metadata().is_ok() {
        return Ok(false);
    }
    create_parent(path, private)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        crate::files::private(&mut options);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

/// Write the credentials 0600: a new file, or with `force` a replacement that keeps the old
/// file's other fields (`token_address`, `token_ticker`, …).
fn write_creds(path: &Path, values: &[String], force: bool) -> anyhow::Result<()> {
    let mut json = match force {
        true => std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Map<String, Value>>(&text).ok())
            .unwrap_or_default(),
        false => Map::new(),
    };
    for (field, value) in FIELDS.iter().zip(values) {
        json.insert(field.key.to_string(), Value::String(value.clone()));
    }
    let mut bytes = serde_json::to_vec_pretty(&json)?;
    bytes.push(b'\n');
    if force {
        create_parent(path, true)?;
        crate::files::write_replacing(path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else if !write_new(path, &bytes, true)? {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    Ok(())
}

/// The folders above `path`; with `private`, readable by us only where they are new.
fn create_parent(path: &Path, private: bool) -> anyhow::Result<()> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

/// What to run next, with the flags these paths need (`--script` for `run` too when the
/// config file was kept, so it may not name the personality).
fn next_steps(args: &InitArgs, paths: &Paths, env: &Env, config_written: bool) -> String {
    let default_script = Path::new("scripts").join("personality.rhai");
    let script_flag = match paths.script == default_script {
        true => String::new(),
        false => format!(" --script {}", paths.script.display()),
    };
    let creds_flag = match args.creds.is_some() {
        true => format!(" --creds {}", paths.creds.display()),
        false => String::new(),
    };
    let config_flag = match env.get("RETAKE_CHAT_CONFIG") {
        Some(_) => String::new(),
        None => format!(" --config {}", paths.config.display()),
    };
    let run_script = match config_written {
        true => String::new(),
        false => script_flag.clone(),
    };
    let check = match script_flag.is_empty() {
        true => String::new(),
        false => format!(" {}", paths.script.display()),
    };
    format!(
        "\nNext:\n\
         \x20 retake-chat doctor{creds_flag}{config_flag}{run_script}\n\
         \x20     check the setup: every setting and its source, the wake command, the state dir\n\
         \x20 retake-chat sandbox{script_flag}\n\
         \x20     try the personality against a fake retake.tv on this machine (no network)\n\
         \x20 retake-chat check{check}\n\
         \x20     after each edit: compile it and run its own tests\n\
         \x20 retake-chat run --dry-run{creds_flag}{config_flag}{run_script}\n\
         \x20     the live chat, each decision printed, nothing sent\n\
         \x20 retake-chat run{creds_flag}{config_flag}{run_script}\n\
         \x20     go live: listen on your stream\n\
         \x20 as a service: see \"Running it for months\" in the README (examples/retake-chat.service),\n\
         \x20     with that same command line in ExecStart\n"
    )
}

#[cfg(test)]
mod tests;
