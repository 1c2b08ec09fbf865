//! The command line: clap types only. What each command does lives in `cmd/`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{ApiVersion, Overrides};

pub mod leading;
pub mod version;

/// A fast, durable chat listener for AI agents streaming on retake.tv.
///
/// Listens to your stream's chat and asks a hot-reloaded Rhai script, the personality, what to
/// do with each message: answer at once, acknowledge it and queue it for your agent (then wake
/// the agent), or ignore it. Running is the default command.
///
/// Example: retake-chat --script scripts/personality.rhai
#[derive(Debug, Parser)]
#[command(
    name = "retake-chat",
    version,
    long_version = version::long_version(),
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; without one, `run`.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Settings for the default `run`.
    #[command(flatten)]
    pub run: RunArgs,

    /// How logs on stderr look: `human` lines, or one JSON object per line for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// What to log: a level (`debug` is ours at debug, libraries at warn) or a full
    /// RUST_LOG-style filter; wins over RUST_LOG [default: warn,retake_chat=info].
    #[arg(long, value_name = "LEVEL", global = true)]
    pub log_level: Option<String>,
}

impl Cli {
    /// Parse a command line (program name first); flags given before the subcommand's name
    /// count as given after it ([`leading`]). The error prints itself: `error.exit()`.
    pub fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Self, clap::Error> {
        let command = <Self as clap::CommandFactory>::command();
        let args = leading::move_after_subcommand(args, &command).map_err(|sentence| {
            clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, sentence + "\n")
        })?;
        Self::try_parse_from(args)
    }
}

/// The shape of log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines (colored on a terminal).
    Human,
    /// One JSON object per line: timestamp, level, target, message and the event's fields.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try a personality against a fake retake.tv on this machine: no credentials, no network.
    ///
    /// Type chat lines as a viewer and watch what the bot says, queues and ignores, live;
    /// edit the script meanwhile and it reloads. `/help` lists the commands. With stdin not a
    /// terminal, each line is a viewer message and the run ends after the last one is handled.
    /// It prints the environment a second terminal needs to play the agent against it
    /// (`queue take`, `reply --ack`, `status`, `mcp`); the agent's replies show up here.
    ///
    /// Example: retake-chat sandbox --script examples/greeter.rhai
    Sandbox(SandboxArgs),
    /// Listen to the chat and act on every message (the default).
    ///
    /// Example: retake-chat run --script scripts/personality.rhai --state-dir ./state
    Run(RunArgs),
    /// Compile personality scripts and report every problem with its position.
    ///
    /// Exit code 0 when all are good, 1 when a script has problems, 2 when a file cannot be read.
    ///
    /// Example: retake-chat check scripts/personality.rhai examples/*.rhai
    Check(CheckArgs),
    /// Show what the personality would do with each TEXT, without connecting or queueing.
    ///
    /// One decision per TEXT, through the same engine, limits and self-tests as the listener;
    /// state (counts, cooldowns, memory) lives only in this run. Without --script, the one
    /// `run` would use (./scripts/personality.rhai, else the built-in copy), named on stderr.
    /// Exit 1 when the script fails to load or on a TEXT.
    ///
    /// Example: retake-chat try --script examples/greeter.rhai --author alice gm "!help"
    Try(TryArgs),
    /// Run a recorded chat (JSON lines) through a personality on a simulated clock.
    ///
    /// Each line is `{"author": .., "text": .., "kind": .., "ts": .., "amount": ..}` (kind, ts
    /// and amount optional; queue.jsonl works). now(), cooldowns and timers follow the lines'
    /// `ts`, or one second per line. Prints every decision; bad lines are reported by number
    /// and skipped (exit 1). Nothing is sent and no state file is touched.
    ///
    /// Example: retake-chat replay --script examples/greeter.rhai examples/chat.jsonl --json
    Replay(ReplayArgs),
    /// Read and claim queued messages: the agent's side of the queue.
    ///
    /// `take` leases items so a concurrent `take` never hands them out again; acknowledge
    /// each once answered, or it comes back when its lease ends (at-least-once delivery).
    ///
    /// Example: retake-chat queue take --max 5 --lease 120
    Queue(QueueArgs),
    /// Send a chat message as the agent, then acknowledge the queue items it answers.
    ///
    /// Uses the listener's send path (retries on network errors, 5xx and 429). Exits non-zero
    /// and acknowledges nothing if the message could not be sent.
    ///
    /// Example: retake-chat reply --ack comment_123 "Rust, because it never segfaults on stream"
    Reply(ReplyArgs),
    /// Serve the agent's chat tools over MCP on stdin and stdout, for agent runtimes.
    ///
    /// Tools: chat_wait (until something is queued), chat_take (items with the chat before
    /// each), chat_reply (send, then acknowledge), chat_ack, chat_history, chat_status. Shares
    /// the queue, credentials and state directory with a listener running as its own process;
    /// opens no socket. Logs go to stderr.
    ///
    /// Example: claude mcp add --transport stdio retake-chat -- retake-chat mcp
    Mcp(McpArgs),
    /// Tell whether the listener is healthy, from its health.json and queue.
    ///
    /// Prints the connection, uptime, last message, reconnects, queue, last wake, script and
    /// send errors. Exit code 0 when healthy; 1 when disconnected, stopped, gone, or its
    /// health.json is stale; 2 when there is no readable health.json. A watchdog check.
    ///
    /// Example: retake-chat status --json
    Status(StatusArgs),
    /// Check the setup before going live: the settings and where each comes from, then each
    /// thing `run` needs.
    ///
    /// Prints every effective setting with its source (flag, environment, config file,
    /// default; the token never shown), then checks the credentials, the TLS roots, the wake
    /// command, the state directory (writable, and who holds it) and the personality (it
    /// loads and passes its tests); with --online, that the chat and API hosts answer. Each
    /// failed check says what to do. Exit 0 all good, 1 a problem, 2 the settings cannot be
    /// read.
    ///
    /// Example: retake-chat doctor --online
    Doctor(DoctorArgs),
    /// Set this machine up to go live: credentials, a config file and a personality to edit.
    ///
    /// Asks for the access token (not shown as you type), your user id and the agent's name,
    /// unless flags or their environment variables give them (they must when stdin is not a
    /// terminal). Writes the credentials file readable by you only, never replacing one
    /// without --force; a config file beside it with every setting commented out; and a copy
    /// of the built-in personality, kept if already there. Then prints what to run next.
    ///
    /// Example: RETAKE_ACCESS_TOKEN=rtk_… retake-chat init --user-db-id 6650f1c2 --agent-name mybot
    Init(InitArgs),
    /// Print the completion script for a shell, so TAB completes commands and flags.
    ///
    /// Load it from your shell's startup file, or save it where the shell looks.
    ///
    /// Example: retake-chat completions bash > ~/.local/share/bash-completion/completions/retake-chat
    Completions(CompletionsArgs),
    /// Print the manual page (roff): every command and flag, as `--help` gives them.
    ///
    /// Example: retake-chat man | man -l -
    Man,
}

/// Arguments of `doctor`: the listener's settings, and whether to go on the network.
#[derive(Debug, Clone, Default, Args)]
pub struct DoctorArgs {
    /// The settings `run` takes for what it listens to, as `run` reads them.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Also check that the chat and API hosts answer (one request each, with the token).
    #[arg(long)]
    pub online: bool,
}

impl DoctorArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        self.listener.overrides()
    }
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The access token, `rtk_…` [env: RETAKE_ACCESS_TOKEN]. Other users can see a command
    /// line (`ps`): prefer the variable, or the prompt.
    #[arg(long, value_name = "TOKEN")]
    pub access_token: Option<String>,
    /// Your retake.tv user id, `userDbId`: your stream's room [env: RETAKE_USER_DB_ID].
    #[arg(long, value_name = "ID")]
    pub user_db_id: Option<String>,
    /// The agent's name in the chat, `agent_name` (how its own messages are recognised)
    /// [env: RETAKE_AGENT_NAME].
    #[arg(long, value_name = "NAME")]
    pub agent_name: Option<String>,
    /// Where to write the credentials [env: RETAKE_CREDS] [default: ~/.config/retake/credentials.json].
    #[arg(long, value_name = "PATH")]
    pub creds: Option<PathBuf>,
    /// Where to write the config file [env: RETAKE_CHAT_CONFIG] [default: config.toml beside the credentials].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Where to copy the built-in personality to edit [default: ./scripts/personality.rhai].
    #[arg(long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// The retake.tv API generation, written to the config file [default: v1].
    #[arg(long, value_enum)]
    pub api: Option<ApiVersion>,
    /// Replace an existing credentials file (its other fields, such as `token_address`, are kept).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Arguments of `sandbox`.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The personality script [default: ./scripts/personality.rhai if present, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// Keep the sandbox's state (queue, health, decisions) in DIR, created if missing and kept
    /// after the sandbox ends; never the live listener's [default: a fresh private directory in
    /// $TMPDIR, removed at the end].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// What a listener listens to and as whom, shared by `run` and `doctor`; each also has an
/// environment variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenerArgs {
    /// The personality script [default: ./scripts/personality.rhai if present, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// Socket.IO chat server [env: RETAKE_CHAT_URL] [default: the API generation's].
    #[arg(long, value_name = "URL")]
    pub chat_url: Option<String>,
    /// Credentials, sending address, state directory and config file.
    #[command(flatten)]
    pub account: AccountArgs,
    /// Listen to another streamer's chat too (an id or a name; repeatable; beside the config
    /// file's `rooms`). Replies go to the room a message came from.
    #[arg(long = "room", value_name = "ID|NAME")]
    pub rooms: Vec<String>,
}

impl ListenerArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            script: self.script.clone(),
            chat_url: self.chat_url.clone(),
            rooms: self.rooms.clone(),
            ..self.account.overrides()
        }
    }
}

/// Settings of a running listener; each also has an environment variable.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// What it listens to and as whom.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Give up when the first connection attempt and then N reconnects in a row have failed
    /// [default: never].
    #[arg(long, value_name = "N")]
    pub max_reconnects: Option<u32>,
    /// Serve /healthz and /metrics (Prometheus) over HTTP here, e.g. 127.0.0.1:9187
    /// [env: RETAKE_METRICS_ADDR] [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Connect to the real chat and print each message's decision on stdout (author, text,
    /// decision), but send nothing, queue nothing and wake no one; the state directory is
    /// not touched (a temporary one is used). The safe first contact with the live chat.
    #[arg(long)]
    pub dry_run: bool,
}

impl RunArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            max_reconnects: self.max_reconnects,
            metrics_addr: self.metrics_addr,
            ..self.listener.overrides()
        }
    }
}

/// Where the queue is: the same settings the listener uses to find its state directory.
#[derive(Debug, Clone, Default, Args)]
pub struct StateArgs {
    /// The listener's state directory [env: RETAKE_STATE_DIR] [default: ~/.local/state/retake-chat].
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// The listener's TOML config file, if its state_dir is set there [env: RETAKE_CHAT_CONFIG].
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,
}

impl StateArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            state_dir: self.state_dir.clone(),
            config: self.config.clone(),
            ..Overrides::default()
        }
    }
}

/// Arguments of `queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// What to do with the queue.
    #[command(subcommand)]
    pub action: QueueAction,
    /// Where the queue is.
    #[command(flatten)]
    pub state: StateArgs,
}

/// The queue's subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Print the items waiting to be taken, one JSON object per line (`--all`: leased ones too).
    List {
        /// Include items currently leased by a `take`.
        #[arg(long)]
        all: bool,
    },
    /// Claim up to N items and print them as JSON lines; exit 1 when there is nothing.
    Take {
        /// Most items to claim.
        #[arg(long, default_value_t = 10, value_name = "N")]
        max: usize,
        /// Seconds before an unacknowledged item is handed out again.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        lease: u64,
        /// Add to each item a `context` array: the N chat lines said before it (viewers and
        /// the bot, oldest first; at most 1000), from the listener's transcript.jsonl.
        #[arg(
            long,
            default_value_t = 0,
            value_name = "N",
            value_parser = clap::value_parser!(u16).range(..=1000)
        )]
        context: u16,
    },
    /// Remove answered items by id (acknowledging an id twice is harmless).
    Ack {
        /// Item ids, as printed by `take`.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

/// Arguments of `reply`.
#[derive(Debug, Args)]
pub struct ReplyArgs {
    /// Queue item to acknowledge once the message is sent (repeatable).
    #[arg(long = "ack", value_name = "ID")]
    pub ack: Vec<String>,
    /// Post in another streamer's room (an id, or a name the listener's `--room` resolved)
    /// [default: the room the --ack items were said in, else your own].
    #[arg(long, value_name = "ID|NAME")]
    pub room: Option<String>,
    /// The message; longer than 500 characters is split at a word into at most two.
    #[arg(required = true, value_name = "TEXT")]
    pub text: String,
    /// Credentials, address and state directory, as the listener's.
    #[command(flatten)]
    pub account: AccountArgs,
}

/// Arguments of `mcp`: where the listener's state is, and how to send as the agent.
#[derive(Debug, Clone, Default, Args)]
pub struct McpArgs {
    /// The agent's account and the listener's state.
    #[command(flatten)]
    pub account: AccountArgs,
}

impl McpArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        self.account.overrides()
    }

    /// The flags as a command line again, for the `retake-chat-mcp` binary.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let a = &self.account;
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<std::ffi::OsString>| {
            if let Some(value) = value {
                args.push(name.into());
                args.push(value);
            }
        };
        flag("--creds", a.creds.clone().map(Into::into));
        flag("--api-url", a.api_url.clone().map(Into::into));
        flag(
            "--api",
            a.api.map(|api| match api {
                ApiVersion::V1 => "v1".into(),
                ApiVersion::V2 => "v2".into(),
            }),
        );
        flag("--state-dir", a.state_dir.clone().map(Into::into));
        flag("--config", a.config.clone().map(Into::into));
        args
    }
}

/// Who the agent posts as, and where the listener keeps its state: what `reply` and `mcp`
/// need (no socket, no script).
#[derive(Debug, Clone, Default, Args)]
pub struct AccountArgs {
    /// Credentials JSON [env: RETAKE_CREDS] [default: ~/.config/retake/credentials.json].
    #[arg(long, value_name = "PATH")]
    pub creds: Option<PathBuf>,
    /// HTTP base address for sending [env: RETAKE_API_URL] [default: the API generation's].
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// retake.tv API generation [env: RETAKE_API] [default: v1].
    #[arg(long, value_enum)]
    pub api: Option<ApiVersion>,
    /// Where queue.jsonl and health.json live [env: RETAKE_STATE_DIR] [default: ~/.local/state/retake-chat].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Optional TOML file for everything else [env: RETAKE_CHAT_CONFIG].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl AccountArgs {
    /// The flags as config overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            creds: self.creds.clone(),
            api_url: self.api_url.clone(),
            api: self.api,
            state_dir: self.state_dir.clone(),
            config: self.config.clone(),
            ..Overrides::default()
        }
    }
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print health.json plus `"verdict": {"healthy", "reasons"}` as JSON instead.
    #[arg(long)]
    pub json: bool,
    /// Where health.json is.
    #[command(flatten)]
    pub state: StateArgs,
}

/// Arguments of `try`.
#[derive(Debug, Args)]
pub struct TryArgs {
    /// The personality script [default: ./scripts/personality.rhai if present, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// Who sends the messages.
    #[arg(long, value_name = "NAME", default_value = "viewer")]
    pub author: String,
    /// The kind of event.
    #[arg(long, default_value = "message", value_parser = ["message", "tip", "trade", "follow", "live", "pinned"])]
    pub kind: String,
    /// The tip or trade amount.
    #[arg(long, value_name = "N")]
    pub amount: Option<f64>,
    /// As if said AGE ago (90, 90s, 5m, 1h) and caught up from the chat history after an
    /// outage: `msg.late` is true, and a reply past the reply window (60 s, or the config
    /// file's `[catchup] reply_window_secs`) is held back, as the
    /// listener does.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub late: Option<u64>,
    /// Print one JSON object per TEXT on stdout instead.
    #[arg(long)]
    pub json: bool,
    /// The messages, one decision each.
    #[arg(required = true, value_name = "TEXT")]
    pub text: Vec<String>,
    /// The listener's TOML config file: its `[script]` limits and path and its `[catchup]`
    /// reply window apply here as they do live [env: RETAKE_CHAT_CONFIG].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The personality script [default: ./scripts/personality.rhai if present, else the built-in copy].
    #[arg(long, value_name = "PATH")]
    pub script: Option<PathBuf>,
    /// Print one JSON object per decision on stdout instead.
    #[arg(long)]
    pub json: bool,
    /// The transcript: one JSON object per line.
    #[arg(value_name = "TRANSCRIPT")]
    pub transcript: PathBuf,
    /// The listener's TOML config file: its `[script]` limits and path and its `[catchup]`
    /// reply window apply here as they do live [env: RETAKE_CHAT_CONFIG].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scripts to check [default: the config file's `[script] path`, else
    /// ./scripts/personality.rhai].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The listener's TOML config file: its `[script]` limits (and path) apply here as
    /// they do live [env: RETAKE_CHAT_CONFIG].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// An age in seconds: `90`, `90s`, `5m` or `1h`.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{text}` is not an age like 90, 90s, 5m or 1h")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|secs| *secs <= 366 * 86_400)
        .ok_or_else(|| format!("`{text}` is not an age like 90, 90s, 5m or 1h (at most a year)"))
}
