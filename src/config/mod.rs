//! Resolve flags → environment → config file → defaults into one [`Config`].
//!
//! The only module that reads environment variables (through an [`Env`] snapshot, so tests
//! can pass their own), the config file (`file`) and the credentials file (`credentials`).
//! It writes nothing and creates nothing: directories are made by the stages that use them.
//! The TLS roots every connection trusts (`tls`) are resolved here too, from `SSL_CERT_FILE`;
//! the state directory's file names are [`StateDir`]'s. It depends on no module above it.

mod block;
mod credentials;
mod duration;
mod file;
mod sources;
mod state_dir;
mod tls;

pub use block::compile_block;
pub use credentials::{Credentials, Secret, load_credentials};
pub use file::{
    BacklogConfig, CatchupConfig, ConnectionConfig, DecisionsConfig, HealthConfig, McpConfig,
    QueueConfig, ScriptConfig, SendConfig, TranscriptConfig, WakeConfig,
};
pub use sources::{Source, Sources, sources};
pub use state_dir::StateDir;
pub use tls::Tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use credentials::default_creds_path;
use file::load_file;
#[cfg(test)]
use file::parse_file;

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

/// Which personality script to run.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptChoice {
    /// A file, watched and hot-reloaded.
    File(PathBuf),
    /// The copy built into the binary (no file to watch).
    Embedded,
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
    /// Where queue.jsonl, health.json and the other state files live.
    pub state_dir: StateDir,
    /// Other streamers' rooms to listen to as well, as given (ids or names; `--room` and
    /// `rooms = [...]`, flags first, each once): resolved to ids at start (`rooms.rs`).
    pub rooms: Vec<String>,
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
    /// Serve `/healthz` and `/metrics` here; `None`: no HTTP endpoint.
    pub metrics_addr: Option<SocketAddr>,
    /// The decision log.
    pub decisions: DecisionsConfig,
    /// How much may wait in memory under a flood.
    pub backlog: BacklogConfig,
    /// Catching up from the chat history.
    pub catchup: CatchupConfig,
    /// The transcript the agent's context is read from.
    pub transcript: TranscriptConfig,
    /// The MCP server.
    pub mcp: McpConfig,
    /// How TLS peers are verified (`SSL_CERT_FILE` adds roots).
    pub tls: Tls,
    /// `run --dry-run`: decide and print every message, carry out nothing (no post, no
    /// queue, no wake). Never from a file or the environment: only the flag asks for it.
    pub dry_run: bool,
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
    /// `--metrics-addr`
    pub metrics_addr: Option<SocketAddr>,
    /// `--room` (repeatable)
    pub rooms: Vec<String>,
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

    /// `PATH`, where a wake command without a `/` is looked for.
    pub fn path(&self) -> Option<&str> {
        self.get("PATH")
    }

    /// A variable's value; unset and empty are both `None`.
    pub fn get(&self, key: &str) -> Option<&str> {
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
    /// There is no credentials file, and the environment does not supply all three fields.
    #[error(
        "no credentials file at {path}: run `retake-chat init` to write one (or set \
         RETAKE_ACCESS_TOKEN, RETAKE_USER_DB_ID and RETAKE_AGENT_NAME); `retake-chat sandbox` \
         tries the bot without any"
    )]
    CredsMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A credential is missing from the file and from the environment.
    #[error(
        "credentials file {path}: field `{field}` is missing or not a string (or set {env}); \
         `retake-chat init --force` writes a complete one"
    )]
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

/// The flag if given, else the environment variable, else the config file's value.
fn layered<T: for<'a> From<&'a str>>(
    flag: Option<T>,
    env: &Env,
    var: &str,
    file: Option<T>,
) -> Option<T> {
    flag.or_else(|| env.get(var).map(T::from)).or(file)
}

/// Resolve everything a listener needs: flags, then environment, then the config file, then defaults.
pub fn resolve(cli: &Overrides, env: &Env) -> Result<Config, ConfigError> {
    let Settings {
        mut config,
        creds_path,
    } = resolve_settings(cli, env)?;
    config.creds = load_credentials(&creds_path, env)?;
    config.tls = load_tls(env)?;
    Ok(config)
}

/// Everything [`resolve`] resolves but what is read from other files: the credentials
/// (empty here; [`Settings::creds_path`] says where they are) and the TLS roots (the default
/// here; [`load_tls`]). What `doctor` shows, and then checks one by one, when those cannot be read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The config, with empty credentials and default TLS.
    pub config: Config,
    /// Where the credentials file is (flag, environment, config file or default).
    pub creds_path: PathBuf,
}

/// The TLS roots: Mozilla's, plus those of the PEM file `SSL_CERT_FILE` names.
pub fn load_tls(env: &Env) -> Result<Tls, ConfigError> {
    match env.get("SSL_CERT_FILE") {
        Some(path) => Tls::with_extra_roots(Path::new(path)),
        None => Ok(Tls::default()),
    }
}

/// [`resolve`] without reading the credentials or the certificates (see [`Settings`]).
pub fn resolve_settings(cli: &Overrides, env: &Env) -> Result<Settings, ConfigError> {
    let file = load_file(cli, env)?;
    let scripting = script_settings(cli, &file);
    let api = match (cli.api, env.get("RETAKE_API")) {
        (Some(api), _) => api,
        (None, Some(text)) => ApiVersion::parse(text).ok_or_else(|| ConfigError::Invalid {
            name: "RETAKE_API",
            detail: format!("expected v1 or v2, got {text:?}"),
        })?,
        (None, None) => file.api.unwrap_or_default(),
    };
    let chat_url = layered(cli.chat_url.clone(), env, "RETAKE_CHAT_URL", file.chat_url)
        .unwrap_or_else(|| api.default_chat_url().to_string());
    let api_url = layered(cli.api_url.clone(), env, "RETAKE_API_URL", file.api_url)
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
    }
    .into();
    let creds_path = layered(cli.creds.clone(), env, "RETAKE_CREDS", file.creds)
        .map_or_else(default_creds_path, Ok)?;
    let metrics_addr = match (cli.metrics_addr, env.get("RETAKE_METRICS_ADDR")) {
        (Some(addr), _) => Some(addr),
        (None, Some(text)) => Some(text.trim().parse().map_err(|_| ConfigError::Invalid {
            name: "RETAKE_METRICS_ADDR",
            detail: format!("expected an address like 127.0.0.1:9187, got {text:?}"),
        })?),
        (None, None) => file.metrics_addr,
    };
    let script = script_choice(scripting.path, env);
    let rooms = other_rooms(cli.rooms.iter().chain(&file.rooms))?;
    let config = Config {
        creds: Credentials::none(),
        api,
        chat_url,
        api_url,
        state_dir,
        rooms,
        script,
        script_limits: scripting.limits,
        wake: WakeConfig {
            token: env.get("RETAKE_WAKE_TOKEN").map(Secret::new),
            ..file.wake
        },
        send: file.send,
        queue: file.queue,
        connection: file.connection,
        health: file.health,
        max_reconnects: cli.max_reconnects,
        metrics_addr,
        decisions: file.decisions,
        backlog: file.backlog,
        catchup: file.catchup,
        transcript: file.transcript,
        mcp: file.mcp,
        tls: Tls::default(),
        dry_run: false,
    };
    Ok(Settings { config, creds_path })
}

/// Longest room id or streamer name accepted (the platform's are far shorter).
const MAX_ROOM_CHARS: usize = 128;

/// The other rooms as given, trimmed, each once, in order; an empty one or one with
/// characters no id or name has is refused with its value.
fn other_rooms<'a>(given: impl Iterator<Item = &'a String>) -> Result<Vec<String>, ConfigError> {
    let mut rooms: Vec<String> = Vec::new();
    for room in given {
        let room = room.trim();
        // Names go into the lookup's URL path: `.` and `..` would walk it.
        let usable = !room.is_empty()
            && !room.chars().all(|c| c == '.')
            && room.chars().count() <= MAX_ROOM_CHARS
            && room
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !usable {
            return Err(ConfigError::Invalid {
                name: "--room / rooms",
                detail: format!(
                    "expected a streamer's id or name (letters, digits, `_`, `-`, `.`), got {room:?}"
                ),
            });
        }
        if !rooms.iter().any(|r| r == room) {
            rooms.push(room.to_string());
        }
    }
    Ok(rooms)
}

/// What running a personality takes from the flags and the config file, resolved as the
/// listener resolves it: what `check`, `try` and `replay` use, so a script that passes them
/// does not hit a lower limit live.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSettings {
    /// `--script`, else the config file's `[script] path` (`None`: neither; see
    /// [`script_choice`]).
    pub path: Option<PathBuf>,
    /// The config file's `[script]` limits.
    pub limits: ScriptConfig,
    /// `[catchup] reply_window_secs`: a late message older than this gets no instant reply.
    pub reply_window: Duration,
}

/// [`ScriptSettings`] for these flags (`--script`, `--config`) and this environment
/// (`RETAKE_CHAT_CONFIG`); an unreadable or malformed config file is [`resolve`]'s error.
pub fn resolve_script(cli: &Overrides, env: &Env) -> Result<ScriptSettings, ConfigError> {
    Ok(script_settings(cli, &load_file(cli, env)?))
}

/// The one place the script's settings are picked from the flags and the file.
fn script_settings(cli: &Overrides, file: &file::FileConfig) -> ScriptSettings {
    let table = file.script.as_ref();
    ScriptSettings {
        path: cli
            .script
            .clone()
            .or_else(|| table.and_then(|t| t.path.clone())),
        limits: table.map(|t| t.limits.clone()).unwrap_or_default(),
        reply_window: file.catchup.reply_window,
    }
}

/// The script given, else `./scripts/personality.rhai` if it exists, else the built-in copy.
pub fn script_choice(given: Option<PathBuf>, env: &Env) -> ScriptChoice {
    match given {
        Some(path) => ScriptChoice::File(path),
        None => {
            let local = env.cwd.join("scripts").join("personality.rhai");
            if local.is_file() {
                ScriptChoice::File(local)
            } else {
                ScriptChoice::Embedded
            }
        }
    }
}

/// The state directory from the flag or environment only.
fn state_dir(cli: &Overrides, env: &Env) -> Option<PathBuf> {
    cli.state_dir
        .clone()
        .or_else(|| env.get("RETAKE_STATE_DIR").map(PathBuf::from))
}

/// The state directory as the listener resolves it (flag, environment, config file, default),
/// without needing credentials: what `queue` and `status` use.
pub fn resolve_state_dir(cli: &Overrides, env: &Env) -> Result<StateDir, ConfigError> {
    let dir = match state_dir(cli, env) {
        Some(dir) => dir,
        None => load_file(cli, env)?
            .state_dir
            .map_or_else(default_state_dir, Ok)?,
    };
    Ok(dir.into())
}

/// The agent's side of a state directory: what `queue` and the MCP server need without
/// credentials.
#[derive(Debug, Clone)]
pub struct Local {
    /// Where queue.jsonl, transcript.jsonl and health.json are.
    pub state_dir: StateDir,
    /// The config file's `[queue]` settings (the lock timeout).
    pub queue: QueueConfig,
    /// The config file's `[mcp]` settings.
    pub mcp: McpConfig,
}

/// The state directory as [`resolve_state_dir`] finds it, and the config file's `[queue]` and
/// `[mcp]` settings (the defaults without a file).
pub fn resolve_local(cli: &Overrides, env: &Env) -> Result<Local, ConfigError> {
    let file = load_file(cli, env)?;
    let state_dir = match state_dir(cli, env) {
        Some(dir) => dir,
        None => file.state_dir.map_or_else(default_state_dir, Ok)?,
    };
    Ok(Local {
        state_dir: state_dir.into(),
        queue: file.queue,
        mcp: file.mcp,
    })
}

/// The config file given (`--config`, else `RETAKE_CHAT_CONFIG`), if any; read or not.
pub fn config_path(cli: &Overrides, env: &Env) -> Option<PathBuf> {
    file::config_path(cli, env)
}

/// The credentials file as the listener finds it (flag, `RETAKE_CREDS`, the config file's
/// `creds`, `~/.config/retake/credentials.json`), without reading it: where `init` writes.
/// A config file that does not exist yet counts as empty.
pub fn resolve_creds_path(cli: &Overrides, env: &Env) -> Result<PathBuf, ConfigError> {
    let exists = config_path(cli, env).is_some_and(|path| path.exists());
    let file_creds = if exists {
        load_file(cli, env)?.creds
    } else {
        None
    };
    layered(cli.creds.clone(), env, "RETAKE_CREDS", file_creds).map_or_else(default_creds_path, Ok)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_rooms_come_from_flags_then_the_file_each_once() {
        let file = parse_file("rooms = [\"rival\", \" user_abc \"]\n").expect("parses");
        let flags = ["user_abc".to_string(), "ally".to_string()];
        let rooms = other_rooms(flags.iter().chain(&file.rooms)).expect("usable");
        assert_eq!(rooms, ["user_abc", "ally", "rival"]);
        assert!(
            other_rooms(["..".to_string()].iter()).is_err(),
            "no path walking"
        );
        let bad = ["ok".to_string(), "a/../b".to_string()];
        let error = other_rooms(bad.iter()).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "--room / rooms: expected a streamer's id or name (letters, digits, `_`, `-`, `.`), got \"a/../b\""
        );
    }

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
        assert_eq!(config.state_dir.path(), Path::new("/tmp/state"));
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
    fn metrics_and_decision_log_settings_resolve() {
        let file = parse_file("metrics_addr = \"127.0.0.1:9187\"\n[decisions]\nmax_bytes = 0\n")
            .expect("parses");
        assert_eq!(file.metrics_addr, "127.0.0.1:9187".parse().ok());
        assert_eq!(file.decisions.max_bytes, 0);
        assert_eq!(file.decisions.keep, 3);
        let mut vars = ALL_CREDS.to_vec();
        vars.push(("RETAKE_METRICS_ADDR", "localhost"));
        let err = resolve(&Overrides::default(), &env(&vars)).expect_err("rejects");
        assert_eq!(
            err.to_string(),
            "RETAKE_METRICS_ADDR: expected an address like 127.0.0.1:9187, got \"localhost\""
        );
        vars.pop();
        vars.push(("RETAKE_METRICS_ADDR", "127.0.0.1:9000"));
        let cli = Overrides {
            metrics_addr: "127.0.0.1:9001".parse().ok(),
            ..Overrides::default()
        };
        let config = resolve(&cli, &env(&vars)).expect("resolves");
        assert_eq!(config.metrics_addr, "127.0.0.1:9001".parse().ok());
        assert_eq!(config.decisions, DecisionsConfig::default());
    }
}
