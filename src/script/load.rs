//! The one way a script becomes a [`Personality`]: the file read (capped) or the built-in
//! copy taken, then compiled under the runtime's limits (header, hooks, top level,
//! self-tests), a failure rendered with its source line and caret while the source is at hand.
//!
//! `run`'s first load, every hot reload, `check`, `try`, `replay`, `doctor` and the sandbox
//! load through [`load`]; what a failure means (an exit code, stdout or stderr, keeping the
//! last good version) is theirs.

use std::path::Path;

use super::{
    EMBEDDED_PERSONALITY, Location, MAX_SOURCE_BYTES, Personality, ScriptError, ScriptHost,
};
use crate::config::ScriptChoice;

/// The name the built-in copy is compiled under (its errors say `<embedded>:LINE:COL`).
pub const EMBEDDED_NAME: &str = "<embedded>";

/// A script that did not load: the error, and the full diagnostic to show.
#[derive(Debug)]
pub struct LoadError {
    /// What went wrong: [`ScriptError::Io`] when the file cannot be read,
    /// [`ScriptError::TooLarge`] when it is over [`MAX_SOURCE_BYTES`], else the compile's.
    pub error: ScriptError,
    /// The one-line message, then (when it has a position) the source line and a caret.
    pub rendered: String,
}

/// Load `choice` with `runtime`: the file named by its path, or the built-in copy.
pub fn load(runtime: &ScriptHost, choice: &ScriptChoice) -> Result<Personality, LoadError> {
    let (name, source) = match choice {
        ScriptChoice::File(path) => read(path).map_err(|error| LoadError {
            rendered: error.to_string(),
            error,
        })?,
        ScriptChoice::Embedded => (EMBEDDED_NAME.to_string(), EMBEDDED_PERSONALITY.to_string()),
    };
    runtime.compile(&name, &source).map_err(|error| LoadError {
        rendered: error.render(&source),
        error,
    })
}

/// The script's name (its path) and source, refusing files over [`MAX_SOURCE_BYTES`] unread.
/// An unreadable file is [`ScriptError::Io`], an oversized one [`ScriptError::TooLarge`].
fn read(path: &Path) -> Result<(String, String), ScriptError> {
    let name = path.display().to_string();
    let io = |error| ScriptError::Io {
        at: Location::script(&name),
        error,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_SOURCE_BYTES as u64 {
        return Err(ScriptError::TooLarge {
            at: Location::script(&name),
            size,
            max: MAX_SOURCE_BYTES as u64,
        });
    }
    let source = std::fs::read_to_string(path).map_err(io)?;
    Ok((name, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ChatEvent;
    use crate::script::{Decision, Limits};

    fn file(path: &Path) -> ScriptChoice {
        ScriptChoice::File(path.to_path_buf())
    }

    #[test]
    fn load_names_the_path_when_it_cannot_read() {
        let runtime = ScriptHost::new(Limits::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.rhai");
        let err = load(&runtime, &file(&missing)).expect_err("fails");
        assert!(matches!(err.error, ScriptError::Io { .. }), "{err:?}");
        assert!(
            err.rendered
                .starts_with(&format!("{}: cannot read script: ", missing.display())),
            "{}",
            err.rendered
        );
    }

    #[test]
    fn load_compiles_and_names_errors_by_path() {
        let runtime = ScriptHost::new(Limits::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.rhai");
        std::fs::write(&path, "fn on_message(msg) {\n    reply(\"one\")\n}\n").expect("write");
        let p = load(&runtime, &file(&path)).expect("loads");
        assert_eq!(p.name(), path.display().to_string());
        let event = ChatEvent {
            text: "x".to_string(),
            ..ChatEvent::default()
        };
        assert_eq!(
            runtime.decide(&p, &event).ok(),
            Some(Decision::Reply("one".to_string()))
        );
        std::fs::write(&path, "fn on_message(msg) {\n    reply(\"x\"\n}\n").expect("write");
        let err = load(&runtime, &file(&path)).expect_err("fails");
        assert!(matches!(err.error, ScriptError::Compile { .. }), "{err:?}");
        let head = format!("{}:3:1: ", path.display());
        assert!(err.rendered.starts_with(&head), "{}", err.rendered);
        assert!(err.rendered.contains("\n   3 | }\n"), "{}", err.rendered);
    }

    #[test]
    fn the_built_in_copy_loads_under_its_name() {
        let runtime = ScriptHost::new(Limits::default());
        let p = load(&runtime, &ScriptChoice::Embedded).expect("loads");
        assert_eq!(p.name(), EMBEDDED_NAME);
    }
}
