//! [`ConfigError`]: why a configuration could not be resolved, each naming the file or the
//! field at fault (never a value read from a credentials file).

use std::path::PathBuf;

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
