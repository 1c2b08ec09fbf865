//! `retake-chat mcp` driven by the official Rust MCP client (`rmcp`) over a real child
//! process and its pipes, against the in-process fake retake.tv and real state files: every
//! tool, every error path, and two clients taking at once. The TypeScript SDK's client drives
//! it too, in `interop_mcp`.

mod errors;
mod sharing;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use retake_chat::act::queue::{Queue, QueueItem};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::Value;

use crate::support::{DEADLINE, TOKEN, write_creds};

/// One MCP client connected to its own `retake-chat mcp`.
pub struct Client {
    service: RunningService<RoleClient, ()>,
    stderr: PathBuf,
}

/// How a server is started: its state directory, where it sends, and its credentials.
pub struct Server<'a> {
    pub state: &'a Path,
    pub api_url: &'a str,
    /// A directory to write working credentials into; `None`: no credentials anywhere.
    pub creds_in: Option<&'a Path>,
    /// A config file, if any.
    pub config: Option<&'a Path>,
}

/// The six tools, sorted.
pub const TOOLS: [&str; 6] = [
    "chat_ack",
    "chat_history",
    "chat_reply",
    "chat_status",
    "chat_take",
    "chat_wait",
];

impl Client {
    /// A server on `state` with no credentials and a send address where nothing listens:
    /// for the tools that never send.
    pub async fn offline(state: &Path) -> Self {
        Self::start(Server {
            state,
            api_url: "http://127.0.0.1:9",
            creds_in: None,
            config: None,
        })
        .await
    }

    /// Start `retake-chat mcp` as `server` says, with nothing of the developer's environment,
    /// and complete the MCP handshake.
    pub async fn start(server: Server<'_>) -> Self {
        let home = server.state.parent().unwrap_or(server.state).to_path_buf();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_retake-chat"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("RUST_LOG", "debug")
            .env("RETAKE_API_URL", server.api_url)
            .arg("mcp")
            .arg("--state-dir")
            .arg(server.state);
        match server.creds_in {
            Some(dir) => cmd.env("RETAKE_CREDS", write_creds(dir)),
            None => cmd.env("RETAKE_CREDS", home.join("no-credentials-here.json")),
        };
        if let Some(config) = server.config {
            cmd.arg("--config").arg(config);
        }
        let stderr = home.join(format!("mcp-{}.log", uuid::Uuid::new_v4()));
        let log = std::fs::File::create(&stderr).expect("create the server's log");
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(Stdio::from(log))
            .spawn()
            .expect("retake-chat mcp starts");
        let service = tokio::time::timeout(DEADLINE, ().serve(transport))
            .await
            .expect("the handshake completes in time")
            .expect("the handshake succeeds");
        Self { service, stderr }
    }

    /// Call `tool` with `args` (a JSON object).
    pub async fn call(&self, tool: &'static str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments are an object")
        };
        let params = CallToolRequestParams::new(tool).with_arguments(args);
        let result = tokio::time::timeout(DEADLINE, self.service.call_tool(params))
            .await
            .unwrap_or_else(|_| panic!("{tool} answers in time"))
            .unwrap_or_else(|e| panic!("{tool} answers: {e}\n{}", self.log()));
        let text = serde_json::to_string(&result).unwrap_or_default();
        assert!(!text.contains(TOKEN), "{tool}'s result holds the token");
        result
    }

    /// Call `tool` and expect success: its structured result.
    pub async fn ok(&self, tool: &'static str, args: Value) -> Value {
        let result = self.call(tool, args).await;
        assert_ne!(result.is_error, Some(true), "{tool} failed: {result:?}");
        match result.structured_content {
            Some(value) => value,
            None => panic!("{tool} gives structured JSON: {:?}", result.content),
        }
    }

    /// Call `tool` and expect a tool error: its one sentence.
    pub async fn refused(&self, tool: &'static str, args: Value) -> String {
        let result = self.call(tool, args).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} should fail: {result:?}"
        );
        let text: Vec<String> = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|t| t.text.clone()))
            .collect();
        assert_eq!(text.len(), 1, "one text block: {result:?}");
        assert!(!text[0].contains('\n'), "one line: {}", text[0]);
        text[0].clone()
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Close the session; the server must exit on its own, without a panic or the token in
    /// its log. Returns the log.
    pub async fn close(self) -> String {
        let log = self.stderr.clone();
        tokio::time::timeout(DEADLINE, self.service.cancel())
            .await
            .expect("the session closes in time")
            .expect("the session closes");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(!text.contains("panicked"), "the server panicked:\n{text}");
        assert!(
            !text.contains(TOKEN),
            "the token is in the server's log:\n{text}"
        );
        text
    }
}

/// A queued question, as the listener writes it.
pub fn question(id: &str, author: &str, text: &str, ts: i64) -> QueueItem {
    QueueItem {
        id: id.into(),
        author: author.into(),
        text: text.into(),
        ts,
        kind: "message".into(),
        room: crate::support::ROOM.into(),
        room_name: None,
        author_id: String::new(),
        wallet: String::new(),
        amount: None,
        queued_at: ts + 5,
        leased_until: None,
        attempts: 0,
        late: false,
    }
}

/// Append `items` to the queue in `state`, creating it.
pub fn enqueue(state: &Path, items: &[QueueItem]) {
    std::fs::create_dir_all(state).expect("state dir");
    Queue::new(state.join("queue.jsonl"))
        .append(items)
        .expect("append to the queue");
}

/// The ids of `chat_take`'s items.
pub fn taken_ids(taken: &Value) -> Vec<String> {
    taken["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_string())
        .collect()
}
