//! The agent's chat tools over MCP (`retake-chat mcp`, the `retake-chat-mcp` binary): a stdio
//! server on the official Rust SDK, `rmcp`, for agent runtimes (OpenClaw, Claude Code, Codex).
//!
//! It shares the queue, the reply path, the credentials and the state directory with the
//! listener, which runs as its own process; it opens no socket. Each tool is a thin layer
//! over what the CLI does: [`tools`] declares them and turns their outcomes into results or
//! one-sentence tool errors, [`args`] checks arguments by name, [`wait`] is `chat_wait`'s
//! long poll. Logs go to stderr: stdout is the protocol.

mod args;
mod tools;
mod wait;

pub use tools::ChatTools;

use std::process::ExitCode;

use rmcp::ServiceExt as _;

use crate::cli::McpArgs;
use crate::config::{self, Env};

/// Serve the tools on stdin and stdout until the client closes them. A config file that
/// cannot be read is an error before serving; missing credentials only fail `chat_reply`.
pub fn serve(args: &McpArgs) -> anyhow::Result<ExitCode> {
    let overrides = args.overrides();
    let env = Env::from_process();
    let local = config::resolve_local(&overrides, &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tools = ChatTools::new(overrides, env, local);
        let service = tools
            .serve(rmcp::transport::stdio_pipes())
            .await
            .map_err(|e| anyhow::anyhow!("the MCP client did not complete the handshake: {e}"))?;
        tracing::info!("serving the chat tools over MCP on stdio");
        service
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("the MCP session ended abnormally: {e}"))?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
