//! `retake-chat-mcp`: the MCP server that `retake-chat mcp` starts (see `retake_chat::mcp`).
//! Its own binary so that the listener never maps the MCP SDK's code.

use std::process::ExitCode;

use clap::Parser;
use retake_chat::cli::{LogFormat, McpArgs};

/// The agent's chat tools over MCP on stdin and stdout; run it as `retake-chat mcp`.
#[derive(Debug, Parser)]
#[command(name = "retake-chat-mcp", version)]
struct Cli {
    /// Where the listener's state is, and how to send as the agent.
    #[command(flatten)]
    args: McpArgs,
    /// How logs on stderr look.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// What to log [default: warn,retake_chat=info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    retake_chat::malloc::tune();
    let cli = Cli::parse();
    let default = retake_chat::logging::DEFAULT_FILTER;
    // rmcp logs each request with its arguments at debug: never that.
    let quiet = ["rmcp"];
    if let Err(error) =
        retake_chat::logging::init(cli.log_format, cli.log_level.as_deref(), default, &quiet)
    {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    match retake_chat::mcp::serve(&cli.args) {
        Ok(code) => code,
        Err(error) => {
            retake_chat::logging::print_error(cli.log_format, &error);
            ExitCode::from(2)
        }
    }
}
