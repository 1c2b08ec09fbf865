//! retake-chat: a chat listener for AI agents streaming on retake.tv.
//!
//! ```text
//!  retake.tv Socket.IO ─► source ─► event ─► script ─► act ─► reply  (HTTP POST, in order, retried)
//!                                                          ├─► queue  (durable JSONL, fsync before ack)
//!                                                          └─► wake   (agent command, coalesced)
//!        ▲ catchup: after every join, what was missed, from the chat history (polled while
//!        │          the socket is out of reach); handled ids kept in handled.jsonl
//!  health ◄── every stage counts; written atomically to health.json
//! ```
//!
//! - [`config`]: flags, environment, config file and credentials resolved into one `Config`;
//!   how `https://` and `wss://` peers are verified (`SSL_CERT_FILE`, `config::tls`).
//! - [`daemon`]: wires the stages together and owns every spawned task.
//! - [`decider`]: the personality stage, on its own thread: filter, ask the script, act; and
//!   its inbox, what the sockets, catch-ups and daemon hand it.
//! - [`source`]: the one Socket.IO connection, joined to the room, watched for loss (close,
//!   error, ping silence) and reconnected forever.
//! - [`catchup`]: gap-free chat: missed messages read back from the platform's history after
//!   every join, polling while the socket is out of reach, one decision per message id.
//! - [`rooms`]: other streamers' rooms (`--room`): names resolved to ids, cached.
//! - [`state_lock`]: one listener per state directory (`listener.lock`).
//! - [`event`]: raw payloads of both API generations normalized into `ChatEvent`.
//! - [`live`]: v2's live-room events (tips, trades, going live, pins): parsed, tips
//!   deduplicated against their chat copy, the session's room learned.
//! - [`script`]: the Rhai personality: sandboxed engine, hot reload, `decide`.
//! - [`act`]: what a decision does: send a reply, append to the queue, wake the agent.
//! - [`health`]: counters and state, written to `health.json`; the healthy-or-not verdict.
//! - [`metrics`]: the optional HTTP endpoint: `/healthz` and Prometheus `/metrics`.
//! - [`decision_log`]: the decision log, one JSON line per decided event, rotated by size.
//! - [`outcome`]: what happened to each event (decided, sent, held back) and to the
//!   personality (reloaded), broadcast as it happens to the sandbox and the tests.
//! - [`batch`]: work taken off a channel in batches (the queue writer, the log writers).
//! - [`rotating`]: JSON-lines files written off the hot path and rotated by size (the
//!   decision log, the transcript).
//! - [`files`]: the state directory and its files private; temp files never through a link.
//! - [`time`]: epoch milliseconds now, and RFC 3339 text in and out.
//! - [`error_text`]: one readable line for an error and its causes.
//! - [`malloc`]: the C allocator tuned to give memory back after a flood.
//! - [`mcp`]: the agent's chat tools over MCP (`retake-chat mcp`, its own binary).
//! - [`visible`]: outside text made safe to print: control and bidi characters escaped.
//! - [`log_format`]: log lines that a viewer's newline or escape sequence cannot forge.
//! - [`logging`]: logs on stderr, readable or JSON, for both binaries.
//! - [`transcript`]: the chat as the listener saw it, for the agent's context.
//! - [`platform`]: the HTTP client and bearer header every request to retake.tv uses.
//! - [`fake`]: an in-process fake retake.tv on loopback for tests, the sandbox and the
//!   benchmark, and the `wait_until` they poll it with.

pub mod act;
pub mod batch;
pub mod catchup;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod decider;
pub mod decision_log;
pub mod error_text;
pub mod event;
pub mod fake;
pub mod files;
pub mod health;
pub mod live;
pub mod log_format;
pub mod logging;
pub mod malloc;
pub mod mcp;
pub mod metrics;
pub mod outcome;
pub mod platform;
pub mod rooms;
pub mod rotating;
pub mod script;
pub mod source;
pub mod state_lock;
pub mod time;
pub mod transcript;
pub mod visible;
