//! The optional TOML config file (`--config`): its tables, their defaults, and parsing with
//! errors that name the line. Every table and key may be left out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration::{millis, millis_nonzero, secs, secs_nonzero};
use super::{ApiVersion, ConfigError, Env, Overrides, Secret};

/// How the agent is woken when something is queued.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WakeConfig {
    /// Program and arguments, run without a shell; empty disables waking by command.
    pub command: Vec<String>,
    /// Instead of the command: POST `{ "text": .., "mode": "now" }` here (OpenClaw's
    /// `/hooks/wake`), with `RETAKE_WAKE_TOKEN` as the bearer token when set.
    pub url: Option<String>,
    /// The text of an HTTP wake.
    pub text: String,
    /// A wake still running after this long is killed (or abandoned) and counted as failed
    /// (`timeout_secs`, at least 1).
    #[serde(rename = "timeout_secs", deserialize_with = "secs_nonzero")]
    pub timeout: Duration,
    /// At most one wake starts per interval; requests in between coalesce into one
    /// (`min_interval_ms`).
    #[serde(rename = "min_interval_ms", deserialize_with = "millis")]
    pub min_interval: Duration,
    /// Items still pending this long after they were queued cause another wake (wakes are
    /// known to be skipped on the agent side); the interval doubles while nothing changes.
    /// Zero turns re-waking off (`rewake_after_secs`).
    #[serde(rename = "rewake_after_secs", deserialize_with = "secs")]
    pub rewake_after: Duration,
    /// The bearer token for `url`, from `RETAKE_WAKE_TOKEN` (never from the file).
    #[serde(skip)]
    pub token: Option<Secret>,
}

impl Default for WakeConfig {
    fn default() -> Self {
        Self {
            command: [
                "openclaw",
                "system",
                "event",
                "--text",
                "RETAKE_CHAT_CHECK",
                "--mode",
                "now",
            ]
            .map(String::from)
            .to_vec(),
            url: None,
            text: "RETAKE_CHAT_CHECK".to_string(),
            timeout: Duration::from_secs(30),
            min_interval: Duration::from_millis(1000),
            rewake_after: Duration::from_secs(30),
            token: None,
        }
    }
}

/// How replies go out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendConfig {
    /// An instant reply or acknowledgement not delivered within this long is dropped rather
    /// than posted late (`instant_deadline_secs`, at least 1).
    #[serde(rename = "instant_deadline_secs", deserialize_with = "secs_nonzero")]
    pub instant_deadline: Duration,
    /// Give up on one HTTP request after this long (then retry within the deadline)
    /// (`request_timeout_secs`, at least 1).
    #[serde(rename = "request_timeout_secs", deserialize_with = "secs_nonzero")]
    pub request_timeout: Duration,
    /// An agent's `reply` is retried for this long before it fails (`agent_deadline_secs`,
    /// at least 1).
    #[serde(rename = "agent_deadline_secs", deserialize_with = "secs_nonzero")]
    pub agent_deadline: Duration,
    /// Messages allowed per 30 seconds; 0 means unlimited.
    pub per_30s: u32,
    /// Messages that may go out at once before the rate applies.
    pub burst: u32,
    /// The most of `per_30s` and `burst`, in percent, that the script's own lines (timers,
    /// `on_start`) may use; viewers' replies and acknowledgements keep the rest. 0 silences
    /// them, 100 lets them use it all.
    pub timer_share_percent: u32,
    /// Regular expressions no outgoing text may match (the outbound guard); none by default.
    pub block: Vec<String>,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            instant_deadline: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            agent_deadline: Duration::from_secs(60),
            per_30s: 20,
            burst: 5,
            timer_share_percent: 25,
            block: Vec::new(),
        }
    }
}

impl SendConfig {
    /// Values no setting can mean, as one sentence naming the key.
    fn check(&self) -> Result<(), String> {
        if self.timer_share_percent > 100 {
            return Err(format!(
                "[send] timer_share_percent: expected a percentage from 0 to 100, got {}",
                self.timer_share_percent
            ));
        }
        super::compile_block(&self.block)?;
        Ok(())
    }
}

/// The queue file, in the config file's `[queue]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most items kept; while it is full, new messages go to `queue.archive.jsonl` instead,
    /// without their acknowledgement.
    pub max_items: usize,
    /// Rotate `queue.archive.jsonl` before it grows past this many bytes; 0 keeps no archive.
    pub archive_max_bytes: u64,
    /// Rotated archives kept (`queue.archive.1.jsonl` is the newest).
    pub archive_keep: usize,
    /// Longest wait for `queue.lock` before an operation gives up naming its holder
    /// (`lock_timeout_secs`, at least 1).
    #[serde(rename = "lock_timeout_secs", deserialize_with = "secs_nonzero")]
    pub lock_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_items: 10_000,
            archive_max_bytes: 10 * 1024 * 1024,
            archive_keep: 3,
            lock_timeout: Duration::from_secs(10),
        }
    }
}

/// Limits for the personality script and when it speaks unasked (`on_quiet`), in the config
/// file's `[script]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptConfig {
    /// Rhai operations one call may take.
    pub max_operations: u64,
    /// Wall-clock budget of one call (`time_budget_ms`, at least 1).
    #[serde(rename = "time_budget_ms", deserialize_with = "millis_nonzero")]
    pub time_budget: Duration,
    /// Memory one call may hold at once, MiB (at least 1).
    pub memory_budget_mib: u64,
    /// Distinct authors whose `msg.count` and `msg.first_time` are kept (at least 1); the
    /// one seen longest ago is forgotten past it.
    pub max_counted_authors: usize,
    /// How long without a viewer line in the own room before `fn on_quiet(ev)` runs (once
    /// per quiet stretch); zero turns it off (`quiet_after_secs`).
    #[serde(rename = "quiet_after_secs", deserialize_with = "secs")]
    pub quiet_after: Duration,
}

/// Plain settings: the script layer turns them into its engine limits (`script::Limits`
/// comes from a `ScriptConfig`, its defaults from this default).
impl Default for ScriptConfig {
    fn default() -> Self {
        Self {
            max_operations: 200_000,
            time_budget: Duration::from_millis(50),
            memory_budget_mib: 16,
            max_counted_authors: 10_000,
            quiet_after: Duration::from_secs(120),
        }
    }
}

impl ScriptConfig {
    /// `memory_budget_mib` in bytes, at least 1 MiB.
    pub fn memory_budget_bytes(&self) -> usize {
        const MIB: usize = 1024 * 1024;
        usize::try_from(self.memory_budget_mib.max(1))
            .map_or(usize::MAX, |mib| mib.saturating_mul(MIB))
    }
}

/// The connection to the chat server, in the config file's `[connection]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Give up one connection attempt after this long (`connect_timeout_secs`, at least 1).
    #[serde(rename = "connect_timeout_secs", deserialize_with = "secs_nonzero")]
    pub connect_timeout: Duration,
    /// Shortest delay between attempts. The delay is a quarter of the outage so far (with
    /// jitter), at least this (`backoff_initial_ms`, at least 1).
    #[serde(rename = "backoff_initial_ms", deserialize_with = "millis_nonzero")]
    pub backoff_initial: Duration,
    /// Longest delay between attempts, however long the outage (`backoff_max_ms`, at least 1).
    #[serde(rename = "backoff_max_ms", deserialize_with = "millis_nonzero")]
    pub backoff_max: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
        }
    }
}

/// How much may wait in memory under a flood, in the config file's `[backlog]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BacklogConfig {
    /// Instant replies and acknowledgements waiting to be posted; beyond it the oldest are
    /// dropped (counted `shed`).
    pub instant_texts: usize,
    /// Viewer messages waiting for the personality; beyond it the oldest are queued for the
    /// agent without asking it (counted `unscripted`), so a slow script cannot pile them up.
    pub personality: usize,
}

impl Default for BacklogConfig {
    fn default() -> Self {
        Self {
            instant_texts: 10_000,
            // Above any ordinary burst (5,000 messages in 45 ms peak near 1,500 waiting with
            // the shipped personality), below what would hold much memory (about 1 KB each).
            personality: 10_000,
        }
    }
}

/// Filling the gaps the socket leaves from the platform's chat history, in the config file's
/// `[catchup]` table: after every join, and by polling while the socket cannot be reached.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatchupConfig {
    /// Read the history at all (off: what is said while we cannot hear is never seen).
    pub enabled: bool,
    /// Messages older than this are never caught up (`max_age_secs`).
    #[serde(rename = "max_age_secs", deserialize_with = "secs")]
    pub max_age: Duration,
    /// Most history pages read for one catch-up (each up to `page_size` messages).
    pub max_pages: u32,
    /// Messages asked for per page (the platform serves at most 100).
    pub page_size: u32,
    /// A late message older than this gets no instant reply (an acknowledgement and the
    /// queue still happen) (`reply_window_secs`, at least 1).
    #[serde(rename = "reply_window_secs", deserialize_with = "secs_nonzero")]
    pub reply_window: Duration,
    /// Poll the history once the socket has been out of reach this long (`poll_after_secs`,
    /// at least 1).
    #[serde(rename = "poll_after_secs", deserialize_with = "secs_nonzero")]
    pub poll_after: Duration,
    /// Time between polls while chat is active (a message in the last minute)
    /// (`poll_active_secs`, at least 1).
    #[serde(rename = "poll_active_secs", deserialize_with = "secs_nonzero")]
    pub poll_active: Duration,
    /// Time between polls while chat is quiet (`poll_quiet_secs`, at least 1).
    #[serde(rename = "poll_quiet_secs", deserialize_with = "secs_nonzero")]
    pub poll_quiet: Duration,
    /// Give up one history request after this long (`request_timeout_secs`, at least 1).
    #[serde(rename = "request_timeout_secs", deserialize_with = "secs_nonzero")]
    pub request_timeout: Duration,
}

impl Default for CatchupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_age: Duration::from_secs(600),
            max_pages: 10,
            page_size: 100,
            reply_window: Duration::from_secs(60),
            poll_after: Duration::from_secs(20),
            poll_active: Duration::from_secs(3),
            poll_quiet: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The optional TOML file (`--config`): every table and key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) chat_url: Option<String>,
    pub(super) api_url: Option<String>,
    pub(super) api: Option<ApiVersion>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) creds: Option<PathBuf>,
    /// Other streamers' rooms to listen to: ids or names (`rooms = ["rival", "user_abc"]`).
    #[serde(default)]
    pub(super) rooms: Vec<String>,
    pub(super) script: Option<ScriptFileTable>,
    #[serde(default)]
    pub(super) wake: WakeConfig,
    #[serde(default)]
    pub(super) send: SendConfig,
    #[serde(default)]
    pub(super) queue: QueueConfig,
    #[serde(default)]
    pub(super) connection: ConnectionConfig,
    #[serde(default)]
    pub(super) health: HealthConfig,
    pub(super) metrics_addr: Option<SocketAddr>,
    #[serde(default)]
    pub(super) decisions: DecisionsConfig,
    #[serde(default)]
    pub(super) backlog: BacklogConfig,
    #[serde(default)]
    pub(super) catchup: CatchupConfig,
    #[serde(default)]
    pub(super) transcript: TranscriptConfig,
    #[serde(default)]
    pub(super) mcp: McpConfig,
}

/// `[script]`: the path and the limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScriptFileTable {
    pub(super) path: Option<PathBuf>,
    #[serde(flatten)]
    pub(super) limits: ScriptConfig,
}

/// How often health.json is written, in the config file's `[health]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Time between periodic writes (state changes are written at once) (`interval_secs`,
    /// at least 1).
    #[serde(rename = "interval_secs", deserialize_with = "secs_nonzero")]
    pub interval: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
        }
    }
}

/// The decision log (`decisions.jsonl`), in the config file's `[decisions]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecisionsConfig {
    /// Rotate `decisions.jsonl` before it grows past this many bytes; 0 turns the log off.
    pub max_bytes: u64,
    /// Rotated files kept (`decisions.1.jsonl` is the newest).
    pub keep: usize,
}

impl Default for DecisionsConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 3,
        }
    }
}

/// The transcript (`transcript.jsonl`: what viewers said and what the bot sent, the agent's
/// context), in the config file's `[transcript]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscriptConfig {
    /// Rotate `transcript.jsonl` before it grows past this many bytes; 0 turns it off.
    pub max_bytes: u64,
    /// Rotated files kept (`transcript.1.jsonl` is the newest).
    pub keep: usize,
}

impl Default for TranscriptConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            keep: 2,
        }
    }
}

/// The MCP server (`retake-chat mcp`), in the config file's `[mcp]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Chat lines before each item that `chat_take` gives as its `context`; 0 gives none.
    pub context_lines: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self { context_lines: 10 }
    }
}

/// Far more than every setting with a comment each; past it, it is not a config file.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The config file given (`--config`, else `RETAKE_CHAT_CONFIG`), if any.
pub(super) fn config_path(cli: &Overrides, env: &Env) -> Option<PathBuf> {
    cli.config
        .clone()
        .or_else(|| env.get("RETAKE_CHAT_CONFIG").map(PathBuf::from))
}

pub(super) fn load_file(cli: &Overrides, env: &Env) -> Result<FileConfig, ConfigError> {
    let Some(path) = config_path(cli, env) else {
        return Ok(FileConfig::default());
    };
    // Capped and regular only, like the credentials: never a hang on a FIFO.
    let (text, _) =
        crate::files::read_small(&path, MAX_CONFIG_BYTES).map_err(|cause| ConfigError::Read {
            what: "config file",
            path: path.clone(),
            cause,
        })?;
    parse_file(&text).map_err(|detail| ConfigError::File { path, detail })
}

/// Parse the TOML config and check its values; the error is the parser's one-line message
/// with its position, or a sentence naming the key.
pub(super) fn parse_file(text: &str) -> Result<FileConfig, String> {
    let file: FileConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end_matches('.').to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {message}")
            }
            None => message,
        }
    })?;
    file.send.check()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_errors_name_the_line() {
        let err = parse_file("[wake]\ncommand = [\"x\"]\nbogus = 1\n").expect_err("rejects");
        assert!(err.starts_with("line 3: unknown field `bogus`"), "{err}");
        let ok = parse_file("api = \"v2\"\n[send]\ninstant_deadline_secs = 9\n").expect("parses");
        assert_eq!(ok.send.instant_deadline, Duration::from_secs(9));
        assert_eq!(ok.api, Some(ApiVersion::V2));
        let err = parse_file("[send]\ntimer_share_percent = 150\n").expect_err("rejects");
        assert_eq!(
            err,
            "[send] timer_share_percent: expected a percentage from 0 to 100, got 150"
        );
        let err = parse_file("[send]\nblock = ['rtk_', '[a-z']\n").expect_err("rejects");
        assert_eq!(
            err,
            "[send] block: pattern 2 is not a valid regular expression (unclosed character class)"
        );
    }

    /// The README's config examples parse, and the one that lists every table shows the
    /// defaults as they are.
    #[test]
    fn the_readme_config_examples_parse_and_show_the_defaults() {
        let readme = include_str!("../../README.md");
        let blocks: Vec<&str> = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert!(blocks.len() >= 2, "the README has its config examples");
        let parsed: Vec<FileConfig> = blocks
            .iter()
            .map(|block| parse_file(block).unwrap_or_else(|e| panic!("{e}:\n{block}")))
            .collect();
        let full = &parsed[0];
        assert_eq!(full.wake, WakeConfig::default());
        assert_eq!(full.send, SendConfig::default());
        assert_eq!(full.queue, QueueConfig::default());
        assert_eq!(full.connection, ConnectionConfig::default());
        assert_eq!(full.health, HealthConfig::default());
        let script = full.script.as_ref().expect("[script]");
        assert_eq!(script.limits, ScriptConfig::default());
        assert_eq!(parsed[1].decisions, DecisionsConfig::default());
        assert_eq!(full.backlog, BacklogConfig::default());
        assert_eq!(full.transcript, TranscriptConfig::default());
        assert_eq!(full.mcp, McpConfig::default());
    }
}
