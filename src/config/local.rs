//! What the commands that need no credentials resolve, each picked as [`super::resolve`]
//! picks it: the state directory (`queue`, `status`, the sandbox), [`Local`] (`queue`, `mcp`),
//! [`ScriptSettings`] (`check`, `try`, `replay`) and where `init` writes the credentials.

use std::path::PathBuf;
use std::time::Duration;

use super::credentials::default_creds_path;
use super::file::{FileConfig, config_path, load_file};
use super::{
    ConfigError, Env, McpConfig, Overrides, QueueConfig, ScriptConfig, StateDir, layered,
    pick_state_dir,
};

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
pub(super) fn script_settings(cli: &Overrides, file: &FileConfig) -> ScriptSettings {
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

/// The state directory as the listener resolves it (flag, environment, config file, default),
/// without needing credentials: what `queue` and `status` use.
pub fn resolve_state_dir(cli: &Overrides, env: &Env) -> Result<StateDir, ConfigError> {
    pick_state_dir(cli, env, || Ok(load_file(cli, env)?.state_dir))
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
    Ok(Local {
        state_dir: pick_state_dir(cli, env, || Ok(file.state_dir.clone()))?,
        queue: file.queue,
        mcp: file.mcp,
    })
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
