//! Who the listener speaks as: the credentials file and its environment overrides, and
//! [`Secret`], the wrapper that keeps the access token out of every log and message.
//!
//! Values read here are never copied into an error: a broken file is described by its path,
//! the field and the line/column, never by its content.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ConfigError, Env};

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

    /// Whether `text` holds the secret. A value too short to be a real token (under 8
    /// characters) is never looked for: it would match ordinary words.
    pub fn is_in(&self, text: &str) -> bool {
        self.0.len() >= 8 && text.contains(&self.0)
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

/// A credentials file is three short strings; anything this big is the wrong file.
const MAX_CREDS_BYTES: u64 = 64 * 1024;

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
        // Capped and regular only: a FIFO or /dev/zero given by mistake is a sentence at once.
        let (text, meta) =
            crate::files::read_small(path, MAX_CREDS_BYTES).map_err(|cause| ConfigError::Read {
                what: "credentials file",
                path: path.to_path_buf(),
                cause,
            })?;
        warn_if_readable_by_others(path, &meta);
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
fn warn_if_readable_by_others(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "credentials file {} is readable by other users; run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path, _meta: &std::fs::Metadata) {}

pub(super) fn default_creds_path() -> Result<PathBuf, ConfigError> {
    let home = directories::BaseDirs::new().ok_or(ConfigError::NoDir("home"))?;
    Ok(home
        .home_dir()
        .join(".config")
        .join("retake")
        .join("credentials.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("rtk_secret");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
    }
}
