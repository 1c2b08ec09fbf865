//! Who the listener speaks as: the credentials file and its environment overrides, and
//! [`Secret`], the wrapper that keeps the access token out of every log and message. The
//! file's other secret-looking fields are kept too, as secrets, for the outbound guard.
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

    /// The value itself, for the places that need it (the Authorization header, the
    /// outbound guard).
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
    /// The file's other string fields whose names look secret ([`looks_secret`]), by name:
    /// never posted to the chat (the outbound guard), never printed.
    pub secret_fields: Vec<(String, Secret)>,
    /// The agent's own token (v2: its `newtrade` events come in the room
    /// `trades_<token_address>`); empty when the file has none. Not a secret.
    pub token_address: String,
    /// The token's ticker, for `ev.ticker` when a trade payload carries none; may be empty.
    pub token_ticker: String,
}

impl Credentials {
    /// No credentials: every field empty (before they are read).
    pub fn none() -> Self {
        Self {
            access_token: Secret::new(""),
            user_db_id: String::new(),
            agent_name: String::new(),
            secret_fields: Vec::new(),
            token_address: String::new(),
            token_ticker: String::new(),
        }
    }
}

/// A credentials file is a few short strings; anything this big is the wrong file.
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
        let (text, meta) = crate::files::read_small(path, MAX_CREDS_BYTES).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                ConfigError::CredsMissing {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    what: "credentials file",
                    path: path.to_path_buf(),
                    cause,
                }
            }
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
        secret_fields: secret_fields(&json, &token),
        access_token: Secret::new(token),
        user_db_id,
        agent_name,
        token_address: optional_field(&json, path, "token_address"),
        token_ticker: optional_field(&json, path, "token_ticker"),
    })
}

/// The string fields of the credentials JSON whose names look secret, but the access token in
/// use (the guard names that one itself).
fn secret_fields(json: &Value, token: &str) -> Vec<(String, Secret)> {
    let Some(fields) = json.as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|(name, _)| looks_secret(name))
        .filter_map(|(name, value)| Some((name, value.as_str()?)))
        .filter(|(name, value)| !(name.as_str() == "access_token" && *value == token))
        .map(|(name, value)| (name.clone(), Secret::new(value)))
        .collect()
}

/// Whether a credentials field's name says it holds a secret: `refresh_token`, `api_secret`,
/// `privateKey`, `password`, `mnemonic`, … but not what is public by nature: `token_address`,
/// `token_ticker`, `public_key`, names, ids, URLs.
pub fn looks_secret(name: &str) -> bool {
    const SECRET: [&str; 10] = [
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "private",
        "mnemonic",
        "credential",
        "apikey",
        "seedphrase",
    ];
    const SECRET_WORDS: [&str; 8] = ["key", "pass", "pwd", "pin", "seed", "auth", "jwt", "bearer"];
    const PUBLIC_WORDS: [&str; 9] = [
        "address", "ticker", "symbol", "name", "id", "public", "pub", "url", "type",
    ];
    let words = words(name);
    let joined: String = words.concat();
    let secret = SECRET.iter().any(|s| joined.contains(s))
        || words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()));
    secret && !words.iter().any(|w| PUBLIC_WORDS.contains(&w.as_str()))
}

/// `wallet_privateKey` → `wallet`, `private`, `key`: split at anything but letters and digits
/// and before each capital that follows a small letter, lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut after_lower = false;
    for c in name.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && after_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        }
        after_lower = c.is_lowercase();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Longest `token_address` or `token_ticker` used; a longer one is not a token's.
const MAX_OPTIONAL_CHARS: usize = 128;

/// An optional field of the file, trimmed: empty when missing, `null` or blank (the platform
/// writes `""` for an agent without a token). Anything else that is not a short string on one
/// line is said once, by name, and left out: the listener runs without it.
fn optional_field(json: &Value, path: &Path, field: &str) -> String {
    let value = match json.get(field) {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(s)) => s.trim(),
        Some(_) => {
            tracing::warn!(
                "credentials file {}: field `{field}` is not a string; left out",
                path.display()
            );
            return String::new();
        }
    };
    if value.chars().count() > MAX_OPTIONAL_CHARS || value.chars().any(char::is_whitespace) {
        tracing::warn!(
            "credentials file {}: field `{field}` is not a token's (more than {MAX_OPTIONAL_CHARS} characters, or spaces in it); left out",
            path.display()
        );
        return String::new();
    }
    value.to_string()
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
    fn secret_looking_fields_are_kept_and_public_ones_are_not() {
        for name in [
            "refresh_token",
            "api_secret",
            "privateKey",
            "wallet_private_key",
            "password",
            "mnemonic",
            "seed",
            "apiKey",
            "API-KEY",
            "jwt",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "token_address",
            "tokenTicker",
            "public_key",
            "agent_name",
            "agent_id",
            "wallet_address",
            "userDbId",
            "monkey",
            "key_id",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
        let json = serde_json::json!({
            "access_token": "rtk_in_use", "agent_name": "Bot", "userDbId": "u1",
            "wallet_private_key": "0xabc", "token_address": "0xdef", "api_secret": 42,
            "refresh_token": "rtk_refresh",
        });
        let fields = secret_fields(&json, "rtk_in_use");
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["refresh_token", "wallet_private_key"]);
        assert_eq!(fields[1].1.expose(), "0xabc");
        // Overridden from the environment, the file's token is one more secret.
        assert_eq!(secret_fields(&json, "rtk_from_env").len(), 3);
        assert!(
            format!("{fields:?}").contains("[redacted]")
                && !format!("{fields:?}").contains("0xabc")
        );
    }

    #[test]
    fn the_token_fields_are_optional_and_trimmed() {
        let path = Path::new("creds.json");
        let json = serde_json::json!({
            "token_address": " 0xT0ken ", "token_ticker": "", "x": 5, "n": null,
            "long": "a".repeat(200), "spaced": "a b",
        });
        assert_eq!(optional_field(&json, path, "token_address"), "0xT0ken");
        for field in ["token_ticker", "missing", "x", "n", "long", "spaced"] {
            assert_eq!(optional_field(&json, path, field), "", "{field}");
        }
        assert_eq!(optional_field(&Value::Null, path, "token_address"), "");
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("rtk_secret");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
    }
}
