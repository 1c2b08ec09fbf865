//! `retake-chat mcp`: hand over to `retake-chat-mcp`, the MCP server's own binary, installed
//! beside this one. The server's code (the MCP SDK and its JSON machinery) lives there so that
//! none of it is mapped into the listener's memory; `exec` keeps the agent runtime's pipes and
//! process id as they are.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{LogFormat, McpArgs};

/// The MCP server's binary name.
pub const SERVER_BIN: &str = "retake-chat-mcp";

/// Replace this process with `retake-chat-mcp` and the same settings. Returns only on error.
pub fn launch(args: &McpArgs, format: LogFormat, level: Option<&str>) -> anyhow::Result<ExitCode> {
    let server = server_path()?;
    let mut command = std::process::Command::new(&server);
    command.args(args.to_args());
    if format == LogFormat::Json {
        command.args(["--log-format", "json"]);
    }
    if let Some(level) = level {
        command.args(["--log-level", level]);
    }
    let error = command.exec();
    Err(error).with_context(|| format!("cannot start the MCP server {}", server.display()))
}

/// `retake-chat-mcp` in this binary's directory (where `cargo install` puts both).
fn server_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where retake-chat is installed")?;
    let server = exe.with_file_name(SERVER_BIN);
    if server.is_file() {
        return Ok(server);
    }
    anyhow::bail!(
        "{} is not installed beside {}: `cargo install --path .` installs both binaries (in a \
         checkout, `cargo build --release --bins` builds both)",
        SERVER_BIN,
        exe.display()
    )
}
