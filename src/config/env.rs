//! [`Env`]: the snapshot of the environment variables the config reads, so tests and
//! embedders can pass their own; nothing else in the crate reads the environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
