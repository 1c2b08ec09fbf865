//! Resolve flags → environment → config file → defaults into one [`Config`].
//!
//! The only module that reads environment variables (through an [`Env`] snapshot, so tests
//! can pass their own) and the credentials file. It writes nothing and creates nothing:
//! directories are made by the stages that use them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Which generation of the retake.tv API to speak (see RETAKE_API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// `chat.retake.tv`, `POST /api/agent/chat/send` (what the seed listener uses).
    #[default]
    V1,
    /// `retake.tv`, `POST /api/v1/agent/stream/chat/send`.
    V2,
}

impl ApiVersion {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Some(Self::V1),
            "v2" | "2" => Some(Self::V2),
            _ => None,
        }
    }

    /// The platform's Socket.IO address for this generation.
    pub fn default_chat_url(self) -> &'static str {
        match self {
            Self::V1 => "https://chat.retake.tv/",
            Self::V2 => "https://retake.tv/",
        }
    }

    /// The platform's HTTP base address for this generation.
    pub fn default_api_url(self) -> &'static str {
        match self {
            Self::V1 => "https://chat.retake.tv",
            Self::V2 => "https://retake.tv",
        }
    }
}

/// A string that never shows itself: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it (the Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Who the listener speaks as.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// Bearer token for the send endpoint.
    pub access_token: Secret,
    /// The streamer's user id: the chat room, and the sender id of the agent's own messages.
    pub user_db_id: String,
    /// The agent's display name, used to recognise its own messages.
    pub agent_name: String,
}

/// Which personality script to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptChoice {
    /// A file, watched and hot-reloaded.
    File(PathBuf),
    /// The copy built into the binary (no file to watch).
    Embedded,
}

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
    /// A wake still running after this long is killed (or abandoned) and counted as failed.
    pub timeout_secs: u64,
    /// At most one wake starts per interval; requests in between coalesce into one.
    pub min_interval_ms: u64,
    /// Items still pending this long after they were queued cause another wake (wakes are
    /// known to be skipped on the agent side); the interval doubles while nothing changes.
    /// 0 turns re-waking off.
    pub rewake_after_secs: u64,
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
            timeout_secs: 30,
            min_interval_ms: 1000,
            rewake_after_secs: 30,
            token: None,
        }
    }
}

/// How replies go out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendConfig {
    /// An instant reply or acknowledgement not delivered within this many seconds is dropped
    /// rather than posted late.
    pub instant_deadline_secs: u64,
    /// Give up on one HTTP request after this many seconds (then retry within the deadline).
    pub request_timeout_secs: u64,
    /// An agent's `reply` is retried for this many seconds before it fails.
    pub agent_deadline_secs: u64,
    /// Messages allowed per 30 seconds; 0 means unlimited.
    pub per_30s: u32,
    /// Messages that may go out at once before the rate applies.
    pub burst: u32,
}

impl Default for SendConfig {
    fn default() -> Self {
        Self {
            instant_deadline_secs: 5,
            request_timeout_secs: 5,
            agent_deadline_secs: 60,
            per_30s: 20,
            burst: 5,
        }
    }
}

/// The queue file, in the config file's `[queue]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most items kept; the oldest beyond it move to `queue.archive.jsonl`.
    pub max_items: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self { max_items: 10_000 }
    }
}

/// Limits for the personality script, in the config file's `[script]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptConfig {
    /// Rhai operations one call may take.
    pub max_operations: u64,
    /// Wall-clock budget of one call, milliseconds.
    pub time_budget_ms: u64,
}

impl Default for ScriptConfig {
    fn default() -> Self {
        let limits = crate::script::Limits::default();
        Self {
            max_operations: limits.max_operations,
            time_budget_ms: limits.time_budget.as_millis() as u64,
        }
    }
}

impl ScriptConfig {
    /// The engine limits these settings give (the rest at their defaults).
    pub fn to_limits(&self) -> crate::script::Limits {
        crate::script::Limits {
            max_operations: self.max_operations,
            time_budget: Duration::from_millis(self.time_budget_ms.max(1)),
            ..crate::script::Limits::default()
        }
    }
}

/// The connection to the chat server, in the config file's `[connection]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionConfig {
    /// Give up one connection attempt after this many seconds.
    pub connect_timeout_secs: u64,
    /// First delay between attempts, milliseconds; doubles each failure.
    pub backoff_initial_ms: u64,
    /// Longest delay between attempts, milliseconds.
    pub backoff_max_ms: u64,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 10,
            backoff_initial_ms: 500,
            backoff_max_ms: 10_000,
        }
    }
}

/// The optional TOML file (`--config`): every table and key may be left out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    chat_url: Option<String>,
    api_url: Option<String>,
    api: Option<ApiVersion>,
    state_dir: Option<PathBuf>,
    creds: Option<PathBuf>,
    script: Option<ScriptFileTable>,
    #[serde(default)]
    wake: WakeConfig,
    #[serde(default)]
    send: SendConfig,
    #[serde(default)]
    queue: QueueConfig,
    #[serde(default)]
    connection: ConnectionConfig,
    #[serde(default)]
    health: HealthConfig,
}

/// `[script]`: the path and the limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScriptFileTable {
    path: Option<PathBuf>,
    #[serde(flatten)]
    limits: ScriptConfig,
}

/// How often health.json is written, in the config file's `[health]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Seconds between periodic writes (state changes are written at once).
    pub interval_secs: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { interval_secs: 5 }
    }
}

/// Everything a running listener needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who we speak as.
    pub creds: Credentials,
    /// API generation.
    pub api: ApiVersion,
    /// Socket.IO server address.
    pub chat_url: String,
    /// HTTP base address for sending.
    pub api_url: String,
    /// Where queue.jsonl and health.json live.
    pub state_dir: PathBuf,
    /// The personality.
    pub script: ScriptChoice,
    /// Script limits.
    pub script_limits: ScriptConfig,
    /// Agent wake.
    pub wake: WakeConfig,
    /// Reply sending.
    pub send: SendConfig,
    /// The queue's bound.
    pub queue: QueueConfig,
    /// Socket connection and reconnection.
    pub connection: ConnectionConfig,
    /// Stop after this many consecutive failed connection attempts; `None`: never.
    pub max_reconnects: Option<u32>,
    /// Health file.
    pub health: HealthConfig,
}

impl Config {
    /// `queue.jsonl` in the state directory.
    pub fn queue_path(&self) -> PathBuf {
        self.state_dir.join("queue.jsonl")
    }

    /// `health.json` in the state directory.
    pub fn health_path(&self) -> PathBuf {
        self.state_dir.join("health.json")
    }
}

/// Settings given on the command line; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--script`
    pub script: Option<PathBuf>,
    /// `--creds`
    pub creds: Option<PathBuf>,
    /// `--chat-url`
    pub chat_url: Option<String>,
    /// `--api-url`
    pub api_url: Option<String>,
    /// `--api`
    pub api: Option<ApiVersion>,
    /// `--state-dir`
    pub state_dir: Option<PathBuf>,
    /// `--config`
    pub config: Option<PathBuf>,
    /// `--max-reconnects`
    pub max_reconnects: Option<u32>,
}

/// A snapshot of the environment variables this program reads.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// Where `./scripts/personality.rhai` is looked for.
    pub cwd: PathBuf,
}

impl Env {
    /// The variables of this process and its working directory.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }

    /// An environment with exactly these variables (for tests and embedding).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, cwd: &Path) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: cwd.to_path_buf(),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Why a configuration could not be resolved; each names the file or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file that had to be read could not be.
    #[error("cannot read {what} {path}: {cause}")]
    Read {
        /// "credentials file", "config file"
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error (part of this message, so not a separate `source`).
        cause: std::io::Error,
    },
    /// The credentials file is not the JSON object we expect.
    #[error("credentials file {path} is not valid JSON ({detail})")]
    CredsSyntax {
        /// The file.
        path: PathBuf,
        /// Where the syntax broke (line and column), never the file's content.
        detail: String,
    },
    /// A credential is missing from the file and from the environment.
    #[error("credentials file {path}: field `{field}` is missing or not a string (or set {env})")]
    CredsField {
        /// The file.
        path: PathBuf,
        /// The JSON field.
        field: &'static str,
        /// The environment variable that could supply it.
        env: &'static str,
    },
    /// The TOML config file is malformed.
    #[error("config file {path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message (line, column, key).
        detail: String,
    },
    /// A setting has a value we cannot use.
    #[error("{name}: {detail}")]
    Invalid {
        /// The flag, variable or key.
        name: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// No home or state directory could be determined.
    #[error("cannot determine the {0} directory; pass it explicitly")]
    NoDir(&'static str),
}

/// Resolve everything a listener needs: flags, then environment, then the config file, then defaults.
pub fn resolve(cli: &Overrides, env: &Env) -> Result<Config, ConfigError> {
    let file = load_file(cli, env)?;
    let api = match (cli.api, env.get("RETAKE_API")) {
        (Some(api), _) => api,
        (None, Some(text)) => ApiVersion::parse(text).ok_or_else(|| ConfigError::Invalid {
            name: "RETAKE_API",
            detail: format!("expected v1 or v2, got {text:?}"),
        })?,
        (None, None) => file.api.unwrap_or_default(),
    };
    let chat_url = cli
        .chat_url
        .clone()
        .or_else(|| env.get("RETAKE_CHAT_URL").map(String::from))
        .or(file.chat_url)
        .unwrap_or_else(|| api.default_chat_url().to_string());
    let api_url = cli
        .api_url
        .clone()
        .or_else(|| env.get("RETAKE_API_URL").map(String::from))
        .or(file.api_url)
        .unwrap_or_else(|| api.default_api_url().to_string());
    for (name, url) in [("chat url", &chat_url), ("api url", &api_url)] {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                name,
                detail: format!("expected an http:// or https:// address, got {url:?}"),
            });
        }
    }
    let state_dir = match state_dir(cli, env) {
        Some(dir) => dir,
        None => file.state_dir.clone().map_or_else(default_state_dir, Ok)?,
    };
    let creds_path = match cli.creds.clone() {
        Some(path) => path,
        None => match env.get("RETAKE_CREDS") {
            Some(path) => PathBuf::from(path),
            None => file.creds.clone().map_or_else(default_creds_path, Ok)?,
        },
    };
    let script_table = file.script.unwrap_or_default();
    let script = match cli.script.clone().or(script_table.path) {
        Some(path) => ScriptChoice::File(path),
        None => {
            let local = env.cwd.join("scripts").join("personality.rhai");
            if local.is_file() {
                ScriptChoice::File(local)
            } else {
                ScriptChoice::Embedded
            }
        }
    };
    Ok(Config {
        creds: load_credentials(&creds_path, env)?,
        api,
        chat_url,
        api_url,
        state_dir,
        script,
        script_limits: script_table.limits,
        wake: WakeConfig {
            token: env.get("RETAKE_WAKE_TOKEN").map(Secret::new),
            ..file.wake
        },
        send: file.send,
        queue: file.queue,
        connection: file.connection,
        health: file.health,
        max_reconnects: cli.max_reconnects,
    })
}

/// The state directory from the flag or environment only.
fn state_dir(cli: &Overrides, env: &Env) -> Option<PathBuf> {
    cli.state_dir
        .clone()
        .or_else(|| env.get("RETAKE_STATE_DIR").map(PathBuf::from))
}

/// The state directory as the listener resolves it (flag, environment, config file, default),
/// without needing credentials: what `queue` and `status` use.
pub fn resolve_state_dir(cli: &Overrides, env: &Env) -> Result<PathBuf, ConfigError> {
    match state_dir(cli, env) {
        Some(dir) => Ok(dir),
        None => load_file(cli, env)?
            .state_dir
            .map_or_else(default_state_dir, Ok),
    }
}

fn load_file(cli: &Overrides, env: &Env) -> Result<FileConfig, ConfigError> {
    let Some(path) = cli
        .config
        .clone()
        .or_else(|| env.get("RETAKE_CHAT_CONFIG").map(PathBuf::from))
    else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Read {
        what: "config file",
        path: path.clone(),
        cause,
    })?;
    parse_file(&text).map_err(|detail| ConfigError::File { path, detail })
}

/// Parse the TOML config; the error is the parser's one-line message with its position.
fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end_matches('.').to_string();
        match e.span() {
            Some(span) => {
                let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: {message}")
            }
            None => message,
        }
    })
}

/// Read the credentials file (if needed), letting the three environment variables override it.
/// Values are never copied into an error message.
pub fn load_credentials(path: &Path, env: &Env) -> Result<Credentials, ConfigError> {
    const FIELDS: [(&str, &str); 3] = [
        ("access_token", "RETAKE_ACCESS_TOKEN"),
        ("userDbId", "RETAKE_USER_DB_ID"),
        ("agent_name", "RETAKE_AGENT_NAME"),
    ];
    let from_env: Vec<Option<String>> = FIELDS
        .iter()
        .map(|(_, var)| env.get(var).map(String::from))
        .collect();
    let json = if from_env.iter().all(Option::is_some) {
        Value::Null
    } else {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            what: "credentials file",
            path: path.to_path_buf(),
            cause,
        })?;
        warn_if_readable_by_others(path);
        serde_json::from_str::<Value>(&text).map_err(|e| ConfigError::CredsSyntax {
            path: path.to_path_buf(),
            detail: format!("line {} column {}", e.line(), e.column()),
        })?
    };
    let mut values = Vec::with_capacity(3);
    for ((field, var), env_value) in FIELDS.iter().zip(from_env) {
        let value = env_value.or_else(|| {
            json.get(field)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(String::from)
        });
        values.push(value.ok_or_else(|| ConfigError::CredsField {
            path: path.to_path_buf(),
            field,
            env: var,
        })?);
    }
    let [token, user_db_id, agent_name]: [String; 3] = values
        .try_into()
        .map_err(|_| ConfigError::NoDir("credentials"))?;
    Ok(Credentials {
        access_token: Secret::new(token),
        user_db_id,
        agent_name,
    })
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            "credentials file {} is readable by other users; run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

fn default_creds_path() -> Result<PathBuf, ConfigError> {
    let home = directories::BaseDirs::new().ok_or(ConfigError::NoDir("home"))?;
    Ok(home
        .home_dir()
        .join(".config")
        .join("retake")
        .join("credentials.json"))
}

/// The platform state directory: `~/.local/state/retake-chat` on Linux.
pub fn default_state_dir() -> Result<PathBuf, ConfigError> {
    let dirs =
        directories::ProjectDirs::from("", "", "retake-chat").ok_or(ConfigError::NoDir("state"))?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_path_buf())
}

/// A duration from whole seconds, never zero (a zero timeout would make nothing possible).
pub fn secs(value: u64) -> Duration {
    Duration::from_secs(value.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied(), Path::new("/nonexistent"))
    }

    const ALL_CREDS: [(&str, &str); 3] = [
        ("RETAKE_ACCESS_TOKEN", "rtk_secret"),
        ("RETAKE_USER_DB_ID", "user_1"),
        ("RETAKE_AGENT_NAME", "Bot"),
    ];

    #[test]
    fn flags_beat_env_beat_defaults() {
        let mut vars = ALL_CREDS.to_vec();
        vars.push(("RETAKE_CHAT_URL", "http://env/"));
        vars.push(("RETAKE_API", "v2"));
        vars.push(("RETAKE_STATE_DIR", "/tmp/state"));
        let cli = Overrides {
            chat_url: Some("http://flag/".into()),
            ..Overrides::default()
        };
        let config = resolve(&cli, &env(&vars)).expect("resolves");
        assert_eq!(config.chat_url, "http://flag/");
        assert_eq!(config.api, ApiVersion::V2);
        assert_eq!(config.api_url, "https://retake.tv");
        assert_eq!(config.state_dir, PathBuf::from("/tmp/state"));
        assert_eq!(config.script, ScriptChoice::Embedded);
        assert_eq!(config.creds.agent_name, "Bot");
    }

    #[test]
    fn bad_api_value_is_named() {
        let mut vars = ALL_CREDS.to_vec();
        vars.push(("RETAKE_API", "v9"));
        let err = resolve(&Overrides::default(), &env(&vars)).expect_err("rejects");
        assert_eq!(err.to_string(), "RETAKE_API: expected v1 or v2, got \"v9\"");
    }

    #[test]
    fn config_file_errors_name_the_line() {
        let err = parse_file("[wake]\ncommand = [\"x\"]\nbogus = 1\n").expect_err("rejects");
        assert!(err.starts_with("line 3: unknown field `bogus`"), "{err}");
        let ok = parse_file("api = \"v2\"\n[send]\ninstant_deadline_secs = 9\n").expect("parses");
        assert_eq!(ok.send.instant_deadline_secs, 9);
        assert_eq!(ok.api, Some(ApiVersion::V2));
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("rtk_secret");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
    }
}
