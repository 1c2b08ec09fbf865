//! Resolve flags → environment → config file → defaults into one [`Config`].
//!
//! The only module that reads environment variables (through an [`Env`] snapshot, so tests
//! can pass their own), the config file (`file`) and the credentials file (`credentials`).
//! It writes nothing and creates nothing: directories are made by the stages that use them.
//! The TLS roots every connection trusts (`tls`) are resolved here too, from `SSL_CERT_FILE`;
//! the state directory's file names are [`StateDir`]'s. It depends on no module above it.
//! Here: the resolved [`Config`] and [`resolve`]; the file's tables are `tables.rs`, the
//! credential-less resolutions other commands use `local.rs`.

mod block;
mod credentials;
mod duration;
mod env;
mod error;
mod file;
mod local;
mod sources;
mod state_dir;
mod tables;
mod tls;

pub use block::compile_block;
pub use credentials::{Credentials, Secret, load_credentials};
pub use env::Env;
pub use error::ConfigError;
pub use local::{
    Local, ScriptSettings, resolve_creds_path, resolve_local, resolve_script, resolve_state_dir,
};
pub use sources::{Source, Sources, sources};
pub use state_dir::StateDir;
pub use tables::{
    BacklogConfig, CatchupConfig, ConnectionConfig, DecisionsConfig, HealthConfig, McpConfig,
    QueueConfig, ScriptConfig, SendConfig, TranscriptConfig, WakeConfig,
};
pub use tls::Tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use credentials::default_creds_path;
use file::load_file;
#[cfg(test)]
use file::parse_file;
use local::script_settings;

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
    let state_dir = pick_state_dir(cli, env, || Ok(file.state_dir.clone()))?;
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

/// The state directory: the flag, else the environment, else the config file's (`file` is
/// asked only then, so a flag spares reading it), else the platform's default.
fn pick_state_dir(
    cli: &Overrides,
    env: &Env,
    file: impl FnOnce() -> Result<Option<PathBuf>, ConfigError>,
) -> Result<StateDir, ConfigError> {
    let given = cli
        .state_dir
        .clone()
        .or_else(|| env.get("RETAKE_STATE_DIR").map(PathBuf::from));
    let dir = match given {
        Some(dir) => dir,
        None => file()?.map_or_else(default_state_dir, Ok)?,
    };
    Ok(dir.into())
}

/// The config file given (`--config`, else `RETAKE_CHAT_CONFIG`), if any; read or not.
pub fn config_path(cli: &Overrides, env: &Env) -> Option<PathBuf> {
    file::config_path(cli, env)
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
