//! The optional TOML config file (`--config`): its shape, and parsing with errors that name
//! the line. Every table and key may be left out; the tables and their defaults are
//! `tables.rs`'s.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{
    ApiVersion, BacklogConfig, CatchupConfig, ConfigError, ConnectionConfig, DecisionsConfig, Env,
    HealthConfig, McpConfig, Overrides, QueueConfig, ScriptConfig, SendConfig, TranscriptConfig,
    WakeConfig,
};

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
    use std::time::Duration;

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
