//! The one integration-test binary: every test talks to the in-process fake retake.tv over
//! real Socket.IO and HTTP on 127.0.0.1, with real files and real child processes; the
//! `interop` tests also to the reference Node.js socket.io server (tests/interop/),
//! `interop_server` proves that server's stand-in for retake.tv's REST side, and
//! `interop_mcp` drives `retake-chat mcp` with the official TypeScript MCP client.

mod support;

mod builtin_personality;
mod catchup;
mod cli;
mod cli_reference;
mod delivery;
mod docs;
mod doctor;
mod dry_run;
mod floods;
mod guard;
mod hooks;
mod hygiene;
#[cfg(unix)]
mod init;
mod interop;
mod interop_mcp;
mod interop_server;
mod layout;
mod listener;
mod live_events;
mod mcp;
mod operations;
mod outages;
mod outcomes;
mod private_files;
mod queue_bounds;
mod queue_disk_full;
mod queue_protocol;
mod quiet;
mod reply_feedback;
mod resilience;
mod rooms;
mod sandbox;
mod sandbox_agent;
mod sandbox_command;
mod sandbox_start;
mod script_limits;
mod script_reload;
mod scripting;
mod secrets;
mod sending;
mod skill;
mod suite_output;
mod tls;
mod transcript;
mod waking;
