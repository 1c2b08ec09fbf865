//! The config file's tables (`[wake]`, `[send]`, `[queue]`, `[script]`, …) as the resolved
//! config holds them: each with its defaults, durations already [`Duration`]s. Reading the
//! file is `file.rs`'s; what each setting does is its stage's.

use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::duration::{millis, millis_nonzero, secs, secs_nonzero};

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
    pub(super) fn check(&self) -> Result<(), String> {
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
