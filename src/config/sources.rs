//! Where each effective setting came from (a flag, the environment, the config file, the
//! credentials file or the default), for `doctor`. The values themselves are [`resolve`]'s;
//! this only tells which layer supplied each, in the same order: flag, then environment,
//! then file, then default.
//!
//! [`resolve`]: super::resolve

use std::fmt;
use std::path::PathBuf;

use super::file::{FileConfig, config_path, load_file};
use super::{ConfigError, Env, Overrides, WakeConfig};

/// The layer a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, by name (`--state-dir`).
    Flag(&'static str),
    /// An environment variable, by name.
    Env(&'static str),
    /// The TOML config file (`--config` / `RETAKE_CHAT_CONFIG`).
    File,
    /// The credentials file.
    CredsFile,
    /// Nothing set it.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(name) => write!(f, "flag {name}"),
            Self::Env(name) => write!(f, "environment {name}"),
            Self::File => f.write_str("config file"),
            Self::CredsFile => f.write_str("credentials file"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// The source of every setting `doctor` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// `--config` / `RETAKE_CHAT_CONFIG` (`Default`: no config file).
    pub config: Source,
    /// `--api` / `RETAKE_API` / `api`.
    pub api: Source,
    /// `--chat-url` / `RETAKE_CHAT_URL` / `chat_url`.
    pub chat_url: Source,
    /// `--api-url` / `RETAKE_API_URL` / `api_url`.
    pub api_url: Source,
    /// `--creds` / `RETAKE_CREDS` / `creds`.
    pub creds: Source,
    /// `--state-dir` / `RETAKE_STATE_DIR` / `state_dir`.
    pub state_dir: Source,
    /// `--script` / `[script] path`.
    pub script: Source,
    /// `[wake]` (a file that sets it differently from the default).
    pub wake: Source,
    /// `--metrics-addr` / `RETAKE_METRICS_ADDR` / `metrics_addr`.
    pub metrics_addr: Source,
    /// `--room` / `rooms` (flags and file both count; the flag is named when given).
    pub rooms: Source,
    /// `RETAKE_ACCESS_TOKEN` or the credentials file.
    pub access_token: Source,
    /// `RETAKE_USER_DB_ID` or the credentials file.
    pub user_db_id: Source,
    /// `RETAKE_AGENT_NAME` or the credentials file.
    pub agent_name: Source,
    /// `SSL_CERT_FILE` (`Default`: Mozilla's roots only).
    pub tls: Source,
}

/// Which layer supplies each setting for these flags and this environment; an unreadable or
/// malformed config file is the same error as [`super::resolve`]'s.
pub fn sources(cli: &Overrides, env: &Env) -> Result<Sources, ConfigError> {
    let file: FileConfig = load_file(cli, env)?;
    let pick = |flag: Option<&'static str>, var: Option<&'static str>, in_file: bool| {
        if let Some(name) = flag {
            Source::Flag(name)
        } else if let Some(var) = var.filter(|var| env.get(var).is_some()) {
            Source::Env(var)
        } else if in_file {
            Source::File
        } else {
            Source::Default
        }
    };
    let given = |set: bool, name: &'static str| set.then_some(name);
    let from_env = |var: &'static str| match env.get(var) {
        Some(_) => Source::Env(var),
        None => Source::CredsFile,
    };
    Ok(Sources {
        config_file: config_path(cli, env),
        config: pick(
            given(cli.config.is_some(), "--config"),
            Some("RETAKE_CHAT_CONFIG"),
            false,
        ),
        api: pick(
            given(cli.api.is_some(), "--api"),
            Some("RETAKE_API"),
            file.api.is_some(),
        ),
        chat_url: pick(
            given(cli.chat_url.is_some(), "--chat-url"),
            Some("RETAKE_CHAT_URL"),
            file.chat_url.is_some(),
        ),
        api_url: pick(
            given(cli.api_url.is_some(), "--api-url"),
            Some("RETAKE_API_URL"),
            file.api_url.is_some(),
        ),
        creds: pick(
            given(cli.creds.is_some(), "--creds"),
            Some("RETAKE_CREDS"),
            file.creds.is_some(),
        ),
        state_dir: pick(
            given(cli.state_dir.is_some(), "--state-dir"),
            Some("RETAKE_STATE_DIR"),
            file.state_dir.is_some(),
        ),
        script: pick(
            given(cli.script.is_some(), "--script"),
            None,
            file.script.as_ref().is_some_and(|s| s.path.is_some()),
        ),
        wake: pick(None, None, file.wake != WakeConfig::default()),
        metrics_addr: pick(
            given(cli.metrics_addr.is_some(), "--metrics-addr"),
            Some("RETAKE_METRICS_ADDR"),
            file.metrics_addr.is_some(),
        ),
        rooms: pick(
            given(!cli.rooms.is_empty(), "--room"),
            None,
            !file.rooms.is_empty(),
        ),
        access_token: from_env("RETAKE_ACCESS_TOKEN"),
        user_db_id: from_env("RETAKE_USER_DB_ID"),
        agent_name: from_env("RETAKE_AGENT_NAME"),
        tls: pick(None, Some("SSL_CERT_FILE"), false),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn each_setting_names_the_layer_that_won() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "api = \"v2\"\nchat_url = \"http://file/\"\nstate_dir = \"/file\"\n[wake]\ncommand = []\n",
        )
        .expect("config");
        let env = Env::from_pairs(
            [
                ("RETAKE_CHAT_URL", "http://env/"),
                ("RETAKE_STATE_DIR", "/env"),
                ("RETAKE_ACCESS_TOKEN", "rtk_env"),
            ],
            Path::new("/nonexistent"),
        );
        let cli = Overrides {
            state_dir: Some("/flag".into()),
            config: Some(config),
            ..Overrides::default()
        };
        let found = sources(&cli, &env).expect("sources");
        assert_eq!(found.config, Source::Flag("--config"));
        assert_eq!(found.api, Source::File);
        assert_eq!(found.chat_url, Source::Env("RETAKE_CHAT_URL"));
        assert_eq!(found.api_url, Source::Default);
        assert_eq!(found.state_dir, Source::Flag("--state-dir"));
        assert_eq!(found.script, Source::Default);
        assert_eq!(found.wake, Source::File);
        assert_eq!(found.access_token, Source::Env("RETAKE_ACCESS_TOKEN"));
        assert_eq!(found.user_db_id, Source::CredsFile);
        assert_eq!(found.tls, Source::Default);
        assert_eq!(
            [
                found.state_dir,
                found.chat_url,
                found.wake,
                found.user_db_id
            ]
            .map(|s| s.to_string()),
            [
                "flag --state-dir",
                "environment RETAKE_CHAT_URL",
                "config file",
                "credentials file"
            ]
        );
    }
}
