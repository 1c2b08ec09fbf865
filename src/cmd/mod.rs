//! One file per subcommand; each returns the process exit code or an error (exit 2).

pub mod check;
pub mod completions;
pub mod doctor;
pub mod init;
pub mod man;
pub mod mcp;
pub mod personality;
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
        Some(Command::Init(args)) => init::init(&args),
        Some(Command::Completions(args)) => completions::completions(&args),
        Some(Command::Man) => man::man(),
        Some(Command::Mcp(args)) => mcp::launch(&args, cli.log_format, cli.log_level.as_deref()),
    }
}

/// Write `bytes` to stdout; a reader that stopped early (`| head`) is not an error.
fn print_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
