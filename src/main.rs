//! The `retake-chat` binary: parse the command line, set up logging on stderr, run the
//! command, print any error chain once and map it to an exit code (0 ok, 1 "no", 2 error,
//! 3 a reply whose outcome is unknown).

use std::process::ExitCode;

use retake_chat::cli::{Cli, Command};

/// The sandbox prints what happens itself; its logs would say it twice. A message the script
/// failed on is on its decision line, with the error: not logged as well.
const SANDBOX_FILTER: &str = "warn,retake_chat::decider=error";

fn main() -> ExitCode {
    // Before any thread exists: one allocator arena for the whole process.
    retake_chat::malloc::tune();
    let cli = Cli::parse_args(std::env::args_os().collect()).unwrap_or_else(|e| e.exit());
    let format = cli.log_format;
    let default = match cli.command {
        Some(Command::Sandbox(_)) => SANDBOX_FILTER,
        _ => retake_chat::logging::DEFAULT_FILTER,
    };
    if let Err(error) = retake_chat::logging::init(format, cli.log_level.as_deref(), default, &[]) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    match retake_chat::cmd::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            retake_chat::logging::print_error(format, &error);
            // A reply that may or may not be in the chat is not a plain failure: the agent
            // must not simply try again (docs/agent.md).
            if error.is::<retake_chat::cmd::reply::OutcomeUnknown>() {
                ExitCode::from(retake_chat::cmd::reply::EXIT_UNKNOWN)
            } else {
                ExitCode::from(2)
            }
        }
    }
}
