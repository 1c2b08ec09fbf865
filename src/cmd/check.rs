//! `retake-chat check [--config FILE] [PATH...]` (without one, the config file's `[script]
//! path`, else `./scripts/personality.rhai`): load each script exactly as the listener would
//! (header, hooks, top level, self-tests, under the config file's `[script]` limits) and
//! report problems as `PATH:LINE:COL: message`, the source line and a caret; on success print
//! what the script says about itself. Runs nothing with effects.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::config::ScriptChoice;
use crate::script::{LoadError, Personality, ScriptError, ScriptHost};
use crate::visible;

/// Check every script; exit 0 all good, 1 a script has problems, 2 a file (a script or the
/// config file) cannot be read.
pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let settings = super::personality::settings(None, args.config.clone())?;
    let runtime = ScriptHost::new((&settings.limits).into());
    let mut problems = false;
    let mut unreadable = false;
    let configured = settings.path.is_some();
    let default = [settings
        .path
        .unwrap_or_else(|| Path::new("scripts").join("personality.rhai"))];
    let paths: &[PathBuf] = if args.paths.is_empty() {
        // The one `run` would use; without it there is nothing to check.
        if !configured && !default[0].is_file() {
            anyhow::bail!(
                "no script given and no ./scripts/personality.rhai here: name the scripts to check, e.g. retake-chat check my.rhai"
            );
        }
        &default
    } else {
        &args.paths
    };
    for path in paths {
        // Shared scripts are hostile too: their lines are shown, never obeyed.
        match crate::script::load(&runtime, &ScriptChoice::File(path.clone())) {
            Ok(personality) => print!("{}", summary(&personality)),
            Err(LoadError {
                error: ScriptError::Io { .. },
                rendered,
            }) => {
                eprintln!("{}", visible::escape_lines(&rendered));
                unreadable = true;
            }
            Err(LoadError { rendered, .. }) => {
                println!("{}", visible::escape_lines(&rendered));
                problems = true;
            }
        }
    }
    Ok(match (unreadable, problems) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::from(1),
        (false, false) => ExitCode::SUCCESS,
    })
}

/// `PATH: ok`, then the header's fields, the hooks, the timers and the self-tests, indented.
pub fn summary(p: &Personality) -> String {
    let header = p.header();
    let mut rows: Vec<(&str, String)> = Vec::new();
    let fields = [
        ("name", &header.name),
        ("version", &header.version),
        ("author", &header.author),
        ("description", &header.description),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            rows.push((key, value.clone()));
        }
    }
    rows.push(("api", header.api().to_string()));
    rows.push(("hooks", p.hooks().describe().join(", ")));
    if !p.timers().is_empty() {
        let timers: Vec<String> = p.timers().iter().map(|t| t.name.clone()).collect();
        rows.push(("timers", timers.join(", ")));
    }
    let tests = match p.tests_passed() {
        0 if !p.hooks().tests => "none (add fn tests() to pin behaviour)".to_string(),
        n => format!("{n} passed"),
    };
    rows.push(("tests", tests));
    // A header says what its author wants: shown, never obeyed by the terminal.
    let mut out = format!("{}: ok\n", visible::escape(p.name()));
    for (key, value) in rows {
        let _ = writeln!(out, "    {key:<12} {}", visible::escape(&value));
    }
    out
}
