//! The `retake-chat` binary: parse the command line, set up logging on stderr, run the
//! command, print any error chain once and map it to an exit code (0 ok, 1 "no", 2 error).

use std::process::ExitCode;

use clap::Parser;
use retake_chat::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match retake_chat::cmd::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr; `RUST_LOG` sets the level (default: info for us, warnings for libraries).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,retake_chat=info"));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}
