//! One file per subcommand; each returns the process exit code or an error (exit 2).

pub mod check;
pub mod doctor;
pub mod mcp;
pub mod queue;
pub mod replay;
pub mod reply;
pub mod run;
pub mod sandbox;
pub mod status;
pub mod try_cmd;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run what the command line asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => run::run(&cli.run),
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Sandbox(args)) => sandbox::sandbox(&args),
        Some(Command::Check(args)) => check::check(&args),
        Some(Command::Try(args)) => try_cmd::try_texts(&args),
        Some(Command::Replay(args)) => replay::replay(&args),
        Some(Command::Queue(args)) => queue::queue(&args),
        Some(Command::Reply(args)) => reply::reply(&args),
        Some(Command::Status(args)) => status::status(&args),
        Some(Command::Doctor(args)) => doctor::doctor(&args),
        Some(Command::Mcp(args)) => mcp::launch(&args, cli.log_format, cli.log_level.as_deref()),
    }
}
