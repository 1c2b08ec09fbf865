//! One file per subcommand; each returns the process exit code or an error (exit 2).

pub mod check;
pub mod queue;
pub mod reply;
pub mod run;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run what the command line asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => run::run(&cli.run),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::Queue(args)) => queue::queue(&args),
        Some(Command::Reply(args)) => reply::reply(&args),
    }
}
