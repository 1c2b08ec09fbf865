//! `retake-chat check PATH...`: compile each script with the real engine and report problems
//! as `PATH:LINE:COL: message`, the source line and a caret. Runs nothing that has effects.

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::config::ScriptConfig;
use crate::script::{Runtime, ScriptError};

/// Check every script; exit 0 all good, 1 a script has problems, 2 a file cannot be read.
pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let runtime = Runtime::new(ScriptConfig::default().to_limits());
    let mut worst = ExitCode::SUCCESS;
    for path in &args.paths {
        let name = path.display().to_string();
        let source = match std::fs::read_to_string(path) {
            Ok(source) => source,
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                worst = ExitCode::from(2);
                continue;
            }
        };
        match runtime.compile(&name, &source) {
            Ok(_) => println!("{name}: ok"),
            Err(error) => {
                println!("{}", render(&error, &source));
                if worst == ExitCode::SUCCESS {
                    worst = ExitCode::from(1);
                }
            }
        }
    }
    Ok(worst)
}

fn render(error: &ScriptError, source: &str) -> String {
    error.render(source)
}
